//! Accepting connections, shared by `TcpListener` and `UnixListener`.
//!
//! Out of descriptors (`EMFILE`, `ENFILE`), `accept` returns the error, but the pending
//! connection stays queued and the listener stays readable: a caller that simply retries would
//! spin. So after such an error the next accept first sleeps, 1 ms doubling up to 1 s (as Go's
//! `net/http` does), then tries again; the first success resets the delay. The listener stays
//! registered throughout.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use crate::io::{Async, Direction, Waiter, never};
use crate::sys::socket::is_fd_exhaustion;
use crate::time::{Sleep, sleep};

const FIRST_DELAY: Duration = Duration::from_millis(1);
const MAX_DELAY: Duration = Duration::from_secs(1);

/// The accept backoff of one listener.
#[derive(Default)]
pub(crate) struct Backoff {
    delay: Cell<Option<Duration>>,
    /// The backoff sleep of the `poll_accept` form, which has no future to keep it in.
    poll_wait: Cell<BackoffWait>,
}

impl std::fmt::Debug for Backoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backoff")
            .field("delay", &self.delay.get())
            .finish_non_exhaustive()
    }
}

impl Backoff {
    /// `poll_accept` without a queue slot: the listener's own `poll_*` form.
    pub(crate) fn poll_accept<T: AsFd, R>(
        &self,
        io: &Async<T>,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let mut wait = self.poll_wait.take();
        let res = poll_accept_with(io, cx, None, &mut wait, self, op);
        self.poll_wait.set(wait);
        res
    }
}

/// The backoff sleep of one accept in progress.
#[derive(Default)]
pub(crate) struct BackoffWait {
    sleep: Option<Sleep>,
    started: bool,
}

/// One accept in progress: its place in the listener's queue and its backoff sleep.
pub(crate) struct AcceptState<'a> {
    waiter: Waiter<'a>,
    wait: BackoffWait,
}

impl<'a> AcceptState<'a> {
    pub(crate) fn new<T: AsFd>(io: &'a Async<T>) -> AcceptState<'a> {
        AcceptState {
            waiter: io.waiter(Direction::Read),
            wait: BackoffWait::default(),
        }
    }
}

pub(crate) fn poll_accept<T: AsFd, R>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    state: &mut AcceptState<'_>,
    backoff: &Backoff,
    op: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    poll_accept_with(
        io,
        cx,
        Some(&mut state.waiter),
        &mut state.wait,
        backoff,
        op,
    )
}

fn poll_accept_with<T: AsFd, R>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    waiter: Option<&mut Waiter<'_>>,
    wait: &mut BackoffWait,
    backoff: &Backoff,
    op: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    if !wait.started {
        wait.started = true;
        if let Some(d) = backoff.delay.get() {
            wait.sleep = Some(sleep(d));
        }
    }
    if let Some(s) = wait.sleep.as_mut() {
        ready!(Pin::new(s).poll(cx));
        wait.sleep = None;
    }
    let res = ready!(match waiter {
        Some(w) => w.poll_io(cx, op, never),
        None => io.poll_io(Direction::Read, cx, op, never),
    });
    match &res {
        Err(e) if is_fd_exhaustion(e) => {
            let next = backoff
                .delay
                .get()
                .map_or(FIRST_DELAY, |d| (d * 2).min(MAX_DELAY));
            backoff.delay.set(Some(next));
        }
        Ok(_) => backoff.delay.set(None),
        Err(_) => {}
    }
    wait.started = false;
    Poll::Ready(res)
}

/// A stream of incoming TCP connections: [`TcpListener::incoming`](super::TcpListener::incoming).
///
/// Yields `io::Result<TcpStream>` and never ends. It implements `futures_core::Stream`.
pub struct Incoming<'a> {
    pub(crate) listener: &'a super::TcpListener,
    pub(crate) state: AcceptState<'a>,
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<super::TcpStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let res = ready!(this.listener.poll_accept_in(cx, &mut this.state));
        Poll::Ready(Some(res.map(|(s, _)| s)))
    }
}

impl std::fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", self.listener)
            .finish()
    }
}

/// A stream of incoming Unix connections: [`UnixListener::incoming`](super::UnixListener::incoming).
pub struct UnixIncoming<'a> {
    pub(crate) listener: &'a super::UnixListener,
    pub(crate) state: AcceptState<'a>,
}

impl futures_core::Stream for UnixIncoming<'_> {
    type Item = io::Result<super::UnixStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let res = ready!(this.listener.poll_accept_in(cx, &mut this.state));
        Poll::Ready(Some(res.map(|(s, _)| s)))
    }
}

impl std::fmt::Debug for UnixIncoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixIncoming")
            .field("listener", self.listener)
            .finish()
    }
}
