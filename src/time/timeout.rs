//! `timeout`: a time limit on any future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::{Instant, Sleep, sleep, sleep_until};
use crate::reactor;
use crate::slab::Key;

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
        timer: Timer::Unarmed,
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
        timer: Timer::Unarmed,
    }
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    After(Duration),
    At(Instant),
}

#[derive(Debug)]
enum Timer {
    /// The future has not been pending yet.
    Unarmed,
    /// `timeout`: staged on a reactor, which sets the deadline at its next turn.
    Staged(Staged),
    /// `timeout_at`, or a zero limit.
    Sleep(Sleep),
}

/// A timer staged on the reactor with this id.
#[derive(Debug)]
struct Staged {
    reactor: u64,
    key: Key,
}

impl Staged {
    fn new(after: Duration, waker: &Waker) -> Staged {
        reactor::with(|r| Staged {
            reactor: r.id(),
            key: r.timer_stage(after, waker),
        })
    }

    /// `Some(true)` once fired; `None` if polled on another thread than the one it was staged
    /// on (whose reactor keeps the entry and fires it harmlessly).
    fn poll_fired(&self, waker: &Waker) -> Option<bool> {
        let (id, key) = (self.reactor, self.key);
        let refreshed = reactor::with(|r| (r.id() == id).then(|| r.timer_refresh(key, waker)))?;
        // `Some(replaced)`: still pending; the replaced waker is dropped here, after the borrow.
        Some(refreshed.is_none())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        drop(super::sleep::cancel(self.reactor, self.key));
    }
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
        timer: Timer,
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
        match this.timer {
            Timer::Sleep(sleep) => {
                return Pin::new(sleep).poll(cx).map(|()| Err(Elapsed(())));
            }
            Timer::Staged(staged) => match staged.poll_fired(cx.waker()) {
                Some(true) => return Poll::Ready(Err(Elapsed(()))),
                Some(false) => {
                    let mut turned = false;
                    while reactor::fallback::retry_after_turn(cx.waker(), &mut turned) {
                        if staged.poll_fired(cx.waker()) == Some(true) {
                            return Poll::Ready(Err(Elapsed(())));
                        }
                    }
                    return Poll::Pending;
                }
                // Moved to another thread: the limit restarts here, as the deadline the other
                // reactor set (or will set) cannot be read from this one.
                None => {}
            },
            Timer::Unarmed => {}
        }
        let sleep = match *this.limit {
            Limit::After(d) if !d.is_zero() => {
                *this.timer = Timer::Staged(Staged::new(d, cx.waker()));
                // Where nothing drives the reactor, a turn now gives the timer its deadline
                // (and the helper learns it).
                let mut turned = false;
                while reactor::fallback::retry_after_turn(cx.waker(), &mut turned) {}
                return Poll::Pending;
            }
            Limit::After(d) => sleep(d),
            Limit::At(i) => sleep_until(i),
        };
        *this.timer = Timer::Sleep(sleep);
        let Timer::Sleep(sleep) = this.timer else {
            unreachable!()
        };
        Pin::new(sleep).poll(cx).map(|()| Err(Elapsed(())))
    }
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
