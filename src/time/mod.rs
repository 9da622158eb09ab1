//! Timers: [`sleep`], [`sleep_until`], [`timeout`], [`timeout_at`], [`interval`], and the
//! [`Instant`] they measure against; virtual time for tests: [`pause`], [`resume`],
//! [`advance`].
//!
//! Timers live in the polling thread's reactor (a heap ordered by deadline), which turns the
//! earliest deadline into the `epoll_pwait2` timeout: nanosecond resolution where the kernel
//! has it, else whole milliseconds rounded up, never down.

mod instant;
mod interval;
mod sleep;
mod timeout;
mod virtual_time;

pub use instant::Instant;
pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};
pub use virtual_time::{advance, pause, resume};
