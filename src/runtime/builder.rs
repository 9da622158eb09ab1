//! `Builder`: a runtime's settings.

use std::io;

use super::Runtime;
use crate::reactor::{config, coop};

/// The most events one `epoll_wait` may be asked for (12 MiB of buffer).
const MAX_EVENT_CAPACITY: usize = 1 << 20;

/// Settings for a [`Runtime`], in tokio's builder style: `Builder::new()`, setters that take
/// and return the builder, then [`build`](Builder::build).
///
/// The reactor settings ([`event_capacity`](Builder::event_capacity) and the two kernel
/// fallbacks) are this thread's reactor's for as long as the runtime lives; dropping the
/// runtime puts the defaults back. They take effect at once, whether or not the thread's
/// reactor existed before (a thread that ran [`geode::block_on`](crate::block_on) already has
/// one): the event buffer is replaced and the wait switches syscalls from the reactor's next
/// turn. Only `no_epollexclusive` is limited by what exists: a listener already added to
/// epoll keeps the flags it was added with (geode never modifies a registration); listeners
/// added from then on follow the setting.
///
/// The environment variables `GEODE_NO_EPOLLEXCLUSIVE` and `GEODE_NO_EPOLL_PWAIT2` (any value)
/// force the fallbacks for the whole process whatever the builder says: they are for testing
/// the fallbacks under a whole test suite.
///
/// # Examples
/// ```
/// use geode::runtime::Builder;
/// use std::time::Duration;
///
/// let rt = Builder::new()
///     .event_capacity(256)
///     .budget(64)
///     .start_paused(true)
///     .build()?;
/// rt.block_on(async {
///     let start = geode::time::Instant::now();
///     geode::time::sleep(Duration::from_secs(60)).await; // virtual time: no wait
///     assert_eq!(start.elapsed(), Duration::from_secs(60));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    pub(super) event_capacity: usize,
    pub(super) budget: u32,
    pub(super) start_paused: bool,
    pub(super) no_epollexclusive: bool,
    pub(super) no_epoll_pwait2: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: 1024 events per `epoll_wait`, a budget of 128 operations per poll, a
    /// running clock, `EPOLLEXCLUSIVE` and `epoll_pwait2` used where the kernel has them.
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Builder::new().build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Builder {
        Builder {
            event_capacity: config::EVENT_CAPACITY,
            budget: coop::BUDGET,
            start_paused: false,
            no_epollexclusive: false,
            no_epoll_pwait2: false,
        }
    }

    /// The most events one `epoll_wait` returns (tokio's `max_io_events_per_tick`; default
    /// 1024). More ready fds than this are not lost: the next wait returns them. A smaller
    /// buffer means more waits under load, a larger one more memory (12 bytes an event).
    ///
    /// [`build`](Builder::build) fails with `InvalidInput` for 0 or more than 1,048,576.
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Builder::new().event_capacity(64).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn event_capacity(mut self, events: usize) -> Builder {
        self.event_capacity = events;
        self
    }

    /// How many ready I/O operations a task may complete in one poll before its next one
    /// returns `Pending` and yields (default 128, as tokio's coop budget). A smaller budget
    /// lets other tasks and timers in more often behind a task whose sockets are always
    /// ready; a larger one costs fewer trips through the run queue.
    ///
    /// [`build`](Builder::build) fails with `InvalidInput` for 0 (no operation could ever
    /// complete).
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Builder::new().budget(32).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn budget(mut self, operations: u32) -> Builder {
        self.budget = operations;
        self
    }

    /// Starts with this thread's clock paused ([`time::pause`](crate::time::pause)): when
    /// nothing is ready to run and no I/O is ready, the clock jumps to the next timer. For
    /// tests. Dropping the runtime lets the clock run again, from where it stands.
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Builder::new().start_paused(true).build()?;
    /// rt.block_on(geode::time::sleep(std::time::Duration::from_secs(3600))); // at once
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_paused(mut self, paused: bool) -> Builder {
        self.start_paused = paused;
        self
    }

    /// Registers listening sockets without `EPOLLEXCLUSIVE`, as geode does by itself on
    /// kernels before 4.5 (default `false`). A listener shared by several threads then wakes
    /// all of them for each connection. For testing the fallback, or for a kernel or sandbox
    /// that mishandles the flag.
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Builder::new().no_epollexclusive(true).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn no_epollexclusive(mut self, off: bool) -> Builder {
        self.no_epollexclusive = off;
        self
    }

    /// Waits with `epoll_wait`, whose timeout is whole milliseconds (rounded up: timers are
    /// never early, but may be up to 1 ms late), instead of `epoll_pwait2` (nanoseconds), as
    /// geode does by itself on kernels before 5.11 (default `false`). For testing the
    /// fallback, or a seccomp filter that kills rather than refuses unknown syscalls.
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Builder::new().no_epoll_pwait2(true).build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn no_epoll_pwait2(mut self, off: bool) -> Builder {
        self.no_epoll_pwait2 = off;
        self
    }

    /// Builds the runtime on this thread and gives this thread's reactor its settings
    /// (creating the reactor's epoll instance if it does not exist yet).
    ///
    /// # Errors
    /// - `InvalidInput` for an out-of-range setting (see the setters).
    /// - `AlreadyExists` if this thread already has a [`Runtime`], or a geode runtime is
    ///   running on it ([`block_on`](crate::block_on), or a task).
    /// - The `io::Error` of `epoll_create1` or `eventfd` (`EMFILE`, ...), errno intact.
    ///
    /// # Examples
    /// ```
    /// use std::io::ErrorKind;
    ///
    /// let rt = geode::runtime::Builder::new().build()?;
    /// let second = geode::runtime::Builder::new().build();
    /// assert_eq!(second.unwrap_err().kind(), ErrorKind::AlreadyExists);
    /// drop(rt);
    /// let bad = geode::runtime::Builder::new().budget(0).build();
    /// assert_eq!(bad.unwrap_err().kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(&self) -> io::Result<Runtime> {
        Runtime::from_builder(self)
    }

    pub(super) fn validate(&self) -> io::Result<()> {
        if self.event_capacity == 0 || self.event_capacity > MAX_EVENT_CAPACITY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "geode: event_capacity must be between 1 and {MAX_EVENT_CAPACITY}, not {}",
                    self.event_capacity
                ),
            ));
        }
        if self.budget == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "geode: a budget of 0 would let no operation complete; it must be at least 1",
            ));
        }
        Ok(())
    }

    pub(super) fn reactor_config(&self) -> config::Config {
        config::Config {
            event_capacity: self.event_capacity,
            no_epollexclusive: self.no_epollexclusive,
            no_epoll_pwait2: self.no_epoll_pwait2,
        }
    }
}
