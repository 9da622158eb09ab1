//! Per-direction readiness and FIFO waiter queues.
//!
//! Each registration has two [`Direction`]s (read, write). A direction holds:
//!
//! - `readiness`: whether the next operation should try its syscall:
//!   - `Unknown`: the fd is not (yet) in this epoll instance; try, and register on `EAGAIN`.
//!   - `Ready`: an edge arrived that no waiter consumed, or a waiter passed readiness on.
//!   - `NotReady`: the last try got `EAGAIN` (or a short read/write drained the fd). Implies the
//!     fd is registered in the current epoll instance, so an edge will come.
//! - a FIFO queue of future-style waiters (`read_with`, `readable`, `accept`, ...), each a node
//!   in a reactor-wide slab linked by index, so a dropped waiter leaves in O(1);
//! - `poll_wakers`: the wakers of `poll_*` callers, which have nowhere to keep a queue node.
//!
//! Waiter states: `Queued` (in the list, waiting for an edge) and `Notified` (popped and woken:
//! it holds the "baton"). A notified waiter that makes progress passes the baton to the next
//! waiter (or sets `Ready` if none); one that gets `EAGAIN` drops it (the fd is drained, the
//! next edge will wake the new head); one that is dropped unused passes it on. An edge wakes the
//! head waiter and every poll waker; with poll wakers present it also sets `Ready`, since they
//! have no notified state of their own and must try their syscall.

use std::task::Waker;

use crate::slab::{Key, Slab};

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Readiness {
    Unknown,
    Ready,
    NotReady,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaiterState {
    Queued,
    Notified,
}

pub(crate) struct Node {
    waker: Option<Waker>,
    state: WaiterState,
    prev: u32,
    next: u32,
}

pub(crate) struct Direction {
    pub(crate) readiness: Readiness,
    /// Sticky: a hangup (EPOLLRDHUP/EPOLLHUP) or urgent data (EPOLLPRI) was seen, so a short
    /// transfer no longer proves the fd drained (EOF, or data past the urgent mark, is still
    /// queued and no further edge will announce it).
    pub(crate) short_not_drained: bool,
    head: u32,
    tail: u32,
    poll_wakers: Vec<Waker>,
}

impl Direction {
    pub(crate) const fn new() -> Direction {
        Direction {
            readiness: Readiness::Unknown,
            short_not_drained: false,
            head: NIL,
            tail: NIL,
            poll_wakers: Vec::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn has_queued(&self) -> bool {
        self.head != NIL
    }

    /// Records the waker of a `poll_*` caller (once per task).
    pub(crate) fn add_poll_waker(&mut self, waker: &Waker) {
        if !self.poll_wakers.iter().any(|w| w.will_wake(waker)) {
            self.poll_wakers.push(waker.clone());
        }
    }
}

/// The reactor-wide store of waiter nodes.
pub(crate) struct Waiters {
    nodes: Slab<Node>,
}

impl Waiters {
    pub(crate) const fn new() -> Waiters {
        Waiters { nodes: Slab::new() }
    }

    /// Appends a new waiter at the tail of `dir`'s queue.
    pub(crate) fn enqueue(&mut self, dir: &mut Direction, waker: &Waker) -> Key {
        let key = self.nodes.insert(Node {
            waker: Some(waker.clone()),
            state: WaiterState::Queued,
            prev: dir.tail,
            next: NIL,
        });
        if dir.tail == NIL {
            dir.head = key.index();
        } else {
            self.nodes.at_mut(dir.tail).next = key.index();
        }
        dir.tail = key.index();
        key
    }

    /// Puts a new waiter at the head of `dir`'s queue: for a notified waiter that got
    /// `EAGAIN`, which keeps its place in line.
    pub(crate) fn enqueue_front(&mut self, dir: &mut Direction, waker: &Waker) -> Key {
        let key = self.nodes.insert(Node {
            waker: Some(waker.clone()),
            state: WaiterState::Queued,
            prev: NIL,
            next: dir.head,
        });
        if dir.head == NIL {
            dir.tail = key.index();
        } else {
            self.nodes.at_mut(dir.head).prev = key.index();
        }
        dir.head = key.index();
        key
    }

    /// The state of a live waiter; refreshes the waker of a queued one.
    pub(crate) fn refresh(&mut self, key: Key, waker: &Waker) -> Option<WaiterState> {
        let node = self.nodes.get_mut(key)?;
        if node.state == WaiterState::Queued {
            match &node.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => node.waker = Some(waker.clone()),
            }
        }
        Some(node.state)
    }

    /// Removes a waiter, unlinking it if queued. Returns its state.
    pub(crate) fn remove(&mut self, dir: &mut Direction, key: Key) -> Option<WaiterState> {
        let node = self.nodes.remove(key)?;
        if node.state == WaiterState::Queued {
            if node.prev == NIL {
                dir.head = node.next;
            } else {
                self.nodes.at_mut(node.prev).next = node.next;
            }
            if node.next == NIL {
                dir.tail = node.prev;
            } else {
                self.nodes.at_mut(node.next).prev = node.prev;
            }
        }
        Some(node.state)
    }

    /// Pops the head waiter, marks it notified and hands out its waker.
    fn notify_head(&mut self, dir: &mut Direction, wakes: &mut Vec<Waker>) -> bool {
        if dir.head == NIL {
            return false;
        }
        let index = dir.head;
        let node = self.nodes.at_mut(index);
        dir.head = node.next;
        node.state = WaiterState::Notified;
        node.prev = NIL;
        node.next = NIL;
        if let Some(w) = node.waker.take() {
            wakes.push(w);
        }
        if dir.head == NIL {
            dir.tail = NIL;
        } else {
            self.nodes.at_mut(dir.head).prev = NIL;
        }
        true
    }

    /// An edge (EPOLLIN or EPOLLOUT) for `dir`.
    pub(crate) fn on_edge(&mut self, dir: &mut Direction, wakes: &mut Vec<Waker>) {
        let had_poll = !dir.poll_wakers.is_empty();
        wakes.append(&mut dir.poll_wakers);
        if !self.notify_head(dir, wakes) || had_poll {
            dir.readiness = Readiness::Ready;
        }
    }

    /// Hangup or error: everyone must look at the fd.
    pub(crate) fn notify_all(&mut self, dir: &mut Direction, wakes: &mut Vec<Waker>) {
        wakes.append(&mut dir.poll_wakers);
        while self.notify_head(dir, wakes) {}
        dir.readiness = Readiness::Ready;
    }

    /// A notified waiter made progress or left unused: readiness goes to the next waiter.
    pub(crate) fn pass_on(&mut self, dir: &mut Direction, wakes: &mut Vec<Waker>) {
        if !self.notify_head(dir, wakes) {
            dir.readiness = Readiness::Ready;
        }
    }

    /// Frees every waiter of a direction being torn down. Their futures keep stale keys,
    /// which find nothing, so nothing leaks even if such a future outlives its registration.
    pub(crate) fn clear(&mut self, dir: &mut Direction) {
        while dir.head != NIL {
            let index = dir.head;
            dir.head = self.nodes.at_mut(index).next;
            if let Some(key) = self.nodes.key_at(index) {
                self.nodes.remove(key);
            }
        }
        dir.tail = NIL;
        dir.poll_wakers.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }
    fn wake_all(v: &mut Vec<Waker>) {
        v.drain(..).for_each(Waker::wake);
    }

    #[test]
    fn fifo_one_per_edge() {
        let mut ws = Waiters::new();
        let mut d = Direction::new();
        let (c1, w1) = waker();
        let (c2, w2) = waker();
        let (c3, w3) = waker();
        let k1 = ws.enqueue(&mut d, &w1);
        let k2 = ws.enqueue(&mut d, &w2);
        let _k3 = ws.enqueue(&mut d, &w3);
        let mut wakes = Vec::new();
        ws.on_edge(&mut d, &mut wakes);
        wake_all(&mut wakes);
        assert_eq!(c1.0.load(Ordering::SeqCst), 1);
        assert_eq!(c2.0.load(Ordering::SeqCst), 0);
        assert_eq!(ws.refresh(k1, &w1), Some(WaiterState::Notified));
        assert_eq!(ws.refresh(k2, &w2), Some(WaiterState::Queued));
        // The notified waiter is dropped unused: the baton goes to the next one.
        assert_eq!(ws.remove(&mut d, k1), Some(WaiterState::Notified));
        ws.pass_on(&mut d, &mut wakes);
        wake_all(&mut wakes);
        assert_eq!(c2.0.load(Ordering::SeqCst), 1);
        assert_eq!(c3.0.load(Ordering::SeqCst), 0);
        assert_eq!(d.readiness, Readiness::Unknown);
    }

    #[test]
    fn edge_without_waiters_is_remembered() {
        let mut ws = Waiters::new();
        let mut d = Direction::new();
        d.readiness = Readiness::NotReady;
        let mut wakes = Vec::new();
        ws.on_edge(&mut d, &mut wakes);
        assert!(wakes.is_empty());
        assert_eq!(d.readiness, Readiness::Ready);
    }

    #[test]
    fn remove_from_middle_keeps_order() {
        let mut ws = Waiters::new();
        let mut d = Direction::new();
        let (_, w) = waker();
        let keys: Vec<_> = (0..5).map(|_| ws.enqueue(&mut d, &w)).collect();
        ws.remove(&mut d, keys[2]);
        ws.remove(&mut d, keys[0]);
        ws.remove(&mut d, keys[4]);
        let mut wakes = Vec::new();
        ws.on_edge(&mut d, &mut wakes);
        assert_eq!(ws.refresh(keys[1], &w), Some(WaiterState::Notified));
        assert_eq!(ws.refresh(keys[3], &w), Some(WaiterState::Queued));
        ws.on_edge(&mut d, &mut wakes);
        assert_eq!(ws.refresh(keys[3], &w), Some(WaiterState::Notified));
        assert!(!d.has_queued());
        ws.remove(&mut d, keys[1]);
        ws.remove(&mut d, keys[3]);
        assert_eq!(ws.len(), 0);
    }

    #[test]
    fn enqueue_front_goes_first() {
        let mut ws = Waiters::new();
        let mut d = Direction::new();
        let (_, w) = waker();
        let a = ws.enqueue(&mut d, &w);
        let b = ws.enqueue_front(&mut d, &w);
        let mut wakes = Vec::new();
        ws.on_edge(&mut d, &mut wakes);
        assert_eq!(ws.refresh(b, &w), Some(WaiterState::Notified));
        assert_eq!(ws.refresh(a, &w), Some(WaiterState::Queued));
        ws.remove(&mut d, a);
        let c = ws.enqueue_front(&mut d, &w);
        ws.on_edge(&mut d, &mut wakes);
        assert_eq!(ws.refresh(c, &w), Some(WaiterState::Notified));
    }

    #[test]
    fn poll_wakers_and_hangup() {
        let mut ws = Waiters::new();
        let mut d = Direction::new();
        d.readiness = Readiness::NotReady;
        let (c, w) = waker();
        d.add_poll_waker(&w);
        d.add_poll_waker(&w);
        let k = ws.enqueue(&mut d, &w);
        let k2 = ws.enqueue(&mut d, &w);
        let mut wakes = Vec::new();
        ws.on_edge(&mut d, &mut wakes);
        assert_eq!(wakes.len(), 2, "one poll waker (deduplicated) and the head");
        assert_eq!(d.readiness, Readiness::Ready);
        wake_all(&mut wakes);
        assert_eq!(c.0.load(Ordering::SeqCst), 2);
        ws.notify_all(&mut d, &mut wakes);
        assert_eq!(wakes.len(), 1);
        assert_eq!(ws.refresh(k, &w), Some(WaiterState::Notified));
        assert_eq!(ws.refresh(k2, &w), Some(WaiterState::Notified));
    }
}
