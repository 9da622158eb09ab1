//! The kernel side of a reactor: its epoll instance, the event buffer, the doorbell's place in
//! epoll, and what the running kernel turned out not to support. Created on first need,
//! renewed in a fork child (which must never touch its parent's epoll instance).
//!
//! Flags never change once an fd is added (no `EPOLL_CTL_MOD`): `IN | OUT | RDHUP | PRI | ET`
//! for ordinary fds, `IN | ET | EXCLUSIVE` for listening sockets, whose accept queue any
//! registrant may serve (see "Registration policy" in the crate docs).

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Stats;
use super::config::Config;
use super::unpark::UnparkShared;
use crate::sys::epoll::{ET, EXCLUSIVE, Epoll, Events, IN, OUT, PRI, RDHUP};
use crate::sys::errno::{EEXIST, EINVAL, EPERM};
use crate::sys::process::{ForkStamp, fork_stamp, forked_since};

/// `epoll_event.data` of the doorbell. Slot keys never reach it: that would take slot index
/// `u32::MAX`, which the slab never hands out.
pub(super) const UNPARK_TAG: u64 = u64::MAX;

/// Set once the kernel has refused `EPOLLEXCLUSIVE` (EINVAL, before Linux 4.5), or
/// `GEODE_NO_EPOLLEXCLUSIVE` asked to behave as if it had.
static NO_EXCLUSIVE: AtomicBool = AtomicBool::new(false);

pub(super) struct Kernel {
    epoll: Epoll,
    pub(super) events: Events,
    /// The process this instance belongs to: a fork child renews it before any use.
    fork: ForkStamp,
}

/// Which flags an fd is added with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum AddAs {
    /// Both directions, edge-triggered.
    Ordinary,
    /// A listening socket: readable only, and exclusive where the kernel allows it.
    Listener,
}

impl Kernel {
    /// A new epoll instance with the doorbell in it. The two environment knobs that force the
    /// older kernels' paths are read here, once per instance.
    pub(super) fn new(
        config: &Config,
        unpark: &UnparkShared,
        stats: &mut Stats,
    ) -> io::Result<Kernel> {
        if std::env::var_os("GEODE_NO_EPOLL_PWAIT2").is_some() {
            crate::sys::epoll::disable_pwait2();
        }
        if std::env::var_os("GEODE_NO_EPOLLEXCLUSIVE").is_some() {
            NO_EXCLUSIVE.store(true, Ordering::Relaxed);
        }
        let fork = fork_stamp();
        let epoll = Epoll::new()?;
        if unpark.eventfd().is_none() {
            unpark.set_eventfd(crate::sys::eventfd::EventFd::new()?);
        }
        if let Some(efd) = unpark.eventfd() {
            // Level-triggered: it keeps reporting until drained.
            stats.epoll_ctl_calls += 1;
            epoll.add(efd.as_raw_fd(), IN, UNPARK_TAG)?;
        }
        let mut kernel = Kernel {
            epoll,
            events: Events::with_capacity(config.event_capacity),
            fork,
        };
        kernel.apply(config);
        Ok(kernel)
    }

    /// Whether this instance was made by an ancestor of this process (we are a fork child).
    #[inline]
    pub(super) fn inherited(&self) -> bool {
        forked_since(&self.fork)
    }

    /// In a fork child: a fresh epoll instance and doorbell on the same fd numbers, so nothing
    /// that holds them goes stale. The registrations are the registry's to reset.
    pub(super) fn renew_after_fork(
        &mut self,
        unpark: &UnparkShared,
        stats: &mut Stats,
    ) -> io::Result<()> {
        self.epoll.replace_after_fork()?;
        self.fork = fork_stamp();
        if let Some(efd) = unpark.eventfd() {
            efd.replace_after_fork()?;
            unpark.clear();
            stats.epoll_ctl_calls += 1;
            self.epoll.add(efd.as_raw_fd(), IN, UNPARK_TAG)?;
        }
        Ok(())
    }

    /// Applies the parts of `config` that live on the kernel side.
    pub(super) fn apply(&mut self, config: &Config) {
        if self.events.capacity() != config.event_capacity {
            self.events = Events::with_capacity(config.event_capacity);
        }
        self.epoll.set_no_pwait2(config.no_epoll_pwait2);
    }

    pub(super) fn epoll_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    /// `EPOLL_CTL_ADD` with the flags `how` calls for, and errors that say what went wrong.
    pub(super) fn add(
        &self,
        fd: RawFd,
        how: AddAs,
        data: u64,
        config: &Config,
        stats: &mut Stats,
    ) -> io::Result<()> {
        stats.epoll_ctl_calls += 1;
        let res = match how {
            AddAs::Ordinary => self.epoll.add(fd, IN | OUT | RDHUP | PRI | ET, data),
            AddAs::Listener => {
                let exclusive = !config.no_epollexclusive && !NO_EXCLUSIVE.load(Ordering::Relaxed);
                let flags = IN | ET | if exclusive { EXCLUSIVE } else { 0 };
                match self.epoll.add(fd, flags, data) {
                    Err(e) if exclusive && e.raw_os_error() == Some(EINVAL) => {
                        NO_EXCLUSIVE.store(true, Ordering::Relaxed);
                        stats.epoll_ctl_calls += 1;
                        self.epoll.add(fd, IN | ET, data)
                    }
                    other => other,
                }
            }
        };
        match res {
            Err(e) if e.raw_os_error() == Some(EPERM) => Err(unsupported("this descriptor")),
            Err(e) if e.raw_os_error() == Some(EEXIST) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "geode: this descriptor is already registered with this thread's reactor by \
                 another object (the same fd wrapped twice); wrap a dup (`try_clone`) instead",
            )),
            other => other,
        }
    }

    /// `EPOLL_CTL_DEL`. `ENOENT`/`EBADF` mean the fd already left the set (closed under us):
    /// nothing to do, so errors are not reported.
    pub(super) fn delete(&self, fd: RawFd, stats: &mut Stats) {
        stats.epoll_ctl_calls += 1;
        let _ = self.epoll.delete(fd);
    }

    /// One `epoll_wait` into the event buffer.
    #[inline]
    pub(super) fn wait(&mut self, timeout: Option<Duration>, stats: &mut Stats) -> io::Result<()> {
        stats.epoll_wait_calls += 1;
        self.epoll.wait(&mut self.events, timeout).map(drop)
    }
}

/// The error for an fd epoll cannot watch.
pub(super) fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "geode: epoll cannot watch {what}: it never blocks, so it has no readiness to wait \
             for; use blocking I/O on it (e.g. from a thread)"
        ),
    )
}
