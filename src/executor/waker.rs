//! Task wakers: `Send + Sync`, safe to wake from any thread, and a no-op once their runtime is
//! gone.
//!
//! A waker knows its task's id and its runtime's shared half. Woken on the runtime's own thread
//! (the usual case: the reactor dispatching events, one task waking another), it pushes the id
//! onto the thread-local run queue: no lock, no syscall. Woken from another thread, it pushes
//! onto the runtime's injection queue (a mutex) and unparks the reactor; the reactor coalesces
//! unparks, so a burst of remote wakes costs one eventfd write per sleep.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use crate::reactor::Unparker;
use crate::slab::Key;

/// Which future a waker schedules: a spawned task, or the `block_on` future itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskId {
    Main,
    Task(Key),
}

/// The half of a runtime that other threads may touch.
pub(crate) struct Shared {
    pub(crate) runtime_id: u64,
    pub(crate) inject: Mutex<Vec<TaskId>>,
    /// Set after a push to `inject`, so the executor skips the lock when nothing came in.
    pub(crate) injected: AtomicBool,
    pub(crate) unparker: Unparker,
    /// Set when the runtime ends: later wakes do nothing.
    pub(crate) closed: AtomicBool,
}

pub(crate) struct TaskWaker {
    pub(crate) id: TaskId,
    pub(crate) shared: Arc<Shared>,
    /// Set while the task sits in a run queue, so repeated wakes queue it once.
    pub(crate) scheduled: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        if super::push_local(self.shared.runtime_id, self.id) {
            return;
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return;
        }
        match self.shared.inject.lock() {
            Ok(mut q) => q.push(self.id),
            // A panic while the lock was held cannot leave a Vec half-pushed; carry on.
            Err(poisoned) => poisoned.into_inner().push(self.id),
        }
        self.shared.injected.store(true, Ordering::Release);
        self.shared.unparker.unpark();
    }
}
