//! One turn of the reactor: fire due timers, wait for events, dispatch them, fire timers again.
//!
//! The turn only *collects* wakers, in the reactor's `wake_buf`; [`park`](super::park) wakes
//! them after the reactor's borrow has ended, because a waker may re-enter the reactor.

use std::io;
use std::time::{Duration, Instant};

use super::kernel::UNPARK_TAG;
use super::{Reactor, clock};
use crate::slab::Key;

impl Reactor {
    pub(super) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        // The doorbell must exist before we read its flag: an unpark that finds no eventfd
        // sets the flag without writing, and the flag, once set, suppresses every later write.
        self.kernel()?;
        let unparked = self.unpark.as_ref().is_some_and(|u| u.is_notified());
        // A round trip's turn has no timer, nothing deferred and nobody unparking: it waits
        // as long as it was asked to.
        let (wait, jump) = if self.timers.is_empty() && self.deferred.is_empty() && !unparked {
            (timeout, None)
        } else {
            self.before_wait(timeout, unparked)
        };
        let doorbell = self.wait_and_dispatch(wait)?;
        if doorbell || unparked {
            self.after_unpark();
        }
        if let Some(deadline) = jump {
            if self.wake_buf.is_empty() && !doorbell {
                clock::advance_to(deadline);
            }
        }
        // Timers that came due while we waited.
        if !self.timers.is_empty() {
            self.fire_timers(clock::now());
        }
        if !self.deferred.is_empty() {
            self.wake_buf.append(&mut self.deferred);
        }
        self.stats.wakeups += self.wake_buf.len() as u64;
        Ok(())
    }

    /// Timers already due and deferred wakes, then how long epoll may block: until the
    /// earliest timer or the caller's limit, and not at all if someone is runnable already.
    /// Also the deadline a paused clock jumps to if the wait finds nothing.
    #[inline(never)]
    fn before_wait(
        &mut self,
        timeout: Option<Duration>,
        unparked: bool,
    ) -> (Option<Duration>, Option<Instant>) {
        let mut next_timer = None;
        if !self.timers.is_empty() {
            let now = clock::now();
            self.fire_timers(now);
            next_timer = self
                .timers
                .next_deadline()
                .map(|next| (next, next.saturating_duration_since(now)));
        }
        if !self.deferred.is_empty() {
            self.wake_buf.append(&mut self.deferred);
        }
        let runnable = !self.wake_buf.is_empty() || unparked;
        let wait = match (timeout, next_timer) {
            _ if runnable => Some(Duration::ZERO),
            (Some(t), Some((_, until))) => Some(t.min(until)),
            (None, Some((_, until))) => Some(until),
            (t, None) => t,
        };
        // With a paused clock, time does not pass while we block: an idle reactor looks for
        // I/O without blocking, and if there is none, jumps the clock to the next timer.
        match next_timer {
            Some((deadline, until))
                if !runnable && clock::is_paused() && timeout.is_none_or(|t| until <= t) =>
            {
                (Some(Duration::ZERO), Some(deadline))
            }
            _ => (wait, None),
        }
    }

    /// A turn that was unparked: drains the doorbell, then cancels the timers other threads
    /// reset or dropped (only such a turn looks) and collects their wakers. Out of line: a
    /// round trip on one thread never rings the doorbell.
    #[inline(never)]
    fn after_unpark(&mut self) {
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
                self.wake_buf.push(waker);
            }
        }
    }

    /// One `epoll_wait`; routes the events to their registrations (an event for a freed or
    /// reused slot finds none). `true` if the doorbell rang. The caller has made the kernel
    /// side.
    #[inline]
    fn wait_and_dispatch(&mut self, wait: Option<Duration>) -> io::Result<bool> {
        let Some(kernel) = &mut self.kernel else {
            unreachable!("geode: kernel() leaves an epoll instance in place")
        };
        kernel.wait(wait, &mut self.stats)?;
        let mut doorbell = false;
        for (events, data) in kernel.events.iter() {
            if data == UNPARK_TAG {
                doorbell = true;
            } else if let Some(state) = self.registry.get(Key::from_u64(data)) {
                state.on_event(events, &mut self.wake_buf);
            }
        }
        Ok(doorbell)
    }

    fn fire_timers(&mut self, now: Instant) {
        let fired = self.timers.fire_due(now, &mut self.wake_buf);
        self.stats.timers_fired += fired as u64;
    }
}
