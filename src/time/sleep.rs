//! `Sleep`: a future that completes at a deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::Instant;
use crate::reactor;
use crate::reactor::timer_entry::TimerEntry;

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
        timer: TimerEntry::new(),
    }
}

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
    timer: TimerEntry,
}

impl Sleep {
    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has been reached (as of the last poll).
    pub fn is_elapsed(&self) -> bool {
        self.timer.is_done()
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
        this.timer.reset(deadline.into_std());
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        poll_until(&mut this.timer, this.deadline, cx.waker())
    }
}

/// Waits on `timer` for `deadline`; where nothing drives the reactor, a pending poll turns it
/// and looks once more.
#[inline]
pub(super) fn poll_until(timer: &mut TimerEntry, deadline: Instant, waker: &Waker) -> Poll<()> {
    let mut turned = false;
    loop {
        match timer.poll_until(deadline.into_std(), waker) {
            Poll::Pending if reactor::fallback::retry_after_turn(waker, &mut turned) => {}
            p => return p,
        }
    }
}
