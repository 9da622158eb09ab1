//! The timer store: a binary min-heap ordered by `(deadline, sequence)`, whose entries live in a
//! slab so a `Sleep` can cancel or re-arm its own entry in O(log n).
//!
//! The heap holds `(deadline, seq, slab index)`; each slab entry remembers its heap position.
//! A fired or cancelled entry leaves the slab, so a `Sleep` whose key no longer resolves knows
//! its timer fired. The sequence number makes equal deadlines fire in insertion order.

use std::task::Waker;
use std::time::Instant;

use crate::slab::{Key, Slab};

struct Entry {
    waker: Option<Waker>,
    pos: u32,
}

#[derive(Clone, Copy)]
struct HeapItem {
    deadline: Instant,
    seq: u64,
    index: u32,
}

impl HeapItem {
    fn before(&self, other: &HeapItem) -> bool {
        (self.deadline, self.seq) < (other.deadline, other.seq)
    }
}

pub(crate) struct Timers {
    entries: Slab<Entry>,
    heap: Vec<HeapItem>,
    seq: u64,
}

impl Timers {
    pub(crate) const fn new() -> Timers {
        Timers {
            entries: Slab::new(),
            heap: Vec::new(),
            seq: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub(crate) fn insert(&mut self, deadline: Instant, waker: &Waker) -> Key {
        let pos = self.heap.len() as u32;
        let key = self.entries.insert(Entry {
            waker: Some(waker.clone()),
            pos,
        });
        self.seq += 1;
        self.heap.push(HeapItem {
            deadline,
            seq: self.seq,
            index: key.index(),
        });
        self.sift_up(pos as usize);
        key
    }

    /// Refreshes the waker of a pending timer. `false` if it has fired (or was cancelled).
    pub(crate) fn refresh(&mut self, key: Key, waker: &Waker) -> bool {
        match self.entries.get_mut(key) {
            Some(e) => {
                match &e.waker {
                    Some(w) if w.will_wake(waker) => {}
                    _ => e.waker = Some(waker.clone()),
                }
                true
            }
            None => false,
        }
    }

    /// Removes a pending timer. `false` if it had already fired.
    pub(crate) fn cancel(&mut self, key: Key) -> bool {
        let Some(entry) = self.entries.remove(key) else {
            return false;
        };
        self.remove_at(entry.pos as usize);
        true
    }

    /// Moves a pending timer to a new deadline (it then fires after timers already set for
    /// that same instant). `false` if it had already fired.
    pub(crate) fn reset(&mut self, key: Key, deadline: Instant) -> bool {
        let Some(entry) = self.entries.get(key) else {
            return false;
        };
        let pos = entry.pos as usize;
        self.seq += 1;
        self.heap[pos].deadline = deadline;
        self.heap[pos].seq = self.seq;
        let pos = self.sift_up(pos);
        self.sift_down(pos);
        true
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|h| h.deadline)
    }

    /// Removes every timer due at `now` and collects its waker. Returns how many fired.
    pub(crate) fn fire_due(&mut self, now: Instant, wakes: &mut Vec<Waker>) -> usize {
        let mut fired = 0;
        while let Some(top) = self.heap.first() {
            if top.deadline > now {
                break;
            }
            let index = top.index;
            let key = self
                .entries
                .key_at(index)
                .unwrap_or_else(|| unreachable!("geode: timer heap points at a vacant entry"));
            if let Some(w) = self.entries.remove(key).and_then(|e| e.waker) {
                wakes.push(w);
            }
            self.remove_at(0);
            fired += 1;
        }
        fired
    }

    fn remove_at(&mut self, pos: usize) {
        let last = self.heap.len() - 1;
        self.heap.swap(pos, last);
        self.heap.pop();
        if pos < self.heap.len() {
            self.set_pos(pos);
            let pos = self.sift_up(pos);
            self.sift_down(pos);
        }
    }

    fn set_pos(&mut self, pos: usize) {
        let index = self.heap[pos].index;
        self.entries.at_mut(index).pos = pos as u32;
    }

    fn sift_up(&mut self, mut pos: usize) -> usize {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if !self.heap[pos].before(&self.heap[parent]) {
                break;
            }
            self.heap.swap(pos, parent);
            self.set_pos(pos);
            pos = parent;
        }
        self.set_pos(pos);
        pos
    }

    fn sift_down(&mut self, mut pos: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].before(&self.heap[left]) {
                right
            } else {
                left
            };
            if !self.heap[child].before(&self.heap[pos]) {
                break;
            }
            self.heap.swap(pos, child);
            self.set_pos(pos);
            pos = child;
        }
        self.set_pos(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    /// A tiny deterministic generator, so the test needs no crate.
    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *state >> 33
    }

    #[test]
    fn fires_in_deadline_then_insertion_order() {
        let base = Instant::now();
        let mut t = Timers::new();
        let w = noop();
        let mut keys = Vec::new();
        let mut rng = 7;
        for _ in 0..500 {
            let ms = lcg(&mut rng) % 50;
            keys.push((
                base + Duration::from_millis(ms),
                t.insert(base + Duration::from_millis(ms), &w),
            ));
        }
        // Cancel a third of them at random.
        let mut live = Vec::new();
        for (i, (d, k)) in keys.into_iter().enumerate() {
            if lcg(&mut rng).is_multiple_of(3) {
                assert!(t.cancel(k));
                assert!(!t.cancel(k));
            } else {
                live.push((d, i, k));
            }
        }
        live.sort();
        assert_eq!(t.len(), live.len());
        let mut fired_keys = Vec::new();
        while let Some(next) = t.next_deadline() {
            let before: Vec<_> = live
                .iter()
                .filter(|(d, ..)| *d <= next)
                .map(|x| x.2)
                .collect();
            let mut wakes = Vec::new();
            let n = t.fire_due(next, &mut wakes);
            assert_eq!(n, wakes.len());
            for k in &before {
                assert!(!t.refresh(*k, &w), "due timer still pending");
            }
            fired_keys.extend(before);
            live.retain(|(d, ..)| *d > next);
        }
        assert!(t.is_empty());
        assert!(!fired_keys.is_empty());
    }

    #[test]
    fn reset_moves_both_ways() {
        let base = Instant::now();
        let mut t = Timers::new();
        let w = noop();
        let a = t.insert(base + Duration::from_secs(10), &w);
        let b = t.insert(base + Duration::from_secs(5), &w);
        assert_eq!(t.next_deadline(), Some(base + Duration::from_secs(5)));
        assert!(t.reset(a, base + Duration::from_secs(1)));
        assert_eq!(t.next_deadline(), Some(base + Duration::from_secs(1)));
        assert!(t.reset(a, base + Duration::from_secs(20)));
        assert_eq!(t.next_deadline(), Some(base + Duration::from_secs(5)));
        let mut wakes = Vec::new();
        assert_eq!(t.fire_due(base + Duration::from_secs(6), &mut wakes), 1);
        assert!(!t.refresh(b, &w));
        assert!(t.refresh(a, &w));
        assert_eq!(t.len(), 1);
    }
}
