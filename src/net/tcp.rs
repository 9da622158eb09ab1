//! `TcpListener` and `TcpStream`.

use std::future::{Future, poll_fn};
use std::io;
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::{Context, Poll};

use super::accept::{AcceptState, Backoff, Incoming, poll_accept};
use super::stream;
use crate::io::Async;
use crate::sys::addr::RawAddr;
use crate::sys::socket::{self, Kind};

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
        poll_fn(|cx| self.poll_accept(cx, &mut state)).await
    }

    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
        state: &mut AcceptState<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        poll_accept(&self.io, cx, state, &self.backoff, || {
            let (fd, addr) = socket::accept(self.io.as_fd())?;
            Ok((TcpStream::from_new_socket(fd), addr.to_inet()?))
        })
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

impl TryFrom<net::TcpListener> for TcpListener {
    type Error = io::Error;

    fn try_from(l: net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std(l)
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
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

    #[cfg(any(feature = "futures-io", feature = "tokio-io"))]
    pub(crate) fn io(&self) -> &Async<net::TcpStream> {
        &self.io
    }

    #[cfg(any(feature = "futures-io", feature = "tokio-io"))]
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        self.io.get_ref().shutdown(Shutdown::Write)
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

    /// Reads into `buf`, waiting until data arrives. `Ok(0)` means the peer closed its write
    /// half (EOF), or `buf` is empty.
    ///
    /// # Cancel safety
    /// Cancel-safe: if dropped before completing, no data was read.
    pub fn read<'a>(&'a self, buf: &'a mut [u8]) -> impl Future<Output = io::Result<usize>> + 'a {
        stream::read(&self.io, buf)
    }

    /// Writes some of `buf`, waiting until the socket can take data. Returns how much it wrote.
    ///
    /// # Cancel safety
    /// Cancel-safe: if dropped before completing, nothing was written.
    pub fn write<'a>(&'a self, buf: &'a [u8]) -> impl Future<Output = io::Result<usize>> + 'a {
        stream::write(&self.io, buf)
    }

    /// Reads exactly `buf.len()` bytes.
    ///
    /// # Errors
    /// `UnexpectedEof` if the peer closes first.
    ///
    /// # Cancel safety
    /// Not cancel-safe: bytes read before the drop are lost.
    pub fn read_exact<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + 'a {
        stream::read_exact(&self.io, buf)
    }

    /// Writes all of `buf`.
    ///
    /// # Cancel safety
    /// Not cancel-safe: some of `buf` may have been written before the drop.
    pub fn write_all<'a>(&'a self, buf: &'a [u8]) -> impl Future<Output = io::Result<()>> + 'a {
        stream::write_all(&self.io, buf)
    }

    /// Reads without removing the data from the socket's queue.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// Polls a read into `buf` (the `AsyncRead` primitive).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        stream::poll_read(&self.io, cx, buf)
    }

    /// Polls a write of `buf` (the `AsyncWrite` primitive).
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        stream::poll_write(&self.io, cx, buf)
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
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

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Takes the socket's pending error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Wraps a std stream (which geode makes non-blocking) and registers it.
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Async::new(stream)?,
        })
    }

    /// Deregisters the stream and returns it as a std stream, still non-blocking.
    pub fn into_std(self) -> io::Result<net::TcpStream> {
        self.io.into_inner()
    }
}

stream::stream_traits!(TcpStream);

impl TryFrom<net::TcpStream> for TcpStream {
    type Error = io::Error;

    fn try_from(s: net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_std(s)
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
