//! A runtime object and a thread-per-core launcher.
//!
//! [`block_on`](crate::block_on) starts a runtime for one call and cancels its tasks when it
//! returns. A [`Runtime`] is the same executor kept alive: tasks spawned on it live until it
//! is dropped, across any number of [`block_on`](Runtime::block_on) calls, as in tokio. A
//! [`Builder`] sets what the environment variables and constants used to: the event buffer,
//! the coop budget, a paused clock, the two kernel fallbacks.
//!
//! A runtime belongs to its thread (`!Send`), and a thread has at most one: the reactor, the
//! clock and the settings are per thread. [`thread_per_core`] runs one on each of several
//! threads, each pinned to a CPU.
//!
//! ```
//! use geode::runtime::Runtime;
//!
//! let rt = Runtime::new()?;
//! let counter = rt.spawn(async {
//!     let mut n = 0;
//!     loop {
//!         n += 1;
//!         geode::yield_now().await;
//!         if n == 3 {
//!             return n;
//!         }
//!     }
//! });
//! rt.block_on(async { geode::yield_now().await }); // the task runs meanwhile...
//! assert_eq!(rt.block_on(counter).unwrap(), 3); // ...and is still there for the next call
//! # Ok::<(), std::io::Error>(())
//! ```

mod builder;
mod thread_per_core;

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::rc::Rc;

use crate::executor::{self, Core, Entered, JoinHandle};
use crate::reactor::{clock, config};
use crate::sys::process::{ForkStamp, fork_stamp, forked_since};

pub use builder::Builder;
pub use thread_per_core::{core_affinity, thread_per_core};

thread_local! {
    /// Set while a `Runtime` exists on this thread, with the fork stamp it was built under
    /// (a fork child may build its own even though it holds a copy of its parent's).
    static OWNED: Cell<Option<ForkStamp>> = const { Cell::new(None) };
}

/// A geode runtime kept alive across calls: its executor (and so its tasks), and the settings
/// it gave this thread's reactor.
///
/// Tasks [`spawn`](Runtime::spawn)ed on it, or by its tasks, live until the runtime is
/// dropped: a [`block_on`](Runtime::block_on) that returns leaves them where they are, and the
/// next call runs them on. Dropping the runtime cancels them (drops their futures) on this
/// thread, gives the reactor its default settings back and, if it was built with
/// [`start_paused`](Builder::start_paused), lets the thread's clock run again.
///
/// A `Runtime` is neither `Send` nor `Sync`: it and its tasks belong to the thread that built
/// it.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(geode::runtime::Runtime::new()); // error: `Runtime` is not `Send`
/// ```
/// ```compile_fail
/// fn sync<T: Sync>(_: &T) {}
/// sync(&geode::runtime::Runtime::new().unwrap()); // error: `Runtime` is not `Sync`
/// ```
///
/// A thread has at most one: building a second one while the first exists (or inside a
/// running [`block_on`](crate::block_on)) is an error. [`geode::block_on`](crate::block_on)
/// stays the one-line form; it may run on a thread that has a `Runtime` (when that runtime is
/// not running), with a runtime of its own for the call.
///
/// # Examples
/// ```
/// use geode::runtime::Runtime;
/// use std::time::Duration;
///
/// let rt = Runtime::new()?;
/// let ticker = rt.spawn(async {
///     geode::time::sleep(Duration::from_millis(1)).await;
///     "tick"
/// });
/// // The task made no progress yet; this call runs it, and returns with it.
/// assert_eq!(rt.block_on(ticker).unwrap(), "tick");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    core: Rc<Core>,
    /// Built with `start_paused(true)`: the clock runs again when the runtime goes.
    paused: bool,
    /// Where the process stood when it was built (kept in `OWNED` too while it is the
    /// thread's runtime).
    stamp: ForkStamp,
    /// `!Send + !Sync` even were `Core` to become `Send` one day.
    _thread: PhantomData<*const ()>,
}

impl Runtime {
    /// A runtime with the default settings ([`Builder::new`]).
    ///
    /// # Errors
    /// `AlreadyExists` if this thread already has a `Runtime`, or a geode runtime is running
    /// on it (inside [`block_on`](crate::block_on)); the `io::Error` of creating the reactor's
    /// epoll instance or eventfd if this thread's reactor did not exist yet.
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Runtime::new()?;
    /// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Builds the runtime of `builder` (called by [`Builder::build`]).
    fn from_builder(builder: &Builder) -> io::Result<Runtime> {
        builder.validate()?;
        if executor::is_running() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "geode: cannot build a Runtime inside a running geode runtime (block_on/run \
                 or a task) on the same thread; spawn the work on the running one instead",
            ));
        }
        if OWNED
            .with(Cell::get)
            .is_some_and(|stamp| !forked_since(&stamp))
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "geode: this thread already has a geode Runtime (a thread has at most one: \
                 its reactor and clock are per thread); use it, or drop it first",
            ));
        }
        let reactor = builder.reactor_config();
        config::configure(reactor);
        // Creates the epoll instance and doorbell now, so that failures are the builder's.
        if let Err(e) = config::start() {
            config::configure(config::Config::DEFAULT);
            return Err(e);
        }
        let core = Rc::new(Core::new(builder.budget));
        if builder.start_paused {
            clock::pause();
        }
        let stamp = fork_stamp();
        OWNED.with(|o| o.set(Some(stamp)));
        Ok(Runtime {
            core,
            paused: builder.start_paused,
            stamp,
            _thread: PhantomData,
        })
    }

    /// Runs `future` to completion on this thread, running the runtime's tasks meanwhile, and
    /// returns its output. Tasks still running when it returns stay alive for the next call.
    ///
    /// # Panics
    /// If a geode runtime is already running on this thread (this one, from inside one of its
    /// tasks, or another): the inner call would block the outer one. Panics of `future`
    /// propagate, and leave the runtime usable; panics of tasks do not (see
    /// [`JoinError::is_panic`](crate::JoinError::is_panic)).
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Runtime::new()?;
    /// let out = rt.block_on(async {
    ///     let h = geode::spawn(async { 6 * 7 });
    ///     h.await.unwrap()
    /// });
    /// assert_eq!(out, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future, false)
    }

    /// Like [`block_on`](Runtime::block_on), but after `future` completes keeps running until
    /// every task of the runtime has finished and every timer of this thread has fired.
    ///
    /// # Panics
    /// As [`block_on`](Runtime::block_on).
    ///
    /// # Examples
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let rt = geode::runtime::Runtime::new()?;
    /// let done = Rc::new(Cell::new(false));
    /// let flag = done.clone();
    /// rt.spawn(async move {
    ///     geode::time::sleep(std::time::Duration::from_millis(1)).await;
    ///     flag.set(true);
    /// });
    /// rt.run(async {}); // returns once the task is done
    /// assert!(done.get());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future, true)
    }

    /// Spawns a task on this runtime, from inside it or outside. The task first runs at the
    /// runtime's next turn (in the next [`block_on`](Runtime::block_on) if none is running),
    /// and lives until it finishes or the runtime is dropped.
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Runtime::new()?;
    /// let h = rt.spawn(async { "spawned from outside" });
    /// assert!(!h.is_finished()); // nothing runs until the runtime does
    /// assert_eq!(rt.block_on(h).unwrap(), "spawned from outside");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future)
    }

    /// Makes this runtime the one [`geode::spawn`](crate::spawn) uses on this thread while no
    /// runtime is running, until the guard is dropped. Tasks spawned then first run at the
    /// next [`block_on`](Runtime::block_on). (Inside a running runtime, `geode::spawn` uses
    /// that one, as before.)
    ///
    /// Guards may nest; drop them in reverse order. A guard kept past the runtime (leaked with
    /// `mem::forget`) makes `geode::spawn` fail ([`try_spawn`](crate::try_spawn) gives
    /// [`SpawnError`](crate::SpawnError)), never spawn on a runtime that is gone.
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Runtime::new()?;
    /// let h = {
    ///     let _guard = rt.enter();
    ///     geode::spawn(async { 7 }) // would panic without the guard: no runtime is running
    /// };
    /// assert!(geode::try_spawn(async {}).is_err()); // the guard is gone
    /// assert_eq!(rt.block_on(h).unwrap(), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard {
            _entered: executor::enter_spawner(self.core.clone()),
            _runtime: PhantomData,
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Cancels the tasks with this runtime current, even if another one is running (this
        // runtime was moved into its future).
        self.core.end();
        // The thread's settings are this runtime's to reset only if it is the thread's
        // runtime: not a fork child's copy of its parent's after the child built its own.
        if OWNED.with(Cell::get) == Some(self.stamp) {
            OWNED.with(|o| o.set(None));
            config::configure(config::Config::DEFAULT);
            if self.paused {
                clock::resume();
            }
        }
    }
}

// As tokio's: a panic out of `block_on` (the main future's) leaves the runtime consistent and
// usable; its tasks' panics are caught where they happen.
impl std::panic::UnwindSafe for Runtime {}
impl std::panic::RefUnwindSafe for Runtime {}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("start_paused", &self.paused)
            .finish_non_exhaustive()
    }
}

/// Returned by [`Runtime::enter`]: while it lives, [`geode::spawn`](crate::spawn) spawns on
/// that runtime when no runtime is running on this thread.
///
/// # Examples
/// ```
/// let rt = geode::runtime::Runtime::new()?;
/// let guard = rt.enter();
/// let h = geode::spawn(async { "queued on rt" });
/// drop(guard);
/// assert_eq!(rt.block_on(h).unwrap(), "queued on rt");
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the runtime is entered only while the guard lives"]
pub struct EnterGuard<'a> {
    _entered: Entered,
    _runtime: PhantomData<&'a Runtime>,
}

impl std::fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}
