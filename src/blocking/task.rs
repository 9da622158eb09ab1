//! `spawn_blocking` and `BlockingHandle`: a job's result, handed from a pool thread to
//! whoever awaits it.
//!
//! The job and its handle share one `Arc<Shared<T>>`: a `Mutex` around the result slot and
//! the awaiting task's `Waker`. The pool thread stores the result, takes the waker, releases
//! the lock and wakes: an ordinary cross-thread wake, so any executor can await the handle,
//! and nothing here needs a geode reactor.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::pool;
use crate::executor::JoinError;

/// Runs `f` on geode's pool of blocking threads and returns a handle to await its result.
///
/// The pool is one per process, shared by every thread's runtime. It starts a thread when a
/// job arrives and none is idle, up to a cap (512 by default, or the positive integer in the
/// environment variable `GEODE_MAX_BLOCKING_THREADS`, read when the pool is first used);
/// beyond the cap, jobs wait in a FIFO queue. A thread idle for 10 seconds exits. In a fork
/// child the pool starts over, empty.
///
/// Use it for work that would otherwise stop the thread's reactor and every task on it: a
/// blocking syscall, a C library call, a long computation. The job cannot be cancelled once it
/// runs: dropping the handle detaches it (it still runs to the end, and its result is dropped).
///
/// # Examples
/// ```
/// let sum = geode::block_on(async {
///     geode::spawn_blocking(|| (1..=100u64).sum::<u64>()).await
/// })?;
/// assert_eq!(sum, 5050);
/// # Ok::<(), geode::JoinError>(())
/// ```
///
/// The handle is a plain `Send` future, so it also works outside geode's executor:
/// ```
/// let handle = geode::spawn_blocking(|| std::fs::metadata("/").map(|m| m.is_dir()));
/// let is_dir = futures_lite::future::block_on(handle).unwrap()?;
/// assert!(is_dir);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_blocking<F, T>(f: F) -> BlockingHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot::Waiting(None)),
    });
    let job = Job {
        shared: Some(shared.clone()),
        f: Some(f),
    };
    pool::current().submit(Box::new(move || job.run()));
    BlockingHandle { shared }
}

/// A handle to a job started by [`spawn_blocking`]: a future of its result.
///
/// Awaiting it gives `Ok(value)`, or a [`JoinError`] for which
/// [`is_panic`](JoinError::is_panic) is true if the job panicked (the pool itself is not
/// affected). It is `Send`, needs no runtime, and can be awaited from any executor. Dropping
/// it detaches the job.
///
/// # Examples
/// ```
/// geode::block_on(async {
///     let err = geode::spawn_blocking(|| panic!("bad input")).await.unwrap_err();
///     assert!(err.is_panic());
///     // The pool still works.
///     assert_eq!(geode::spawn_blocking(|| 7).await.unwrap(), 7);
/// });
/// ```
pub struct BlockingHandle<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
}

enum Slot<T> {
    /// Not finished; the waker of whoever polled the handle last.
    Waiting(Option<Waker>),
    Done(Result<T, JoinError>),
    /// The handle took the result.
    Taken,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // Nothing panics while holding it (user code runs outside), so poisoning cannot carry
        // a half-made update.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn complete(&self, result: Result<T, JoinError>) {
        let mut slot = self.lock();
        let waker = match std::mem::replace(&mut *slot, Slot::Done(result)) {
            Slot::Waiting(w) => w,
            // Completed twice cannot happen (`Job` completes once); keep the first.
            other => {
                *slot = other;
                None
            }
        };
        drop(slot);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The pool's side of a job. If it is dropped unrun (the pool could not start a thread), the
/// handle resolves as cancelled instead of hanging.
struct Job<F, T> {
    shared: Option<Arc<Shared<T>>>,
    f: Option<F>,
}

impl<F: FnOnce() -> T, T> Job<F, T> {
    fn run(mut self) {
        let (Some(f), Some(shared)) = (self.f.take(), self.shared.take()) else {
            return;
        };
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::panic);
        shared.complete(result);
    }
}

impl<F, T> Drop for Job<F, T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            self.f = None;
            shared.complete(Err(JoinError::cancelled()));
        }
    }
}

impl<T> BlockingHandle<T> {
    /// Whether the job has finished (returned or panicked), so awaiting the handle would not
    /// wait.
    ///
    /// # Examples
    /// ```
    /// let handle = geode::spawn_blocking(|| 1);
    /// let value = futures_lite::future::block_on(handle).unwrap();
    /// assert_eq!(value, 1);
    /// ```
    pub fn is_finished(&self) -> bool {
        !matches!(*self.shared.lock(), Slot::Waiting(_))
    }
}

impl<T> Future for BlockingHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.lock();
        match &mut *slot {
            Slot::Waiting(w) => {
                match w {
                    Some(old) if old.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Slot::Done(_) => match std::mem::replace(&mut *slot, Slot::Taken) {
                Slot::Done(result) => Poll::Ready(result),
                _ => unreachable!("matched Done just above"),
            },
            Slot::Taken => panic!("geode: BlockingHandle polled after it returned its result"),
        }
    }
}

impl<T> fmt::Debug for BlockingHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
