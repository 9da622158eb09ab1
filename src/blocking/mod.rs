//! Blocking work off the reactor: [`spawn_blocking`] and the pool behind it.
//!
//! geode runs every task of a thread, and that thread's reactor, on one thread: a call that
//! blocks (a file read, `getaddrinfo`, a long computation) stops all of them. [`spawn_blocking`]
//! runs such a call on a process-wide pool of threads instead and gives back a future of its
//! result. [`crate::fs`], [`crate::net::lookup_host`] and [`crate::io::stdin`] and friends are
//! built on it.
//!
//! # Examples
//! ```
//! use std::time::Duration;
//!
//! geode::block_on(async {
//!     // The reactor keeps running timers and I/O while the job sleeps on a pool thread.
//!     let job = geode::spawn_blocking(|| {
//!         std::thread::sleep(Duration::from_millis(20));
//!         "done"
//!     });
//!     geode::time::sleep(Duration::from_millis(1)).await;
//!     assert_eq!(job.await.unwrap(), "done");
//! });
//! ```

mod pool;
mod task;
pub(crate) mod unblock;

pub use task::{BlockingHandle, spawn_blocking};

/// Runs `f` on the pool and returns its `io::Result`, for the blocking forms of I/O calls
/// (`geode::fs`, `lookup_host`). A panic in `f` is resumed in the caller (it is a bug, not an
/// I/O error); a job the pool could not run becomes an `io::Error`.
pub(crate) async fn asyncify<F, T>(f: F) -> std::io::Result<T>
where
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(std::io::Error::other(
            "geode: the blocking pool could not start a thread to run the operation",
        )),
    }
}

#[cfg(test)]
mod tests;
