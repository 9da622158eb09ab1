//! `timeout`: a time limit on any future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::{Instant, Sleep, sleep, sleep_until};

/// Requires `future` to complete within `duration`.
///
/// The limit starts when the returned future is first polled. A future that is ready at once
/// never arms a timer; any `Duration` is valid (`Duration::MAX`: no limit in practice).
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
        sleep: None,
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
        sleep: None,
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
        sleep: Option<Sleep>,
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
        let sleep = match this.sleep {
            Some(sleep) => sleep,
            None => match *this.limit {
                // The limit starts now, `d` from the clock's one reading: such a deadline is not
                // due yet, so the timer is armed without a second reading to check.
                Limit::After(d) if !d.is_zero() => {
                    *this.sleep = Some(Sleep::armed_ahead(Instant::now() + d, cx.waker()));
                    return Poll::Pending;
                }
                Limit::After(d) => this.sleep.insert(sleep(d)),
                Limit::At(i) => this.sleep.insert(sleep_until(i)),
            },
        };
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
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
