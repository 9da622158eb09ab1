//! One turn of the reactor: fire due timers, wait for events, dispatch them, fire timers again.
//!
//! The turn only *collects* wakers; [`park`](super::park) wakes them after the reactor's borrow
//! has ended, because a waker may re-enter the reactor.

use std::io;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::registration::Slot;
use super::{Reactor, clock};
use crate::slab::{Key, Slab};
use crate::sys::epoll::{ERR, HUP, IN, OUT, PRI, RDHUP};

/// `epoll_event.data` of the unpark eventfd. Slot keys never reach it: that would take slot
/// index `u32::MAX`, which the slab never hands out.
pub(super) const UNPARK_TAG: u64 = u64::MAX;

impl Reactor {
    pub(super) fn turn(
        &mut self,
        timeout: Option<Duration>,
        wakes: &mut Vec<Waker>,
    ) -> io::Result<()> {
        // 1. Timers already due.
        let mut next_timer = None;
        if !self.timers.is_empty() {
            let now = clock::now();
            self.fire_timers(now, wakes);
            next_timer = self
                .timers
                .next_deadline()
                .map(|next| (next, next.saturating_duration_since(now)));
        }
        if !self.deferred.is_empty() {
            wakes.append(&mut self.deferred);
        }
        // The doorbell must exist before we read its flag: an unpark that finds no eventfd
        // sets the flag without writing, and the flag, once set, suppresses every later write.
        self.check_sys()?;
        let unparked = self.unpark.as_ref().is_some_and(|u| u.is_notified());
        // 2. How long epoll may block: until the earliest timer or the caller's limit, and not
        //    at all if someone is runnable already.
        let runnable = !wakes.is_empty() || unparked;
        let mut wait = match (timeout, next_timer) {
            _ if runnable => Some(Duration::ZERO),
            (Some(t), Some((_, until))) => Some(t.min(until)),
            (None, Some((_, until))) => Some(until),
            (t, None) => t,
        };
        // With a paused clock, time does not pass while we block: an idle reactor looks for
        // I/O without blocking, and if there is none, jumps the clock to the next timer.
        let jump = match next_timer {
            Some((deadline, until))
                if !runnable && clock::is_paused() && timeout.is_none_or(|t| until <= t) =>
            {
                wait = Some(Duration::ZERO);
                Some(deadline)
            }
            _ => None,
        };
        // 3. Wait and dispatch.
        let doorbell = self.wait_and_dispatch(wait, wakes)?;
        if doorbell || unparked {
            self.after_unpark(wakes);
        }
        if let Some(deadline) = jump {
            if wakes.is_empty() && !doorbell {
                clock::advance_to(deadline);
            }
        }
        // 4. Timers that came due while we waited.
        if !self.timers.is_empty() {
            self.fire_timers(clock::now(), wakes);
        }
        if !self.deferred.is_empty() {
            wakes.append(&mut self.deferred);
        }
        self.stats.wakeups += wakes.len() as u64;
        Ok(())
    }

    /// A turn that was unparked: drains the doorbell, then cancels the timers other threads
    /// reset or dropped (only such a turn looks) and collects their wakers. Out of line: a
    /// round trip on one thread never rings the doorbell.
    #[inline(never)]
    fn after_unpark(&mut self, wakes: &mut Vec<Waker>) {
        let Some(unpark) = &self.unpark else {
            return;
        };
        if let Some(efd) = unpark.eventfd() {
            // Drain, *then* clear: an unpark in between is absorbed by this return.
            let _ = efd.drain();
        }
        unpark.clear();
        for key in unpark.remote().take() {
            if let Some(waker) = self.timers.cancel(key) {
                wakes.push(waker);
            }
        }
    }

    /// One `epoll_wait`; routes the events to waiters. `true` if the doorbell rang. The caller
    /// has run `check_sys`.
    fn wait_and_dispatch(
        &mut self,
        wait: Option<Duration>,
        wakes: &mut Vec<Waker>,
    ) -> io::Result<bool> {
        let Some(sys) = &mut self.sys else {
            unreachable!("geode: check_sys leaves the epoll instance in place")
        };
        self.stats.epoll_wait_calls += 1;
        sys.epoll.wait(&mut sys.events, wait)?;
        let mut doorbell = false;
        for (events, data) in sys.events.iter() {
            if data == UNPARK_TAG {
                doorbell = true;
            } else {
                dispatch(&self.slots, Key::from_u64(data), events, wakes);
            }
        }
        Ok(doorbell)
    }

    fn fire_timers(&mut self, now: Instant, wakes: &mut Vec<Waker>) {
        let fired = self.timers.fire_due(now, wakes);
        self.stats.timers_fired += fired as u64;
    }
}

/// Routes one event to the waiters of its slot. Events for a freed or reused slot (its
/// generation differs) are ignored.
fn dispatch(slots: &Slab<Slot>, key: Key, events: u32, wakes: &mut Vec<Waker>) {
    let Some(slot) = slots.get(key) else {
        return;
    };
    let [read, write] = slot.state.dirs();
    if events & (HUP | RDHUP | PRI) != 0 {
        read.short_not_drained.set(true);
    }
    if events & HUP != 0 {
        write.short_not_drained.set(true);
    }
    if events & (ERR | HUP) != 0 {
        // Everyone must look. Readiness is set, not made sticky: an operation that then gets
        // EAGAIN (a UDP socket after its transient ICMP error was read) clears it again.
        read.notify_all(wakes);
        write.notify_all(wakes);
        return;
    }
    if events & RDHUP != 0 {
        read.notify_all(wakes);
    } else if events & (IN | PRI) != 0 {
        read.on_edge(wakes);
    }
    if events & OUT != 0 {
        write.on_edge(wakes);
    }
}
