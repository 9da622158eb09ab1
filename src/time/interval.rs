//! `Interval`: ticks at a fixed period.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Instant, Sleep, sleep_until};

/// What an [`Interval`] does when ticks were missed (the task was busy past a tick's
/// deadline), as in tokio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one after another, until caught up; later ticks keep
    /// their original schedule (`start + k * period`).
    #[default]
    Burst,
    /// Fire one tick now, and schedule the next a full period after it: the schedule shifts.
    Delay,
    /// Fire one tick now, then resume on the original schedule, skipping the missed ticks.
    Skip,
}

/// A tick is "missed" only when it is noticed this late; smaller delays are ordinary jitter.
const MISSED_AFTER: Duration = Duration::from_millis(5);

/// Ticks every `period`, the first tick at once.
///
/// A zero `period` is treated as one nanosecond (it ticks as fast as it is polled).
///
/// # Examples
/// ```
/// use geode::time::{interval, pause};
/// use std::time::Duration;
///
/// geode::block_on(async {
///     pause();
///     let mut every = interval(Duration::from_secs(10));
///     let first = every.tick().await; // at once
///     let second = every.tick().await;
///     assert_eq!(second - first, Duration::from_secs(10));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    Interval {
        delay: sleep_until(start),
        period: period.max(Duration::from_nanos(1)),
        behavior: MissedTickBehavior::default(),
    }
}

/// A schedule of ticks: see [`interval`].
///
/// It is also a `futures_core::Stream` of the ticks' scheduled instants, which never ends.
///
/// # Examples
/// ```
/// use futures_util::StreamExt;
/// use geode::time::{interval, pause};
/// use std::time::Duration;
///
/// geode::block_on(async {
///     pause();
///     let ticks: Vec<_> = interval(Duration::from_secs(1)).take(3).collect().await;
///     assert_eq!(ticks[2] - ticks[0], Duration::from_secs(2));
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    delay: Sleep,
    period: Duration,
    behavior: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    ///
    /// # Cancel safety
    /// Cancel-safe: a tick is consumed only when `tick` returns it.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.delay.deadline();
        let now = Instant::now();
        let next = if now.duration_since(scheduled) > MISSED_AFTER {
            match self.behavior {
                MissedTickBehavior::Burst => scheduled + self.period,
                MissedTickBehavior::Delay => now + self.period,
                MissedTickBehavior::Skip => {
                    let period = self.period.as_nanos();
                    let behind = now.duration_since(scheduled).as_nanos() % period;
                    now + Duration::from_nanos((period - behind) as u64)
                }
            }
        } else {
            scheduled + self.period
        };
        Pin::new(&mut self.delay).reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick comes one period from now.
    pub fn reset(&mut self) {
        Pin::new(&mut self.delay).reset(Instant::now() + self.period);
    }

    /// Restarts the schedule with a tick now: the next [`tick`](Self::tick) returns at once,
    /// and the ones after it follow every period from now.
    ///
    /// # Examples
    /// ```
    /// use geode::time::{Instant, interval, pause};
    /// use std::time::Duration;
    ///
    /// geode::block_on(async {
    ///     pause();
    ///     let mut every = interval(Duration::from_secs(10));
    ///     every.tick().await;
    ///     every.reset_immediately();
    ///     let start = Instant::now();
    ///     assert_eq!(every.tick().await, start); // no wait
    ///     assert_eq!(every.tick().await, start + Duration::from_secs(10));
    /// });
    /// ```
    pub fn reset_immediately(&mut self) {
        Pin::new(&mut self.delay).reset(Instant::now());
    }

    /// Restarts the schedule with the next tick `after` from now, then every period.
    ///
    /// # Examples
    /// ```
    /// use geode::time::{Instant, interval, pause};
    /// use std::time::Duration;
    ///
    /// geode::block_on(async {
    ///     pause();
    ///     let mut every = interval(Duration::from_secs(10));
    ///     every.tick().await;
    ///     let start = Instant::now();
    ///     every.reset_after(Duration::from_secs(3));
    ///     assert_eq!(every.tick().await, start + Duration::from_secs(3));
    ///     assert_eq!(every.tick().await, start + Duration::from_secs(13));
    /// });
    /// ```
    pub fn reset_after(&mut self, after: Duration) {
        Pin::new(&mut self.delay).reset(Instant::now() + after);
    }

    /// Restarts the schedule with the next tick at `deadline` (at once if it is past), then
    /// every period after it.
    ///
    /// # Examples
    /// ```
    /// use geode::time::{Instant, interval, pause};
    /// use std::time::Duration;
    ///
    /// geode::block_on(async {
    ///     pause();
    ///     let mut every = interval(Duration::from_secs(10));
    ///     every.tick().await;
    ///     let at = Instant::now() + Duration::from_secs(25);
    ///     every.reset_at(at);
    ///     assert_eq!(every.tick().await, at);
    ///     assert_eq!(every.tick().await, at + Duration::from_secs(10));
    /// });
    /// ```
    pub fn reset_at(&mut self, deadline: Instant) {
        Pin::new(&mut self.delay).reset(deadline);
    }

    /// The behaviour for missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.behavior
    }

    /// Sets the behaviour for missed ticks (default [`MissedTickBehavior::Burst`]).
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.behavior = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}
