//! The registry: one slot per registered fd, each holding its [`IoState`]. The slot index and
//! generation travel in `epoll_event.data` (never a pointer), so an event for a slot that was
//! freed or reused finds nothing and is ignored.
//!
//! An fd is added to epoll lazily, when an operation first would block: a short-lived
//! connection that never waits costs no `epoll_ctl` at all. It leaves epoll before it is
//! closed or handed back (the close quirk: an fd leaves an epoll set only when every dup of it
//! is closed). A dup of a registered listener shares its slot.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::Waker;

use super::Stats;
use super::config::Config;
use super::io_state::{IoState, stale};
use super::kernel::{AddAs, Kernel};
use crate::slab::{Key, Slab};
use crate::sys::fd::{FileId, FileKind};

struct Slot {
    state: Rc<IoState>,
    /// For a listener: its identity and every fd (dups) sharing this slot.
    shared: Option<(FileId, Vec<RawFd>)>,
}

pub(super) struct Registry {
    slots: Slab<Slot>,
    /// Listening sockets by open-file identity: a dup of a registered listener shares its slot.
    listeners: Vec<(FileId, Key)>,
}

impl Registry {
    pub(super) const fn new() -> Registry {
        Registry {
            slots: Slab::new(),
            listeners: Vec::new(),
        }
    }

    /// The state events for `key` go to; `None` for a freed or reused slot.
    #[inline]
    pub(super) fn get(&self, key: Key) -> Option<&IoState> {
        self.slots.get(key).map(|s| &*s.state)
    }

    pub(super) fn register(
        &mut self,
        fd: RawFd,
        kind: FileKind,
        id: FileId,
        stats: &mut Stats,
    ) -> Rc<IoState> {
        stats.registrations += 1;
        stats.registered_fds += 1;
        let listener = kind == FileKind::Listener;
        if listener {
            if let Some(&(_, key)) = self.listeners.iter().find(|(i, _)| *i == id) {
                if let Some(slot) = self.slots.get_mut(key) {
                    if let Some((_, fds)) = &mut slot.shared {
                        fds.push(fd);
                        return slot.state.clone();
                    }
                }
            }
        }
        let key = self.slots.next_key();
        let state = Rc::new(IoState::new(key, fd, listener));
        let inserted = self.slots.insert(Slot {
            state: state.clone(),
            shared: listener.then(|| (id, vec![fd])),
        });
        debug_assert_eq!(inserted, key);
        if listener {
            self.listeners.push((id, key));
        }
        state
    }

    /// Adds the registration to `kernel`'s epoll instance unless it is there already.
    pub(super) fn add(
        &self,
        state: &IoState,
        kernel: &Kernel,
        config: &Config,
        stats: &mut Stats,
    ) -> io::Result<()> {
        if state.added.get() {
            return Ok(());
        }
        if self.slots.get(state.key).is_none() {
            return Err(stale());
        }
        let how = if state.listener {
            AddAs::Listener
        } else {
            AddAs::Ordinary
        };
        kernel.add(state.fd.get(), how, state.key.to_u64(), config, stats)?;
        state.added.set(true);
        Ok(())
    }

    /// Removes `fd`'s use of the registration. `true` if the registration is gone (its
    /// waiters are for the caller to clear, outside the reactor's borrow). `kernel` is the
    /// current process's instance, or `None` if none was ever made (nothing was added).
    pub(super) fn deregister(
        &mut self,
        state: &IoState,
        fd: RawFd,
        kernel: Option<&Kernel>,
        config: &Config,
        stats: &mut Stats,
        wakes: &mut Vec<Waker>,
    ) -> bool {
        let key = state.key;
        let Some(slot) = self.slots.get_mut(key) else {
            return false;
        };
        stats.registered_fds -= 1;
        if let Some((_, fds)) = &mut slot.shared {
            // Remove this user only: the same fd may be wrapped twice (`Async::new(&listener)`).
            if let Some(pos) = fds.iter().position(|&f| f == fd) {
                fds.swap_remove(pos);
            }
            if fds.contains(&fd) {
                return false;
            }
            if let Some(&heir) = fds.first() {
                // Other dups still use this listener slot. If the epoll entry is keyed under
                // the fd being closed, move it to a surviving dup (DEL then ADD; the ADD
                // reports any connection already queued, so no wakeup is lost).
                if state.fd.get() == fd {
                    state.fd.set(heir);
                    if state.added.replace(false) {
                        if let Some(kernel) = kernel {
                            kernel.delete(fd, stats);
                            if self.add(state, kernel, config, stats).is_err() {
                                // Wake the acceptors so they see the error on their next try.
                                for d in state.dirs() {
                                    d.notify_all(wakes);
                                }
                            }
                        }
                    }
                }
                return false;
            }
        }
        if state.added.replace(false) {
            if let Some(kernel) = kernel {
                kernel.delete(fd, stats);
            }
        }
        if let Some(slot) = self.slots.remove(key) {
            if let Some((id, _)) = slot.shared {
                self.listeners.retain(|(i, _)| *i != id);
            }
        }
        true
    }

    /// In a fork child, once the kernel side is renewed: every registration re-adds itself on
    /// its next would-block, and its waiters are woken to retry (which does it).
    pub(super) fn after_fork(&self, wakes: &mut Vec<Waker>) {
        for key in self.slots.keys() {
            if let Some(slot) = self.slots.get(key) {
                slot.state.after_fork(wakes);
            }
        }
    }
}
