//! Virtual time for tests: `pause`, `resume`, `advance`.

use std::time::Duration;

use crate::reactor::clock;
use crate::reactor::timer_entry::TimerEntry;

/// Pauses this thread's clock: from now on [`Instant::now`](super::Instant::now) stands still,
/// except when [`advance`] moves it or when the runtime has nothing to do.
///
/// While paused, a runtime that has no task ready and finds no I/O ready (it still polls epoll,
/// without blocking) jumps the clock straight to the next timer's deadline instead of sleeping.
/// So a test that sleeps for an hour takes milliseconds, and timers still fire in deadline
/// order, interleaved with real I/O as they would be in real time. Pausing a paused clock does
/// nothing. The clock is per thread, like the reactor.
///
/// # Examples
/// ```
/// use geode::time::{pause, sleep, Instant};
/// use std::time::Duration;
///
/// geode::block_on(async {
///     pause();
///     let start = Instant::now();
///     let wall = std::time::Instant::now();
///     sleep(Duration::from_secs(3600)).await;
///     assert_eq!(start.elapsed(), Duration::from_secs(3600));
///     assert!(wall.elapsed() < Duration::from_secs(1));
/// });
/// ```
pub fn pause() {
    clock::pause();
}

/// Lets this thread's clock run at real speed again, from where it stands (it never goes
/// backwards). Resuming a running clock does nothing.
pub fn resume() {
    clock::resume();
}

/// Moves a paused clock forward by `duration`, then yields once so that tasks whose timers came
/// due can run.
///
/// If the clock is not paused, this just sleeps for `duration`.
///
/// # Examples
/// ```
/// use geode::time::{advance, pause, sleep};
/// use std::time::Duration;
///
/// geode::block_on(async {
///     pause();
///     let timer = geode::spawn(sleep(Duration::from_secs(60)));
///     advance(Duration::from_secs(59)).await;
///     assert!(!timer.is_finished());
///     advance(Duration::from_secs(1)).await;
///     geode::yield_now().await;
///     assert!(timer.is_finished());
/// });
/// ```
pub async fn advance(duration: Duration) {
    // Timeouts armed since the reactor's last turn start now, not after the jump.
    TimerEntry::stamp_staged();
    if clock::advance(duration) {
        crate::yield_now().await;
    } else {
        super::sleep(duration).await;
    }
}
