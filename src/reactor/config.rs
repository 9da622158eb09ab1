//! Per-thread reactor settings, set by `runtime::Builder` (the defaults otherwise).
//!
//! They live in the reactor, not in a global, because each thread's reactor is its own: one
//! thread may run with a small event buffer while another keeps the default. Settings made
//! before the thread's epoll instance exists apply when it is created; made after, they apply
//! from the next `park` (the event buffer is replaced, the wait switches syscalls) and, for
//! `EPOLLEXCLUSIVE`, to listeners added to epoll from then on (an fd is never modified).

use super::with;

/// Events read from the kernel per `epoll_wait` by default (tokio's `max_io_events_per_tick`).
pub(crate) const EVENT_CAPACITY: usize = 1024;

/// One thread's reactor settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// The most events one `epoll_wait` returns (the buffer's length).
    pub(crate) event_capacity: usize,
    /// Register listeners without `EPOLLEXCLUSIVE`, as on kernels before 4.5.
    pub(crate) no_epollexclusive: bool,
    /// Wait with `epoll_wait` (whole milliseconds), as on kernels before 5.11.
    pub(crate) no_epoll_pwait2: bool,
}

impl Config {
    pub(crate) const DEFAULT: Config = Config {
        event_capacity: EVENT_CAPACITY,
        no_epollexclusive: false,
        no_epoll_pwait2: false,
    };
}

/// Gives this thread's reactor `config`. Not called while the reactor is borrowed (runtimes
/// are built and dropped outside `park`); does nothing once the thread's reactor is gone (a
/// runtime kept in a thread-local, dropped as the thread exits).
pub(crate) fn configure(config: Config) {
    super::try_with(|r| {
        r.config = config;
        if let Some(kernel) = &mut r.kernel {
            kernel.apply(&config);
        }
    });
}

/// Creates this thread's epoll instance and doorbell now, if they do not exist yet (or, in a
/// fork child, replaces them), so that a failure is reported by whoever asks.
pub(crate) fn start() -> std::io::Result<()> {
    with(|r| r.kernel().map(drop))
}
