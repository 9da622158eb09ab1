//! The cross-thread half of a runtime, and the main future's waker.
//!
//! A task's waker is its own header (`raw.rs`). Woken on the runtime's own thread (the usual
//! case: the reactor dispatching events, one task waking another), it pushes the task onto the
//! runtime's local run queue: one atomic operation on the task's state, no lock, no syscall.
//! Woken from another thread, it pushes onto the runtime's injection queue (a mutex) and
//! unparks the reactor; the reactor coalesces unparks, so a burst of remote wakes costs one
//! eventfd write per sleep. Once the runtime has ended the injection queue is closed: a remote
//! wake then releases its entry instead of queueing it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Wake;

use super::raw::{Notified, with_own_runtime};
use crate::reactor::{self, Unparker};

/// The half of a runtime that other threads may touch. Its address is the runtime's identity.
pub(super) struct Shared {
    inject: Mutex<Inject>,
    /// Set after a push to `inject`, so the executor skips the lock when nothing came in.
    injected: AtomicBool,
    unparker: Unparker,
}

struct Inject {
    tasks: Vec<Notified>,
    /// The runtime has ended: nothing more is queued.
    closed: bool,
}

impl Shared {
    pub(super) fn new() -> Shared {
        Shared {
            inject: Mutex::new(Inject {
                tasks: Vec::new(),
                closed: false,
            }),
            injected: AtomicBool::new(false),
            unparker: reactor::unparker(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inject> {
        // A panic while the lock was held cannot leave a Vec half-pushed; carry on.
        self.inject.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a task woken from another thread (or, as a fallback, from this one) and unparks
    /// the runtime.
    pub(super) fn inject(&self, task: Notified) {
        let rejected = {
            let mut inject = self.lock();
            if inject.closed {
                Some(task)
            } else {
                inject.tasks.push(task);
                None
            }
        };
        match rejected {
            // Dropped outside the lock: releasing the entry may free the task and drop its
            // join waker, which is user code.
            Some(task) => drop(task),
            None => self.notify(),
        }
    }

    /// Unparks the runtime for a main future woken from another thread (its waker has set
    /// the flag the executor reads), unless the runtime has ended.
    fn notify_main(&self) {
        let closed = self.lock().closed;
        if !closed {
            self.notify();
        }
    }

    fn notify(&self) {
        self.injected.store(true, Ordering::Release);
        self.unparker.unpark();
    }

    /// Whether something may have been injected: a relaxed load, so that the executor pays for
    /// the swap (a locked instruction) in [`drain`](Self::drain) only when something came in.
    /// A stale `false` loses no wake: the unpark that follows every push makes the reactor's
    /// next park return, and the executor looks again after it.
    #[inline]
    pub(super) fn maybe_injected(&self) -> bool {
        self.injected.load(Ordering::Relaxed)
    }

    /// Moves remotely woken tasks into `into`.
    pub(super) fn drain(&self, into: &mut Vec<Notified>) {
        if self.injected.swap(false, Ordering::Acquire) {
            std::mem::swap(&mut self.lock().tasks, into);
        }
    }

    /// Ends remote queueing (the runtime is ending) and returns what was queued.
    pub(super) fn close(&self) -> Vec<Notified> {
        let mut inject = self.lock();
        inject.closed = true;
        std::mem::take(&mut inject.tasks)
    }
}

/// The waker of the future passed to `block_on`/`run`, which lives on that call's stack.
pub(super) struct MainWaker {
    pub(super) shared: Arc<Shared>,
    /// Set while the main future is due for a poll: the one record of that, set by its wakes
    /// (from any thread; repeated wakes poll it once) and cleared by the executor as it polls.
    pub(super) scheduled: AtomicBool,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        // On the runtime's own thread the executor reads the flag before it parks; from
        // elsewhere (or from a runtime that is not running) it may be parked: unpark it.
        if with_own_runtime(&self.shared, |_| ()).is_none() {
            self.shared.notify_main();
        }
    }
}
