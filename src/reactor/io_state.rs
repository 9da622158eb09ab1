//! One registration's state (tokio's `ScheduledIo`): the fd, whether it is in the current epoll
//! instance, and its two directions. It is shared (`Rc`) by the reactor's slot, through which
//! the turn routes epoll events to it, and by the I/O object, whose operations read and update
//! it without borrowing the reactor.

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::task::Waker;

use super::waiters::{DirState, Readiness};
use crate::slab::Key;
use crate::sys::epoll::{ERR, HUP, IN, OUT, PRI, RDHUP};
use crate::sys::fd::PollFor;

/// The error of an operation whose registration was removed under it.
pub(super) fn stale() -> io::Error {
    io::Error::other("geode: the I/O object's reactor registration is gone")
}

/// Read or write: which of an fd's two directions an operation waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

pub(crate) struct IoState {
    /// The slot in the reactor: `epoll_event.data`, and the key to deregister with.
    pub(super) key: Key,
    /// The fd the epoll entry is (or will be) keyed under (a listener's may move to a dup).
    pub(super) fd: Cell<RawFd>,
    pub(super) listener: bool,
    /// In the current epoll instance (reset in a fork child, which gets a fresh instance).
    pub(super) added: Cell<bool>,
    dirs: [DirState; 2],
}

impl IoState {
    pub(super) fn new(key: Key, fd: RawFd, listener: bool) -> IoState {
        IoState {
            key,
            fd: Cell::new(fd),
            listener,
            added: Cell::new(false),
            dirs: [DirState::new(), DirState::new()],
        }
    }

    #[inline]
    pub(super) fn dir(&self, dir: Direction) -> &DirState {
        &self.dirs[dir as usize]
    }

    pub(super) fn dirs(&self) -> &[DirState; 2] {
        &self.dirs
    }

    /// Routes one epoll event to the directions' waiters.
    #[inline]
    pub(super) fn on_event(&self, events: u32, wakes: &mut Vec<Waker>) {
        let [read, write] = &self.dirs;
        // The usual event: plain edges (a round trip's is IN|OUT), no hangup, error or PRI.
        if events & !(IN | OUT) == 0 {
            if events & IN != 0 {
                read.on_edge(wakes);
            }
            if events & OUT != 0 {
                write.on_edge(wakes);
            }
            return;
        }
        self.on_rare_event(events, wakes);
    }

    #[inline(never)]
    fn on_rare_event(&self, events: u32, wakes: &mut Vec<Waker>) {
        let [read, write] = &self.dirs;
        if events & (HUP | RDHUP | PRI) != 0 {
            read.short_means_drained.set(false);
            if events & HUP != 0 {
                write.short_means_drained.set(false);
            }
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

    /// In a fork child: not in the (fresh) epoll instance; everyone retries and re-adds it.
    pub(super) fn after_fork(&self, wakes: &mut Vec<Waker>) {
        self.added.set(false);
        for d in &self.dirs {
            d.notify_all(wakes);
            d.readiness.set(Readiness::Unknown);
        }
    }

    /// Whether the kernel says the fd is ready in `dir` right now (a zero-timeout `poll(2)`).
    pub(super) fn ready_now(&self, dir: Direction) -> bool {
        let asked = match dir {
            Direction::Read => PollFor::Read,
            Direction::Write => PollFor::Write,
        };
        crate::sys::fd::poll_now(self.fd.get(), asked)
    }
}
