//! The per-operation protocol: one loop for every operation on a registration, whichever way
//! its caller waits.
//!
//! An operation looks at its direction, tries its syscall if the fd may be ready, and records
//! the outcome: `EAGAIN` makes the direction `NotReady` and puts the caller in line for the
//! next edge; a short stream transfer makes it `NotReady` without paying for an `EAGAIN`;
//! progress made by a waiter that was woken passes the wakeup on. How a caller waits is its
//! [`WaitMode`]: a future keeps a [`Waiter`] (a ticket in the direction's FIFO line, across
//! polls), a `poll_*` method has nowhere to keep one and is a [`PollCaller`] (its waker joins
//! the direction's poll wakers, all woken by every edge).
//!
//! Nothing is borrowed while the operation runs: it may be user code that re-enters.

use std::io;
use std::task::{Context, Poll, Waker};

use super::coop;
use super::fallback::{is_driven, retry_after_turn};
use super::io_state::{Direction, IoState, stale};
use super::waiters::{DirState, Readiness, Ticket, WaiterState};

/// How an operation went, as far as readiness is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// `EAGAIN`: readiness is gone; wait for the next edge.
    WouldBlock,
    /// Progress that drained the fd (a short read or write on a stream socket): readiness is
    /// gone, no need to pay for an `EAGAIN` to learn it.
    Drained,
    /// Progress (or an error) that may leave the fd ready.
    Progress,
}

/// Where a caller stands when it polls.
pub(crate) enum Stand {
    /// Not in line: look at the direction's readiness.
    Fresh,
    /// In line, not yet woken.
    Queued,
    /// Woken from the head of the line: it holds the wakeup, and tries.
    Notified,
}

/// How a caller waits for an edge: the difference between a future and a `poll_*` method.
pub(crate) trait WaitMode<'s> {
    fn direction(&self) -> Direction;
    /// The state of this caller's direction of `state` (the registration it waits on).
    fn dir_state(&self, state: &'s IoState) -> &'s DirState;
    /// Where this caller stands (a queued waiter's waker is refreshed).
    fn stand(&mut self, d: &DirState, waker: &Waker) -> Stand;
    /// Waits for the next edge. `notified`: the caller was woken and got `EAGAIN`, so it
    /// goes back in line in its old place.
    fn wait(&mut self, d: &DirState, waker: &Waker, notified: bool);
    /// The caller is done with its place in line.
    fn done(&mut self);
}

/// One future's place in a direction's FIFO line, kept across its polls. Dropping it leaves
/// the line, and passes the wakeup on if it had been woken and not used it.
pub(crate) struct Waiter<'a> {
    state: &'a IoState,
    /// Its direction of `state`, kept rather than looked up on every poll.
    d: &'a DirState,
    /// Queued or notified; `None` when not in line.
    ticket: Option<Ticket>,
}

impl<'a> Waiter<'a> {
    pub(super) fn new(state: &'a IoState, dir: Direction) -> Waiter<'a> {
        Waiter {
            state,
            d: state.dir(dir),
            ticket: None,
        }
    }

    /// Runs `op` once the direction may be ready, in this waiter's place in line; see
    /// [`poll_io`].
    #[inline]
    pub(crate) fn poll_io<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let state = self.state;
        poll_io(state, self, cx, op, drained)
    }

    /// Joins the line if this is a new operation on a direction known drained, on a driven
    /// thread: it has nothing to try, and [`poll_io`](Self::poll_io) would do just this.
    /// `true` if it did (the caller returns `Pending`). For a caller's inlined fast path: a
    /// round trip's second read is this, the first having drained the socket.
    #[inline(always)]
    pub(crate) fn join_if_drained(&mut self, cx: &mut Context<'_>) -> bool {
        if self.ticket.is_none() && self.d.readiness.get() == Readiness::NotReady && is_driven() {
            self.ticket = Some(self.d.enqueue(cx.waker()));
            return true;
        }
        false
    }

    /// Ready once the direction is ready (see `Async::readable`), in this waiter's place.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let state = self.state;
        poll_ready(state, self, cx)
    }

    /// Leaves the line; passes the wakeup on if this waiter was woken and did not use it.
    #[inline(never)]
    fn leave(&self, ticket: Ticket) {
        let d = self.d;
        if d.remove(ticket) == WaiterState::Notified {
            wake(d.pass_on());
        }
    }
}

impl<'a> WaitMode<'a> for Waiter<'a> {
    fn direction(&self) -> Direction {
        if std::ptr::eq(self.d, self.state.dir(Direction::Read)) {
            Direction::Read
        } else {
            Direction::Write
        }
    }

    #[inline]
    fn dir_state(&self, _: &'a IoState) -> &'a DirState {
        self.d
    }

    #[inline]
    fn stand(&mut self, d: &DirState, waker: &Waker) -> Stand {
        match self.ticket {
            None => Stand::Fresh,
            Some(t) => match d.refresh(t, waker) {
                WaiterState::Queued => Stand::Queued,
                WaiterState::Notified => Stand::Notified,
            },
        }
    }

    #[inline]
    fn wait(&mut self, d: &DirState, waker: &Waker, notified: bool) {
        match self.ticket {
            Some(t) if notified => d.requeue(t, waker),
            _ => self.ticket = Some(d.enqueue(waker)),
        }
    }

    #[inline]
    fn done(&mut self) {
        self.ticket = None;
    }
}

impl Drop for Waiter<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.leave(ticket);
        }
    }
}

/// A `poll_*` caller: no place in line (it has nowhere to keep a ticket); its waker joins the
/// direction's poll wakers, which every edge wakes.
pub(crate) struct PollCaller(pub(crate) Direction);

impl<'s> WaitMode<'s> for PollCaller {
    #[inline]
    fn direction(&self) -> Direction {
        self.0
    }

    #[inline]
    fn dir_state(&self, state: &'s IoState) -> &'s DirState {
        state.dir(self.0)
    }

    #[inline]
    fn stand(&mut self, _: &DirState, _: &Waker) -> Stand {
        Stand::Fresh
    }

    #[inline]
    fn wait(&mut self, d: &DirState, waker: &Waker, _: bool) {
        d.add_poll_waker(waker);
    }

    #[inline]
    fn done(&mut self) {}
}

/// Runs `op` if the direction may be ready; on `WouldBlock`, waits for the next edge (as
/// `mode` does) and returns `Pending`. `drained` tells, from a successful result, whether the
/// fd is now drained (a short read or write on a stream socket).
#[inline]
pub(crate) fn poll_io<'s, M: WaitMode<'s>, R>(
    state: &'s IoState,
    mode: &mut M,
    cx: &mut Context<'_>,
    mut op: impl FnMut() -> io::Result<R>,
    drained: impl Fn(&R) -> bool,
) -> Poll<io::Result<R>> {
    let d = mode.dir_state(state);
    let mut turned = false;
    loop {
        let notified = match mode.stand(d, cx.waker()) {
            Stand::Notified => true,
            Stand::Fresh if d.readiness.get() != Readiness::NotReady => false,
            Stand::Fresh => {
                mode.wait(d, cx.waker(), false);
                if retry_after_turn(cx.waker(), &mut turned) {
                    continue;
                }
                return Poll::Pending;
            }
            Stand::Queued if retry_after_turn(cx.waker(), &mut turned) => continue,
            Stand::Queued => return Poll::Pending,
        };
        // Out of budget: the task is woken after the next turn; a notified waiter keeps its
        // ticket, and so its wakeup.
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let (res, outcome) = attempt(&mut op, &drained);
        // The round trip's two outcomes (progress by a caller that was not woken, and a short
        // transfer that drained a registered fd) inline; the rest out of line.
        match outcome {
            Outcome::Progress if !notified => coop::consume(),
            Outcome::Drained if state.added.get() && d.short_means_drained.get() => {
                coop::consume();
                d.readiness.set(Readiness::NotReady);
                mode.done();
            }
            _ => match finish_slow(state, d, mode, cx.waker(), notified, outcome) {
                Ok(true) if retry_after_turn(cx.waker(), &mut turned) => continue,
                Ok(true) => return Poll::Pending,
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(e)),
            },
        }
        return Poll::Ready(res);
    }
}

/// The outcomes no round trip takes. `Ok(true)`: the caller waits for the next edge.
#[inline(never)]
fn finish_slow<'s, M: WaitMode<'s>>(
    state: &IoState,
    d: &DirState,
    mode: &mut M,
    waker: &Waker,
    notified: bool,
    outcome: Outcome,
) -> io::Result<bool> {
    let outcome = match outcome {
        Outcome::Drained if !d.short_means_drained.get() => Outcome::Progress,
        o => o,
    };
    match outcome {
        Outcome::WouldBlock => {
            if let Err(e) = ensure_added(state) {
                give_up(d, mode, notified);
                return Err(e);
            }
            d.readiness.set(Readiness::NotReady);
            // A waiter that was notified (it was first in line) keeps its place.
            mode.wait(d, waker, notified);
            Ok(true)
        }
        Outcome::Drained => {
            coop::consume();
            mode.done();
            // NotReady promises an edge will come, which needs the fd in epoll. If adding it
            // fails, stay as is: the next operation tries its syscall and sees the error.
            if ensure_added(state).is_ok() {
                d.readiness.set(Readiness::NotReady);
            }
            Ok(false)
        }
        Outcome::Progress => {
            coop::consume();
            give_up(d, mode, notified);
            Ok(false)
        }
    }
}

/// The caller leaves its place; a wakeup it held goes to the next in line.
fn give_up<'s, M: WaitMode<'s>>(d: &DirState, mode: &mut M, notified: bool) {
    mode.done();
    if notified {
        wake(d.pass_on());
    }
}

/// `readable()`/`writable()`: Ready once an edge has been seen (or passed on) *and* the fd
/// is ready now. Readiness records only what geode's own operations saw: a read or write
/// made outside geode (through `get_ref`, another library) may have used it up since, and a
/// caller looping on "try the syscall, await `readable()` on `WouldBlock`" would spin on a
/// stale `Ready`. So before answering `Ready`, one zero-timeout `poll(2)` asks the kernel;
/// the operations ([`poll_io`]) never pay for it, they learn from their own syscall.
pub(crate) fn poll_ready<'s, M: WaitMode<'s>>(
    state: &'s IoState,
    mode: &mut M,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    let mut turned = false;
    loop {
        match poll_ready_once(state, mode, cx) {
            Poll::Pending if retry_after_turn(cx.waker(), &mut turned) => continue,
            p => return p,
        }
    }
}

fn poll_ready_once<'s, M: WaitMode<'s>>(
    state: &'s IoState,
    mode: &mut M,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    let dir = mode.direction();
    let d = mode.dir_state(state);
    match mode.stand(d, cx.waker()) {
        Stand::Queued => return Poll::Pending,
        Stand::Notified if !state.ready_now(dir) => {
            // The edge was used up outside geode: wait for the next one, keeping this
            // waiter's place (it still heads the line).
            if let Err(e) = ensure_added(state) {
                give_up(d, mode, true);
                return Poll::Ready(Err(e));
            }
            d.readiness.set(Readiness::NotReady);
            mode.wait(d, cx.waker(), true);
            return Poll::Pending;
        }
        Stand::Notified => {
            // Readiness is handed to the caller, who may or may not use it: pass it on too,
            // so nobody behind us can hang on an unconsumed edge.
            give_up(d, mode, true);
            return Poll::Ready(Ok(()));
        }
        Stand::Fresh => {}
    }
    match d.readiness.get() {
        Readiness::Ready if state.ready_now(dir) => {
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            coop::consume();
            return Poll::Ready(Ok(()));
        }
        // Ready only as far as geode knew; NotReady promises an edge, which needs the fd in
        // epoll (the ADD reports current readiness as an edge).
        Readiness::Ready | Readiness::Unknown => {
            if let Err(e) = ensure_added(state) {
                return Poll::Ready(Err(e));
            }
        }
        Readiness::NotReady => {}
    }
    d.readiness.set(Readiness::NotReady);
    mode.wait(d, cx.waker(), false);
    Poll::Pending
}

/// A `try_*` operation: `op` once, now, with no waker and no coop budget (tokio's `try_io`).
/// A `WouldBlock` marks each direction in `dirs` `NotReady` (after adding the fd to epoll:
/// `NotReady` promises an edge), so the next operation or `readable()` waits for an edge; a
/// `drained` result does what it does in [`poll_io`]. Waiters in line are not touched: one
/// that was notified tries its own syscall and requeues if this call took the data.
///
/// `NotReady` is a promise that an edge will come, which only a real `EAGAIN` gives. A user's
/// closure may say `WouldBlock` without asking the kernel (or about another fd): unless
/// `trusted` (geode's own syscall on this fd said it), the kernel is asked first, and a
/// direction it calls ready keeps its readiness, so `readable()` cannot hang on data that is
/// already there.
pub(crate) fn try_io<R>(
    state: &IoState,
    dirs: &[Direction],
    trusted: bool,
    op: impl FnOnce() -> io::Result<R>,
    drained: impl Fn(&R) -> bool,
) -> io::Result<R> {
    let res = op();
    match &res {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            ensure_added(state)?;
            for &dir in dirs {
                if trusted || !state.ready_now(dir) {
                    state.dir(dir).readiness.set(Readiness::NotReady);
                }
            }
        }
        Ok(v) if state.added.get() && drained(v) => {
            for &dir in dirs {
                let d = state.dir(dir);
                if d.short_means_drained.get() {
                    d.readiness.set(Readiness::NotReady);
                }
            }
        }
        _ => {}
    }
    res
}

/// Adds the fd to epoll if it is not there yet (first wait, or first wait after a fork).
fn ensure_added(state: &IoState) -> io::Result<()> {
    if state.added.get() {
        return Ok(());
    }
    super::try_with(|r| r.add_to_epoll(state)).unwrap_or_else(|| Err(stale()))
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// Runs `op` once (retrying `EINTR` in place: going back to the top would drop a wakeup the
/// waiter holds) and classifies the result.
#[inline]
fn attempt<R>(
    op: &mut impl FnMut() -> io::Result<R>,
    drained: &impl Fn(&R) -> bool,
) -> (io::Result<R>, Outcome) {
    let res = loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            res => break res,
        }
    };
    let outcome = match &res {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
        Ok(v) if drained(v) => Outcome::Drained,
        _ => Outcome::Progress,
    };
    (res, outcome)
}
