//! `geode::time::Instant`: the clock timers are measured against.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// A measurement of the monotonic clock, as `std::time::Instant`, used for every geode deadline.
///
/// Arithmetic saturates instead of panicking: `Instant::now() + Duration::MAX` is a point about
/// 30 years ahead, which no timer reaches.
///
/// # Examples
/// ```
/// use geode::time::Instant;
/// use std::time::Duration;
///
/// let start = Instant::now();
/// let later = start + Duration::from_millis(5);
/// assert!(later > start);
/// assert_eq!(later - start, Duration::from_millis(5));
/// let std_instant: std::time::Instant = later.into();
/// assert_eq!(Instant::from(std_instant), later);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(std::time::Instant);

/// How far ahead a deadline that overflows the clock is placed: far enough never to fire.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl Instant {
    /// The current time on this thread's clock: real time, or the virtual time of a paused
    /// clock (see [`pause`](crate::time::pause)).
    #[inline]
    pub fn now() -> Instant {
        Instant(crate::reactor::clock::now())
    }

    /// Wraps a `std::time::Instant`.
    pub fn from_std(std: std::time::Instant) -> Instant {
        Instant(std)
    }

    /// The `std::time::Instant` this wraps.
    pub fn into_std(self) -> std::time::Instant {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// Time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// Same as [`duration_since`](Self::duration_since).
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }

    /// Time elapsed since `self`.
    pub fn elapsed(&self) -> Duration {
        Instant::now().duration_since(*self)
    }

    /// `self + d`, or `None` if the clock cannot represent it.
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Instant)
    }

    /// `self - d`, or `None` if the clock cannot represent it.
    pub fn checked_sub(&self, d: Duration) -> Option<Instant> {
        self.0.checked_sub(d).map(Instant)
    }

    /// `self + d`, saturating at a point far enough ahead never to be reached.
    #[inline]
    pub(crate) fn saturating_add(self, d: Duration) -> Instant {
        self.0
            .checked_add(d)
            .or_else(|| self.0.checked_add(FAR_FUTURE))
            .map_or(self, Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    #[inline]
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// Saturates near the clock's origin instead of panicking.
    // Halving `d` until the subtraction fits finds a representable instant without knowing
    // the clock's origin; clippy's heuristic flags the `/` in a `Sub` impl.
    #[allow(clippy::suspicious_arithmetic_impl)]
    fn sub(self, d: Duration) -> Instant {
        let mut d = d;
        loop {
            if let Some(i) = self.0.checked_sub(d) {
                return Instant(i);
            }
            if d.is_zero() {
                return self;
            }
            d /= 2;
        }
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates at zero, as [`duration_since`](Instant::duration_since).
    fn sub(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(std: std::time::Instant) -> Instant {
        Instant(std)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(i: Instant) -> std::time::Instant {
        i.0
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates() {
        let now = Instant::now();
        let far = now + Duration::MAX;
        assert!(far > now + Duration::from_secs(86_400 * 365));
        assert_eq!(now - far, Duration::ZERO);
        let _ = now - Duration::MAX;
    }
}
