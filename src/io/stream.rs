//! Stream-socket I/O through [`Async`] (`TcpStream`, `UnixStream`): reads and writes that tell
//! the reactor when a short transfer drained the socket, as futures, `poll_*` and `try_*`.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::{Async, Direction, Interest, Waiter};
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
        Direction::Read,
        cx,
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
        Direction::Write,
        cx,
        || socket::send(io.as_fd(), buf),
        write_drained(len),
    )
}

fn total_len<'b>(bufs: impl Iterator<Item = &'b [u8]>) -> usize {
    bufs.map(<[u8]>::len).fold(0, usize::saturating_add)
}

#[cfg(feature = "futures-io")]
pub(crate) fn poll_read_vectored<T: AsFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    bufs: &mut [IoSliceMut<'_>],
) -> Poll<io::Result<usize>> {
    let len = total_len(bufs.iter().map(|b| &**b));
    io.poll_io(
        Direction::Read,
        cx,
        || socket::recv_vectored(io.as_fd(), bufs),
        read_drained(len),
    )
}

#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
pub(crate) fn poll_write_vectored<T: AsFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let len = total_len(bufs.iter().map(|b| &**b));
    io.poll_io(
        Direction::Write,
        cx,
        || socket::send_vectored(io.as_fd(), bufs),
        write_drained(len),
    )
}

/// `read_vectored`: one `recvmsg` once the socket is readable, in line with the other readers.
pub(crate) async fn read_vectored<T: AsFd>(
    io: &Async<T>,
    bufs: &mut [IoSliceMut<'_>],
) -> io::Result<usize> {
    let len = total_len(bufs.iter().map(|b| &**b));
    let mut waiter = io.waiter(Direction::Read);
    let fd = io.as_fd();
    poll_fn(|cx| waiter.poll_io(cx, || socket::recv_vectored(fd, bufs), read_drained(len))).await
}

/// `write_vectored`: one `sendmsg` once the socket is writable.
pub(crate) async fn write_vectored<T: AsFd>(
    io: &Async<T>,
    bufs: &[IoSlice<'_>],
) -> io::Result<usize> {
    let len = total_len(bufs.iter().map(|b| &**b));
    let mut waiter = io.waiter(Direction::Write);
    let fd = io.as_fd();
    poll_fn(|cx| waiter.poll_io(cx, || socket::send_vectored(fd, bufs), write_drained(len))).await
}

/// `try_read`: one `recv` now; a short read marks the socket drained, as the futures do.
pub(crate) fn try_read<T: AsFd>(io: &Async<T>, buf: &mut [u8]) -> io::Result<usize> {
    let len = buf.len();
    io.try_op(
        Interest::READABLE,
        || socket::recv(io.as_fd(), buf),
        read_drained(len),
    )
}

pub(crate) fn try_write<T: AsFd>(io: &Async<T>, buf: &[u8]) -> io::Result<usize> {
    let len = buf.len();
    io.try_op(
        Interest::WRITABLE,
        || socket::send(io.as_fd(), buf),
        write_drained(len),
    )
}

pub(crate) fn try_read_vectored<T: AsFd>(
    io: &Async<T>,
    bufs: &mut [IoSliceMut<'_>],
) -> io::Result<usize> {
    let len = total_len(bufs.iter().map(|b| &**b));
    io.try_op(
        Interest::READABLE,
        || socket::recv_vectored(io.as_fd(), bufs),
        read_drained(len),
    )
}

pub(crate) fn try_write_vectored<T: AsFd>(
    io: &Async<T>,
    bufs: &[IoSlice<'_>],
) -> io::Result<usize> {
    let len = total_len(bufs.iter().map(|b| &**b));
    io.try_op(
        Interest::WRITABLE,
        || socket::send_vectored(io.as_fd(), bufs),
        write_drained(len),
    )
}

// The futures below are written by hand rather than as `async fn`s: each is polled on every
// round trip of a server, and nested `async fn` + `poll_fn` state machines cost a few dozen
// instructions per poll in moves and state switches (measured with callgrind, see
// docs/BENCHMARKS.md). Each keeps one place in the direction's queue for its whole life.

/// `read`: one `recv` once the socket is readable.
pub(crate) struct ReadFut<'a> {
    waiter: Waiter<'a>,
    fd: BorrowedFd<'a>,
    buf: &'a mut [u8],
}

impl Future for ReadFut<'_> {
    type Output = io::Result<usize>;

    /// The read a server makes right after answering finds the socket drained (its last read
    /// was short): that poll only joins the line, inlined; the rest is out of line.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.waiter.join_if_drained(cx) {
            return Poll::Pending;
        }
        this.poll_read(cx)
    }
}

impl ReadFut<'_> {
    #[inline(never)]
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let (fd, buf) = (self.fd, &mut *self.buf);
        let len = buf.len();
        self.waiter
            .poll_io(cx, || socket::recv(fd, buf), read_drained(len))
    }
}

pub(crate) fn read<'a, T: AsFd>(io: &'a Async<T>, buf: &'a mut [u8]) -> ReadFut<'a> {
    ReadFut {
        waiter: io.waiter(Direction::Read),
        fd: io.as_fd(),
        buf,
    }
}

/// `write`: one `send` once the socket is writable.
pub(crate) struct WriteFut<'a> {
    waiter: Waiter<'a>,
    fd: BorrowedFd<'a>,
    buf: &'a [u8],
}

impl Future for WriteFut<'_> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let (fd, buf) = (this.fd, this.buf);
        this.waiter
            .poll_io(cx, || socket::send(fd, buf), write_drained(buf.len()))
    }
}

pub(crate) fn write<'a, T: AsFd>(io: &'a Async<T>, buf: &'a [u8]) -> WriteFut<'a> {
    WriteFut {
        waiter: io.waiter(Direction::Write),
        fd: io.as_fd(),
        buf,
    }
}

/// `read_exact`: `recv` until `buf` is full.
pub(crate) struct ReadExactFut<'a> {
    read: ReadFut<'a>,
}

impl Future for ReadExactFut<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let read = &mut self.get_mut().read;
        while !read.buf.is_empty() {
            match ready!(Pin::new(&mut *read).poll(cx)) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "geode: the peer closed the stream before the buffer was filled",
                    )));
                }
                Ok(n) => read.buf = &mut std::mem::take(&mut read.buf)[n..],
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

pub(crate) fn read_exact<'a, T: AsFd>(io: &'a Async<T>, buf: &'a mut [u8]) -> ReadExactFut<'a> {
    ReadExactFut {
        read: read(io, buf),
    }
}

/// `write_all`: `send` until all of `buf` is written.
pub(crate) struct WriteAllFut<'a> {
    write: WriteFut<'a>,
}

impl Future for WriteAllFut<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let write = &mut self.get_mut().write;
        while !write.buf.is_empty() {
            match ready!(Pin::new(&mut *write).poll(cx)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => write.buf = &write.buf[n..],
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

pub(crate) fn write_all<'a, T: AsFd>(io: &'a Async<T>, buf: &'a [u8]) -> WriteAllFut<'a> {
    WriteAllFut {
        write: write(io, buf),
    }
}

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
