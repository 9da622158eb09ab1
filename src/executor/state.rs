//! A task's state word: six flags and a reference count in one `AtomicU32`, so that a wake,
//! whichever thread it comes from, is one atomic operation. 32 bits, not 64: the task's slot
//! index fills the other half of the header's first word (`raw.rs`), and 2^25 references to one
//! task (half a gigabyte of wakers) can only be a leak.
//!
//! References: the runtime's task table holds one until the task completes, the `JoinHandle`
//! one while it exists, and every `Waker` one. A run-queue entry is a reference too, but it is
//! counted by the `SCHEDULED` bit rather than in the count: setting the bit is how a wake both
//! claims the right to queue the task and keeps it alive while queued. The task is freed by
//! whoever leaves neither a count nor the bit.

/// The task sits in a run queue (local or injection), or is about to; that entry holds a
/// reference. Set by wakers on any thread, cleared by the runtime when it takes the entry.
pub(super) const SCHEDULED: u32 = 1 << 0;
/// The future is gone (finished, panicked or cancelled) and the output, if any, is stored.
/// Set once, by the runtime's thread; wakes of a complete task do nothing.
pub(super) const COMPLETE: u32 = 1 << 1;
/// `JoinHandle::abort` was called: the runtime drops the future instead of polling it.
pub(super) const ABORTED: u32 = 1 << 2;
/// A `JoinHandle` exists, so the runtime keeps the output for it instead of dropping it.
pub(super) const JOIN_HANDLE: u32 = 1 << 3;
/// The task's output is stored, waiting for its `JoinHandle`: set when a task completes with a
/// `JoinHandle`, cleared when the handle takes or drops the output. Runtime thread only.
pub(super) const OUTPUT: u32 = 1 << 4;
/// The runtime's join-waker map holds a waker for this task's `JoinHandle` (under the task's
/// slot), to wake when the task completes. Runtime thread only.
pub(super) const JOIN_WAKER: u32 = 1 << 5;
/// One counted reference.
pub(super) const REF_ONE: u32 = 1 << 6;
/// The bits of the count.
pub(super) const REF_MASK: u32 = !(REF_ONE - 1);

/// A new task: queued once, referenced by the task table and its `JoinHandle`.
pub(super) const INITIAL: u32 = SCHEDULED | JOIN_HANDLE | (2 * REF_ONE);

/// A state at or past this (2^25 references) means a reference leak: the process aborts, as
/// `Arc` does past `isize::MAX`, well before the count could wrap.
pub(super) const REF_LIMIT: u32 = 1 << 31;

/// Whether dropping one counted reference from state `prev` leaves the task unreferenced.
pub(super) fn last_ref(prev: u32) -> bool {
    prev & (REF_MASK | SCHEDULED) == REF_ONE
}

/// Whether clearing `SCHEDULED` in state `prev` leaves the task unreferenced.
pub(super) fn last_entry(prev: u32) -> bool {
    prev & REF_MASK == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_reference_is_the_count_or_the_queue_entry_never_both() {
        assert!(last_ref(REF_ONE));
        assert!(last_ref(REF_ONE | COMPLETE | ABORTED));
        assert!(
            !last_ref(REF_ONE | SCHEDULED),
            "the queue entry still holds it"
        );
        assert!(!last_ref(2 * REF_ONE));
        assert!(last_entry(SCHEDULED | COMPLETE));
        assert!(!last_entry(SCHEDULED | REF_ONE));
        assert_eq!(INITIAL & REF_MASK, 2 * REF_ONE);
    }
}
