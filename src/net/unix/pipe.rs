//! Unix pipes and FIFOs, tokio's `net::unix::pipe`: [`pipe()`], [`Sender`], [`Receiver`],
//! [`OpenOptions`].
//!
//! Both ends are non-blocking and registered with this thread's reactor, with the readiness
//! surface of the sockets (`ready`, `readable`/`writable`, `try_*`) plus inherent async
//! `read`/`write` and the `futures-io` (and, with `tokio-io`, tokio's) traits.
//!
//! ```
//! use geode::net::unix::pipe;
//!
//! geode::block_on(async {
//!     let (tx, rx) = pipe::pipe()?;
//!     tx.write_all(b"through the pipe").await?;
//!     drop(tx);
//!     let mut buf = [0; 32];
//!     let n = rx.read(&mut buf).await?;
//!     assert_eq!(&buf[..n], b"through the pipe");
//!     assert_eq!(rx.read(&mut buf).await?, 0); // the sender is gone: EOF
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::task::{Context, Poll};

use crate::io::Direction;
use crate::io::{Async, Interest, Ready};
use crate::sys::pipe as sys;

/// A new anonymous pipe (`pipe2`, close-on-exec, non-blocking): its write end and read end.
///
/// # Errors
/// `pipe2`'s (`EMFILE`, ...).
pub fn pipe() -> io::Result<(Sender, Receiver)> {
    let (r, w) = sys::pipe()?;
    Ok((Sender::wrap(w)?, Receiver::wrap(r)?))
}

/// How to open a FIFO (a named pipe): tokio's `pipe::OpenOptions`.
///
/// # Examples
/// ```
/// use geode::net::unix::pipe::OpenOptions;
///
/// let dir = std::env::temp_dir().join(format!("geode-fifo-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("fifo");
/// std::process::Command::new("mkfifo").arg(&path).status()?;
/// geode::block_on(async {
///     // No reader yet: a write-only open fails with ENXIO, as the kernel says.
///     let err = OpenOptions::new().open_sender(&path).unwrap_err();
///     assert_eq!(err.raw_os_error(), Some(libc::ENXIO));
///     let rx = OpenOptions::new().open_receiver(&path)?;
///     let tx = OpenOptions::new().open_sender(&path)?;
///     tx.write_all(b"named").await?;
///     let mut buf = [0; 5];
///     rx.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"named");
///     Ok::<(), std::io::Error>(())
/// })?;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    read_write: bool,
    unchecked: bool,
}

impl OpenOptions {
    /// Default options: read-only receivers, write-only senders, the file checked to be a
    /// FIFO.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// Opens the FIFO read-write (`O_RDWR`): a sender then opens without a reader (it is its
    /// own), and a receiver never reads EOF when the last sender goes away. Linux-specific.
    pub fn read_write(&mut self, on: bool) -> &mut OpenOptions {
        self.read_write = on;
        self
    }

    /// Skips the check that the file is a FIFO. (Epoll still refuses a regular file or a
    /// directory: the open then fails with `Unsupported`.)
    pub fn unchecked(&mut self, on: bool) -> &mut OpenOptions {
        self.unchecked = on;
        self
    }

    /// Opens the FIFO at `path` for reading.
    ///
    /// # Errors
    /// `open`'s (`NotFound`, `PermissionDenied`, ...); `Unsupported` if the file is not a
    /// FIFO.
    pub fn open_receiver(&self, path: impl AsRef<Path>) -> io::Result<Receiver> {
        let fd = self.open(path.as_ref(), false)?;
        Receiver::wrap(fd)
    }

    /// Opens the FIFO at `path` for writing.
    ///
    /// # Errors
    /// `ENXIO` if no process has it open for reading (and not [`read_write`](Self::read_write));
    /// `open`'s otherwise; `Unsupported` if the file is not a FIFO.
    pub fn open_sender(&self, path: impl AsRef<Path>) -> io::Result<Sender> {
        let fd = self.open(path.as_ref(), true)?;
        Sender::wrap(fd)
    }

    fn open(&self, path: &Path, write: bool) -> io::Result<OwnedFd> {
        let file = std::fs::OpenOptions::new()
            .read(!write || self.read_write)
            .write(write || self.read_write)
            .custom_flags(sys::O_NONBLOCK)
            .open(path)?;
        let fd = OwnedFd::from(file);
        if !self.unchecked {
            ensure_fifo(&fd)?;
        }
        Ok(fd)
    }
}

fn ensure_fifo(fd: &OwnedFd) -> io::Result<()> {
    if sys::is_fifo(fd.as_raw_fd())? {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "geode: not a pipe or FIFO (use geode::fs or std::fs for files)",
        ))
    }
}

/// Checks a caller's fd: a pipe or FIFO (unless `unchecked`), opened for `reading`/writing.
fn check_fd(fd: &OwnedFd, reading: bool, unchecked: bool) -> io::Result<()> {
    if unchecked {
        return Ok(());
    }
    ensure_fifo(fd)?;
    let (r, w) = sys::access_mode(fd.as_raw_fd())?;
    if (reading && r) || (!reading && w) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            if reading {
                "geode: a pipe::Receiver needs an fd opened for reading"
            } else {
                "geode: a pipe::Sender needs an fd opened for writing"
            },
        ))
    }
}

/// Deregisters `io` and hands its fd back, blocking or not.
fn into_fd(io: Async<File>, blocking: bool) -> io::Result<OwnedFd> {
    let fd = OwnedFd::from(io.into_inner()?);
    if blocking {
        sys::set_blocking(fd.as_raw_fd())?;
    }
    Ok(fd)
}

/// What both ends have: their constructors (with the checks of `check_fd`, or without) and
/// the ways to hand the fd back. Expanded inside each end's `impl`.
macro_rules! pipe_end {
    ($ty:ident, $mode:literal, $read:literal, $who:literal) => {
        fn wrap(fd: OwnedFd) -> io::Result<$ty> {
            Ok($ty {
                io: Async::new(File::from(fd))?,
            })
        }

        #[doc = concat!(
            "Wraps an open pipe or FIFO (made non-blocking and registered here).\n\n",
            "# Errors\n`Unsupported` if it is not a pipe or FIFO; `InvalidInput` if it is not ",
            "open for ", $mode, "."
        )]
        pub fn from_file(file: File) -> io::Result<$ty> {
            $ty::from_owned_fd(file.into())
        }

        /// [`from_file`](Self::from_file) without the checks (epoll still refuses regular files).
        pub fn from_file_unchecked(file: File) -> io::Result<$ty> {
            $ty::from_owned_fd_unchecked(file.into())
        }

        /// [`from_file`](Self::from_file) for an `OwnedFd`.
        pub fn from_owned_fd(fd: OwnedFd) -> io::Result<$ty> {
            check_fd(&fd, $read, false)?;
            $ty::wrap(fd)
        }

        /// [`from_file_unchecked`](Self::from_file_unchecked) for an `OwnedFd`.
        pub fn from_owned_fd_unchecked(fd: OwnedFd) -> io::Result<$ty> {
            $ty::wrap(fd)
        }

        #[doc = concat!("Deregisters the ", $who, " and returns its fd in blocking mode.")]
        pub fn into_blocking_fd(self) -> io::Result<OwnedFd> {
            into_fd(self.io, true)
        }

        #[doc = concat!("Deregisters the ", $who, " and returns its fd, still non-blocking.")]
        pub fn into_nonblocking_fd(self) -> io::Result<OwnedFd> {
            into_fd(self.io, false)
        }
    };
}

/// The write end of a pipe or FIFO.
#[derive(Debug)]
pub struct Sender {
    io: Async<File>,
}

impl Sender {
    pipe_end!(Sender, "writing", false, "sender");

    /// Waits until the pipe is ready for `interest` (see the sockets' `ready`).
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        self.io.ready(interest).await
    }

    /// Waits until the pipe has room (or the reader is gone).
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Polls for write readiness.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_writable(cx)
    }

    /// Writes what the pipe takes now.
    ///
    /// # Errors
    /// `WouldBlock` if it is full (the direction is then marked not ready); `BrokenPipe`
    /// once the reader is gone (where `SIGPIPE` is ignored, as Rust programs do by default).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_own(Interest::WRITABLE, |mut f| f.write(buf))
    }

    /// [`try_write`](Self::try_write) from several buffers (`writev`).
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.io
            .try_own(Interest::WRITABLE, |mut f| f.write_vectored(bufs))
    }

    /// Writes some of `buf`, waiting for room. Cancel-safe.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|mut f| f.write(buf)).await
    }

    /// Writes all of `buf`. Not cancel-safe.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Polls a write of `buf` (the `AsyncWrite` primitive).
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_with(Direction::Write, cx, |mut f| f.write(buf))
    }
}

/// The read end of a pipe or FIFO.
#[derive(Debug)]
pub struct Receiver {
    io: Async<File>,
}

impl Receiver {
    pipe_end!(Receiver, "reading", true, "receiver");

    /// Waits until the pipe is ready for `interest`; `is_read_closed` once every sender is
    /// gone.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        self.io.ready(interest).await
    }

    /// Waits until the pipe has data (or every sender is gone).
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Polls for read readiness.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_readable(cx)
    }

    /// Reads what is there now. `Ok(0)` is EOF (every sender gone) or an empty `buf`.
    ///
    /// # Errors
    /// `WouldBlock` if the pipe is empty (the direction is then marked not ready).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_own(Interest::READABLE, |mut f| f.read(buf))
    }

    /// [`try_read`](Self::try_read) into several buffers (`readv`).
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.io
            .try_own(Interest::READABLE, |mut f| f.read_vectored(bufs))
    }

    /// Reads into `buf`, waiting for data. `Ok(0)` is EOF. Cancel-safe.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|mut f| f.read(buf)).await
    }

    /// Reads exactly `buf.len()` bytes (`UnexpectedEof` if every sender goes first).
    pub async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Polls a read into `buf` (the `AsyncRead` primitive).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_with(Direction::Read, cx, |mut f| f.read(buf))
    }
}

macro_rules! fd_impls {
    ($($ty:ty),*) => {$(
        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.io.as_fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.io.as_raw_fd()
            }
        }
    )*};
}
fd_impls!(Sender, Receiver);

#[cfg(feature = "futures-io")]
impl futures_io::AsyncWrite for Sender {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Sender::poll_write(&self, cx, buf)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncRead for Receiver {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Receiver::poll_read(&self, cx, buf)
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for Sender {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Sender::poll_write(&self, cx, buf)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for Receiver {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = std::task::ready!(Receiver::poll_read(&self, cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}
