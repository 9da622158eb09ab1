//! geode: a thread-local epoll reactor behind `Future`/`Waker`, with a minimal single-threaded
//! executor. Linux only.
//!
//! # Three ways to use it
//!
//! 1. **An async main.** [`block_on`] runs a future on the current thread, along with the tasks
//!    it [`spawn`]s; [`io::Async`] makes any pollable fd asynchronous; [`time`] has sleeps and
//!    timeouts.
//! 2. **Your own executor.** [`reactor::park`] runs this thread's reactor once and
//!    [`reactor::unparker`] interrupts it from another thread: that is all an executor needs
//!    (see `examples/custom_executor.rs`).
//! 3. **Tests of async code**, which [`reactor::stats`] makes precise: how many `epoll_ctl`
//!    calls, wakeups, pending timers.
//!
//! ```
//! use geode::io::Async;
//! use std::os::unix::net::UnixStream;
//! use futures_util::io::{AsyncReadExt, AsyncWriteExt};
//!
//! geode::block_on(async {
//!     let (a, b) = UnixStream::pair()?;
//!     let (mut a, mut b) = (Async::new(a)?, Async::new(b)?);
//!     let echo = geode::spawn(async move {
//!         let mut buf = [0; 5];
//!         b.read_exact(&mut buf).await?;
//!         b.write_all(&buf).await
//!     });
//!     a.write_all(b"hello").await?;
//!     let mut back = [0; 5];
//!     a.read_exact(&mut back).await?;
//!     assert_eq!(&back, b"hello");
//!     echo.await??;
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Registration policy
//!
//! Each thread has its own reactor (one epoll instance). An fd is registered with it once,
//! when an operation on it first would block, and never modified: `EPOLLIN | EPOLLOUT |
//! EPOLLRDHUP | EPOLLET` for ordinary fds; `EPOLLIN | EPOLLET | EPOLLEXCLUSIVE` for listening
//! sockets, so a listener shared by several threads' reactors wakes one of them per
//! connection, not all. `EPOLLEXCLUSIVE` is kept off every other fd: registered twice (a dup,
//! or one socket in two threads' reactors) it would deliver each edge to one registration only
//! and leave a reader on the other hanging. A dup of a registered listener in the same reactor
//! shares the first one's registration. On kernels without `EPOLLEXCLUSIVE` geode registers
//! listeners without it.
//!
//! # Implementation
//!
//! - `sys` is the only module that makes system calls: epoll (`epoll_pwait2` for nanosecond
//!   timeouts, `epoll_wait` rounded up to whole milliseconds where that is missing), eventfd,
//!   `fstat`/`fcntl`, fork detection.
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

pub mod executor;
pub mod io;
pub mod net;
pub mod reactor;
mod slab;
mod sys;
pub mod time;

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

/// Misuses of `#[geode::main]` and `#[geode::test]` are compile errors that name the problem.
/// Each block below must fail to compile (the messages are in the comments).
///
/// A non-async function ("the function must be `async fn`"):
/// ```compile_fail
/// #[geode::main]
/// fn main() {}
/// ```
///
/// Arguments ("the function must take no arguments"):
/// ```compile_fail
/// #[geode::main]
/// async fn main(port: u16) {}
/// ```
///
/// Arguments to `main` ("the attribute takes no arguments"):
/// ```compile_fail
/// #[geode::main(flavor = "current_thread")]
/// async fn main() {}
/// ```
///
/// An unknown test option ("unknown option `flavor` (the only option is `start_paused`)"):
/// ```compile_fail
/// #[geode::test(flavor = "multi_thread")]
/// async fn t() {}
/// # fn main() {}
/// ```
///
/// A non-bool `start_paused` ("`start_paused` expects a bool"):
/// ```compile_fail
/// #[geode::test(start_paused = "yes")]
/// async fn t() {}
/// # fn main() {}
/// ```
///
/// And the well-formed versions compile:
/// ```
/// #[geode::test(start_paused = true)]
/// async fn t() {}
/// #[geode::main]
/// async fn main() {}
/// ```
#[cfg(doctest)]
pub struct MacroMisuse;
