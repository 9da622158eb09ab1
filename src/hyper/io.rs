//! `GeodeIo`: hyper's I/O traits over a futures-io stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};

/// A stream as hyper's I/O: `hyper::rt::Read` and `hyper::rt::Write` over any `futures-io`
/// stream: geode's [`TcpStream`](crate::net::TcpStream) and
/// [`UnixStream`](crate::net::UnixStream) (and their `&` forms), or a stream built on them,
/// such as a TLS stream from `futures-rustls`.
///
/// - A read moves at most 16 KiB per poll through a buffer on the stack into hyper's
///   buffer (hyper's safe `put_slice`: geode has no `unsafe` outside its `sys` module, and
///   handing hyper's uninitialised buffer to a `futures-io` reader would need it).
/// - `poll_shutdown` is the stream's `poll_close`, except that a peer that already reset or
///   closed the connection (`ENOTCONN`, [`io::ErrorKind::NotConnected`]) is a success: the
///   write half is as shut as it will get, and hyper would log an error for every client that
///   left first.
///
/// ```
/// use geode::hyper::GeodeIo;
/// use geode::net::UnixStream;
/// use hyper::rt::{Read, ReadBuf, Write};
/// use std::future::poll_fn;
/// use std::pin::Pin;
///
/// geode::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut a, mut b) = (GeodeIo::new(a), GeodeIo::new(b));
///     poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"ping")).await?;
///     let mut storage = [0; 4];
///     let mut buf = ReadBuf::new(&mut storage);
///     poll_fn(|cx| Pin::new(&mut b).poll_read(cx, buf.unfilled())).await?;
///     assert_eq!(buf.filled(), b"ping");
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<_, std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct GeodeIo<S> {
    inner: S,
}

impl<S> GeodeIo<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        GeodeIo { inner }
    }

    /// The wrapped stream.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The most one `poll_read` moves into hyper's buffer (hyper's read buffer starts at 8 KiB and
/// grows while reads fill it).
const READ_CHUNK: usize = 16 * 1024;

impl<S: AsyncRead + Unpin> hyper::rt::Read for GeodeIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let len = buf.remaining().min(READ_CHUNK);
        if len == 0 {
            return Poll::Ready(Ok(()));
        }
        let mut chunk = [0u8; READ_CHUNK];
        let n = ready!(Pin::new(&mut self.get_mut().inner).poll_read(cx, &mut chunk[..len]))?;
        buf.put_slice(&chunk[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> hyper::rt::Write for GeodeIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.get_mut().inner).poll_close(cx)) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            other => Poll::Ready(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Write;

    /// A writer whose `poll_close` fails with a given OS error.
    struct CloseFails(i32);

    impl AsyncWrite for CloseFails {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Err(io::Error::from_raw_os_error(self.0)))
        }
    }

    fn shutdown(errno: i32) -> Poll<io::Result<()>> {
        let mut io = GeodeIo::new(CloseFails(errno));
        Pin::new(&mut io).poll_shutdown(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn shutdown_of_a_connection_the_peer_closed_is_a_success() {
        assert!(matches!(shutdown(libc::ENOTCONN), Poll::Ready(Ok(()))));
    }

    #[test]
    fn other_shutdown_errors_are_kept_with_their_errno() {
        match shutdown(libc::EBADF) {
            Poll::Ready(Err(e)) => assert_eq!(e.raw_os_error(), Some(libc::EBADF)),
            other => panic!("expected EBADF, got {other:?}"),
        }
    }
}
