//! The timer store: armed timers in slots ([`timer_slots`](super::timer_slots): their wakers),
//! their deadlines in a 4-ary min-heap ([`timer_heap`](super::timer_heap)).
//!
//! Deadlines are kept as `u64` nanoseconds since an origin (this reactor's clock reading when
//! its first timer was armed): ordering is integer compares, heap items are 16 bytes, and the
//! deadline handed back to `epoll_pwait2` is still the exact nanosecond asked for. A sequence
//! number per arming breaks ties, so equal deadlines fire in arming order.
//!
//! Cancel and reset are lazy. The slot (and its waker) goes at once, but the heap item
//! stays until it reaches the top or a rebuild drops it: an item is live only while its slot
//! holds an entry with the same sequence number. Two things keep the heap small. A timer is
//! usually cancelled soon after it was armed (a `timeout` whose future won), while its item,
//! whose deadline is later than the others', is still in the last slot, where removing it is
//! a `Vec::pop`. Otherwise, once stale items outnumber live ones by `SLACK`, one O(n) rebuild
//! drops them all, so the heap never holds more than `2 * live + SLACK` items.
//!
//! A timer can also be *staged*: armed with a duration and no deadline yet. The next
//! [`fire_due`](Timers::fire_due), which the reactor runs with one clock reading at the start
//! of every turn, gives every staged timer the deadline `now + duration` and moves it into the
//! heap. `timeout` stages its timer: a clock reading costs ~20 ns on the machines measured,
//! as much as the rest of arming and cancelling together, and most timeouts are cancelled
//! before the next turn, so they never read the clock nor touch the heap. Staged timers share
//! the sequence numbers, the lazy cancel and the bound with the heap.

use std::task::Waker;
use std::time::{Duration, Instant};

use super::timer_heap::{Heap, Item};
use super::timer_slots::Slots;
use crate::slab::Key;

/// How many stale heap items beyond the live count trigger a rebuild: small heaps are not
/// worth rebuilding after every cancel. Smaller under test, so short model runs rebuild often.
#[cfg(not(test))]
pub(super) const SLACK: usize = 64;
#[cfg(test)]
pub(super) const SLACK: usize = 4;

/// A timer armed for `after` from the next turn's clock reading.
struct Staged {
    after: Duration,
    seq: u32,
    index: u32,
}

pub(crate) struct Timers {
    slots: Slots,
    heap: Heap,
    staged: Vec<Staged>,
    /// The next sequence number. At `u32::MAX` the live items are renumbered from 0.
    seq: u32,
    /// Deadlines are nanoseconds since this instant: the clock's reading when the first timer
    /// was armed. The per-thread clock never goes back and only deadlines ahead of it are
    /// armed, so none lies before it (one that did would count as the origin: due first).
    origin: Option<Instant>,
}

impl Timers {
    pub(crate) const fn new() -> Timers {
        Timers {
            slots: Slots::new(),
            heap: Heap::new(),
            staged: Vec::new(),
            seq: 0,
            origin: None,
        }
    }

    /// Timers with a given origin, for tests that arm deadlines in the past.
    #[cfg(test)]
    pub(crate) fn with_origin(origin: Instant) -> Timers {
        Timers {
            origin: Some(origin),
            ..Timers::new()
        }
    }

    /// `t` in nanoseconds since the origin, saturating at both ends. (One `std` subtraction,
    /// which is not inlined: ~60 instructions. The staged path needs it once per turn.)
    fn ticks(&mut self, t: Instant) -> u64 {
        let origin = *self.origin.get_or_insert_with(super::clock::now);
        nanos(t.saturating_duration_since(origin))
    }

    fn instant(&self, ticks: u64) -> Instant {
        let Some(origin) = self.origin else {
            unreachable!("geode: a timer deadline without an origin")
        };
        // 584 years on: representable, but saturate rather than ever panic.
        origin
            .checked_add(Duration::from_nanos(ticks))
            .unwrap_or(origin)
    }

    /// Armed timers.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Heap items and staged timers, stale ones included: what the lazy cancel costs in
    /// memory.
    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len() + self.staged.len()
    }

    #[inline]
    fn next_seq(&mut self) -> u32 {
        if self.seq == u32::MAX {
            self.renumber();
        }
        let seq = self.seq;
        self.seq += 1;
        seq
    }

    /// Drops the stale items and numbers the live ones (heap and staged) 0.. in the order of
    /// their sequence numbers, which every comparison then sees unchanged; each slot follows.
    /// Once per 4 billion armings.
    #[cold]
    #[inline(never)]
    fn renumber(&mut self) {
        let slots = &self.slots;
        let mut items = self.heap.take();
        items.retain(|item| live_key(slots, item).is_some());
        self.staged
            .retain(|s| slots.key_if_live(s.index, s.seq).is_some());
        let mut old: Vec<u32> = items.iter().map(|i| i.seq).collect();
        old.extend(self.staged.iter().map(|s| s.seq));
        old.sort_unstable();
        let renumbered = |seq: u32| match old.binary_search(&seq) {
            Ok(n) => u32::try_from(n).expect("geode: 4 billion armed timers"),
            Err(_) => unreachable!("geode: a live timer without its sequence number"),
        };
        for item in &mut items {
            item.seq = renumbered(item.seq);
            self.slots.at_mut(item.index).seq = item.seq;
        }
        for s in &mut self.staged {
            s.seq = renumbered(s.seq);
            self.slots.at_mut(s.index).seq = s.seq;
        }
        self.seq = u32::try_from(old.len()).expect("geode: 4 billion armed timers");
        self.heap.replace(items);
    }

    /// Skips the sequence ahead, so a test reaches the renumbering.
    #[cfg(test)]
    pub(crate) fn set_next_seq(&mut self, seq: u32) {
        self.seq = self.seq.max(seq);
    }

    #[inline]
    pub(crate) fn insert(&mut self, deadline: Instant, waker: &Waker) -> Key {
        let when = self.ticks(deadline);
        let seq = self.next_seq();
        let key = self.slots.insert(waker.clone(), seq);
        self.heap.push(Item {
            when,
            seq,
            index: key.index(),
        });
        key
    }

    /// Arms a timer for `after` from the clock reading of the next [`fire_due`](Self::fire_due).
    #[inline]
    pub(crate) fn stage(&mut self, after: Duration, waker: &Waker) -> Key {
        let seq = self.next_seq();
        let key = self.slots.insert(waker.clone(), seq);
        self.staged.push(Staged {
            after,
            seq,
            index: key.index(),
        });
        key
    }

    /// Gives the staged timers their deadlines, `now + after`, and moves them into the heap.
    pub(crate) fn stamp(&mut self, now: Instant) {
        if self.staged.is_empty() {
            return;
        }
        let now = self.ticks(now);
        for s in self.staged.drain(..) {
            if self.slots.key_if_live(s.index, s.seq).is_some() {
                self.heap.push(Item {
                    when: now.saturating_add(nanos(s.after)),
                    seq: s.seq,
                    index: s.index,
                });
            }
        }
    }

    /// Refreshes the waker of a pending timer, handing back the one it replaces: the caller
    /// drops it after the reactor's borrow (a waker's drop is code we do not control). `None`
    /// if the timer has fired (or was cancelled).
    #[inline]
    pub(crate) fn refresh(&mut self, key: Key, waker: &Waker) -> Option<Option<Waker>> {
        let e = self.slots.get_mut(key)?;
        if e.waker.will_wake(waker) {
            return Some(None);
        }
        Some(Some(std::mem::replace(&mut e.waker, waker.clone())))
    }

    /// Removes a pending timer, handing back its waker (for the caller to drop after the
    /// reactor's borrow). `None` if it had already fired.
    #[inline]
    pub(crate) fn cancel(&mut self, key: Key) -> Option<Waker> {
        let entry = self.slots.remove(key)?;
        self.unlink(entry.seq);
        self.bound();
        Some(entry.waker)
    }

    /// Moves a pending timer to a new deadline (it then fires after timers already set for
    /// that same instant). `false` if it had already fired.
    pub(crate) fn reset(&mut self, key: Key, deadline: Instant) -> bool {
        if self.slots.get_mut(key).is_none() {
            return false;
        }
        let when = self.ticks(deadline);
        // Before reading the old sequence: renumbering changes it.
        let seq = self.next_seq();
        let Some(entry) = self.slots.get_mut(key) else {
            unreachable!("geode: renumbering dropped a live timer")
        };
        let old = std::mem::replace(&mut entry.seq, seq);
        self.unlink(old);
        self.heap.push(Item {
            when,
            seq,
            index: key.index(),
        });
        self.bound();
        true
    }

    /// Called once the item with sequence `seq` has gone stale: drops it if that is free.
    #[inline]
    fn unlink(&mut self, seq: u32) {
        if self.slots.is_empty() {
            self.heap.clear();
            self.staged.clear();
        } else if self.staged.last().is_some_and(|last| last.seq == seq) {
            self.staged.pop();
        } else if self.heap.last().is_some_and(|last| last.seq == seq) {
            self.heap.pop_last();
        }
    }

    /// Drops the stale items once they outnumber the live ones.
    #[inline]
    fn bound(&mut self) {
        if self.heap.len() + self.staged.len() > 2 * self.slots.len() + SLACK {
            let slots = &self.slots;
            self.heap.retain(|item| live_key(slots, item).is_some());
            self.staged
                .retain(|s| slots.key_if_live(s.index, s.seq).is_some());
        }
    }

    /// The earliest pending deadline, staged timers aside (the reactor asks right after
    /// [`fire_due`](Self::fire_due), which leaves none).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            if live_key(&self.slots, top).is_some() {
                let when = top.when;
                return Some(self.instant(when));
            }
            self.heap.pop();
        }
        None
    }

    /// Stamps the staged timers with `now`, then removes every timer due at `now` and collects
    /// its waker. Returns how many fired.
    pub(crate) fn fire_due(&mut self, now: Instant, wakes: &mut Vec<Waker>) -> usize {
        self.stamp(now);
        if self.heap.len() == 0 {
            return 0;
        }
        let now = self.ticks(now);
        let mut fired = 0;
        // Stale items at the top go too, due or not, so the top is live afterwards.
        while let Some(top) = self.heap.peek() {
            match live_key(&self.slots, top) {
                Some(_) if top.when > now => break,
                Some(key) => {
                    self.heap.pop();
                    if let Some(entry) = self.slots.remove(key) {
                        wakes.push(entry.waker);
                    }
                    fired += 1;
                }
                None => {
                    self.heap.pop();
                }
            }
        }
        self.bound();
        fired
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// The key of the timer whose live item `item` is, or `None` if it is stale.
#[inline]
fn live_key(slots: &Slots, item: &Item) -> Option<Key> {
    slots.key_if_live(item.index, item.seq)
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

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_in_deadline_then_insertion_order() {
        let base = Instant::now();
        let mut t = Timers::with_origin(base);
        let w = noop();
        let mut keys = Vec::new();
        let mut rng = 7;
        for _ in 0..500 {
            let d = base + ms(lcg(&mut rng) % 50);
            keys.push((d, t.insert(d, &w)));
        }
        // Cancel a third of them at random.
        let mut live = Vec::new();
        for (i, (d, k)) in keys.into_iter().enumerate() {
            if lcg(&mut rng).is_multiple_of(3) {
                assert!(t.cancel(k).is_some());
                assert!(t.cancel(k).is_none());
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
                assert!(t.refresh(*k, &w).is_none(), "due timer still pending");
            }
            fired_keys.extend(before);
            live.retain(|(d, ..)| *d > next);
        }
        assert!(t.is_empty());
        assert_eq!(t.heap_len(), 0);
        assert!(!fired_keys.is_empty());
    }

    #[test]
    fn reset_moves_both_ways() {
        let base = Instant::now();
        let mut t = Timers::with_origin(base);
        let w = noop();
        let a = t.insert(base + ms(10_000), &w);
        let b = t.insert(base + ms(5_000), &w);
        assert_eq!(t.next_deadline(), Some(base + ms(5_000)));
        assert!(t.reset(a, base + ms(1_000)));
        assert_eq!(t.next_deadline(), Some(base + ms(1_000)));
        assert!(t.reset(a, base + ms(20_000)));
        assert_eq!(t.next_deadline(), Some(base + ms(5_000)));
        let mut wakes = Vec::new();
        assert_eq!(t.fire_due(base + ms(6_000), &mut wakes), 1);
        assert!(t.refresh(b, &w).is_none());
        assert!(
            !t.reset(b, base + ms(30_000)),
            "a fired timer cannot be reset"
        );
        assert!(t.cancel(b).is_none(), "nor cancelled");
        assert!(t.refresh(a, &w).is_some());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn deadlines_keep_every_nanosecond() {
        let base = Instant::now();
        let mut t = Timers::with_origin(base);
        let d = base + Duration::new(3, 123_456_789);
        t.insert(d, &noop());
        assert_eq!(t.next_deadline(), Some(d));
        let mut wakes = Vec::new();
        assert_eq!(t.fire_due(d - Duration::from_nanos(1), &mut wakes), 0);
        assert_eq!(t.fire_due(d, &mut wakes), 1);
    }

    struct Nop;

    impl std::task::Wake for Nop {
        fn wake(self: std::sync::Arc<Self>) {}
    }

    /// `n` wakers that `will_wake` tells apart.
    fn distinct(n: usize) -> Vec<Waker> {
        (0..n)
            .map(|_| Waker::from(std::sync::Arc::new(Nop)))
            .collect()
    }

    /// Which of `pool` each of `wakes` is.
    fn ids(pool: &[Waker], wakes: &[Waker]) -> Vec<usize> {
        wakes
            .iter()
            .map(|w| pool.iter().position(|p| p.will_wake(w)).unwrap())
            .collect()
    }

    #[test]
    fn equal_deadlines_fire_in_arming_order() {
        let base = Instant::now();
        let mut t = Timers::with_origin(base);
        let pool = distinct(200);
        let keys: Vec<Key> = pool.iter().map(|w| t.insert(base + ms(1), w)).collect();
        // Re-arming moves a timer behind the others at its new deadline.
        assert!(t.reset(keys[0], base + ms(1)));
        let mut wakes = Vec::new();
        assert_eq!(t.fire_due(base + ms(1), &mut wakes), 200);
        let mut expect: Vec<usize> = (1..200).collect();
        expect.push(0);
        assert_eq!(ids(&pool, &wakes), expect);
        assert!(t.is_empty());
        for k in keys {
            assert!(t.cancel(k).is_none(), "a fired timer cannot be cancelled");
        }
    }

    #[test]
    fn churn_keeps_the_heap_proportional_to_the_live_timers() {
        let base = Instant::now();
        let mut t = Timers::with_origin(base);
        let w = noop();
        let mut rng = 11;
        let mut live: Vec<Key> = Vec::new();
        for i in 0..100_000u64 {
            // Deadlines in random order, so a cancelled item is rarely the last one.
            live.push(t.insert(base + ms(1 + lcg(&mut rng) % 10_000), &w));
            if live.len() > 100 {
                let k = live.swap_remove((lcg(&mut rng) % 100) as usize);
                assert!(t.cancel(k).is_some());
            }
            if i % 7 == 0 {
                let k = live[(lcg(&mut rng) % 100) as usize % live.len()];
                assert!(t.reset(k, base + ms(1 + lcg(&mut rng) % 10_000)));
            }
            assert!(t.heap_len() <= 2 * t.len() + SLACK, "heap {}", t.heap_len());
        }
        for k in live {
            assert!(t.cancel(k).is_some());
        }
        assert_eq!(t.heap_len(), 0);
    }

    #[test]
    fn sequence_wrap_renumbers_without_reordering() {
        let base = Instant::now();
        let mut t = Timers::with_origin(base);
        let pool = distinct(12);
        t.set_next_seq(u32::MAX - 5);
        let mut keys = Vec::new();
        for (i, w) in pool.iter().enumerate() {
            // Two deadlines only, so most of the order comes from the sequence.
            keys.push(t.insert(base + ms(1 + i as u64 % 2), w));
        }
        assert!(t.cancel(keys[3]).is_some());
        assert!(t.reset(keys[0], base + ms(2)));
        assert_eq!(t.len(), 11);
        assert!(t.seq < 100, "renumbered");
        let mut wakes = Vec::new();
        assert_eq!(t.fire_due(base + ms(1), &mut wakes), 5);
        assert_eq!(ids(&pool, &wakes), [2, 4, 6, 8, 10]);
        wakes.clear();
        assert_eq!(t.fire_due(base + ms(2), &mut wakes), 6);
        assert_eq!(ids(&pool, &wakes), [1, 5, 7, 9, 11, 0]);
        assert!(t.is_empty());
    }

    #[test]
    fn staged_timers_take_their_deadline_from_the_next_fire_due() {
        let base = Instant::now();
        let mut t = Timers::with_origin(base);
        let pool = distinct(3);
        let a = t.stage(ms(10), &pool[0]);
        let b = t.insert(base + ms(5), &pool[1]);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.next_deadline(),
            Some(base + ms(5)),
            "a has no deadline yet"
        );
        let mut wakes = Vec::new();
        assert_eq!(t.fire_due(base + ms(1), &mut wakes), 0);
        assert_eq!(t.next_deadline(), Some(base + ms(5)));
        assert_eq!(t.fire_due(base + ms(5), &mut wakes), 1);
        assert!(t.refresh(b, &pool[1]).is_none());
        assert_eq!(t.next_deadline(), Some(base + ms(11)), "1 ms + 10 ms");
        // A zero duration is due at the very turn that stamps it.
        let c = t.stage(Duration::ZERO, &pool[2]);
        assert_eq!(t.fire_due(base + ms(6), &mut wakes), 1);
        assert!(t.cancel(c).is_none());
        assert!(t.refresh(a, &pool[0]).is_some());
        assert_eq!(t.fire_due(base + ms(11), &mut wakes), 1);
        assert_eq!(ids(&pool, &wakes), [1, 2, 0]);
        assert!(t.is_empty());
        assert_eq!(t.heap_len(), 0);
    }

    #[test]
    fn staged_churn_stays_bounded_and_the_survivors_fire() {
        let base = Instant::now();
        let mut t = Timers::with_origin(base);
        let pool = distinct(2);
        let mut rng = 5;
        let mut live: Vec<Key> = Vec::new();
        for _ in 0..100_000 {
            live.push(t.stage(ms(50), &pool[0]));
            if live.len() > 100 {
                // Rarely the latest: most of these leave a stale staged entry.
                let k = live.swap_remove((lcg(&mut rng) % 100) as usize);
                assert!(t.cancel(k).is_some());
            }
            assert!(t.heap_len() <= 2 * t.len() + SLACK, "{}", t.heap_len());
        }
        let survivors = live.len();
        let mut wakes = Vec::new();
        assert_eq!(t.fire_due(base, &mut wakes), 0);
        assert_eq!(t.heap_len(), survivors, "stamping moves only the live ones");
        assert_eq!(t.fire_due(base + ms(50), &mut wakes), survivors);
        assert!(t.is_empty());
    }

    #[test]
    fn sequence_wrap_keeps_arming_order_across_staged_and_heap_timers() {
        let base = Instant::now();
        let mut t = Timers::with_origin(base);
        let pool = distinct(8);
        t.set_next_seq(u32::MAX - 3);
        // All end up due at base + 10 ms; arming order alternates staged and armed.
        let mut keys = Vec::new();
        for (i, w) in pool.iter().enumerate() {
            keys.push(if i % 2 == 0 {
                t.stage(ms(10), w)
            } else {
                t.insert(base + ms(10), w)
            });
        }
        assert!(t.seq < 100, "renumbered");
        assert!(t.cancel(keys[4]).is_some());
        let mut wakes = Vec::new();
        assert_eq!(t.fire_due(base, &mut wakes), 0);
        assert_eq!(t.fire_due(base + ms(10), &mut wakes), 7);
        assert_eq!(ids(&pool, &wakes), [0, 1, 2, 3, 5, 6, 7]);
    }
}
