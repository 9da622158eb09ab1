//! The reactor: one per thread, created lazily. It turns epoll events and due timers into
//! `Waker::wake` calls, and never polls a future itself.
//!
//! This module is also the interface for custom executors: [`park`] runs the reactor once,
//! [`unparker`] gives a handle that interrupts it from another thread, and [`stats`] reports
//! what it did.
//!
//! # A custom executor in a nutshell
//!
//! ```
//! use std::future::Future;
//! use std::pin::pin;
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::task::{Context, Poll, Wake, Waker};
//!
//! struct Flag(AtomicBool, geode::reactor::Unparker);
//! impl Wake for Flag {
//!     fn wake(self: Arc<Self>) {
//!         self.0.store(true, Ordering::Release);
//!         self.1.unpark();
//!     }
//! }
//!
//! fn my_block_on<F: Future>(fut: F) -> F::Output {
//!     let flag = Arc::new(Flag(AtomicBool::new(true), geode::reactor::unparker()));
//!     let waker = Waker::from(flag.clone());
//!     let mut cx = Context::from_waker(&waker);
//!     let mut fut = pin!(fut);
//!     loop {
//!         if flag.0.swap(false, Ordering::Acquire) {
//!             if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
//!                 return out;
//!             }
//!         }
//!         geode::reactor::park(None).expect("reactor failed");
//!     }
//! }
//!
//! my_block_on(geode::time::sleep(std::time::Duration::from_millis(1)));
//! ```

pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod coop;
mod driver;
pub(crate) mod fallback;
mod io_state;
mod kernel;
#[cfg(test)]
mod model_tests;
mod protocol;
mod registration;
mod registry;
pub(crate) mod remote;
mod stats;
pub(crate) mod timer_entry;
mod timer_heap;
mod timer_slots;
mod timers;
mod unpark;
mod waiters;

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;
use std::time::Duration;

use crate::sys::fd::{FileId, FileKind};

pub use stats::Stats;
pub use unpark::Unparker;

pub(crate) use io_state::Direction;
pub(crate) use protocol::Waiter;
pub(crate) use registration::Registration;

use io_state::IoState;
use kernel::Kernel;
use registry::Registry;
use timers::Timers;
use unpark::UnparkShared;

/// One thread's reactor. Lives in a thread-local `RefCell`; no borrow of it is ever held while
/// a waker is woken or user code runs (a waker may re-enter the reactor).
pub(crate) struct Reactor {
    /// Unique per thread (0 until first asked for): lets a `Sleep` moved to another thread
    /// notice that its timer key belongs to a different reactor.
    id: u64,
    /// The epoll instance, made on first need (`kernel`).
    kernel: Option<Kernel>,
    registry: Registry,
    timers: Timers,
    unpark: Option<Arc<UnparkShared>>,
    stats: Stats,
    /// Wakers to wake at the end of the next `park` (set aside where no wake list was at hand).
    deferred: Vec<Waker>,
    /// What the turn collects to wake once the reactor's borrow has ended; reused, so a turn
    /// allocates nothing.
    wake_buf: Vec<Waker>,
    /// Settings from `runtime::Builder` (`config.rs`).
    config: config::Config,
    /// The helper thread of a reactor nothing drives (`fallback.rs`), once one was needed.
    fallback: Option<Arc<fallback::Helper>>,
}

impl Drop for Reactor {
    fn drop(&mut self) {
        if self.id != 0 {
            remote::unregister(self.id);
        }
        if let Some(helper) = self.fallback.take() {
            drop(helper.stop());
        }
    }
}

thread_local! {
    static REACTOR: RefCell<Reactor> = const { RefCell::new(Reactor::new()) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Reactor {
    const fn new() -> Reactor {
        Reactor {
            id: 0,
            kernel: None,
            registry: Registry::new(),
            timers: Timers::new(),
            unpark: None,
            stats: Stats::ZERO,
            deferred: Vec::new(),
            wake_buf: Vec::new(),
            config: config::Config::DEFAULT,
            fallback: None,
        }
    }

    #[inline]
    pub(crate) fn id(&mut self) -> u64 {
        if self.id == 0 {
            self.assign_id();
        }
        self.id
    }

    #[inline(never)]
    fn assign_id(&mut self) {
        self.id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let id = self.id;
        remote::register(id, self.unpark_shared());
    }

    /// This thread's fallback helper (started now if there is none), and the reactor's next
    /// timer deadline as a real-clock instant.
    fn fallback_helper(
        &mut self,
    ) -> io::Result<(Arc<fallback::Helper>, Option<std::time::Instant>)> {
        let epoll_fd = self.kernel()?.epoll_fd();
        let helper = match &self.fallback {
            Some(h) if h.is_ours() => h.clone(),
            _ => {
                let h = fallback::Helper::start(epoll_fd)?;
                self.fallback = Some(h.clone());
                h
            }
        };
        let deadline = self
            .timers
            .next_deadline()
            .map(|d| std::time::Instant::now() + d.saturating_duration_since(clock::now()));
        Ok((helper, deadline))
    }

    fn unpark_shared(&mut self) -> &Arc<UnparkShared> {
        self.unpark
            .get_or_insert_with(|| Arc::new(UnparkShared::new()))
    }

    /// The kernel side, made on first use; in a fork child, renewed first (with every
    /// registration reset to re-add itself).
    #[inline]
    fn kernel(&mut self) -> io::Result<&mut Kernel> {
        match &self.kernel {
            Some(k) if !k.inherited() => {}
            _ => self.make_kernel()?,
        }
        match &mut self.kernel {
            Some(k) => Ok(k),
            None => unreachable!("geode: make_kernel leaves an epoll instance in place"),
        }
    }

    #[inline(never)]
    fn make_kernel(&mut self) -> io::Result<()> {
        let unpark = self.unpark_shared().clone();
        match &mut self.kernel {
            None => {
                let k = Kernel::new(&self.config, &unpark, &mut self.stats)?;
                self.kernel = Some(k);
            }
            Some(k) => {
                k.renew_after_fork(&unpark, &mut self.stats)?;
                self.registry.after_fork(&mut self.deferred);
            }
        }
        Ok(())
    }

    fn register(&mut self, fd: RawFd, kind: FileKind, id: FileId) -> Rc<IoState> {
        self.registry.register(fd, kind, id, &mut self.stats)
    }

    /// `EPOLL_CTL_ADD` of a registration, once per epoll instance.
    fn add_to_epoll(&mut self, state: &IoState) -> io::Result<()> {
        self.kernel()?;
        let Some(kernel) = &self.kernel else {
            unreachable!("geode: kernel() leaves an epoll instance in place")
        };
        self.registry
            .add(state, kernel, &self.config, &mut self.stats)
    }

    /// Removes `fd`'s use of a registration; `true` if the registration is gone.
    fn deregister(&mut self, state: &IoState, fd: RawFd) -> bool {
        // A fork child must not touch the parent's epoll instance: renew it first. (With no
        // epoll instance yet, nothing was added and there is nothing to renew.)
        if self.kernel.is_some() {
            let _ = self.kernel();
        }
        let kernel = self.kernel.as_ref().filter(|k| !k.inherited());
        self.registry.deregister(
            state,
            fd,
            kernel,
            &self.config,
            &mut self.stats,
            &mut self.deferred,
        )
    }
}

/// Runs `f` on this thread's reactor.
///
/// # Panics
/// If the reactor is already borrowed, which would be a geode bug (no borrow is held while user
/// code runs), or if called while the thread's locals are being destroyed.
pub(crate) fn with<R>(f: impl FnOnce(&mut Reactor) -> R) -> R {
    REACTOR.with(|r| f(&mut r.borrow_mut()))
}

/// Like [`with`], but `None` while the thread's locals are being destroyed.
pub(crate) fn try_with<R>(f: impl FnOnce(&mut Reactor) -> R) -> Option<R> {
    REACTOR
        .try_with(|r| r.try_borrow_mut().ok().map(|mut r| f(&mut r)))
        .ok()
        .flatten()
}

/// Runs this thread's reactor once.
///
/// Fires due timers, then waits in `epoll_wait` for I/O events for at most `timeout` or until
/// the earliest pending timer (`None`: no limit but the timers; `Some(Duration::ZERO)`: do not
/// block), then wakes the wakers of every ready fd and due timer. Returns how many wakers it
/// woke. It may return early: on an [`Unparker::unpark`], a signal, or an event that woke
/// nobody.
///
/// # Errors
/// The `io::Error` of `epoll_create1`, `eventfd` or `epoll_wait`, errno intact.
///
/// # Examples
/// ```
/// let n = geode::reactor::park(Some(std::time::Duration::ZERO))?;
/// assert_eq!(n, 0); // nothing registered, nothing due
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn park(timeout: Option<Duration>) -> io::Result<usize> {
    if fallback::mark_parked() {
        // A custom executor drives this thread's reactor from now on: no helper needed.
        let helper = with(|r| r.fallback.take());
        if let Some(helper) = helper {
            drop(helper.stop());
        }
    }
    run_once(timeout)
}

/// One non-blocking turn, for a future polled where nothing drives the reactor. An error (not
/// a panic) if the thread's reactor is gone or busy: such a poll comes from a destructor while
/// the thread exits, or from a waker that polls inside the reactor's wake-up loop.
pub(crate) fn turn_now() -> io::Result<usize> {
    let usable = REACTOR.try_with(|r| r.try_borrow_mut().is_ok()) == Ok(true);
    if !usable {
        return Err(io::Error::other(
            "geode: this thread's reactor is not available",
        ));
    }
    run_once(Some(Duration::ZERO))
}

/// [`park`] without taking over from the fallback helper: geode's executor marks the thread
/// driven while it runs, and a foreign executor may run on this thread after it returns.
pub(crate) fn run_once(timeout: Option<Duration>) -> io::Result<usize> {
    REACTOR.with(|cell| {
        let (woken, res) = {
            let mut r = cell.borrow_mut();
            let res = r.turn(timeout);
            (Woken::take(&mut r.wake_buf), res)
        };
        // No borrow is held here: a waker may re-enter the reactor.
        let n = match woken {
            Woken::None => 0,
            Woken::One(w) => {
                w.wake();
                1
            }
            Woken::Many(mut wakes) => {
                let n = wakes.len();
                wakes.drain(..).for_each(Waker::wake);
                cell.borrow_mut().wake_buf = wakes;
                n
            }
        };
        res.map(|()| n)
    })
}

/// What a turn collected. A round trip's turn wakes one task: that waker is handed out alone,
/// and the reactor keeps its buffer.
enum Woken {
    None,
    One(Waker),
    Many(Vec<Waker>),
}

impl Woken {
    #[inline]
    fn take(buf: &mut Vec<Waker>) -> Woken {
        match buf.len() {
            0 => Woken::None,
            1 => buf.pop().map_or(Woken::None, Woken::One),
            _ => Woken::Many(std::mem::take(buf)),
        }
    }
}

/// A handle that interrupts this thread's [`park`] from any thread.
///
/// # Examples
/// ```
/// let unparker = geode::reactor::unparker();
/// std::thread::spawn(move || unparker.unpark());
/// geode::reactor::park(None)?; // returns once the other thread has unparked us
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn unparker() -> Unparker {
    with(|r| Unparker::new(r.unpark_shared().clone()))
}

/// Wakes `waker` at the end of this thread's next `park` (which then does not block).
/// `None` if the reactor is gone (the thread is exiting).
pub(crate) fn defer(waker: &Waker) -> Option<()> {
    try_with(|r| r.deferred.push(waker.clone()))
}

/// Timers armed on this thread's reactor.
pub(crate) fn timers_pending() -> usize {
    try_with(|r| r.timers.len()).unwrap_or(0)
}

/// Counters of this thread's reactor since it was created (all zero if it was never used).
///
/// # Examples
/// ```
/// let before = geode::reactor::stats();
/// geode::reactor::park(Some(std::time::Duration::ZERO))?;
/// assert_eq!(geode::reactor::stats().epoll_wait_calls, before.epoll_wait_calls + 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn stats() -> Stats {
    try_with(|r| {
        let mut s = r.stats;
        s.timers_pending = r.timers.len() as u64;
        s
    })
    .unwrap_or(Stats::ZERO)
}
