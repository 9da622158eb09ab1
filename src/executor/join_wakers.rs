//! The wakers of `JoinHandle`s awaiting their tasks, kept by the runtime under each task's
//! slot rather than in every task: only a task someone awaits while it runs pays for one. A
//! field in the task header would cost 16 bytes per task, detached ones included, and would
//! push a small task into malloc's next size class.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::task::Waker;

/// Runtime thread only (the runtime is `!Send`).
#[derive(Default)]
pub(super) struct JoinWakers {
    map: RefCell<HashMap<u32, Waker, BuildHasherDefault<SlotHasher>>>,
}

impl JoinWakers {
    /// Records `waker` for the task in `slot`, replacing the previous one unless it would wake
    /// the same task.
    pub(super) fn set(&self, slot: u32, waker: &Waker) {
        if self
            .map
            .borrow()
            .get(&slot)
            .is_some_and(|w| w.will_wake(waker))
        {
            return;
        }
        // Cloning and dropping a waker may run user code: neither under the borrow.
        let new = waker.clone();
        let old = self.map.borrow_mut().insert(slot, new);
        drop(old);
    }

    /// Takes the waker recorded for `slot`, if any.
    pub(super) fn take(&self, slot: u32) -> Option<Waker> {
        self.map.borrow_mut().remove(&slot)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.borrow().len()
    }
}

/// Slots are small dense integers: a multiplicative (Fibonacci) hash spreads them over all 64
/// bits, high ones included, at the cost of one multiply (std's SipHash costs ~20 ns).
#[derive(Default)]
pub(super) struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wakers::counting;
    use std::sync::Arc;

    #[test]
    fn one_waker_per_slot_replaced_and_taken() {
        let ((a, wa), (b, wb)) = (counting(), counting());
        let jw = JoinWakers::default();
        jw.set(7, &wa);
        jw.set(7, &wa);
        assert_eq!(
            Arc::strong_count(&a),
            3,
            "the same waker is not cloned again"
        );
        jw.set(7, &wb);
        assert_eq!(Arc::strong_count(&a), 2, "the replaced waker is dropped");
        for slot in 0..1000 {
            jw.set(slot + 100, &wa);
        }
        assert_eq!(jw.len(), 1001);
        jw.take(7).unwrap().wake();
        assert_eq!(b.get(), 1);
        assert!(jw.take(7).is_none());
        assert!((0..1000).all(|slot| jw.take(slot + 100).is_some()));
        assert_eq!(jw.len(), 0);
    }
}
