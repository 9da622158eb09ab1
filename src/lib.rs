//! geode: a thread-local epoll reactor behind `Future`/`Waker`, with a minimal single-threaded
//! executor. Linux only.
//!
//! # Three ways to use it
//!
//! ## 1. An async main
//!
//! [`block_on`] (or `#[geode::main]`, which wraps `main`'s body in it) runs a future on the
//! current thread, along with the tasks it [`spawn`]s; tasks need not be `Send`. [`net`] has
//! TCP, UDP and Unix sockets, [`io::Async`] makes any other pollable fd asynchronous,
//! [`time`] has sleeps, timeouts and intervals, [`signal`] turns Unix signals (Ctrl-C,
//! `SIGTERM`, `SIGHUP`) into events, and [`process`] runs child processes with async pipes and
//! exits.
//!
//! ```
//! use geode::net::UnixStream;
//! use std::time::Duration;
//!
//! #[geode::main]
//! async fn main() -> std::io::Result<()> {
//!     let (a, b) = UnixStream::pair()?;
//!     let echo = geode::spawn(async move {
//!         let mut buf = [0; 5];
//!         b.read_exact(&mut buf).await?;
//!         b.write_all(&buf).await
//!     });
//!     a.write_all(b"hello").await?;
//!     let mut back = [0; 5];
//!     geode::time::timeout(Duration::from_secs(1), a.read_exact(&mut back)).await??;
//!     assert_eq!(&back, b"hello");
//!     echo.await??;
//!     Ok(())
//! }
//! ```
//!
//! Blocking work goes to a process-wide thread pool: [`spawn_blocking`] for any closure,
//! [`fs`] for files, [`io::stdin`] and friends for the standard streams, and
//! [`net::lookup_host`] (which `connect` uses) for host names, so none of them stops the
//! thread's other tasks.
//!
//! [`block_on`] returns as soon as its future does, dropping tasks still running; [`run`] also
//! waits for them. A [`runtime::Runtime`] keeps its tasks from one `block_on` to the next until
//! it is dropped, and takes settings from a [`runtime::Builder`];
//! [`runtime::thread_per_core`] runs one on each CPU. With the `futures-io` feature (default)
//! the streams implement `futures_io::AsyncRead`/`AsyncWrite`, with `tokio-io` tokio's traits,
//! so codecs, TLS, WebSocket and the rest of the ecosystem work on them (`docs/FROM_TOKIO.md`);
//! with `hyper`, `geode::hyper` has the adapters hyper 1.x needs (a server in ten lines there).
//!
//! ## 2. Your own executor
//!
//! geode's sockets and timers need only this thread's reactor, not geode's executor.
//! [`reactor::park`] runs the reactor once and [`reactor::unparker`] interrupts it from another
//! thread: that is all an executor needs (a complete one with spawned tasks is
//! `examples/custom_executor.rs`).
//!
//! ```
//! use std::future::Future;
//! use std::io::Write;
//! use std::pin::pin;
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::task::{Context, Poll, Wake, Waker};
//! use std::time::Duration;
//!
//! use geode::reactor::{Unparker, park, unparker};
//!
//! /// Set by a wake, which also interrupts `park` if it comes from another thread.
//! struct Flag(AtomicBool, Unparker);
//!
//! impl Wake for Flag {
//!     fn wake(self: Arc<Self>) {
//!         self.0.store(true, Ordering::Release);
//!         self.1.unpark();
//!     }
//! }
//!
//! fn my_block_on<F: Future>(fut: F) -> F::Output {
//!     let flag = Arc::new(Flag(AtomicBool::new(true), unparker()));
//!     let waker = Waker::from(flag.clone());
//!     let mut fut = pin!(fut);
//!     loop {
//!         if flag.0.swap(false, Ordering::Acquire) {
//!             if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
//!                 return out;
//!             }
//!         }
//!         // Sleep in epoll until an fd is ready, a timer is due or someone unparks us.
//!         park(None).expect("the reactor failed");
//!     }
//! }
//!
//! let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
//! let ours = geode::net::UnixStream::from_std(ours)?;
//! std::thread::spawn(move || {
//!     std::thread::sleep(Duration::from_millis(5));
//!     (&theirs).write_all(b"ping")
//! });
//! let got = my_block_on(async {
//!     let mut buf = [0; 4];
//!     geode::time::timeout(Duration::from_secs(5), ours.read_exact(&mut buf)).await??;
//!     Ok::<_, std::io::Error>(buf)
//! })?;
//! assert_eq!(&got, b"ping");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ### Under any executor
//!
//! geode's futures complete under executors that never run its reactor too
//! (`futures::executor::block_on`, `pollster::block_on`, `futures_lite::future::block_on`,
//! `async_executor`...). A geode future that goes pending on a thread where neither geode's
//! executor nor a `park` loop runs turns the reactor once itself, without blocking, and leaves
//! its waker with a *fallback helper*: one thread per such thread, which `poll(2)`s the
//! reactor's epoll fd and wakes the waiting futures when events arrive or a timer is due;
//! they then turn the reactor on their own thread. The helper's first wait takes at least
//! 10 ms (a custom executor's first `park` must be able to end it before it wakes anything), it
//! ends with its thread or at the first `park` there, and under geode's executor or a `park`
//! loop none of it runs. Virtual time (`time::pause`) needs geode's executor or a `park` loop.
//!
//! ```
//! let answer = futures_lite::future::block_on(async {
//!     geode::time::sleep(std::time::Duration::from_millis(1)).await;
//!     geode::yield_now().await;
//!     42
//! });
//! assert_eq!(answer, 42);
//! ```
//!
//! The efficient integration is the `park` loop above: no helper thread, each wait one
//! `epoll_wait` (`examples/local_executor.rs` drives `async_executor::LocalExecutor` that way).
//! A loop that polls before its first `park` may call `park(Some(Duration::ZERO))` once first,
//! so that not even a helper is started.
//!
//! ## 3. Tests of async code
//!
//! `#[geode::test]` runs an `async fn` test on [`block_on`]; with `start_paused = true` the
//! clock is virtual ([`time::pause`]): when nothing is ready to run, it jumps to the next timer,
//! so a test of minutes of timeouts takes milliseconds and always sees the same times.
//! [`reactor::stats`] counts what the reactor did (`epoll_wait` and `epoll_ctl` calls,
//! wakeups, timers), so a test can pin down costs too. More in `docs/TESTING.md`.
//!
//! ```
//! use geode::time::{Instant, sleep};
//! use std::time::Duration;
//!
//! /// Calls `attempt` until it succeeds, sleeping 1 s, 2 s, 4 s... in between.
//! async fn retry_with_backoff(mut attempt: impl FnMut() -> bool) -> u32 {
//!     let mut delay = Duration::from_secs(1);
//!     let mut attempts = 1;
//!     while !attempt() {
//!         sleep(delay).await;
//!         delay *= 2;
//!         attempts += 1;
//!     }
//!     attempts
//! }
//!
//! #[geode::test(start_paused = true)]
//! async fn backs_off_exponentially() {
//!     let start = Instant::now();
//!     let mut calls = 0;
//!     let attempts = retry_with_backoff(|| {
//!         calls += 1;
//!         calls == 4
//!     })
//!     .await;
//!     assert_eq!(attempts, 4);
//!     assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4)); // in no wall time
//! }
//! # // A doctest cannot run a #[test]; run the same body the way the attribute does.
//! # fn main() {
//! #     let wall = std::time::Instant::now();
//! #     geode::block_on(async {
//! #         geode::time::pause();
//! #         let start = Instant::now();
//! #         let mut calls = 0;
//! #         let attempts = retry_with_backoff(|| { calls += 1; calls == 4 }).await;
//! #         assert_eq!(attempts, 4);
//! #         assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4));
//! #     });
//! #     assert!(wall.elapsed() < Duration::from_secs(1));
//! # }
//! ```
//!
//! # Registration policy
//!
//! Each thread has its own reactor (one epoll instance). An fd is registered with it once,
//! when an operation on it first would block, and never modified: `EPOLLIN | EPOLLOUT |
//! EPOLLRDHUP | EPOLLPRI | EPOLLET` for ordinary fds; `EPOLLIN | EPOLLET | EPOLLEXCLUSIVE`
//! for listening sockets, so a listener shared by several threads' reactors wakes one of them
//! per connection, not all. `EPOLLEXCLUSIVE` is kept off every other fd: registered twice (a dup,
//! or one socket in two threads' reactors) it would deliver each edge to one registration only
//! and leave a reader on the other hanging. A dup of a registered listener in the same reactor
//! shares the first one's registration. On kernels without `EPOLLEXCLUSIVE` geode registers
//! listeners without it.
//!
//! # Implementation
//!
//! - `sys` is the only module that makes system calls: epoll (`epoll_pwait2` for nanosecond
//!   timeouts, `epoll_wait` rounded up to whole milliseconds where that is missing), eventfd,
//!   `fstat`/`fcntl`, fork detection, `pidfd_open`, and the process-wide signal handler.
//! - `reactor` keeps, per registration, readiness and two FIFO waiter queues (read, write). An
//!   edge wakes the head waiter; a waiter that makes progress passes readiness on to the next;
//!   one that gets `EAGAIN` waits again; a waiter dropped after being woken passes the wakeup
//!   on. Timers live in a heap keyed by (deadline, sequence). The epoll data of an fd is a slab
//!   index plus a generation, so events for a closed and reused fd are ignored.
//! - `executor` polls tasks from a FIFO run queue and parks the reactor when none is ready.
//!   Wakers are `Send + Sync`: a wake on the runtime's thread is a queue push; from another
//!   thread it goes through an injection queue and one coalesced eventfd write.
//! - In a `fork` child the reactor replaces its epoll instance and eventfd on first use (the
//!   inherited ones are shared with the parent) and re-registers fds lazily.
//!
//! See `docs/ARCHITECTURE.md` for the whole picture.

#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod blocking;
pub mod executor;
pub mod fs;
#[cfg(feature = "hyper")]
pub mod hyper;
pub mod io;
pub mod net;
pub mod process;
pub mod reactor;
pub mod runtime;
pub mod signal;
mod slab;
mod sys;
#[cfg(test)]
mod test_wakers;
pub mod time;

pub use blocking::{BlockingHandle, spawn_blocking};
pub use executor::{JoinError, JoinHandle, SpawnError, block_on, run, spawn, try_spawn, yield_now};
pub use geode_macros::{main, test};

// Compiles and runs the README's examples as doctests, so the README cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

// Runs the examples of docs/TESTING.md as doctests.
#[doc = include_str!("../docs/TESTING.md")]
#[cfg(doctest)]
pub struct TestingDoctests;

/// Misuses of `#[geode::main]` and `#[geode::test]` are compile errors that name the problem:
/// geode-macros/tests/ui holds one per message, each checked against its exact compiler output
/// (trybuild; a `compile_fail` doctest would pass on any error at all).
///
/// The well-formed versions compile:
/// ```
/// #[geode::test(start_paused = true)]
/// async fn t() {}
/// #[geode::main]
/// async fn main() {}
/// ```
#[cfg(doctest)]
pub struct MacroMisuse;
