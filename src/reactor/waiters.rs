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
//! Readiness and the head waiter live in `Cell`s, so the round trip's operations (the fd may be
//! ready, or one waiter joins an empty line, or an edge wakes a lone waiter) borrow nothing.
//! Only a crowded direction (a second waiter, or poll wakers) uses the `RefCell` behind, and no
//! borrow of it is held while a waker is woken, dropped or any other code runs: notified wakers
//! are handed out to be woken by the caller.

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

/// `head_ticket` of a direction nobody is queued in (tickets count up from 0 and never get
/// here).
const NOBODY: Ticket = Ticket::MAX;

struct Entry {
    ticket: Ticket,
    waker: Waker,
}

/// What only crowded directions need: waiters after the head (in ticket order), and poll
/// wakers.
#[derive(Default)]
struct Overflow {
    rest: VecDeque<Entry>,
    poll_wakers: Vec<Waker>,
}

impl Overflow {
    fn is_empty(&self) -> bool {
        self.rest.is_empty() && self.poll_wakers.is_empty()
    }
}

/// The waiters of a torn-down direction, dropped (unwoken) by whoever holds this.
pub(crate) struct Cleared {
    _head: Option<Waker>,
    _overflow: Option<Box<Overflow>>,
}

pub(crate) struct DirState {
    pub(crate) readiness: Cell<Readiness>,
    /// Whether a short stream transfer proves the fd drained. Cleared for good once a hangup
    /// (EPOLLRDHUP/EPOLLHUP) or urgent data (EPOLLPRI) is seen: EOF, or data past the urgent
    /// mark, may still be queued, and no further edge would announce it.
    pub(crate) short_means_drained: Cell<bool>,
    /// The oldest queued waiter (`NOBODY` if none) and its waker (`Some` exactly when a
    /// ticket is there). Waiters after it are in `overflow.rest`, so `rest` is empty while
    /// nobody heads the line.
    head_ticket: Cell<Ticket>,
    head_waker: Cell<Option<Waker>>,
    next_ticket: Cell<Ticket>,
    /// `overflow` holds anyone: derived from it by [`edit`](DirState::edit), the only way it
    /// changes, so an edge never takes a crowded direction for a lone waiter's.
    crowded: Cell<bool>,
    /// Allocated on first need and kept (a direction that was crowded once may be again).
    overflow: RefCell<Option<Box<Overflow>>>,
}

impl DirState {
    pub(crate) const fn new() -> DirState {
        DirState {
            readiness: Cell::new(Readiness::Unknown),
            short_means_drained: Cell::new(true),
            head_ticket: Cell::new(NOBODY),
            head_waker: Cell::new(None),
            next_ticket: Cell::new(0),
            crowded: Cell::new(false),
            overflow: RefCell::new(None),
        }
    }

    #[cfg(test)]
    pub(crate) fn has_queued(&self) -> bool {
        self.head_ticket.get() != NOBODY
    }

    /// The one way the overflow changes: `crowded` is derived from it here. What `f` returns
    /// (wakers to drop or wake) outlives the borrow.
    fn edit<R>(&self, f: impl FnOnce(&mut Overflow) -> R) -> R {
        let mut o = self.overflow.borrow_mut();
        let o = o.get_or_insert_with(Box::default);
        let out = f(o);
        self.crowded.set(!o.is_empty());
        out
    }

    /// Puts `(ticket, waker)` at the head of an empty line.
    #[inline]
    fn set_head(&self, ticket: Ticket, waker: &Waker) {
        self.head_ticket.set(ticket);
        // Nobody was queued, so the slot is empty: nothing is dropped here.
        self.head_waker.set(Some(waker.clone()));
    }

    /// Takes the head waiter out of line (it is now notified) and hands out its waker; the
    /// next waiter, if any, moves up. Always inlined: an edge's wake-up is this and a push.
    #[inline(always)]
    fn pop_head(&self) -> Option<Waker> {
        if self.head_ticket.get() == NOBODY {
            return None;
        }
        let waker = self.head_waker.take();
        if self.crowded.get() {
            self.pop_head_crowded();
        } else {
            self.head_ticket.set(NOBODY);
        }
        waker
    }

    #[inline(never)]
    fn pop_head_crowded(&self) {
        match self.edit(|o| o.rest.pop_front()) {
            Some(next) => {
                self.head_ticket.set(next.ticket);
                self.head_waker.set(Some(next.waker));
            }
            None => self.head_ticket.set(NOBODY),
        }
    }

    /// Queues a new waiter at the tail.
    #[inline]
    pub(crate) fn enqueue(&self, waker: &Waker) -> Ticket {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        if self.head_ticket.get() == NOBODY {
            self.set_head(ticket, waker);
        } else {
            self.enqueue_behind(ticket, waker);
        }
        ticket
    }

    #[inline(never)]
    fn enqueue_behind(&self, ticket: Ticket, waker: &Waker) {
        let entry = Entry {
            ticket,
            waker: waker.clone(),
        };
        self.edit(|o| o.rest.push_back(entry));
    }

    /// Puts a notified waiter that got `EAGAIN` back in line, in its old place (the line is
    /// kept in ticket order). Out of line: the round trip never takes it.
    #[inline(never)]
    pub(crate) fn requeue(&self, ticket: Ticket, waker: &Waker) {
        let head = self.head_ticket.get();
        if head == NOBODY {
            self.set_head(ticket, waker);
        } else if ticket < head {
            // It goes first; the old head becomes the first of the rest.
            let old = Entry {
                ticket: head,
                waker: self
                    .head_waker
                    .replace(Some(waker.clone()))
                    .expect("geode: a queued head has a waker"),
            };
            self.head_ticket.set(ticket);
            self.edit(|o| o.rest.push_front(old));
        } else {
            let entry = Entry {
                ticket,
                waker: waker.clone(),
            };
            self.edit(|o| {
                let at = o.rest.partition_point(|e| e.ticket < ticket);
                o.rest.insert(at, entry);
            });
        }
    }

    /// The state of a waiter; refreshes the waker of a queued one.
    #[inline]
    pub(crate) fn refresh(&self, ticket: Ticket, waker: &Waker) -> WaiterState {
        if self.head_ticket.get() == ticket {
            let old = self.head_waker.take();
            let keep = matches!(&old, Some(w) if w.will_wake(waker));
            if keep {
                self.head_waker.set(old);
            } else {
                self.head_waker.set(Some(waker.clone()));
                // The old waker is dropped here, with the line consistent (its drop is code
                // we do not control).
                drop(old);
            }
            return WaiterState::Queued;
        }
        // Not at the head, and nobody behind it: the usual waiter polled after its wake-up.
        if !self.crowded.get() {
            return WaiterState::Notified;
        }
        self.refresh_in_rest(ticket, waker)
    }

    fn refresh_in_rest(&self, ticket: Ticket, waker: &Waker) -> WaiterState {
        // Only a waker changes, never who is queued: no `edit` needed.
        let mut o = self.overflow.borrow_mut();
        let Some(rest) = o.as_mut().map(|o| &mut o.rest) else {
            return WaiterState::Notified;
        };
        let Ok(i) = rest.binary_search_by_key(&ticket, |e| e.ticket) else {
            return WaiterState::Notified;
        };
        let e = &mut rest[i];
        let old =
            (!e.waker.will_wake(waker)).then(|| std::mem::replace(&mut e.waker, waker.clone()));
        // The old waker is dropped after the borrow ends.
        drop(o);
        drop(old);
        WaiterState::Queued
    }

    /// Takes a waiter out of line. Returns the state it was in.
    pub(crate) fn remove(&self, ticket: Ticket) -> WaiterState {
        if self.head_ticket.get() == ticket {
            // Dropped here, outside any borrow.
            drop(self.pop_head());
            return WaiterState::Queued;
        }
        if !self.crowded.get() {
            return WaiterState::Notified;
        }
        let removed = self.edit(|o| {
            o.rest
                .binary_search_by_key(&ticket, |e| e.ticket)
                .ok()
                .and_then(|i| o.rest.remove(i))
        });
        // The waker (if any) is dropped here, after the borrow.
        match removed {
            Some(_) => WaiterState::Queued,
            None => WaiterState::Notified,
        }
    }

    /// Records the waker of a `poll_*` caller (once per task).
    pub(crate) fn add_poll_waker(&self, waker: &Waker) {
        self.edit(|o| {
            if !o.poll_wakers.iter().any(|w| w.will_wake(waker)) {
                o.poll_wakers.push(waker.clone());
            }
        });
    }

    /// An edge (EPOLLIN or EPOLLOUT): wakes the head waiter, or, with nobody waiting, leaves
    /// the fd `Ready` for the next operation to try.
    #[inline]
    pub(crate) fn on_edge(&self, wakes: &mut Vec<Waker>) {
        if self.crowded.get() {
            return self.on_edge_crowded(wakes);
        }
        match self.pop_head() {
            Some(w) => wakes.push(w),
            None => self.readiness.set(Readiness::Ready),
        }
    }

    #[inline(never)]
    fn on_edge_crowded(&self, wakes: &mut Vec<Waker>) {
        let had_poll = self.take_poll_wakers(wakes);
        match self.pop_head() {
            // Poll wakers have no notified state of their own: they must try.
            Some(w) => {
                wakes.push(w);
                if had_poll {
                    self.readiness.set(Readiness::Ready);
                }
            }
            None => self.readiness.set(Readiness::Ready),
        }
    }

    /// Moves the poll wakers to `wakes`; `true` if there were any.
    fn take_poll_wakers(&self, wakes: &mut Vec<Waker>) -> bool {
        if !self.crowded.get() {
            return false;
        }
        self.edit(|o| {
            let any = !o.poll_wakers.is_empty();
            wakes.append(&mut o.poll_wakers);
            any
        })
    }

    /// Hangup or error: everyone must look at the fd.
    pub(crate) fn notify_all(&self, wakes: &mut Vec<Waker>) {
        self.take_poll_wakers(wakes);
        while let Some(w) = self.pop_head() {
            wakes.push(w);
        }
        self.readiness.set(Readiness::Ready);
    }

    /// A notified waiter made progress or left unused: readiness goes to the next waiter,
    /// whose waker is returned for the caller to wake.
    #[must_use]
    pub(crate) fn pass_on(&self) -> Option<Waker> {
        let next = self.pop_head();
        if next.is_none() {
            self.readiness.set(Readiness::Ready);
        }
        next
    }

    /// Empties a direction being torn down, returning what it held (for the caller to drop
    /// outside any borrow). Tickets still held look notified: their owners just try.
    pub(crate) fn clear(&self) -> Cleared {
        self.head_ticket.set(NOBODY);
        let head = self.head_waker.take();
        let overflow = self.overflow.borrow_mut().take();
        self.crowded.set(false);
        Cleared {
            _head: head,
            _overflow: overflow,
        }
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
        assert!(d.pop_head().is_some());
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
            assert!(d.pop_head().is_some());
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
