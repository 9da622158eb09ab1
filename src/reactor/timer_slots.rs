//! Armed timers by slot, 24 bytes each: the waker, the sequence number of the timer's live
//! heap item, and the generation that makes a stale [`Key`] find nothing.
//!
//! This is [`Slab`](crate::slab::Slab)'s free list again, laid out by hand: a `Slab` of
//! `(Waker, u32)` takes 32 bytes a slot, because its generation cannot use the padding inside
//! the value. Per pending timer that is a third of the reactor's share.

use std::task::Waker;

use crate::slab::Key;

pub(super) struct Timer {
    pub(super) waker: Waker,
    pub(super) seq: u32,
    generation: u32,
}

enum Slot {
    Armed(Timer),
    Free { next: u32, generation: u32 },
}

const NONE: u32 = u32::MAX;

pub(super) struct Slots {
    slots: Vec<Slot>,
    /// Head of the free list threaded through free slots, or `NONE`.
    free: u32,
    len: usize,
}

impl Slots {
    pub(super) const fn new() -> Slots {
        Slots {
            slots: Vec::new(),
            free: NONE,
            len: 0,
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(super) fn insert(&mut self, waker: Waker, seq: u32) -> Key {
        self.len += 1;
        if let Some(slot) = self.slots.get_mut(self.free as usize) {
            let index = self.free;
            let Slot::Free { next, generation } = *slot else {
                unreachable!("geode: timer free list points at an armed slot");
            };
            self.free = next;
            let generation = generation.wrapping_add(1);
            *slot = Slot::Armed(Timer {
                waker,
                seq,
                generation,
            });
            Key::new(index, generation)
        } else {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i != NONE)
                .expect("geode: more than 4 billion armed timers");
            self.slots.push(Slot::Armed(Timer {
                waker,
                seq,
                generation: 0,
            }));
            Key::new(index, 0)
        }
    }

    #[inline]
    pub(super) fn get_mut(&mut self, key: Key) -> Option<&mut Timer> {
        match self.slots.get_mut(key.index() as usize) {
            Some(Slot::Armed(t)) if t.generation == key.generation() => Some(t),
            _ => None,
        }
    }

    /// The key of the timer in slot `index` if its live heap item has sequence `seq`.
    #[inline]
    pub(super) fn key_if_live(&self, index: u32, seq: u32) -> Option<Key> {
        match self.slots.get(index as usize) {
            Some(Slot::Armed(t)) if t.seq == seq => Some(Key::new(index, t.generation)),
            _ => None,
        }
    }

    /// The timer in slot `index`, which must be armed (a link kept valid by the caller).
    pub(super) fn at_mut(&mut self, index: u32) -> &mut Timer {
        match self.slots.get_mut(index as usize) {
            Some(Slot::Armed(t)) => t,
            _ => unreachable!("geode: timer link to a free slot"),
        }
    }

    #[inline]
    pub(super) fn remove(&mut self, key: Key) -> Option<Timer> {
        let slot = self.slots.get_mut(key.index() as usize)?;
        match slot {
            Slot::Armed(t) if t.generation == key.generation() => {
                let free = Slot::Free {
                    next: self.free,
                    generation: key.generation(),
                };
                let Slot::Armed(t) = std::mem::replace(slot, free) else {
                    unreachable!()
                };
                self.free = key.index();
                self.len -= 1;
                Some(t)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_24_bytes_and_stale_keys_find_nothing() {
        assert_eq!(size_of::<Slot>(), 24);
        let w = Waker::noop().clone();
        let mut s = Slots::new();
        let a = s.insert(w.clone(), 1);
        let b = s.insert(w.clone(), 2);
        assert_eq!(s.key_if_live(a.index(), 1), Some(a));
        assert_eq!(s.key_if_live(a.index(), 2), None);
        assert_eq!(s.remove(a).map(|t| t.seq), Some(1));
        assert!(s.remove(a).is_none());
        assert!(s.get_mut(a).is_none());
        assert_eq!(s.key_if_live(a.index(), 1), None);
        let c = s.insert(w.clone(), 3);
        assert_eq!(c.index(), a.index(), "a freed slot is reused");
        assert_ne!(c, a);
        assert!(s.get_mut(a).is_none());
        s.at_mut(c.index()).seq = 4;
        assert_eq!(s.get_mut(c).map(|t| t.seq), Some(4));
        assert_eq!(s.get_mut(b).map(|t| t.seq), Some(2));
        assert_eq!(s.len(), 2);
        assert!(!s.is_empty());
    }
}
