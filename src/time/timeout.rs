//! `timeout`: a time limit on any future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::Instant;
use crate::reactor;
use crate::reactor::timer_entry::TimerEntry;

/// Requires `future` to complete within `duration`.
///
/// The limit starts when the returned future is first polled and `future` is pending; to be
/// exact, at the next turn of the polling thread's reactor ([`park`](crate::reactor::park)),
/// which reads the clock once for all the timeouts armed since its last turn. So a timeout
/// never elapses early, may start late by the time until that turn (under the geode executor,
/// at most one round of its run queue), and one whose future wins before that turn costs no
/// clock reading at all. Under a paused clock it starts at the poll: [`advance`](super::advance)
/// starts pending limits before it moves the clock. A future that is ready at once never arms
/// a timer; any `Duration` is valid (`Duration::MAX`: no limit in practice). Moved to another
/// thread while pending, it starts its limit again there ([`timeout_at`] keeps its deadline).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// geode::block_on(async {
///     let quick = geode::time::timeout(Duration::from_secs(1), async { 7 }).await;
///     assert_eq!(quick, Ok(7));
///     let slow = geode::time::timeout(Duration::from_millis(1), std::future::pending::<()>());
///     assert!(slow.await.is_err());
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        limit: Limit::After(duration),
        timer: TimerEntry::new(),
    }
}

/// Requires `future` to complete before `deadline`.
///
/// # Examples
/// ```
/// use geode::time::{timeout_at, Instant};
/// use std::time::Duration;
/// geode::block_on(async {
///     let r = timeout_at(Instant::now() + Duration::from_millis(1), std::future::pending::<()>());
///     assert!(r.await.is_err());
/// });
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        limit: Limit::At(deadline),
        timer: TimerEntry::new(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    After(Duration),
    At(Instant),
}

pin_project! {
    /// Future returned by [`timeout`] and [`timeout_at`]: the inner future's output, or
    /// [`Elapsed`] if the deadline came first.
    ///
    /// # Cancel safety
    /// As cancel-safe as the inner future: dropping the timeout drops it.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        limit: Limit,
        // `timeout`: staged on a reactor, which sets the deadline at its next turn; armed at
        // the deadline for `timeout_at`; never armed for a zero limit.
        timer: TimerEntry,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The wrapped future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// Consumes the timeout, returning the wrapped future.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let elapsed = match *this.limit {
            Limit::After(d) if !d.is_zero() => poll_staged(this.timer, d, cx.waker()),
            Limit::After(_) => Poll::Ready(()),
            Limit::At(deadline) => super::sleep::poll_until(this.timer, deadline, cx.waker()),
        };
        elapsed.map(|()| Err(Elapsed(())))
    }
}

/// Waits on `timer` staged for `after`: staged at the first call, and again after a move to
/// another thread, as the deadline the other reactor set (or will set) cannot be read from
/// this one.
#[inline]
fn poll_staged(timer: &mut TimerEntry, after: Duration, waker: &Waker) -> Poll<()> {
    let mut turned = false;
    match timer.poll_armed(waker) {
        Some(Poll::Ready(())) => return Poll::Ready(()),
        Some(Poll::Pending) => {
            while reactor::fallback::retry_after_turn(waker, &mut turned) {
                if timer.poll_armed(waker) == Some(Poll::Ready(())) {
                    return Poll::Ready(());
                }
            }
        }
        None => {
            timer.stage(after, waker);
            // Where nothing drives the reactor, a turn now gives the timer its deadline (and
            // the helper learns it).
            while reactor::fallback::retry_after_turn(waker, &mut turned) {}
        }
    }
    Poll::Pending
}

/// The error of a [`Timeout`] whose deadline passed first.
///
/// Converts into an `io::Error` of kind `TimedOut`, so `?` works in functions returning
/// `io::Result`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let r: std::io::Result<()> = geode::block_on(async {
///     geode::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await?;
///     Ok(())
/// });
/// assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}
