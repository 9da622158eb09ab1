//! `UnixSocket`: a Unix socket set up before it listens, connects or sends, in tokio's shape.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net;
use std::path::Path;

use super::{UnixDatagram, UnixListener, UnixStream};
use crate::sys::addr::RawAddr;
use crate::sys::socket::{self, AF_UNIX, Kind};

/// A Unix socket that is not yet listening, connected or in use, as tokio's `UnixSocket`:
/// [`new_stream`](UnixSocket::new_stream) or [`new_datagram`](UnixSocket::new_datagram),
/// perhaps [`bind`](UnixSocket::bind), then [`listen`](UnixSocket::listen) or
/// [`connect`](UnixSocket::connect) (streams) or [`datagram`](UnixSocket::datagram).
/// Created non-blocking and close-on-exec.
///
/// # Examples
/// ```
/// use geode::net::UnixSocket;
///
/// let dir = std::env::temp_dir().join(format!("geode-doc-unixsocket-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("s.sock");
/// geode::block_on(async {
///     let server = UnixSocket::new_stream()?;
///     server.bind(&path)?;
///     let listener = server.listen(16)?;
///     let client = UnixSocket::new_stream()?.connect(&path).await?;
///     let (conn, _) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     conn.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     Ok::<(), std::io::Error>(())
/// })?;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixSocket {
    fd: OwnedFd,
    kind: Kind,
}

impl UnixSocket {
    /// A new stream socket (`SOCK_STREAM`).
    ///
    /// # Errors
    /// `socket`'s (`EMFILE`, ...).
    pub fn new_stream() -> io::Result<UnixSocket> {
        UnixSocket::new(Kind::Stream)
    }

    /// A new datagram socket (`SOCK_DGRAM`).
    ///
    /// # Errors
    /// `socket`'s (`EMFILE`, ...).
    pub fn new_datagram() -> io::Result<UnixSocket> {
        UnixSocket::new(Kind::Datagram)
    }

    fn new(kind: Kind) -> io::Result<UnixSocket> {
        Ok(UnixSocket {
            fd: socket::socket(AF_UNIX, kind)?,
            kind,
        })
    }

    /// Binds the socket to `path` (a leading NUL byte names an abstract socket).
    ///
    /// # Errors
    /// `bind`'s: `AddrInUse` if the path exists, `NotFound` for a missing directory,
    /// `PermissionDenied`; `InvalidInput` for a path too long for a `sockaddr_un`.
    pub fn bind(&self, path: impl AsRef<Path>) -> io::Result<()> {
        socket::bind(self.fd.as_fd(), &RawAddr::from_unix_path(path.as_ref())?)
    }

    /// Starts listening (a stream socket), with an accept queue of `backlog` connections, and
    /// returns the listener, registered with this thread's reactor.
    ///
    /// # Errors
    /// `InvalidInput` for a datagram socket; `listen`'s (`EINVAL` if not bound).
    pub fn listen(self, backlog: u32) -> io::Result<UnixListener> {
        self.expect(Kind::Stream, "listen")?;
        socket::listen(self.fd.as_fd(), i32::try_from(backlog).unwrap_or(i32::MAX))?;
        UnixListener::from_std(net::UnixListener::from(self.fd))
    }

    /// Connects (a stream socket) to the socket at `path`, without blocking the thread, and
    /// returns the stream, registered with this thread's reactor.
    ///
    /// # Errors
    /// `InvalidInput` for a datagram socket; `NotFound` if nothing is bound at `path`,
    /// `ConnectionRefused` if nothing listens there.
    pub async fn connect(self, path: impl AsRef<Path>) -> io::Result<UnixStream> {
        self.expect(Kind::Stream, "connect")?;
        let addr = RawAddr::from_unix_path(path.as_ref())?;
        UnixStream::connect_socket(self.fd, &addr).await
    }

    /// The datagram socket, registered with this thread's reactor.
    ///
    /// # Errors
    /// `InvalidInput` for a stream socket.
    pub fn datagram(self) -> io::Result<UnixDatagram> {
        self.expect(Kind::Datagram, "datagram")?;
        Ok(UnixDatagram::from_new_socket(self.fd))
    }

    fn expect(&self, kind: Kind, what: &str) -> io::Result<()> {
        if self.kind == kind {
            return Ok(());
        }
        let (is, needs) = match kind {
            Kind::Stream => ("datagram", "stream"),
            Kind::Datagram => ("stream", "datagram"),
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("geode: UnixSocket::{what} needs a {needs} socket; this is a {is} socket"),
        ))
    }
}

impl AsFd for UnixSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for UnixSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
