//! Geode futures under an executor that never runs this thread's reactor.
//!
//! geode's own executor runs the reactor between task polls, and a custom executor does it by
//! calling [`park`](super::park). Any other executor (`futures::executor::block_on`,
//! `pollster`, `futures_lite::future::block_on`, `async_executor`) only waits for a `Waker`,
//! and nothing would ever turn an epoll event or a due timer into one. So when a geode future
//! goes pending on a thread that nothing drives ("undriven"), it does two things instead of
//! just waiting:
//!
//! 1. It runs one non-blocking turn of this thread's reactor itself, right there: events that
//!    already arrived are dispatched, due timers fire, staged timeouts get their deadlines;
//!    then it checks its own state once more ([`retry_after_turn`]), and may be ready now.
//! 2. It hands a clone of its waker, and the reactor's next timer deadline, to this thread's
//!    *helper*: a thread that `poll(2)`s this reactor's epoll fd (readable while events are
//!    pending; polling it consumes nothing) and an eventfd of its own, with the
//!    deadline as timeout. When events are pending or the deadline has come, the helper wakes
//!    every waker it was given. Each future polls again on its own thread, where step 1 turns
//!    the reactor and delivers what arrived.
//!
//! The helper never calls `epoll_wait` (with edge-triggered registrations a harvested event is
//! not reported again: taking it would lose it) and never touches the reactor's `Rc` state:
//! it holds only an fd number, an eventfd and a list of wakers. It starts with the first
//! undriven pending poll on its thread, and ends when the thread's reactor ends or when
//! somebody calls `park` on that thread (a custom executor taking over: it drives the reactor
//! from then on). After a fork the child starts a new helper if it needs one. A custom
//! executor polls before its first `park`, so a helper it starts then wakes nobody for its
//! first 10 ms: the executor's `park` ends it before it could wake anything.
//!
//! Driven threads pay one thread-local load per pending poll: [`retry_after_turn`] is inlined, the
//! rest is out of line.

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::sys::eventfd::EventFd;
use crate::sys::process::{ForkStamp, fork_stamp, forked_since};

/// How long a new helper wakes nobody (see [`Helper::run`]).
const GRACE: Duration = Duration::from_millis(10);

thread_local! {
    /// Who drives this thread's reactor: the number of geode executors running on the thread
    /// (a fork child may run one inside its parent's copy), plus [`PARKED`] once `park` was
    /// called by anyone else.
    static DRIVEN: Cell<u32> = const { Cell::new(0) };
}

const PARKED: u32 = 1 << 31;

/// Whether something runs this thread's reactor: geode's executor, or a `park` loop.
#[inline]
pub(crate) fn is_driven() -> bool {
    DRIVEN.with(Cell::get) != 0
}

/// Marks this thread as driven by geode's executor while the guard lives.
pub(crate) fn executor_running() -> ExecutorRunning {
    DRIVEN.with(|d| d.set(d.get() + 1));
    ExecutorRunning(())
}

/// See [`executor_running`].
pub(crate) struct ExecutorRunning(());

impl Drop for ExecutorRunning {
    fn drop(&mut self) {
        DRIVEN.with(|d| d.set(d.get() - 1));
    }
}

/// Records that `park` was called on this thread; `true` the first time.
#[inline]
pub(super) fn mark_parked() -> bool {
    DRIVEN.with(|d| {
        let v = d.get();
        d.set(v | PARKED);
        v & PARKED == 0
    })
}

/// Called by a geode future that found itself pending (its waker stored where the reactor will
/// find it, no reactor or queue borrow held), with a flag of its own that starts `false`.
/// `true` means "check again": on a thread nothing drives, the first call runs one
/// non-blocking turn of the reactor (arrived events dispatched, due timers fired), so a future
/// woken by the helper, or polled by hand, is ready at the poll after its event came.
/// `false` means "return `Pending`"; there, the waker is also left with the helper. On a
/// driven thread: one thread-local load, and `false`.
#[inline]
pub(crate) fn retry_after_turn(waker: &Waker, turned: &mut bool) -> bool {
    !is_driven() && undriven_retry(waker, turned)
}

#[cold]
#[inline(never)]
fn undriven_retry(waker: &Waker, turned: &mut bool) -> bool {
    if !std::mem::replace(turned, true) && super::turn_now().is_ok() {
        return true;
    }
    undriven(waker);
    false
}

#[cold]
#[inline(never)]
fn undriven(waker: &Waker) {
    match super::try_with(|r| r.fallback_helper()) {
        Some(Ok((helper, deadline))) => helper.note(waker, deadline),
        // No helper (no thread or fd to spare, or the thread is exiting): a busy poll beats a
        // hang.
        _ => waker.wake_by_ref(),
    }
}

/// One thread's helper, shared with its thread (`Arc`). See the module docs.
pub(crate) struct Helper {
    /// The reactor's epoll fd. Only ever `poll(2)`ed, never read: should the reactor close it
    /// first (its thread ending), `stop` has signalled `control`, so a poll of whatever the
    /// number means by then returns at once and the helper sees `stop`. (Not a dup of its own:
    /// a second fd of one epoll instance would show every interest twice in `/proc`.)
    epoll: RawFd,
    /// Written when the helper must look at `state` again.
    control: EventFd,
    fork: ForkStamp,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    wakers: Vec<Waker>,
    /// The earliest timer deadline any noted future waits for.
    deadline: Option<Instant>,
    stop: bool,
}

impl Helper {
    /// Starts a helper thread watching the epoll instance `epoll`.
    pub(super) fn start(epoll: RawFd) -> io::Result<Arc<Helper>> {
        let helper = Arc::new(Helper {
            epoll,
            control: EventFd::new()?,
            fork: fork_stamp(),
            state: Mutex::new(State::default()),
        });
        let h = helper.clone();
        std::thread::Builder::new()
            .name("geode-fallback".into())
            .spawn(move || h.run())?;
        Ok(helper)
    }

    /// Whether this helper was started by this process (a fork child has no helper thread).
    pub(super) fn is_ours(&self) -> bool {
        !forked_since(&self.fork)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent whatever panicked while holding the lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks to be woken at the next event or by `deadline` (a real-clock instant).
    fn note(&self, waker: &Waker, deadline: Option<Instant>) {
        let mut s = self.lock();
        let was_idle = s.wakers.is_empty();
        if !s.wakers.iter().any(|w| w.will_wake(waker)) {
            s.wakers.push(waker.clone());
        }
        let earlier = deadline.is_some_and(|d| s.deadline.is_none_or(|cur| d < cur));
        if earlier {
            s.deadline = deadline;
        }
        drop(s);
        if was_idle || earlier {
            // A failed write leaves the helper on its old wait; the future was polled and its
            // reactor turned, so at worst it waits for the next event.
            let _ = self.control.signal();
        }
    }

    /// Ends the helper thread; returns the wakers it held, for the caller to drop outside any
    /// borrow.
    pub(super) fn stop(&self) -> Vec<Waker> {
        let mut s = self.lock();
        s.stop = true;
        let wakers = std::mem::take(&mut s.wakers);
        drop(s);
        let _ = self.control.signal();
        wakers
    }

    fn run(self: Arc<Self>) {
        // A custom executor polls its futures first and then parks, which stops the helper:
        // it must not see wakes from here in between (a test that counts wakes would see
        // spurious ones). So the helper wakes nobody in its first moments, by which time a
        // `park` loop has taken over; a foreign executor's first wait is that much longer.
        let grace_end = Instant::now() + GRACE;
        loop {
            let now = Instant::now();
            if now < grace_end {
                let fds = [None, Some(self.control.as_raw_fd())];
                if let Ok([_, true]) = crate::sys::fd::wait_readable(fds, Some(grace_end - now)) {
                    let _ = self.control.drain();
                }
                if self.lock().stop {
                    return;
                }
                continue;
            }
            let (watch, timeout) = {
                let s = self.lock();
                if s.stop {
                    return;
                }
                if s.wakers.is_empty() {
                    (false, None)
                } else {
                    let now = Instant::now();
                    (true, s.deadline.map(|d| d.saturating_duration_since(now)))
                }
            };
            let fds = [watch.then_some(self.epoll), Some(self.control.as_raw_fd())];
            let [events, control] = match crate::sys::fd::wait_readable(fds, timeout) {
                Ok(ready) => ready,
                Err(_) => {
                    // Cannot wait (ENOMEM): wake everyone every millisecond rather than hang.
                    std::thread::sleep(Duration::from_millis(1));
                    [true, true]
                }
            };
            if control {
                let _ = self.control.drain();
            }
            let wake = {
                let mut s = self.lock();
                if s.stop {
                    return;
                }
                let due = s.deadline.is_some_and(|d| d <= Instant::now());
                if !s.wakers.is_empty() && (events || due) {
                    s.deadline = None;
                    std::mem::take(&mut s.wakers)
                } else {
                    Vec::new()
                }
            };
            for w in wake {
                // A waker is foreign code: its panic must not end the helper.
                let _ = catch_unwind(AssertUnwindSafe(|| w.wake()));
            }
        }
    }
}
