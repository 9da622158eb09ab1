//! The timer queue's ordering: a 4-ary min-heap of 16-byte items keyed by `(when, seq)`.
//!
//! Four children per node halve the depth of a binary heap (a pop over 200,000 timers walks ~9
//! levels instead of ~18), and the four siblings, 64 bytes, lie in one or two cache lines.
//! A comparison is two integer compares.
//! The heap knows nothing of liveness: [`Timers`](super::timers::Timers) decides which items
//! are stale and when to rebuild.

const ARITY: usize = 4;

/// One armed deadline: `when` in nanoseconds from the reactor's origin; `seq` orders equal
/// deadlines by arming order and tells the item of a timer's current arming from stale ones;
/// `index` is the timer's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Item {
    pub(super) when: u64,
    pub(super) seq: u32,
    pub(super) index: u32,
}

impl Item {
    #[inline]
    fn before(&self, other: &Item) -> bool {
        (self.when, self.seq) < (other.when, other.seq)
    }
}

pub(super) struct Heap {
    items: Vec<Item>,
}

impl Heap {
    pub(super) const fn new() -> Heap {
        Heap { items: Vec::new() }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<&Item> {
        self.items.first()
    }

    /// The item in the last slot: removing it keeps the heap a heap.
    #[inline]
    pub(super) fn last(&self) -> Option<&Item> {
        self.items.last()
    }

    #[inline]
    pub(super) fn pop_last(&mut self) -> Option<Item> {
        self.items.pop()
    }

    pub(super) fn clear(&mut self) {
        self.items.clear();
    }

    #[inline]
    pub(super) fn push(&mut self, item: Item) {
        let pos = self.items.len();
        self.items.push(item);
        self.sift_up(pos, item);
    }

    pub(super) fn pop(&mut self) -> Option<Item> {
        let last = self.items.pop()?;
        let Some(&top) = self.items.first() else {
            return Some(last);
        };
        // Floyd's pop: walk the hole down to a leaf comparing only siblings, then put the
        // former last item there and let it rise. It came from the bottom, so it rarely rises
        // far, and this skips the compare against it at every level on the way down.
        let pos = self.hole_to_leaf(0);
        self.sift_up(pos, last);
        Some(top)
    }

    /// Keeps the items `keep` accepts and restores the heap order in O(n).
    pub(super) fn retain(&mut self, keep: impl FnMut(&Item) -> bool) {
        self.items.retain(keep);
        self.heapify();
    }

    /// Takes every item out, in no particular order.
    pub(super) fn take(&mut self) -> Vec<Item> {
        std::mem::take(&mut self.items)
    }

    /// Replaces the items (any order) and restores the heap order in O(n).
    pub(super) fn replace(&mut self, items: Vec<Item>) {
        self.items = items;
        self.heapify();
    }

    fn heapify(&mut self) {
        let len = self.items.len();
        if len < 2 {
            return;
        }
        for pos in (0..=(len - 2) / ARITY).rev() {
            let item = self.items[pos];
            self.sift_down(pos, item);
        }
    }

    #[inline]
    fn sift_up(&mut self, mut pos: usize, item: Item) {
        while pos > 0 {
            let parent = (pos - 1) / ARITY;
            let p = self.items[parent];
            if !item.before(&p) {
                break;
            }
            self.items[pos] = p;
            pos = parent;
        }
        self.items[pos] = item;
    }

    /// The smallest child of `pos`, if it has any.
    #[inline]
    fn min_child(&self, pos: usize) -> Option<usize> {
        let first = ARITY * pos + 1;
        if let Some(c) = self.items.get(first..first + ARITY) {
            // A full node, the common case: a two-round tournament, three compares.
            let a = usize::from(c[1].before(&c[0]));
            let b = 2 + usize::from(c[3].before(&c[2]));
            let best = if c[b].before(&c[a]) { b } else { a };
            return Some(first + best);
        }
        let c = self.items.get(first..)?;
        let mut best = 0;
        for (i, item) in c.iter().enumerate().skip(1) {
            if item.before(&c[best]) {
                best = i;
            }
        }
        (!c.is_empty()).then_some(first + best)
    }

    /// Moves the hole at `pos` down to a leaf along the smallest children; returns the leaf.
    fn hole_to_leaf(&mut self, mut pos: usize) -> usize {
        while let Some(child) = self.min_child(pos) {
            self.items[pos] = self.items[child];
            pos = child;
        }
        pos
    }

    fn sift_down(&mut self, mut pos: usize, item: Item) {
        while let Some(child) = self.min_child(pos) {
            let c = self.items[child];
            if !c.before(&item) {
                break;
            }
            self.items[pos] = c;
            pos = child;
        }
        self.items[pos] = item;
    }

    #[cfg(test)]
    pub(super) fn is_heap(&self) -> bool {
        (1..self.items.len()).all(|i| !self.items[i].before(&self.items[(i - 1) / ARITY]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(when: u64, seq: u32) -> Item {
        Item {
            when,
            seq,
            index: seq,
        }
    }

    #[test]
    fn pops_in_key_order_through_every_operation() {
        let mut h = Heap::new();
        let mut rng = 0x1234_5678_u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            rng >> 40
        };
        let mut seq = 0;
        for _ in 0..1000 {
            seq += 1;
            h.push(item(next() % 100, seq));
            assert!(h.is_heap());
        }
        h.retain(|i| i.seq % 3 != 0);
        assert!(h.is_heap());
        let mut items = h.take();
        assert_eq!(h.len(), 0);
        items.iter_mut().for_each(|i| i.when = 1000 - i.when);
        let mut sorted = items.clone();
        sorted.sort_by_key(|i| (i.when, i.seq));
        h.replace(items);
        assert!(h.is_heap());
        let mut popped = Vec::new();
        while let Some(i) = h.pop() {
            assert!(h.is_heap());
            popped.push(i);
        }
        assert_eq!(popped, sorted);
        assert_eq!(popped.len(), 1000 - 1000 / 3);
    }

    #[test]
    fn removing_the_last_item_keeps_order() {
        let mut h = Heap::new();
        for s in 0..10 {
            h.push(item(u64::from(s), s));
        }
        assert_eq!(h.pop_last(), Some(item(9, 9)));
        assert_eq!(h.last(), Some(&item(8, 8)));
        assert!(h.is_heap());
        assert_eq!(h.peek(), Some(&item(0, 0)));
        h.clear();
        assert_eq!(h.pop(), None);
        assert_eq!(h.len(), 0);
    }
}
