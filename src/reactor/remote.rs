//! Timers touched from another thread than the one whose reactor holds them.
//!
//! A `Sleep` is `Send`: it may be reset or dropped on a thread other than the one that armed
//! it, while its task waits on the owner's reactor. Only the owner may touch its timer store
//! (thread-local, no locks on the hot path), so the other thread leaves a note instead: the
//! timer's key in the owner's [`RemoteTimers`], then an unpark. At its next turn the owner
//! cancels those timers and wakes their wakers, so the task polls its `Sleep` again, finds it
//! unarmed and arms it afresh with its new deadline, on its own reactor. Keys carry a
//! generation, so a note about a timer that fired (or whose slot was reused) meanwhile does
//! nothing.
//!
//! The owner reads the notes only in a turn that was unparked, so the usual turn pays nothing.
//! A process-wide registry maps reactor ids to their notes; a reactor enters it when it gets
//! its id (its first timer) and leaves when its thread ends.

use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::unpark::UnparkShared;
use crate::slab::Key;

/// Notes left for one reactor by other threads.
#[derive(Default)]
pub(crate) struct RemoteTimers {
    /// Set after a key is pushed; cleared by the owner before it takes them.
    pending: AtomicBool,
    keys: Mutex<Vec<Key>>,
}

impl RemoteTimers {
    /// The keys left since the last call, if any. Called by the owner after it cleared its
    /// unpark flag: with the fence in [`cancel_remote`], either this sees the `pending` set by
    /// a note, or that note's unpark sees the cleared flag and rings the doorbell again.
    pub(super) fn take(&self) -> Vec<Key> {
        fence(Ordering::SeqCst);
        if !self.pending.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *lock(&self.keys))
    }
}

/// Reactor ids and their shared parts, for other threads to reach them by id.
static REGISTRY: Mutex<Vec<(u64, Weak<UnparkShared>)>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data (keys, ids) stays consistent whatever panicked while holding the lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes reactor `id` reachable from other threads.
pub(super) fn register(id: u64, shared: &Arc<UnparkShared>) {
    let mut reg = lock(&REGISTRY);
    reg.retain(|(_, w)| w.strong_count() > 0);
    reg.push((id, Arc::downgrade(shared)));
}

/// Reactor `id` has ended.
pub(super) fn unregister(id: u64) {
    lock(&REGISTRY).retain(|(i, _)| *i != id);
}

/// From a thread other than its owner's: asks reactor `id` to cancel timer `key` and wake its
/// waker at its next turn. Does nothing if that reactor has ended.
pub(super) fn cancel_remote(id: u64, key: Key) {
    let shared = lock(&REGISTRY)
        .iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, w)| w.upgrade());
    let Some(shared) = shared else {
        return;
    };
    let remote = shared.remote();
    lock(&remote.keys).push(key);
    remote.pending.store(true, Ordering::Relaxed);
    // Pairs with the fence in `take`: the `pending` store is ordered before the unpark's read
    // of the owner's flag.
    fence(Ordering::SeqCst);
    shared.unpark();
}
