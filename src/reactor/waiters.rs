//! Per-direction readiness and FIFO waiter queues.
//!
//! Each registration has two [`DirState`]s (read, write). A direction holds:
//!
//! - `readiness`: whether the next operation should try its syscall:
//!   - `Unknown`: the fd is not (yet) in this epoll instance; try, and register on `EAGAIN`.
//!   - `Ready`: an edge arrived that no waiter consumed, or a waiter passed readiness on.
//!   - `NotReady`: the last try got `EAGAIN` (or a short read/write drained the fd). Implies the
//!     fd is registered in the current epoll instance, so an edge will come.
//! - a FIFO queue of future-style waiters (`read_with`, `readable`, `accept`, ...). A waiter is
//!   known by its [`Ticket`], handed out in arrival order, and the queue is kept sorted by
//!   ticket. The first waiter lives inline: the common case (one task per direction) touches
//!   no heap and no shared slab;
//! - `poll_wakers`: the wakers of `poll_*` callers, which have nowhere to keep a ticket.
//!
//! Waiter states: `Queued` (in the queue, waiting for an edge) and `Notified` (popped and woken:
//! it holds the "baton"). A ticket that is not in the queue was notified: its owner tries its
//! operation. A notified waiter that makes progress passes the baton to the next waiter (or
//! sets `Ready` if none); one that gets `EAGAIN` goes back into the queue with its old ticket,
//! so it keeps its place (the fd is drained, the next edge will wake the head); one that is
//! dropped unused passes it on. An edge wakes the head waiter and every poll waker; with poll
//! wakers present it also sets `Ready`, since they have no notified state of their own and must
//! try their syscall.
//!
//! Readiness lives in `Cell`s, so the common operation (the fd may be ready, no ticket held)
//! reads it without borrowing the queue. No borrow of a queue is held while a waker is woken
//! or any other code runs: notified wakers are handed out to be woken by the caller.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::task::Waker;

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

/// A waiter's place in line. Unique per direction, increasing with arrival.
pub(crate) type Ticket = u64;

struct Entry {
    ticket: Ticket,
    waker: Waker,
}

/// What only crowded directions need: waiters after the first, and poll wakers.
#[derive(Default)]
struct Overflow {
    rest: VecDeque<Entry>,
    poll_wakers: Vec<Waker>,
}

#[derive(Default)]
struct Queue {
    /// The oldest queued waiter; `None` only if nobody is queued.
    head: Option<Entry>,
    next_ticket: Ticket,
    /// Allocated on first need and kept (a direction that was crowded once may be again).
    overflow: Option<Box<Overflow>>,
}

/// The waiters of a torn-down direction, dropped (unwoken) by whoever holds this.
pub(crate) struct Cleared {
    _head: Option<Entry>,
    _overflow: Option<Box<Overflow>>,
}

pub(crate) struct DirState {
    pub(crate) readiness: Cell<Readiness>,
    /// Whether a short stream transfer proves the fd drained. Cleared for good once a hangup
    /// (EPOLLRDHUP/EPOLLHUP) or urgent data (EPOLLPRI) is seen: EOF, or data past the urgent
    /// mark, may still be queued, and no further edge would announce it.
    pub(crate) short_means_drained: Cell<bool>,
    /// Nobody to wake: no queued waiter and no poll waker. Lets an edge on a direction nobody
    /// waits on (the write side of a socket, most of the time) skip the queue. Derived from the
    /// queue by [`edit`](DirState::edit), the only way the queue is changed.
    idle: Cell<bool>,
    queue: RefCell<Queue>,
}

impl Queue {
    fn is_idle(&self) -> bool {
        self.head.is_none()
            && self
                .overflow
                .as_ref()
                .is_none_or(|o| o.poll_wakers.is_empty())
    }

    fn overflow(&mut self) -> &mut Overflow {
        self.overflow.get_or_insert_with(Box::default)
    }

    fn rest(&self) -> Option<&VecDeque<Entry>> {
        self.overflow.as_deref().map(|o| &o.rest)
    }

    /// Where `ticket` is queued: `Some(None)` at the head, `Some(Some(i))` at `rest[i]`.
    fn find(&self, ticket: Ticket) -> Option<Option<usize>> {
        let head = self.head.as_ref()?;
        if head.ticket == ticket {
            return Some(None);
        }
        let rest = self.rest()?;
        rest.binary_search_by_key(&ticket, |e| e.ticket)
            .ok()
            .map(Some)
    }

    /// Inserts in ticket order.
    fn insert(&mut self, entry: Entry) {
        match &mut self.head {
            None => self.head = Some(entry),
            Some(head) if entry.ticket < head.ticket => {
                let old = std::mem::replace(head, entry);
                self.overflow().rest.push_front(old);
            }
            Some(_) => {
                let rest = &mut self.overflow().rest;
                let at = rest.partition_point(|e| e.ticket < entry.ticket);
                rest.insert(at, entry);
            }
        }
    }

    #[inline]
    fn pop_head(&mut self) -> Option<Entry> {
        // `rest` is empty while `head` is: promoting its front is always right.
        let next = match &mut self.overflow {
            Some(o) => o.rest.pop_front(),
            None => None,
        };
        std::mem::replace(&mut self.head, next)
    }
}

impl DirState {
    pub(crate) const fn new() -> DirState {
        DirState {
            readiness: Cell::new(Readiness::Unknown),
            short_means_drained: Cell::new(true),
            idle: Cell::new(true),
            queue: RefCell::new(Queue {
                head: None,
                next_ticket: 0,
                overflow: None,
            }),
        }
    }

    #[cfg(test)]
    pub(crate) fn has_queued(&self) -> bool {
        self.queue.borrow().head.is_some()
    }

    /// The one way the queue changes: `idle` is derived from it here, so no change can
    /// leave the two disagreeing (an edge that believed a crowded direction idle would lose
    /// a wakeup). What `f` returns (wakers to drop or wake) outlives the borrow.
    #[inline]
    fn edit<R>(&self, f: impl FnOnce(&mut Queue) -> R) -> R {
        let mut q = self.queue.borrow_mut();
        let out = f(&mut q);
        self.idle.set(q.is_idle());
        out
    }

    /// Queues a new waiter at the tail.
    #[inline]
    pub(crate) fn enqueue(&self, waker: &Waker) -> Ticket {
        self.edit(|q| {
            let ticket = q.next_ticket;
            q.next_ticket += 1;
            let entry = Entry {
                ticket,
                waker: waker.clone(),
            };
            match q.head {
                None => q.head = Some(entry),
                Some(_) => q.overflow().rest.push_back(entry),
            }
            ticket
        })
    }

    /// Puts a notified waiter that got `EAGAIN` back in line, in its old place.
    pub(crate) fn requeue(&self, ticket: Ticket, waker: &Waker) {
        self.edit(|q| {
            q.insert(Entry {
                ticket,
                waker: waker.clone(),
            })
        });
    }

    /// The state of a waiter; refreshes the waker of a queued one.
    #[inline]
    pub(crate) fn refresh(&self, ticket: Ticket, waker: &Waker) -> WaiterState {
        // Nobody queued: the usual case of a waiter polled after its wake-up.
        if self.idle.get() {
            return WaiterState::Notified;
        }
        self.refresh_queued(ticket, waker)
    }

    fn refresh_queued(&self, ticket: Ticket, waker: &Waker) -> WaiterState {
        // Only a waker changes, never who is queued: no `edit` needed.
        let mut q = self.queue.borrow_mut();
        let entry = match q.find(ticket) {
            None => return WaiterState::Notified,
            Some(None) => q.head.as_mut(),
            Some(Some(i)) => q.overflow.as_mut().and_then(|o| o.rest.get_mut(i)),
        };
        let old = match entry {
            Some(e) if !e.waker.will_wake(waker) => {
                Some(std::mem::replace(&mut e.waker, waker.clone()))
            }
            _ => None,
        };
        // The old waker is dropped after the borrow ends (its drop is code we do not control).
        drop(q);
        drop(old);
        WaiterState::Queued
    }

    /// Takes a waiter out of line. Returns the state it was in.
    pub(crate) fn remove(&self, ticket: Ticket) -> WaiterState {
        let removed = self.edit(|q| match q.find(ticket) {
            None => None,
            Some(None) => Some(q.pop_head()),
            Some(Some(i)) => Some(q.overflow.as_mut().and_then(|o| o.rest.remove(i))),
        });
        // The waker (if any) is dropped here, after the borrow (its drop is foreign code).
        match removed {
            None => WaiterState::Notified,
            Some(_) => WaiterState::Queued,
        }
    }

    /// Records the waker of a `poll_*` caller (once per task).
    pub(crate) fn add_poll_waker(&self, waker: &Waker) {
        self.edit(|q| {
            let wakers = &mut q.overflow().poll_wakers;
            if !wakers.iter().any(|w| w.will_wake(waker)) {
                wakers.push(waker.clone());
            }
        });
    }

    /// Pops the head waiter (now notified) and hands out its waker.
    fn notify_head(&self) -> Option<Waker> {
        self.edit(Queue::pop_head).map(|e| e.waker)
    }

    /// An edge (EPOLLIN or EPOLLOUT).
    #[inline]
    pub(crate) fn on_edge(&self, wakes: &mut Vec<Waker>) {
        if self.idle.get() {
            self.readiness.set(Readiness::Ready);
        } else {
            self.on_edge_crowded(wakes);
        }
    }

    fn on_edge_crowded(&self, wakes: &mut Vec<Waker>) {
        let ready = self.edit(|q| {
            let had_poll = take_poll_wakers(q, wakes);
            match q.pop_head() {
                Some(e) => {
                    wakes.push(e.waker);
                    // Poll wakers have no notified state of their own: they must try.
                    had_poll
                }
                None => true,
            }
        });
        if ready {
            self.readiness.set(Readiness::Ready);
        }
    }

    /// Hangup or error: everyone must look at the fd.
    pub(crate) fn notify_all(&self, wakes: &mut Vec<Waker>) {
        self.edit(|q| {
            take_poll_wakers(q, wakes);
            while let Some(e) = q.pop_head() {
                wakes.push(e.waker);
            }
        });
        self.readiness.set(Readiness::Ready);
    }

    /// A notified waiter made progress or left unused: readiness goes to the next waiter,
    /// whose waker is returned for the caller to wake.
    #[must_use]
    pub(crate) fn pass_on(&self) -> Option<Waker> {
        let next = self.notify_head();
        if next.is_none() {
            self.readiness.set(Readiness::Ready);
        }
        next
    }

    /// Empties a direction being torn down, returning what it held (for the caller to drop
    /// outside any borrow). Tickets still held look notified: their owners just try.
    pub(crate) fn clear(&self) -> Cleared {
        self.edit(|q| Cleared {
            _head: q.head.take(),
            _overflow: q.overflow.take(),
        })
    }
}

/// Moves the poll wakers to `wakes`; `true` if there were any.
#[inline]
fn take_poll_wakers(q: &mut Queue, wakes: &mut Vec<Waker>) -> bool {
    match q.overflow.as_mut() {
        Some(o) if !o.poll_wakers.is_empty() => {
            wakes.append(&mut o.poll_wakers);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wakers::counting as waker;

    fn wake_all(v: &mut Vec<Waker>) {
        v.drain(..).for_each(Waker::wake);
    }

    #[test]
    fn fifo_one_per_edge() {
        let d = DirState::new();
        let (c1, w1) = waker();
        let (c2, w2) = waker();
        let (c3, w3) = waker();
        let k1 = d.enqueue(&w1);
        let k2 = d.enqueue(&w2);
        let _k3 = d.enqueue(&w3);
        let mut wakes = Vec::new();
        d.on_edge(&mut wakes);
        wake_all(&mut wakes);
        assert_eq!(c1.get(), 1);
        assert_eq!(c2.get(), 0);
        assert_eq!(d.refresh(k1, &w1), WaiterState::Notified);
        assert_eq!(d.refresh(k2, &w2), WaiterState::Queued);
        // The notified waiter is dropped unused: the baton goes to the next one.
        assert_eq!(d.remove(k1), WaiterState::Notified);
        d.pass_on().unwrap().wake();
        assert_eq!(c2.get(), 1);
        assert_eq!(c3.get(), 0);
        assert_eq!(d.readiness.get(), Readiness::Unknown);
    }

    #[test]
    fn edge_without_waiters_is_remembered() {
        let d = DirState::new();
        d.readiness.set(Readiness::NotReady);
        let mut wakes = Vec::new();
        d.on_edge(&mut wakes);
        assert!(wakes.is_empty());
        assert_eq!(d.readiness.get(), Readiness::Ready);
    }

    #[test]
    fn remove_from_middle_keeps_order() {
        let d = DirState::new();
        let (_, w) = waker();
        let keys: Vec<_> = (0..5).map(|_| d.enqueue(&w)).collect();
        assert_eq!(d.remove(keys[2]), WaiterState::Queued);
        assert_eq!(d.remove(keys[0]), WaiterState::Queued);
        assert_eq!(d.remove(keys[4]), WaiterState::Queued);
        let mut wakes = Vec::new();
        d.on_edge(&mut wakes);
        assert_eq!(d.refresh(keys[1], &w), WaiterState::Notified);
        assert_eq!(d.refresh(keys[3], &w), WaiterState::Queued);
        d.on_edge(&mut wakes);
        assert_eq!(d.refresh(keys[3], &w), WaiterState::Notified);
        assert!(!d.has_queued());
    }

    #[test]
    fn requeue_keeps_the_old_place() {
        let d = DirState::new();
        let (_, w) = waker();
        let a = d.enqueue(&w);
        let b = d.enqueue(&w);
        assert!(d.notify_head().is_some());
        // `a` was notified, got EAGAIN: it goes back ahead of `b`.
        d.requeue(a, &w);
        let mut wakes = Vec::new();
        d.on_edge(&mut wakes);
        assert_eq!(d.refresh(a, &w), WaiterState::Notified);
        assert_eq!(d.refresh(b, &w), WaiterState::Queued);
        // After a hangup both are notified; requeued in any order, they keep arrival order.
        d.notify_all(&mut wakes);
        d.requeue(b, &w);
        let c = d.enqueue(&w);
        d.requeue(a, &w);
        for expected in [a, b, c] {
            assert_eq!(d.refresh(expected, &w), WaiterState::Queued);
            assert!(d.notify_head().is_some());
            assert_eq!(d.refresh(expected, &w), WaiterState::Notified);
        }
        assert!(!d.has_queued());
    }

    #[test]
    fn poll_wakers_and_hangup() {
        let d = DirState::new();
        d.readiness.set(Readiness::NotReady);
        let (c, w) = waker();
        d.add_poll_waker(&w);
        d.add_poll_waker(&w);
        let k = d.enqueue(&w);
        let k2 = d.enqueue(&w);
        let mut wakes = Vec::new();
        d.on_edge(&mut wakes);
        assert_eq!(wakes.len(), 2, "one poll waker (deduplicated) and the head");
        assert_eq!(d.readiness.get(), Readiness::Ready);
        wake_all(&mut wakes);
        assert_eq!(c.get(), 2);
        d.notify_all(&mut wakes);
        assert_eq!(wakes.len(), 1);
        assert_eq!(d.refresh(k, &w), WaiterState::Notified);
        assert_eq!(d.refresh(k2, &w), WaiterState::Notified);
    }
}
