//! The clock timers run on: real time, or, for tests, a paused virtual clock.
//!
//! Per thread, like the reactor. While paused, the clock stands still except when
//! [`advance`](crate::time::advance) moves it, or when the reactor, finding nothing runnable and
//! no I/O ready, jumps it to the next timer's deadline instead of sleeping. After `resume` it
//! runs at real speed again from where it stood, so it never goes backwards.
//!
//! It lives in a `Cell` of its own, not in the reactor's `RefCell`, because `Instant::now` is
//! called everywhere (every `sleep`) and must stay a thread-local read plus a branch.

use std::cell::Cell;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum State {
    /// Real time.
    Real,
    /// Stopped at `now`.
    Paused { now: Instant },
    /// Real speed, shifted: `base_virtual + (real now - base_real)`.
    Shifted {
        base_real: Instant,
        base_virtual: Instant,
    },
}

thread_local! {
    static CLOCK: Cell<State> = const { Cell::new(State::Real) };
}

/// The current time on this thread's clock.
#[inline]
pub(crate) fn now() -> Instant {
    match CLOCK.with(Cell::get) {
        State::Real => Instant::now(),
        State::Paused { now } => now,
        State::Shifted {
            base_real,
            base_virtual,
        } => base_virtual + base_real.elapsed(),
    }
}

pub(crate) fn is_paused() -> bool {
    matches!(CLOCK.with(Cell::get), State::Paused { .. })
}

/// Stops the clock where it stands. Pausing a paused clock does nothing.
pub(crate) fn pause() {
    if !is_paused() {
        let now = now();
        CLOCK.with(|c| c.set(State::Paused { now }));
    }
}

/// Lets the clock run again from where it stands. Resuming a running clock does nothing.
pub(crate) fn resume() {
    if let State::Paused { now } = CLOCK.with(Cell::get) {
        CLOCK.with(|c| {
            c.set(State::Shifted {
                base_real: Instant::now(),
                base_virtual: now,
            })
        });
    }
}

/// Moves a paused clock forward to `to` (never backwards). `false` if the clock is not paused.
pub(crate) fn advance_to(to: Instant) -> bool {
    match CLOCK.with(Cell::get) {
        State::Paused { now } => {
            CLOCK.with(|c| c.set(State::Paused { now: now.max(to) }));
            true
        }
        _ => false,
    }
}

/// Moves a paused clock forward by `by`. `false` if the clock is not paused.
pub(crate) fn advance(by: Duration) -> bool {
    match CLOCK.with(Cell::get) {
        State::Paused { now } => advance_to(now.checked_add(by).unwrap_or(now)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_advance_resume_is_monotonic() {
        let start = now();
        pause();
        let frozen = now();
        assert!(frozen >= start);
        assert_eq!(now(), frozen);
        assert!(advance(Duration::from_secs(3600)));
        assert_eq!(now() - frozen, Duration::from_secs(3600));
        assert!(
            advance_to(frozen),
            "moving backwards is ignored, not an error"
        );
        assert_eq!(now() - frozen, Duration::from_secs(3600));
        resume();
        assert!(!is_paused());
        assert!(now() >= frozen + Duration::from_secs(3600));
        assert!(!advance(Duration::from_secs(1)));
    }
}
