//! Unix domain sockets (`UnixListener`, `UnixStream`, `UnixDatagram`, also at
//! [`geode::net`](crate::net)), the peer credentials [`UCred`], and [`pipe`]s.

pub mod pipe;

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::task::{Context, Poll};
use std::time::Duration;

use super::accept::{AcceptState, Backoff, UnixIncoming, poll_accept};
use super::stream;
use crate::io::{Async, Direction, Interest};
use crate::sys::addr::RawAddr;
use crate::sys::socket::{self, AF_UNIX, Kind};

const BACKLOG: i32 = 1024;

/// A Unix domain socket server, listening for connections.
///
/// # Examples
/// ```
/// use geode::net::{UnixListener, UnixStream};
/// let dir = std::env::temp_dir().join(format!("geode-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("sock");
/// geode::block_on(async {
///     let listener = UnixListener::bind(&path)?;
///     let client = UnixStream::connect(&path).await?;
///     let (server, _addr) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     Ok::<(), std::io::Error>(())
/// })?;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixListener {
    io: Async<net::UnixListener>,
    backoff: Backoff,
}

impl UnixListener {
    /// Creates a listener bound to `path` (a leading NUL byte names an abstract socket).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let fd = socket::socket(AF_UNIX, Kind::Stream)?;
        socket::bind(fd.as_fd(), &RawAddr::from_unix_path(path.as_ref())?)?;
        socket::listen(fd.as_fd(), BACKLOG)?;
        UnixListener::from_std(net::UnixListener::from(fd))
    }

    /// Accepts a connection: the stream and the peer's address (usually unnamed).
    ///
    /// # Errors
    /// As [`TcpListener::accept`](super::TcpListener::accept), backoff on `EMFILE` included.
    ///
    /// # Cancel safety
    /// Cancel-safe.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let mut state = AcceptState::new(&self.io);
        poll_fn(|cx| self.poll_accept_in(cx, &mut state)).await
    }

    /// Polls for a connection, for hand-written futures: tokio's `poll_accept`. See
    /// [`TcpListener::poll_accept`](super::TcpListener::poll_accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        self.backoff.poll_accept(&self.io, cx, || self.accept_now())
    }

    pub(crate) fn poll_accept_in(
        &self,
        cx: &mut Context<'_>,
        state: &mut AcceptState<'_>,
    ) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        poll_accept(&self.io, cx, state, &self.backoff, || self.accept_now())
    }

    fn accept_now(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (fd, _) = socket::accept(self.io.as_fd())?;
        let stream = net::UnixStream::from(fd);
        let addr = stream.peer_addr()?;
        Ok((
            UnixStream {
                io: Async::new_socket(stream),
            },
            addr,
        ))
    }

    /// A stream of incoming connections (`futures_core::Stream<Item = io::Result<UnixStream>>`).
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming {
            listener: self,
            state: AcceptState::new(&self.io),
        }
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Wraps a std listener (which geode makes non-blocking) and registers it.
    pub fn from_std(listener: net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: Async::new(listener)?,
            backoff: Backoff::default(),
        })
    }

    /// Deregisters the listener and returns it as a std listener, still non-blocking.
    pub fn into_std(self) -> io::Result<net::UnixListener> {
        self.io.into_inner()
    }
}

/// A Unix stream socket.
///
/// Reads and writes take `&self`; `&UnixStream` implements the async I/O traits.
///
/// # Examples
/// ```
/// use geode::net::UnixStream;
/// geode::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     a.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixStream {
    io: Async<net::UnixStream>,
}

impl UnixStream {
    fn from_new_socket(fd: OwnedFd) -> UnixStream {
        UnixStream {
            io: Async::new_socket(net::UnixStream::from(fd)),
        }
    }

    /// Connects to the socket at `path`.
    ///
    /// # Errors
    /// `NotFound` if nothing is bound there, `ConnectionRefused` if nothing listens.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = RawAddr::from_unix_path(path.as_ref())?;
        let fd = socket::socket(AF_UNIX, Kind::Stream)?;
        UnixStream::connect_socket(fd, &addr).await
    }

    /// Connects `fd` (a fresh stream socket geode created) to `addr`.
    pub(super) async fn connect_socket(fd: OwnedFd, addr: &RawAddr) -> io::Result<UnixStream> {
        let mut delay = Duration::from_micros(100);
        loop {
            match socket::connect(fd.as_fd(), addr) {
                Ok(()) => return Ok(UnixStream::from_new_socket(fd)),
                // A Unix connect does not go on in the background: EAGAIN means the listener's
                // backlog is full, and the connect must be tried again later.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(50));
                }
                Err(e) if socket::is_in_progress(&e) => {
                    let stream = UnixStream::from_new_socket(fd);
                    stream.io.writable().await?;
                    return match socket::take_error(stream.io.as_fd())? {
                        Some(e) => Err(e),
                        None => Ok(stream),
                    };
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A connected pair of sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = socket::socketpair(Kind::Stream)?;
        Ok((
            UnixStream::from_new_socket(a),
            UnixStream::from_new_socket(b),
        ))
    }

    /// The credentials of the peer process (`SO_PEERCRED`): its user, group and process ids
    /// as they were when it connected (or made the pair).
    ///
    /// # Examples
    /// ```
    /// geode::block_on(async {
    ///     let (a, _b) = geode::net::UnixStream::pair()?;
    ///     let cred = a.peer_cred()?;
    ///     assert_eq!(cred.pid(), Some(std::process::id() as i32));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_cred(&self) -> io::Result<UCred> {
        let (uid, gid, pid) = crate::sys::sockopt::peer_cred(self.io.as_fd())?;
        Ok(UCred { uid, gid, pid })
    }

    super::stream_methods::stream_methods!(
        "UnixStream",
        net::UnixStream,
        SocketAddr,
        "    let (a, b) = geode::net::UnixStream::pair()?;"
    );
}

/// The credentials of a Unix socket's peer: [`UnixStream::peer_cred`], as tokio's `UCred`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UCred {
    uid: u32,
    gid: u32,
    pid: i32,
}

impl UCred {
    /// The peer's effective user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The peer's effective group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The peer's process id (`Some` on Linux, which always reports it; tokio's shape).
    pub fn pid(&self) -> Option<i32> {
        Some(self.pid)
    }
}

stream::stream_traits!(UnixStream);

/// A Unix datagram socket.
///
/// # Examples
/// ```
/// use geode::net::UnixDatagram;
/// geode::block_on(async {
///     let (a, b) = UnixDatagram::pair()?;
///     a.send(b"one").await?;
///     let mut buf = [0; 8];
///     let n = b.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"one");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    io: Async<net::UnixDatagram>,
}

impl UnixDatagram {
    pub(super) fn from_new_socket(fd: OwnedFd) -> UnixDatagram {
        UnixDatagram {
            io: Async::new_socket(net::UnixDatagram::from(fd)),
        }
    }

    /// Creates a socket bound to `path`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let fd = socket::socket(AF_UNIX, Kind::Datagram)?;
        socket::bind(fd.as_fd(), &RawAddr::from_unix_path(path.as_ref())?)?;
        Ok(UnixDatagram::from_new_socket(fd))
    }

    /// Creates a socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram::from_new_socket(socket::socket(
            AF_UNIX,
            Kind::Datagram,
        )?))
    }

    /// A connected pair of sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = socket::socketpair(Kind::Datagram)?;
        Ok((
            UnixDatagram::from_new_socket(a),
            UnixDatagram::from_new_socket(b),
        ))
    }

    /// Sets the default peer of `send`/`recv`. Not async.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends a datagram to the socket at `path`.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.io.write_with(|s| s.send_to(buf, path)).await
    }

    /// Sends a datagram to the socket at `path` now, without waiting: tokio's
    /// `try_send_to`.
    ///
    /// # Errors
    /// `WouldBlock` if the receiver's queue is full (the write direction is then marked not
    /// ready); `NotFound`/`ConnectionRefused` if nothing is bound at `path`.
    pub fn try_send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.io
            .try_own(Interest::WRITABLE, |s| s.send_to(buf, path))
    }

    /// Polls a send to the socket at `path`, for hand-written futures.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        path: impl AsRef<Path>,
    ) -> Poll<io::Result<usize>> {
        let path = path.as_ref();
        self.io
            .poll_with(Direction::Write, cx, |s| s.send_to(buf, path))
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    super::datagram::datagram_methods!(
        "UnixDatagram",
        net::UnixDatagram,
        SocketAddr,
        "    let (a, b) = geode::net::UnixDatagram::pair()?;"
    );
}

super::fd_traits::fd_traits!(
    UnixListener => net::UnixListener,
    UnixStream => net::UnixStream,
    UnixDatagram => net::UnixDatagram
);
