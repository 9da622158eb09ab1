//! `TcpSocket`: a TCP socket set up before it listens or connects, in tokio's shape.

use std::io;
use std::net::{self, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{TcpListener, TcpStream};
use crate::sys::addr::RawAddr;
use crate::sys::socket::{self, Kind, SocketFlag};
use crate::sys::sockopt::{self, IntOpt};

/// A TCP socket that is not yet listening or connected, for options that must be set before
/// `bind`, `listen` or `connect` (`SO_REUSEPORT`, `SO_REUSEADDR`, buffer sizes...), as
/// tokio's `TcpSocket`: [`new_v4`](TcpSocket::new_v4) or [`new_v6`](TcpSocket::new_v6),
/// setters, perhaps [`bind`](TcpSocket::bind), then [`listen`](TcpSocket::listen) or
/// [`connect`](TcpSocket::connect). Created non-blocking and close-on-exec.
///
/// Its use here: one listener per thread on one port with `SO_REUSEPORT`, the kernel spreading
/// connections between them (see [`thread_per_core`](crate::runtime::thread_per_core)).
///
/// # Examples
/// ```
/// use geode::net::{TcpSocket, TcpStream};
///
/// geode::block_on(async {
///     let socket = TcpSocket::new_v4()?;
///     socket.set_reuseport(true)?;
///     socket.bind("127.0.0.1:0".parse().unwrap())?;
///     let listener = socket.listen(128)?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (_conn, peer) = listener.accept().await?;
///     assert_eq!(peer, client.local_addr()?);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    /// The socket, in std's listener type only for its safe `getsockname` (`local_addr`):
    /// it listens only once [`listen`](TcpSocket::listen) has been called.
    inner: net::TcpListener,
}

impl TcpSocket {
    /// A new IPv4 TCP socket.
    ///
    /// # Errors
    /// `socket`'s (`EMFILE`, ...).
    ///
    /// # Examples
    /// ```
    /// let socket = geode::net::TcpSocket::new_v4()?;
    /// socket.bind("127.0.0.1:0".parse().unwrap())?;
    /// assert!(socket.local_addr()?.is_ipv4());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(libc_family(false))
    }

    /// A new IPv6 TCP socket.
    ///
    /// # Errors
    /// `socket`'s (`EAFNOSUPPORT` without IPv6, `EMFILE`, ...).
    ///
    /// # Examples
    /// ```
    /// // Hosts without IPv6 refuse the socket (or the loopback address).
    /// if let Ok(socket) = geode::net::TcpSocket::new_v6() {
    ///     if socket.bind("[::1]:0".parse().unwrap()).is_ok() {
    ///         assert!(socket.local_addr()?.is_ipv6());
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(libc_family(true))
    }

    fn new(family: i32) -> io::Result<TcpSocket> {
        let fd = socket::socket(family, Kind::Stream)?;
        Ok(TcpSocket {
            inner: net::TcpListener::from(fd),
        })
    }

    /// Sets `SO_REUSEADDR`: bind a port that connections of an earlier server still hold in
    /// `TIME_WAIT`. ([`TcpListener::bind`] sets it.)
    ///
    /// # Examples
    /// ```
    /// let socket = geode::net::TcpSocket::new_v4()?;
    /// socket.set_reuseaddr(true)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        socket::set_socket_flag(self.as_fd(), SocketFlag::ReuseAddr, reuseaddr)
    }

    /// Sets `SO_REUSEPORT`: several sockets of one user, each with it set before `bind`, may
    /// bind the same address; the kernel spreads incoming connections among those listening,
    /// by a hash of the connection's addresses and ports. Each has its own accept queue:
    /// connections queued on one when it is closed are reset.
    ///
    /// # Examples
    /// ```
    /// let a = geode::net::TcpSocket::new_v4()?;
    /// a.set_reuseport(true)?;
    /// a.bind("127.0.0.1:0".parse().unwrap())?;
    /// let b = geode::net::TcpSocket::new_v4()?;
    /// b.set_reuseport(true)?;
    /// b.bind(a.local_addr()?)?; // the same port
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        socket::set_socket_flag(self.as_fd(), SocketFlag::ReusePort, reuseport)
    }

    /// Binds the socket to `addr` (port 0: one the kernel picks; see
    /// [`local_addr`](TcpSocket::local_addr)).
    ///
    /// # Errors
    /// `bind`'s: `AddrInUse` (without `SO_REUSEPORT` on every socket of the port),
    /// `PermissionDenied`, `AddrNotAvailable`, `InvalidInput` for the wrong family.
    ///
    /// # Examples
    /// ```
    /// let a = geode::net::TcpSocket::new_v4()?;
    /// a.bind("127.0.0.1:0".parse().unwrap())?;
    /// let b = geode::net::TcpSocket::new_v4()?;
    /// // Without SO_REUSEPORT on both, the port is taken.
    /// let taken = b.bind(a.local_addr()?).unwrap_err();
    /// assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        socket::bind(self.as_fd(), &RawAddr::from_inet(&addr))
    }

    /// The address the socket is bound to.
    ///
    /// # Errors
    /// `getsockname`'s.
    ///
    /// # Examples
    /// ```
    /// let socket = geode::net::TcpSocket::new_v4()?;
    /// socket.bind("127.0.0.1:0".parse().unwrap())?;
    /// assert_ne!(socket.local_addr()?.port(), 0); // the port the kernel picked
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        Ok(sockopt::int_opt(self.as_fd(), IntOpt::ReuseAddr)? != 0)
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        Ok(sockopt::int_opt(self.as_fd(), IntOpt::ReusePort)? != 0)
    }

    /// Sets `SO_KEEPALIVE`: probe an idle connection, and fail it if the peer is gone.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        sockopt::set_int_opt(self.as_fd(), IntOpt::KeepAlive, keepalive.into())
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        Ok(sockopt::int_opt(self.as_fd(), IntOpt::KeepAlive)? != 0)
    }

    /// Sets `TCP_NODELAY` (no Nagle delay), which the connected stream keeps.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        sockopt::set_int_opt(self.as_fd(), IntOpt::NoDelay, nodelay.into())
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(sockopt::int_opt(self.as_fd(), IntOpt::NoDelay)? != 0)
    }

    /// Sets `SO_LINGER`: `None` (the default) lets a close return at once while the kernel
    /// sends what is left; `Some(d)` makes close wait up to `d` (whole seconds, a fraction
    /// rounded up), and `Some(Duration::ZERO)` resets the connection on close.
    ///
    /// # Errors
    /// `InvalidInput` for more than `i32::MAX` seconds.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sockopt::set_linger(self.as_fd(), linger)
    }

    /// `SO_LINGER`, as [`set_linger`](TcpSocket::set_linger) takes it.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sockopt::linger(self.as_fd())
    }

    /// Sets `SO_SNDBUF`, the send buffer's size in bytes (the kernel doubles the value for its
    /// bookkeeping and applies `net.core.wmem_max`; [`send_buffer_size`] reads what it kept).
    ///
    /// [`send_buffer_size`]: TcpSocket::send_buffer_size
    ///
    /// # Errors
    /// `InvalidInput` for a size past `i32::MAX`.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        sockopt::set_int_opt(self.as_fd(), IntOpt::SendBuffer, buffer_size(size)?)
    }

    /// `SO_SNDBUF` as the kernel keeps it.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        Ok(sockopt::int_opt(self.as_fd(), IntOpt::SendBuffer)?.max(0) as u32)
    }

    /// Sets `SO_RCVBUF`, the receive buffer's size in bytes (as
    /// [`set_send_buffer_size`](TcpSocket::set_send_buffer_size)).
    ///
    /// # Errors
    /// `InvalidInput` for a size past `i32::MAX`.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        sockopt::set_int_opt(self.as_fd(), IntOpt::RecvBuffer, buffer_size(size)?)
    }

    /// `SO_RCVBUF` as the kernel keeps it.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        Ok(sockopt::int_opt(self.as_fd(), IntOpt::RecvBuffer)?.max(0) as u32)
    }

    /// The pending error of the socket (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        socket::take_error(self.as_fd())
    }

    /// Connects to `addr` (without blocking the thread: `EINPROGRESS`, then the socket
    /// becomes writable) and returns the stream, registered with this thread's reactor. The
    /// options set before carry over.
    ///
    /// # Errors
    /// The connect's: `ConnectionRefused`, `TimedOut`, `NetworkUnreachable`, `InvalidInput`
    /// for an address of the other family...
    ///
    /// # Examples
    /// ```
    /// use geode::net::{TcpListener, TcpSocket};
    ///
    /// geode::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let socket = TcpSocket::new_v4()?;
    ///     socket.set_nodelay(true)?;
    ///     socket.set_keepalive(true)?;
    ///     let stream = socket.connect(listener.local_addr()?).await?;
    ///     assert!(stream.nodelay()?);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_socket(OwnedFd::from(self.inner), addr).await
    }

    /// Starts listening, with an accept queue of `backlog` connections (capped by
    /// `net.core.somaxconn`), and returns the listener, registered with this thread's reactor.
    ///
    /// # Errors
    /// `listen`'s (`AddrInUse` if another socket listens on the address without
    /// `SO_REUSEPORT`).
    ///
    /// # Examples
    /// ```
    /// let socket = geode::net::TcpSocket::new_v4()?;
    /// socket.bind("127.0.0.1:0".parse().unwrap())?;
    /// let addr = socket.local_addr()?;
    /// let listener = socket.listen(64)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        socket::listen(self.as_fd(), backlog)?;
        TcpListener::from_std(self.inner)
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

fn buffer_size(size: u32) -> io::Result<i32> {
    i32::try_from(size).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "geode: a socket buffer size is at most i32::MAX bytes",
        )
    })
}

fn libc_family(v6: bool) -> i32 {
    let any: SocketAddr = if v6 {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    socket::family_of(&any)
}
