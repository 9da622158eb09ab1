//! `TcpListener` and `TcpStream`.

use std::future::poll_fn;
use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::task::{Context, Poll};
use std::time::Duration;

use super::accept::{AcceptState, Backoff, Incoming, poll_accept};
use super::stream;
use crate::io::Async;
use crate::sys::addr::RawAddr;
use crate::sys::socket::{self, Kind};
use crate::sys::sockopt;

/// The accept queue length asked of the kernel (capped by `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// A TCP socket server, listening for connections.
///
/// # Examples
/// ```
/// use geode::net::{TcpListener, TcpStream};
/// geode::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server_side, peer) = listener.accept().await?;
///     assert_eq!(peer, client.local_addr()?);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    io: Async<net::TcpListener>,
    backoff: Backoff,
}

impl TcpListener {
    /// Creates a listener bound to the first of `addrs` that works (`SO_REUSEADDR` set), with a
    /// backlog of 1024. Not async: binding never blocks.
    ///
    /// # Errors
    /// The last address's error (`AddrInUse`, `PermissionDenied`, ...), or `InvalidInput` if
    /// `addrs` yields no address.
    pub fn bind(addrs: impl ToSocketAddrs) -> io::Result<TcpListener> {
        super::each_addr(addrs, |addr| {
            let fd = socket::socket(socket::family_of(addr), Kind::Stream)?;
            socket::set_reuseaddr(fd.as_fd())?;
            socket::bind(fd.as_fd(), &RawAddr::from_inet(addr))?;
            socket::listen(fd.as_fd(), BACKLOG)?;
            TcpListener::from_std(net::TcpListener::from(fd))
        })
    }

    /// Accepts a connection: the stream and the peer's address.
    ///
    /// Several tasks may accept on one listener; each connection goes to one of them, in the
    /// order they started waiting.
    ///
    /// # Errors
    /// The `accept4` error. Out of descriptors (`EMFILE`/`ENFILE`) the error is returned and the
    /// next `accept` waits a little (1 ms doubling to 1 s) before trying again, so a retry loop
    /// does not spin; the connection stays queued until it can be accepted.
    ///
    /// # Cancel safety
    /// Cancel-safe: no connection is lost if the future is dropped.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut state = AcceptState::new(&self.io);
        poll_fn(|cx| self.poll_accept_in(cx, &mut state)).await
    }

    /// Polls for a connection, for hand-written futures: tokio's `poll_accept`. Only the
    /// tasks that most recently polled are woken; [`accept`](Self::accept) keeps each caller's
    /// place in line instead. The `EMFILE` backoff applies as it does to `accept`.
    ///
    /// # Examples
    /// ```
    /// use std::future::poll_fn;
    /// use geode::net::{TcpListener, TcpStream};
    ///
    /// geode::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (_server, peer) = poll_fn(|cx| listener.poll_accept(cx)).await?;
    ///     assert_eq!(peer, client.local_addr()?);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.backoff.poll_accept(&self.io, cx, || self.accept_now())
    }

    fn accept_now(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = socket::accept(self.io.as_fd())?;
        Ok((TcpStream::from_new_socket(fd), addr.to_inet()?))
    }

    pub(crate) fn poll_accept_in(
        &self,
        cx: &mut Context<'_>,
        state: &mut AcceptState<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        poll_accept(&self.io, cx, state, &self.backoff, || self.accept_now())
    }

    /// A stream of incoming connections (`futures_core::Stream<Item = io::Result<TcpStream>>`).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            state: AcceptState::new(&self.io),
        }
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Wraps a std listener (which geode makes non-blocking) and registers it.
    pub fn from_std(listener: net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: Async::new(listener)?,
            backoff: Backoff::default(),
        })
    }

    /// Deregisters the listener and returns it as a std listener, still non-blocking.
    pub fn into_std(self) -> io::Result<net::TcpListener> {
        self.io.into_inner()
    }
}

/// A TCP stream between a local and a remote socket.
///
/// Reads and writes take `&self`, and `&TcpStream` implements the async I/O traits, so one task
/// can read while another writes.
///
/// # Examples
/// ```
/// use geode::net::{TcpListener, TcpStream};
/// geode::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpStream {
    io: Async<net::TcpStream>,
}

impl TcpStream {
    fn from_new_socket(fd: OwnedFd) -> TcpStream {
        TcpStream {
            io: Async::new_socket(net::TcpStream::from(fd)),
        }
    }

    /// Connects to the first of `addrs` that accepts, trying each in order.
    ///
    /// An IP literal is used at once; a host name is resolved on the blocking pool (see
    /// [`ToSocketAddrs`](super::ToSocketAddrs)), so a slow resolver does not stop the thread.
    ///
    /// The connect is non-blocking: the thread keeps running other tasks while the handshake
    /// goes on. A connect that is never answered waits until the kernel gives up (put it under
    /// [`timeout`](crate::time::timeout) to bound it).
    ///
    /// # Errors
    /// The last address's error, e.g. `ConnectionRefused`, or `InvalidInput` if `addrs` yields
    /// no address.
    pub async fn connect(addrs: impl super::ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in super::addrs::resolve(&addrs).await? {
            match TcpStream::connect_addr(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(super::no_addresses))
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = socket::socket(socket::family_of(&addr), Kind::Stream)?;
        TcpStream::connect_socket(fd, addr).await
    }

    /// A non-blocking connect of `fd` (a fresh stream socket geode created) to `addr`.
    pub(super) async fn connect_socket(fd: OwnedFd, addr: SocketAddr) -> io::Result<TcpStream> {
        match socket::connect(fd.as_fd(), &RawAddr::from_inet(&addr)) {
            Ok(()) => return Ok(TcpStream::from_new_socket(fd)),
            Err(e) if socket::is_in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        let stream = TcpStream::from_new_socket(fd);
        // The handshake ends (either way) with the socket writable, or in error.
        stream.io.writable().await?;
        match socket::take_error(stream.io.as_fd())? {
            Some(e) => Err(e),
            None => Ok(stream),
        }
    }

    /// Reads without removing the data from the socket's queue.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Gets `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// `SO_LINGER`: `None` if off (the default: a close returns at once and the kernel sends
    /// what is left in the background), else how long a close waits for unsent data.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    ///
    /// geode::block_on(async {
    ///     let listener = geode::net::TcpListener::bind("127.0.0.1:0")?;
    ///     let stream = geode::net::TcpStream::connect(listener.local_addr()?).await?;
    ///     assert_eq!(stream.linger()?, None);
    ///     stream.set_linger(Some(Duration::from_secs(3)))?;
    ///     assert_eq!(stream.linger()?, Some(Duration::from_secs(3)));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sockopt::linger(self.as_fd())
    }

    /// Sets `SO_LINGER`. The kernel counts whole seconds: a fraction rounds up (tokio's
    /// truncates), so only `Some(Duration::ZERO)` ([`set_zero_linger`](Self::set_zero_linger))
    /// asks for the abortive close.
    ///
    /// # Errors
    /// `InvalidInput` past `i32::MAX` seconds; `setsockopt`'s otherwise.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sockopt::set_linger(self.as_fd(), linger)
    }

    /// `SO_LINGER` of zero: closing the stream resets the connection (the peer reads
    /// `ConnectionReset`) and drops unsent data, leaving no `TIME_WAIT`.
    pub fn set_zero_linger(&self) -> io::Result<()> {
        sockopt::set_linger(self.as_fd(), Some(Duration::ZERO))
    }

    /// `IP_TOS`, the IPv4 type-of-service byte of outgoing packets.
    pub fn tos(&self) -> io::Result<u32> {
        sockopt::tos(self.as_fd())
    }

    /// Sets `IP_TOS`.
    ///
    /// # Errors
    /// `setsockopt`'s.
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        sockopt::set_tos(self.as_fd(), tos)
    }

    super::stream_methods::stream_methods!(
        "TcpStream",
        net::TcpStream,
        SocketAddr,
        "    let listener = geode::net::TcpListener::bind(\"127.0.0.1:0\")?;
    let a = geode::net::TcpStream::connect(listener.local_addr()?).await?;
    let (b, _) = listener.accept().await?;"
    );
}

stream::stream_traits!(TcpStream);

super::fd_traits::fd_traits!(TcpListener => net::TcpListener, TcpStream => net::TcpStream);
