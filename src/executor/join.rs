//! `JoinHandle` and `JoinError`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use super::raw::RawJoin;

/// An owned permission to await a spawned task's output.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked or was aborted.
/// Dropping it detaches the task, which keeps running.
///
/// # Examples
/// ```
/// geode::block_on(async {
///     let handle = geode::spawn(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// ```
pub struct JoinHandle<T> {
    raw: RawJoin<T>,
}

impl<T> JoinHandle<T> {
    pub(super) fn new(raw: RawJoin<T>) -> JoinHandle<T> {
        JoinHandle { raw }
    }

    /// Cancels the task: its future is dropped the next time the executor reaches it, and
    /// awaiting the handle gives a [`JoinError`] for which
    /// [`is_cancelled`](JoinError::is_cancelled) is true. Aborting a finished task does nothing.
    ///
    /// # Examples
    /// ```
    /// geode::block_on(async {
    ///     let handle = geode::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        self.raw.abort();
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.raw.is_finished()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.raw.poll(cx)
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A task failed to complete: it panicked or was cancelled.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// Boxed, so that a task's output slot (`Result<T, JoinError>`) grows by one pointer at
    /// most; the `Mutex` makes the error `Sync` (the payload is only `Send`).
    Panic(Box<Mutex<Box<dyn Any + Send + 'static>>>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(Box::new(Mutex::new(payload))),
        }
    }

    /// Whether the task was cancelled ([`JoinHandle::abort`], or its runtime ended first).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to resume the panic with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task did not panic (check [`is_panic`](Self::is_panic) first, or use
    /// [`try_into_panic`](Self::try_into_panic)).
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(_) => panic!("geode: JoinError::into_panic called on a cancelled task's error"),
        }
    }

    /// The panic payload, or the error itself if the task did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p.into_inner().unwrap_or_else(|e| e.into_inner())),
            Repr::Cancelled => Err(self),
        }
    }

    fn panic_message(&self) -> Option<String> {
        let Repr::Panic(p) = &self.repr else {
            return None;
        };
        let p = p.lock().unwrap_or_else(|e| e.into_inner());
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic(_) => match self.panic_message() {
                Some(m) => write!(f, "task panicked with message {m:?}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic(_) => match self.panic_message() {
                Some(m) => write!(f, "JoinError::Panic({m:?})"),
                None => f.write_str("JoinError::Panic(..)"),
            },
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// [`try_spawn`](crate::try_spawn) was called outside a geode runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnError {
    _private: (),
}

impl SpawnError {
    pub(crate) fn new() -> SpawnError {
        SpawnError { _private: () }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no geode runtime on this thread: spawn only works inside geode::block_on or geode::run \
             (or a Runtime's block_on, or while Runtime::enter's guard lives)",
        )
    }
}

impl std::error::Error for SpawnError {}

impl From<SpawnError> for std::io::Error {
    fn from(e: SpawnError) -> std::io::Error {
        std::io::Error::other(e)
    }
}
