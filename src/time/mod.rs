//! Timers: [`sleep`], [`sleep_until`], [`timeout`], [`timeout_at`], and the [`Instant`] they
//! measure against.
//!
//! Timers live in the polling thread's reactor (a heap ordered by deadline), which turns the
//! earliest deadline into the `epoll_pwait2` timeout: nanosecond resolution where the kernel
//! has it, else whole milliseconds rounded up, never down.

mod instant;
mod sleep;
mod timeout;

pub use instant::Instant;
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};
