//! The I/O shared by `TcpStream` and `UnixStream`: reads and writes that tell the reactor when
//! a short transfer drained the socket, and the `futures-io`/`tokio-io` trait impls.

use std::future::poll_fn;
use std::io;
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use crate::io::Async;
use crate::reactor::registration::Dir;
use crate::sys::socket;

/// A short read (not EOF) on a stream socket means the receive queue is empty.
fn read_drained(len: usize) -> impl Fn(&usize) -> bool {
    move |&n| n > 0 && n < len
}

/// A short write on a stream socket means the send buffer is full.
fn write_drained(len: usize) -> impl Fn(&usize) -> bool {
    move |&n| n < len
}

pub(crate) fn poll_read<T: AsFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    io.poll_io(
        Dir::Read,
        cx,
        None,
        || socket::recv(io.as_fd(), buf),
        read_drained(len),
    )
}

pub(crate) fn poll_write<T: AsFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    io.poll_io(
        Dir::Write,
        cx,
        None,
        || socket::send(io.as_fd(), buf),
        write_drained(len),
    )
}

pub(crate) async fn read<T: AsFd>(io: &Async<T>, buf: &mut [u8]) -> io::Result<usize> {
    let len = buf.len();
    let mut slot = io.waiter(Dir::Read);
    poll_fn(|cx| {
        io.poll_io(
            Dir::Read,
            cx,
            Some(&mut slot),
            || socket::recv(io.as_fd(), buf),
            read_drained(len),
        )
    })
    .await
}

pub(crate) async fn write<T: AsFd>(io: &Async<T>, buf: &[u8]) -> io::Result<usize> {
    let len = buf.len();
    let mut slot = io.waiter(Dir::Write);
    poll_fn(|cx| {
        io.poll_io(
            Dir::Write,
            cx,
            Some(&mut slot),
            || socket::send(io.as_fd(), buf),
            write_drained(len),
        )
    })
    .await
}

pub(crate) async fn read_exact<T: AsFd>(io: &Async<T>, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match read(io, buf).await? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "geode: the peer closed the stream before the buffer was filled",
                ));
            }
            n => buf = &mut buf[n..],
        }
    }
    Ok(())
}

pub(crate) async fn write_all<T: AsFd>(io: &Async<T>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match write(io, buf).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// Implements the async I/O traits for a stream type and for references to it. The type must
/// have `fn io(&self) -> &Async<Std>` and `fn shutdown_write(&self) -> io::Result<()>`.
macro_rules! stream_traits {
    ($ty:ty) => {
        crate::net::stream::stream_traits!(@impl $ty);
        crate::net::stream::stream_traits!(@impl &$ty);
    };
    (@impl $t:ty) => {
        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                crate::net::stream::poll_read(self.io(), cx, buf)
            }
        }

        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                crate::net::stream::poll_write(self.io(), cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            /// Shuts down the write half (the peer reads EOF).
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown_write())
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                crate::net::stream::poll_read_buf(self.io(), cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                crate::net::stream::poll_write(self.io(), cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown_write())
            }
        }
    };
}
pub(crate) use stream_traits;

/// tokio's `ReadBuf` flavour of [`poll_read`].
#[cfg(feature = "tokio-io")]
pub(crate) fn poll_read_buf<T: AsFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    buf: &mut tokio::io::ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let n = std::task::ready!(poll_read(io, cx, buf.initialize_unfilled()))?;
    buf.advance(n);
    Poll::Ready(Ok(()))
}
