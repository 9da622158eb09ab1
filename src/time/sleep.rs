//! `Sleep`: a future that completes at a deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::Instant;
use crate::reactor;
use crate::slab::Key;

/// Waits until `duration` has elapsed.
///
/// Any duration is valid: `Duration::ZERO` completes at the first poll, `Duration::MAX` never
/// completes (its deadline is placed ~30 years ahead; nothing overflows).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// geode::block_on(async {
///     let start = geode::time::Instant::now();
///     geode::time::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// Waits until `deadline`.
///
/// # Examples
/// ```
/// use geode::time::{sleep_until, Instant};
/// use std::time::Duration;
/// geode::block_on(sleep_until(Instant::now() + Duration::from_millis(1)));
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        state: UNARMED,
        key: Key::from_u64(0),
    }
}

/// [`Sleep::state`] of a sleep with no timer armed.
const UNARMED: u64 = 0;
/// [`Sleep::state`] of a sleep that has completed. Reactor ids count up from 1 and never get
/// here.
const DONE: u64 = u64::MAX;

/// Future returned by [`sleep`] and [`sleep_until`].
///
/// The timer is armed at the first poll (on the polling thread's reactor) and cancelled on drop,
/// so a `Sleep` that is dropped early leaves nothing behind. It is `Send`: polled on another
/// thread while armed, it re-arms there (and its first reactor cancels the old entry); reset or dropped on another thread while its task
/// waits, its timer is cancelled on the reactor that armed it and that task is woken, so a
/// new deadline holds (earlier or later) and nothing is left armed.
///
/// # Cancel safety
/// Dropping it cancels the timer; nothing is lost.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    deadline: Instant,
    /// `UNARMED`, `DONE`, or the id of the reactor where `key` is armed: one word for what
    /// would otherwise be an `Option` and a flag, which keeps a `Sleep` at 32 bytes.
    state: u64,
    key: Key,
}

impl Sleep {
    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has been reached (as of the last poll).
    pub fn is_elapsed(&self) -> bool {
        self.state == DONE
    }

    /// Moves the deadline, earlier or later, reusing the armed timer entry. A sleep that had
    /// completed becomes pending again if the new deadline lies ahead.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// geode::block_on(async {
    ///     let mut s = std::pin::pin!(geode::time::sleep(Duration::from_secs(3600)));
    ///     s.as_mut().reset(geode::time::Instant::now() + Duration::from_millis(1));
    ///     s.await; // one millisecond, not an hour
    /// });
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = deadline;
        let (id, key) = match this.state {
            UNARMED => return,
            DONE => {
                this.state = UNARMED;
                return;
            }
            id => (id, this.key),
        };
        // Moved in place if the timer is this thread's and still armed. Otherwise disarm, so
        // the next poll arms the new deadline (or, if it has passed, completes at once instead
        // of one reactor turn later). A timer armed on another thread's reactor is cancelled
        // there at its next turn, which also wakes the task waiting on it: it polls again and
        // arms the new deadline, earlier or later, instead of sleeping until the old one.
        let kept = deadline > Instant::now()
            && reactor::try_with(|r| r.id() == id && r.timer_reset(key, deadline.into_std()))
                == Some(true);
        if !kept {
            drop(cancel(id, key));
            this.state = UNARMED;
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut turned = false;
        loop {
            match this.poll_once(cx) {
                Poll::Pending if reactor::fallback::retry_after_turn(cx.waker(), &mut turned) => {}
                p => return p,
            }
        }
    }
}

impl Sleep {
    fn poll_once(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let this = self;
        if this.state == DONE {
            return Poll::Ready(());
        }
        let mut moved_from = None;
        let (done, replaced) = reactor::with(|r| {
            let here = r.id();
            if this.state == here {
                // Not found: it fired.
                return match r.timer_refresh(this.key, cx.waker()) {
                    None => (true, None),
                    Some(replaced) => (false, replaced),
                };
            }
            // Unarmed, or armed on another thread's reactor (which is told to cancel it,
            // below): arm here.
            if this.state != UNARMED {
                moved_from = Some((this.state, this.key));
                this.state = UNARMED;
            }
            if this.deadline <= Instant::now() {
                return (true, None);
            }
            this.key = r.timer_insert(this.deadline.into_std(), cx.waker());
            this.state = here;
            (false, None)
        });
        // After the reactor's borrow: a waker's drop is code we do not control.
        drop(replaced);
        if let Some((id, key)) = moved_from {
            reactor::remote::cancel_remote(id, key);
        }
        if done {
            this.state = DONE;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let (id, key) = (self.state, self.key);
        if id != UNARMED && id != DONE {
            drop(cancel(id, key));
        }
    }
}

/// Cancels timer `key` of reactor `id`, returning its waker to be dropped by the caller, after
/// the reactor's borrow. On another thread than the reactor's, the reactor cancels it at its
/// next turn and wakes the waker (`reactor::remote`).
pub(super) fn cancel(id: u64, key: Key) -> Option<Waker> {
    match reactor::try_with(|r| (r.id() == id).then(|| r.timer_cancel(key))) {
        Some(Some(waker)) => waker,
        // Another thread's timer, or this thread's reactor is gone (it is exiting).
        Some(None) | None => {
            reactor::remote::cancel_remote(id, key);
            None
        }
    }
}
