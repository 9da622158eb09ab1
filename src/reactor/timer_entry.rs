//! `TimerEntry`: a timer future's hold on one timer of one reactor.
//!
//! `Sleep` and `Timeout` keep one of these and never see a reactor: the entry alone knows which
//! reactor armed its timer, and it alone reaches that reactor's timer store. A future polled,
//! reset or dropped on another thread than the one that armed it is handled here, once: the
//! store is touched only on its own thread, anywhere else the entry leaves a note through
//! [`remote`](super::remote).

use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::{Reactor, clock, remote};
use crate::slab::Key;

/// [`TimerEntry::state`] with no timer armed.
const UNARMED: u64 = 0;
/// [`TimerEntry::state`] once the timer has fired. Reactor ids count up from 1 and never get
/// here.
const DONE: u64 = u64::MAX;

/// One timer, unarmed, armed on some reactor, or done; its drop cancels it.
#[derive(Debug)]
pub(crate) struct TimerEntry {
    /// `UNARMED`, `DONE`, or the id of the reactor where `key` is armed: one word for what
    /// would otherwise be an `Option` and a flag, which keeps a `Sleep` at 32 bytes.
    state: u64,
    key: Key,
}

impl TimerEntry {
    /// An entry with no timer armed.
    #[inline]
    pub(crate) fn new() -> TimerEntry {
        TimerEntry {
            state: UNARMED,
            key: Key::from_u64(0),
        }
    }

    /// Whether the timer has fired (or its deadline had passed when it was to be armed).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.state == DONE
    }

    /// The key of this entry's timer if it is armed on `r`.
    #[inline]
    fn key_on(&self, r: &mut Reactor) -> Option<Key> {
        key_on(r, self.state, self.key)
    }

    /// Ready once the timer has fired; else pending with `waker` to be woken when it does.
    /// `None` if there is no timer to wait on: never armed, cancelled, or armed on another
    /// thread's reactor (which is told to cancel it: the caller arms afresh here).
    #[inline]
    pub(crate) fn poll_armed(&mut self, waker: &Waker) -> Option<Poll<()>> {
        match self.state {
            DONE => Some(Poll::Ready(())),
            UNARMED => None,
            _ => self.refresh(waker),
        }
    }

    /// [`poll_armed`](Self::poll_armed) of an armed timer: refreshes its waker. Apart, so that
    /// the check above is inlined where the compiler would leave the whole out of line: the
    /// first poll of a `timeout` then pays no call to learn that nothing is armed yet.
    fn refresh(&mut self, waker: &Waker) -> Option<Poll<()>> {
        let refreshed = super::with(|r| self.key_on(r).map(|key| r.timers.refresh(key, waker)));
        match refreshed {
            // Not found: it fired.
            Some(None) => {
                self.state = DONE;
                Some(Poll::Ready(()))
            }
            // After the reactor's borrow: a waker's drop is code we do not control.
            Some(Some(replaced)) => {
                drop(replaced);
                Some(Poll::Pending)
            }
            None => {
                self.cancel();
                None
            }
        }
    }

    /// Waits for `deadline`: arms the timer on this thread's reactor at the first call (and
    /// after a move to another thread or a [`reset`](Self::reset) that disarmed it), then
    /// refreshes its waker. Ready at once if the deadline has passed.
    #[inline]
    pub(crate) fn poll_until(&mut self, deadline: Instant, waker: &Waker) -> Poll<()> {
        if let Some(p) = self.poll_armed(waker) {
            return p;
        }
        let done = super::with(|r| {
            if deadline <= clock::now() {
                return true;
            }
            self.key = r.timers.insert(deadline, waker);
            self.state = r.id();
            false
        });
        if done {
            self.state = DONE;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Stages the timer on this thread's reactor: its deadline is `after` from that reactor's
    /// next clock reading (its next turn, or [`stamp_staged`](Self::stamp_staged)). Wait on it
    /// with [`poll_armed`](Self::poll_armed). A timer armed before is cancelled.
    #[inline]
    pub(crate) fn stage(&mut self, after: Duration, waker: &Waker) {
        if self.state != UNARMED {
            self.cancel();
        }
        super::with(|r| {
            self.key = r.timers.stage(after, waker);
            self.state = r.id();
        });
    }

    /// Moves the deadline, reusing the armed timer if it is this thread's and still pending.
    /// Otherwise the entry is left unarmed, so the next [`poll_until`](Self::poll_until) arms
    /// the new deadline (or completes at once if it has passed). A timer armed on another
    /// thread's reactor is cancelled there at its next turn, which also wakes the task waiting
    /// on it: it polls again and arms the new deadline, earlier or later, instead of sleeping
    /// until the old one. A done entry becomes unarmed. Not for staged timers.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        match self.state {
            UNARMED => return,
            DONE => {
                self.state = UNARMED;
                return;
            }
            _ => {}
        }
        let kept = deadline > clock::now()
            && super::try_with(|r| {
                self.key_on(r)
                    .is_some_and(|key| r.timers.reset(key, deadline))
            }) == Some(true);
        if !kept {
            self.cancel();
        }
    }

    /// Disarms the timer. On another thread than its reactor's (or while this thread's reactor
    /// is gone, as the thread exits), that reactor cancels it at its next turn and wakes its
    /// waker.
    #[inline]
    pub(crate) fn cancel(&mut self) {
        let (state, key) = (self.state, self.key);
        self.state = UNARMED;
        if state != UNARMED && state != DONE {
            cancel_armed(state, key);
        }
    }

    /// Gives the timers staged on this thread's reactor their deadlines now, so that a clock
    /// about to jump does not start them late.
    pub(crate) fn stamp_staged() {
        super::try_with(|r| r.timers.stamp(clock::now()));
    }
}

impl Drop for TimerEntry {
    #[inline]
    fn drop(&mut self) {
        // Not `cancel`: it would write to a value about to go. The check is inlined, so the
        // drop of a timeout whose future was ready at once compiles to nothing.
        if self.state != UNARMED && self.state != DONE {
            cancel_armed(self.state, self.key);
        }
    }
}

/// The key of timer `key` of reactor `state` if that is `r`. The one place that decides
/// whether a timer belongs to this thread's reactor: an unarmed or done entry never matches,
/// as no reactor id is `UNARMED` or `DONE`.
#[inline]
fn key_on(r: &mut Reactor, state: u64, key: Key) -> Option<Key> {
    (state == r.id()).then_some(key)
}

/// Cancels timer `key` armed on reactor `id`: in the store on that reactor's thread, else
/// through a note (`remote`). By value: a pointer into a future that reached a call left out
/// of line would keep the compiler from seeing through that future's state, and a `timeout`
/// whose future was ready at once would pay for storing all of it.
fn cancel_armed(id: u64, key: Key) {
    match super::try_with(|r| key_on(r, id, key).map(|key| r.timers.cancel(key))) {
        // This thread's timer (fired or not): its waker is dropped after the reactor's borrow.
        Some(Some(waker)) => drop(waker),
        // Another thread's timer, or this thread's reactor is gone (it is exiting).
        Some(None) | None => remote::cancel_remote(id, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::{park, timers_pending};
    use crate::test_wakers::counting;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn fits_in_two_words() {
        // With a 16-byte deadline beside it, a `Sleep` stays at 32 bytes.
        assert_eq!(size_of::<TimerEntry>(), 16);
    }

    #[test]
    fn arms_at_the_first_poll_and_drop_cancels() {
        let (count, waker) = counting();
        let before = timers_pending();
        let mut entry = TimerEntry::new();
        assert_eq!(entry.poll_armed(&waker), None);
        let deadline = clock::now() + HOUR;
        assert!(entry.poll_until(deadline, &waker).is_pending());
        assert_eq!(timers_pending(), before + 1);
        assert_eq!(entry.poll_armed(&waker), Some(Poll::Pending));
        assert!(entry.poll_until(deadline, &waker).is_pending());
        assert_eq!(timers_pending(), before + 1);
        drop(entry);
        assert_eq!(timers_pending(), before);
        assert_eq!(count.get(), 0);
    }

    #[test]
    fn a_passed_deadline_is_done_without_a_timer() {
        let (_, waker) = counting();
        let before = timers_pending();
        let mut entry = TimerEntry::new();
        assert!(entry.poll_until(clock::now(), &waker).is_ready());
        assert!(entry.is_done());
        assert_eq!(timers_pending(), before);
        // Done stays done, whatever deadline is asked for, until a reset.
        assert!(entry.poll_until(clock::now() + HOUR, &waker).is_ready());
        entry.reset(clock::now() + HOUR);
        assert!(!entry.is_done());
        assert!(entry.poll_until(clock::now() + HOUR, &waker).is_pending());
    }

    #[test]
    fn fires_and_wakes() {
        let (count, waker) = counting();
        let mut entry = TimerEntry::new();
        let deadline = clock::now() + Duration::from_millis(1);
        while entry.poll_until(deadline, &waker).is_pending() {
            park(None).unwrap();
        }
        assert!(entry.is_done());
        assert!(count.get() >= 1);
    }

    #[test]
    fn reset_keeps_a_pending_timer_and_disarms_for_a_passed_deadline() {
        let (_, waker) = counting();
        let before = timers_pending();
        let mut entry = TimerEntry::new();
        assert!(entry.poll_until(clock::now() + HOUR, &waker).is_pending());
        entry.reset(clock::now() + 2 * HOUR);
        assert_eq!(entry.poll_armed(&waker), Some(Poll::Pending));
        assert_eq!(timers_pending(), before + 1);
        entry.reset(clock::now());
        assert_eq!(entry.poll_armed(&waker), None);
        assert_eq!(timers_pending(), before);
    }

    #[test]
    fn staged_timer_gets_its_deadline_from_a_stamp() {
        let (count, waker) = counting();
        let mut entry = TimerEntry::new();
        entry.stage(Duration::from_nanos(1), &waker);
        assert_eq!(entry.poll_armed(&waker), Some(Poll::Pending));
        TimerEntry::stamp_staged();
        while entry.poll_armed(&waker) == Some(Poll::Pending) {
            park(None).unwrap();
        }
        assert!(entry.is_done());
        assert_eq!(count.get(), 1);
    }

    #[test]
    fn dropped_on_another_thread_is_cancelled_by_its_reactor() {
        let (count, waker) = counting();
        let before = timers_pending();
        let mut entry = TimerEntry::new();
        assert!(entry.poll_until(clock::now() + HOUR, &waker).is_pending());
        std::thread::spawn(move || drop(entry)).join().unwrap();
        // The note is left; the owner's next turn, unparked by it, cancels and wakes.
        assert_eq!(timers_pending(), before + 1);
        park(Some(Duration::ZERO)).unwrap();
        assert_eq!(timers_pending(), before);
        assert_eq!(count.get(), 1);
    }

    #[test]
    fn polled_on_another_thread_arms_there_and_cancels_here() {
        let (count, waker) = counting();
        let before = timers_pending();
        let mut entry = TimerEntry::new();
        let deadline = clock::now() + HOUR;
        assert!(entry.poll_until(deadline, &waker).is_pending());
        let w = waker.clone();
        std::thread::spawn(move || {
            assert!(entry.poll_until(deadline, &w).is_pending());
            assert_eq!(timers_pending(), 1);
            drop(entry);
            assert_eq!(timers_pending(), 0);
        })
        .join()
        .unwrap();
        park(Some(Duration::ZERO)).unwrap();
        assert_eq!(timers_pending(), before);
        assert_eq!(count.get(), 1);
    }
}
