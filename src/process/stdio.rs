//! A child's piped stdin, stdout and stderr, as async streams.

use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
use std::pin::Pin;
#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
use std::task::{Context, Poll};

use crate::io::Async;
#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
use crate::io::Direction;

#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
fn poll_read(
    io: &Async<PipeReader>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    io.poll_with(Direction::Read, cx, |mut p| p.read(buf))
}

#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
fn poll_write(io: &Async<PipeWriter>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    io.poll_with(Direction::Write, cx, |mut p| p.write(buf))
}

macro_rules! reader {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            inner: Async<PipeReader>,
        }

        impl $name {
            /// Makes std's pipe end asynchronous (non-blocking, registered with this thread's
            /// reactor).
            ///
            /// # Errors
            /// The `fcntl` error, errno intact; the pipe is closed then.
            pub fn from_std(std: $std) -> io::Result<$name> {
                let fd = OwnedFd::from(std);
                Ok($name { inner: Async::new(PipeReader::from(fd))? })
            }

            /// Reads what the child has written, waiting until it writes something. `Ok(0)` is
            /// the end: the child closed its end (usually: it exited).
            ///
            /// # Cancel safety
            /// Cancel-safe: nothing is read unless the future returns it.
            pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.inner.read_with(|mut pipe| pipe.read(buf)).await
            }

            /// Reads until the end (the child closed its end), appending to `buf`; returns how
            /// many bytes it appended.
            pub async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
                let start = buf.len();
                let mut chunk = [0u8; 8192];
                loop {
                    match self.read(&mut chunk).await? {
                        0 => return Ok(buf.len() - start),
                        n => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            }

            /// Deregisters the pipe and returns its fd (still non-blocking).
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                Ok(OwnedFd::from(self.inner.into_inner()?))
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.as_raw_fd()
            }
        }

        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                poll_read(&self.inner, cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = std::task::ready!(poll_read(&self.inner, cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }
    };
}

reader!(
    /// The read end of a child's piped stdout ([`Child::stdout`](super::Child::stdout)).
    ///
    /// With the `futures-io` feature it implements `futures_io::AsyncRead`, with `tokio-io`
    /// tokio's `AsyncRead`. Like every geode I/O object it belongs to the thread that created
    /// it.
    ///
    /// # Examples
    /// ```
    /// use geode::process::Command;
    /// use std::process::Stdio;
    ///
    /// geode::block_on(async {
    ///     let mut child = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn()?;
    ///     let mut out = Vec::new();
    ///     child.stdout.take().unwrap().read_to_end(&mut out).await?;
    ///     assert_eq!(out, b"hi\n");
    ///     assert!(child.wait().await?.success());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ChildStdout,
    std::process::ChildStdout
);

reader!(
    /// The read end of a child's piped stderr ([`Child::stderr`](super::Child::stderr)); see
    /// [`ChildStdout`].
    ///
    /// # Examples
    /// ```
    /// use geode::process::Command;
    /// use std::process::Stdio;
    ///
    /// geode::block_on(async {
    ///     let mut child = Command::new("sh")
    ///         .args(["-c", "echo oops >&2"])
    ///         .stderr(Stdio::piped())
    ///         .spawn()?;
    ///     let mut err = Vec::new();
    ///     child.stderr.take().unwrap().read_to_end(&mut err).await?;
    ///     assert_eq!(err, b"oops\n");
    ///     child.wait().await?;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ChildStderr,
    std::process::ChildStderr
);

/// The write end of a child's piped stdin ([`Child::stdin`](super::Child::stdin)).
///
/// With the `futures-io` feature it implements `futures_io::AsyncWrite`, with `tokio-io`
/// tokio's `AsyncWrite`. Drop it to close the pipe: the child then reads end-of-file.
///
/// # Examples
/// ```
/// use geode::process::Command;
/// use std::process::Stdio;
///
/// geode::block_on(async {
///     let mut child = Command::new("cat")
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let mut stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"through cat").await?;
///     drop(stdin); // cat sees EOF and exits
///     let out = child.wait_with_output().await?;
///     assert_eq!(out.stdout, b"through cat");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ChildStdin {
    inner: Async<PipeWriter>,
}

impl ChildStdin {
    /// Makes std's pipe end asynchronous (non-blocking, registered with this thread's reactor).
    ///
    /// # Errors
    /// The `fcntl` error, errno intact; the pipe is closed then.
    pub fn from_std(std: std::process::ChildStdin) -> io::Result<ChildStdin> {
        let fd = OwnedFd::from(std);
        Ok(ChildStdin {
            inner: Async::new(PipeWriter::from(fd))?,
        })
    }

    /// Writes some of `buf`, waiting while the pipe is full; returns how much it wrote.
    ///
    /// # Errors
    /// `BrokenPipe` once the child has closed its stdin (or exited).
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|mut pipe| pipe.write(buf)).await
    }

    /// Writes all of `buf`, waiting while the pipe is full.
    ///
    /// # Errors
    /// As [`write`](Self::write); `WriteZero` if a write makes no progress.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Deregisters the pipe and returns its fd (still non-blocking).
    pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
        Ok(OwnedFd::from(self.inner.into_inner()?))
    }
}

impl AsFd for ChildStdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for ChildStdin {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write(&self.inner, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Nothing to do (a pipe has no write-side shutdown): drop the `ChildStdin` to close it.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write(&self.inner, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Nothing to do (a pipe has no write-side shutdown): drop the `ChildStdin` to close it.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
