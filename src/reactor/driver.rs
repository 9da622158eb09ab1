//! One turn of the reactor: fire due timers, wait for events, dispatch them, fire timers again.
//!
//! The turn only *collects* wakers; [`park`](super::park) wakes them after the reactor's borrow
//! has ended, because a waker may re-enter the reactor.

use std::io;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::Reactor;
use super::waiters::Waiters;
use crate::slab::{Key, Slab};
use crate::sys::epoll::{ERR, HUP, IN, OUT, RDHUP};

/// `epoll_event.data` of the unpark eventfd. Slot keys never reach it: that would take slot
/// index `u32::MAX`, which the slab never hands out.
pub(super) const UNPARK_TAG: u64 = u64::MAX;

impl Reactor {
    pub(super) fn turn(
        &mut self,
        timeout: Option<Duration>,
        wakes: &mut Vec<Waker>,
    ) -> io::Result<()> {
        let mut timeout = timeout;
        if !self.timers.is_empty() {
            let now = Instant::now();
            self.fire_timers(now, wakes);
            if let Some(next) = self.timers.next_deadline() {
                let until = next.saturating_duration_since(now);
                timeout = Some(timeout.map_or(until, |t| t.min(until)));
            }
        }
        wakes.append(&mut self.deferred);
        let unpark = self.unpark_shared().clone();
        let unparked = unpark.is_notified();
        if !wakes.is_empty() || unparked {
            // Someone is runnable already: look at the fds, but do not sleep.
            timeout = Some(Duration::ZERO);
        }
        self.check_sys()?;
        let Some(sys) = &mut self.sys else {
            unreachable!("geode: check_sys leaves the epoll instance in place")
        };
        self.stats.epoll_wait_calls += 1;
        let res = sys.epoll.wait(&mut sys.events, timeout);
        let mut doorbell = false;
        if res.is_ok() {
            for (events, data) in sys.events.iter() {
                if data == UNPARK_TAG {
                    doorbell = true;
                } else {
                    dispatch(
                        &mut self.slots,
                        &mut self.waiters,
                        Key::from_u64(data),
                        events,
                        wakes,
                    );
                }
            }
        }
        if doorbell || unparked {
            if let Some(efd) = unpark.eventfd() {
                // Drain, *then* clear: an unpark in between is absorbed by this return.
                let _ = efd.drain();
            }
            unpark.clear();
        }
        if !self.timers.is_empty() {
            self.fire_timers(Instant::now(), wakes);
        }
        wakes.append(&mut self.deferred);
        self.stats.wakeups += wakes.len() as u64;
        res.map(drop)
    }

    fn fire_timers(&mut self, now: Instant, wakes: &mut Vec<Waker>) {
        let fired = self.timers.fire_due(now, wakes);
        self.stats.timers_fired += fired as u64;
    }

    /// Arms a timer; the key is valid until the timer fires or is cancelled.
    pub(crate) fn timer_insert(&mut self, deadline: Instant, waker: &Waker) -> Key {
        self.timers.insert(deadline, waker)
    }

    /// `false` if the timer has fired.
    pub(crate) fn timer_refresh(&mut self, key: Key, waker: &Waker) -> bool {
        self.timers.refresh(key, waker)
    }

    pub(crate) fn timer_cancel(&mut self, key: Key) -> bool {
        self.timers.cancel(key)
    }

    /// `false` if the timer has fired.
    pub(crate) fn timer_reset(&mut self, key: Key, deadline: Instant) -> bool {
        self.timers.reset(key, deadline)
    }
}

/// Routes one event to the waiters of its slot. Events for a freed or reused slot (its
/// generation differs) are ignored.
fn dispatch(
    slots: &mut Slab<super::registration::Slot>,
    waiters: &mut Waiters,
    key: Key,
    events: u32,
    wakes: &mut Vec<Waker>,
) {
    let Some(slot) = slots.get_mut(key) else {
        return;
    };
    let [read, write] = slot.dirs_mut();
    if events & (ERR | HUP) != 0 {
        // Everyone must look. Readiness is set, not made sticky: an operation that then gets
        // EAGAIN (a UDP socket after its transient ICMP error was read) clears it again.
        waiters.notify_all(read, wakes);
        waiters.notify_all(write, wakes);
        return;
    }
    if events & RDHUP != 0 {
        waiters.notify_all(read, wakes);
    } else if events & IN != 0 {
        waiters.on_edge(read, wakes);
    }
    if events & OUT != 0 {
        waiters.on_edge(write, wakes);
    }
}
