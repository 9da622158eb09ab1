//! Cross-thread wakeup of a parked reactor.
//!
//! The doorbell is an eventfd registered (level-triggered) in the reactor's epoll. Writes are
//! coalesced by `notified`: only the unpark that flips it from false to true writes; the reactor
//! drains the eventfd *then* clears the flag, so an unpark racing with the drain is either
//! absorbed by the park that is already returning or writes anew.

use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, OnceLock};

use super::remote::RemoteTimers;
use crate::sys::eventfd::EventFd;

/// The part of a reactor other threads may touch.
pub(crate) struct UnparkShared {
    notified: AtomicBool,
    /// Timers other threads asked this reactor to cancel.
    remote: RemoteTimers,
    /// Set when the reactor first creates its epoll instance, before it first reads
    /// `notified`: an unpark before that finds no eventfd, and its flag alone makes the first
    /// park return at once.
    eventfd: OnceLock<EventFd>,
}

impl UnparkShared {
    pub(crate) fn new() -> UnparkShared {
        UnparkShared {
            notified: AtomicBool::new(false),
            remote: RemoteTimers::default(),
            eventfd: OnceLock::new(),
        }
    }

    pub(crate) fn eventfd(&self) -> Option<&EventFd> {
        self.eventfd.get()
    }

    pub(crate) fn set_eventfd(&self, fd: EventFd) {
        // Only the reactor's thread sets it, once; a second set cannot happen.
        let _ = self.eventfd.set(fd);
        // Pairs with the fence in `unpark`: the reactor stores the eventfd then loads
        // `notified`; an unparker stores `notified` then loads the eventfd. With a SeqCst fence
        // on each side, at least one of them sees the other's store, so a racing unpark either
        // writes the new eventfd or is seen by the reactor's next look at `notified`.
        fence(Ordering::SeqCst);
    }

    pub(crate) fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    pub(crate) fn clear(&self) {
        self.notified.store(false, Ordering::Release);
    }

    pub(crate) fn remote(&self) -> &RemoteTimers {
        &self.remote
    }

    pub(crate) fn unpark(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            fence(Ordering::SeqCst);
            if let Some(fd) = self.eventfd.get() {
                // A failed write (only possible if the fd were closed) cannot be reported to
                // anyone useful; `notified` still makes the next park return at once.
                let _ = fd.signal();
            }
        }
    }
}

/// Wakes one thread's reactor from any thread. Obtained from
/// [`unparker`](crate::reactor::unparker).
///
/// `unpark` makes a [`park`](crate::reactor::park) that is running on the reactor's thread
/// return at once, or, if none is running, the next one. Many unparks before the reactor next
/// parks cost one eventfd write in total.
#[derive(Clone)]
pub struct Unparker {
    shared: Arc<UnparkShared>,
}

impl Unparker {
    pub(crate) fn new(shared: Arc<UnparkShared>) -> Unparker {
        Unparker { shared }
    }

    /// Interrupts the reactor's current or next `park`.
    pub fn unpark(&self) {
        self.shared.unpark();
    }
}

impl std::fmt::Debug for Unparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unparker")
            .field("notified", &self.shared.is_notified())
            .finish()
    }
}
