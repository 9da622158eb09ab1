//! Counters a reactor keeps about itself.

/// What this thread's reactor has done since it was created. Returned by
/// [`stats`](crate::reactor::stats).
///
/// The counters are cheap (plain integers on the reactor's thread) and exact, so tests can
/// assert on them: "this loop made no `epoll_ctl` call", "dropping the socket deregistered it".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `epoll_wait`/`epoll_pwait2` calls made.
    pub epoll_wait_calls: u64,
    /// `epoll_ctl` calls made (`EPOLL_CTL_ADD` and `EPOLL_CTL_DEL`; geode never uses `MOD`).
    pub epoll_ctl_calls: u64,
    /// Descriptors ever registered with this reactor (each `Async` and each socket counts once,
    /// whether or not its `EPOLL_CTL_ADD` has happened yet: that call is deferred until an
    /// operation first would block).
    pub registrations: u64,
    /// Wakers woken by the reactor (for I/O readiness and for timers).
    pub wakeups: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Timers armed and not yet fired or cancelled.
    pub timers_pending: u64,
    /// Descriptors registered now (registrations not yet dropped or handed back).
    pub registered_fds: u64,
}

impl Stats {
    pub(crate) const ZERO: Stats = Stats {
        epoll_wait_calls: 0,
        epoll_ctl_calls: 0,
        registrations: 0,
        wakeups: 0,
        timers_fired: 0,
        timers_pending: 0,
        registered_fds: 0,
    };
}
