//! The small adapters hyper 1.x needs to run on geode, shared by `hyper_server.rs` and
//! `hyper_client.rs` (and, through them, `tests/hyper.rs`):
//!
//! - [`GeodeIo`]: `hyper::rt::Read`/`Write` over a geode `TcpStream` or `UnixStream`;
//! - [`GeodeExecutor`]: `hyper::rt::Executor`, spawning on geode (no `Send` bound needed);
//! - [`GeodeTimer`]: `hyper::rt::Timer` over `geode::time::Sleep`, on geode's clock (so
//!   hyper's timeouts follow virtual time in tests).
//!
//! No `unsafe`: a read goes into a small stack buffer and then into hyper's buffer with the
//! safe `ReadBufCursor::put_slice` (one copy, instead of `unsafe { cursor.advance(n) }`).

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant as StdInstant};

use geode::net::{TcpStream, UnixStream};
use geode::time::{Instant, Sleep};

/// The geode streams [`GeodeIo`] can wrap: both have inherent `poll_read`/`poll_write` on `&self`.
pub(crate) trait GeodeStream: Unpin {
    /// Polls a read into `buf`.
    fn poll_read_into(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Polls a write of `buf`.
    fn poll_write_from(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Shuts down the write half: the peer reads EOF.
    fn shutdown_write(&self) -> io::Result<()>;
}

impl GeodeStream for TcpStream {
    fn poll_read_into(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        TcpStream::poll_read(self, cx, buf)
    }
    fn poll_write_from(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        TcpStream::poll_write(self, cx, buf)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl GeodeStream for UnixStream {
    fn poll_read_into(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        UnixStream::poll_read(self, cx, buf)
    }
    fn poll_write_from(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        UnixStream::poll_write(self, cx, buf)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A geode stream as hyper's I/O (`hyper::rt::Read + hyper::rt::Write`).
#[derive(Debug)]
pub(crate) struct GeodeIo<S> {
    stream: S,
}

impl<S> GeodeIo<S> {
    /// Wraps `stream`.
    pub(crate) fn new(stream: S) -> Self {
        GeodeIo { stream }
    }
}

/// The most a single `poll_read` moves into hyper's buffer (hyper's own buffer starts at 8 KiB).
const READ_CHUNK: usize = 16 * 1024;

impl<S: GeodeStream> hyper::rt::Read for GeodeIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; READ_CHUNK];
        let len = buf.remaining().min(READ_CHUNK);
        let n = ready!(self.stream.poll_read_into(cx, &mut chunk[..len]))?;
        buf.put_slice(&chunk[..n]);
        Poll::Ready(Ok(()))
    }
}

impl<S: GeodeStream> hyper::rt::Write for GeodeIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_write_from(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // geode streams do not buffer
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.stream.shutdown_write())
    }
}

/// hyper's executor: spawns on the geode runtime of the calling thread.
///
/// HTTP/1 connections never need one (they are futures you spawn yourself); HTTP/2 builders
/// and hyper-util's take one. Because `geode::spawn` has no `Send` bound, neither has this.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GeodeExecutor;

impl<F> hyper::rt::Executor<F> for GeodeExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        // Detached: the task runs to completion on its own.
        drop(geode::spawn(fut));
    }
}

/// hyper's timer, over geode's timers and clock.
///
/// `now` is geode's clock, so under `geode::time::pause` hyper's deadlines (e.g. the HTTP/1
/// header read timeout) are virtual too.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GeodeTimer;

impl hyper::rt::Timer for GeodeTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(GeodeSleep(geode::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: StdInstant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(GeodeSleep(geode::time::sleep_until(Instant::from_std(
            deadline,
        ))))
    }

    fn now(&self) -> StdInstant {
        Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: StdInstant) {
        match sleep.as_mut().downcast_mut_pin::<GeodeSleep>() {
            // Moves the armed timer entry instead of allocating a new sleep.
            Some(mut ours) => ours.as_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// `geode::time::Sleep` as a `hyper::rt::Sleep` (which must be `Send + Sync`: geode's `Sleep`
/// is, and `Unpin` too).
#[derive(Debug)]
pub(crate) struct GeodeSleep(Sleep);

impl GeodeSleep {
    fn reset(self: Pin<&mut Self>, deadline: StdInstant) {
        Pin::new(&mut self.get_mut().0).reset(Instant::from_std(deadline));
    }
}

impl Future for GeodeSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl hyper::rt::Sleep for GeodeSleep {}
