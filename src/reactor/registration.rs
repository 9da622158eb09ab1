//! Registrations: one slot per fd, registered in epoll at most once per epoll instance, removed
//! from epoll before the fd is closed or handed back.
//!
//! The slot index and generation travel in `epoll_event.data` (never a pointer), so an event
//! for a slot that was freed or reused finds nothing and is ignored.
//!
//! `EPOLL_CTL_ADD` is deferred until an operation first would block: a short-lived connection
//! that never waits costs no `epoll_ctl` at all. Flags never change (no `EPOLL_CTL_MOD`):
//! `IN | OUT | RDHUP | PRI | ET` for ordinary fds, `IN | ET | EXCLUSIVE` for listening sockets, whose
//! accept queue any registrant may serve (see "Registration policy" in the crate docs).

use std::io;
use std::marker::PhantomData;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use super::waiters::{Direction, Readiness, WaiterState};
use super::{Reactor, coop, with};
use crate::slab::Key;
use crate::sys::epoll::{ET, EXCLUSIVE, IN, OUT, PRI, RDHUP};
use crate::sys::fd::{FileId, FileKind};

/// Set once the kernel has refused `EPOLLEXCLUSIVE` (EINVAL, before Linux 4.5).
static NO_EXCLUSIVE: AtomicBool = AtomicBool::new(false);

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read = 0,
    Write = 1,
}

pub(crate) struct Slot {
    /// The fd the epoll entry is (or will be) keyed under.
    fd: RawFd,
    listener: bool,
    /// The reactor epoch in which `EPOLL_CTL_ADD` was done; 0 if it was not.
    added_epoch: u32,
    dirs: [Direction; 2],
    /// For a listener: its identity and every fd (dups) sharing this slot.
    shared: Option<(FileId, Vec<RawFd>)>,
}

impl Slot {
    pub(super) fn dirs_mut(&mut self) -> &mut [Direction; 2] {
        &mut self.dirs
    }
}

/// How an operation went, as far as readiness is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `EAGAIN`: readiness is gone; wait for the next edge.
    WouldBlock,
    /// Progress that drained the fd (a short read or write on a stream socket): readiness is
    /// gone, no need to pay for an `EAGAIN` to learn it.
    Drained,
    /// Progress (or an error) that may leave the fd ready.
    Progress,
}

enum Begin {
    Try { notified: bool },
    Pending,
}

fn stale() -> io::Error {
    io::Error::other("geode: the I/O object's reactor registration is gone")
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "geode: epoll cannot watch {what}: it never blocks, so it has no readiness to wait \
             for; use blocking I/O on it (e.g. from a thread)"
        ),
    )
}

impl Reactor {
    fn register(&mut self, fd: RawFd, kind: FileKind, id: FileId) -> Key {
        self.stats.registrations += 1;
        self.stats.registered_fds += 1;
        if kind == FileKind::Listener {
            if let Some(&(_, key)) = self.listeners.iter().find(|(i, _)| *i == id) {
                if let Some(slot) = self.slots.get_mut(key) {
                    if let Some((_, fds)) = &mut slot.shared {
                        fds.push(fd);
                        return key;
                    }
                }
            }
        }
        let listener = kind == FileKind::Listener;
        let key = self.slots.insert(Slot {
            fd,
            listener,
            added_epoch: 0,
            dirs: [Direction::new(), Direction::new()],
            shared: listener.then(|| (id, vec![fd])),
        });
        if listener {
            self.listeners.push((id, key));
        }
        key
    }

    /// Makes sure the slot is in the current epoll instance.
    fn ensure_added(&mut self, key: Key) -> io::Result<()> {
        // Fast path without the fork check: if this process is a fork child not yet noticed,
        // the next turn notices, and wakes every waiter to retry, which re-adds the fd there.
        if self.slots.get(key).ok_or_else(stale)?.added_epoch == self.epoch {
            return Ok(());
        }
        self.check_sys()?;
        let epoch = self.epoch;
        let slot = self.slots.get_mut(key).ok_or_else(stale)?;
        if slot.added_epoch == epoch {
            return Ok(());
        }
        let Some(sys) = &self.sys else {
            unreachable!("geode: check_sys leaves the epoll instance in place")
        };
        let data = key.to_u64();
        let res = if slot.listener {
            let exclusive = !NO_EXCLUSIVE.load(Ordering::Relaxed);
            let flags = IN | ET | if exclusive { EXCLUSIVE } else { 0 };
            self.stats.epoll_ctl_calls += 1;
            match sys.epoll.add(slot.fd, flags, data) {
                Err(e) if exclusive && e.raw_os_error() == Some(libc_einval()) => {
                    NO_EXCLUSIVE.store(true, Ordering::Relaxed);
                    self.stats.epoll_ctl_calls += 1;
                    sys.epoll.add(slot.fd, IN | ET, data)
                }
                other => other,
            }
        } else {
            self.stats.epoll_ctl_calls += 1;
            sys.epoll.add(slot.fd, IN | OUT | RDHUP | PRI | ET, data)
        };
        match res {
            Ok(()) => {
                slot.added_epoch = epoch;
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc_eperm()) => Err(unsupported("this descriptor")),
            Err(e) if e.raw_os_error() == Some(crate::sys::errno::EEXIST) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "geode: this descriptor is already registered with this thread's reactor by \
                 another object (the same fd wrapped twice); wrap a dup (`try_clone`) instead",
            )),
            Err(e) => Err(e),
        }
    }

    fn deregister(&mut self, key: Key, fd: RawFd) {
        // A fork child must not touch the parent's epoll instance: swap it out first. (With no
        // epoll instance yet, nothing was added and there is nothing to check.)
        if self.sys.is_some() {
            let _ = self.check_sys();
        }
        let epoch = self.epoch;
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        self.stats.registered_fds -= 1;
        if let Some((_, fds)) = &mut slot.shared {
            // Remove this user only: the same fd may be wrapped twice (`Async::new(&listener)`).
            if let Some(pos) = fds.iter().position(|&f| f == fd) {
                fds.swap_remove(pos);
            }
            if fds.contains(&fd) {
                return;
            }
            if let Some(&heir) = fds.first() {
                // Other dups still use this listener slot. If the epoll entry is keyed under
                // the fd being closed, move it to a surviving dup (DEL then ADD; the ADD
                // reports any connection already queued, so no wakeup is lost).
                if slot.fd == fd {
                    slot.fd = heir;
                    if slot.added_epoch == epoch {
                        slot.added_epoch = 0;
                        if let Some(sys) = &self.sys {
                            self.stats.epoll_ctl_calls += 1;
                            let _ = sys.epoll.delete(fd);
                        }
                        if let Err(e) = self.ensure_added(key) {
                            // Wake the acceptors so they see the error on their next try.
                            let _ = e;
                            self.notify_all_of(key);
                        }
                    }
                }
                return;
            }
        }
        if slot.added_epoch == epoch {
            if let Some(sys) = &self.sys {
                self.stats.epoll_ctl_calls += 1;
                // ENOENT/EBADF mean the fd already left the set (closed under us): nothing to do.
                let _ = sys.epoll.delete(fd);
            }
        }
        if let Some(mut slot) = self.slots.remove(key) {
            for d in &mut slot.dirs {
                self.waiters.clear(d);
            }
            if let Some((id, _)) = slot.shared {
                self.listeners.retain(|(i, _)| *i != id);
            }
        }
    }

    fn notify_all_of(&mut self, key: Key) {
        if let Some(slot) = self.slots.get_mut(key) {
            for d in &mut slot.dirs {
                self.waiters.notify_all(d, &mut self.deferred);
            }
        }
    }

    /// Creates the epoll instance and doorbell on first use; in a fork child, replaces them.
    pub(super) fn check_sys(&mut self) -> io::Result<()> {
        match &self.sys {
            None => self.create_sys(),
            Some(sys) if crate::sys::process::forked_since(&sys.fork) => self.after_fork(),
            Some(_) => Ok(()),
        }
    }

    fn create_sys(&mut self) -> io::Result<()> {
        if std::env::var_os("GEODE_NO_EPOLL_PWAIT2").is_some() {
            crate::sys::epoll::disable_pwait2();
        }
        if std::env::var_os("GEODE_NO_EPOLLEXCLUSIVE").is_some() {
            NO_EXCLUSIVE.store(true, Ordering::Relaxed);
        }
        let fork = crate::sys::process::fork_stamp();
        let epoll = crate::sys::epoll::Epoll::new()?;
        let unpark = self.unpark_shared().clone();
        if unpark.eventfd().is_none() {
            unpark.set_eventfd(crate::sys::eventfd::EventFd::new()?);
        }
        if let Some(efd) = unpark.eventfd() {
            // Level-triggered: it keeps reporting until drained.
            self.stats.epoll_ctl_calls += 1;
            epoll.add(efd.as_raw_fd(), IN, super::driver::UNPARK_TAG)?;
        }
        self.sys = Some(super::Sys {
            epoll,
            events: crate::sys::epoll::Events::with_capacity(super::EVENTS_CAPACITY),
            fork,
        });
        Ok(())
    }

    /// In a fork child: give this process its own epoll instance and doorbell (on the same fd
    /// numbers, so nothing that holds them goes stale), and make every registration re-add
    /// itself lazily. Queued waiters are woken to retry: their retry registers them again.
    fn after_fork(&mut self) -> io::Result<()> {
        let Some(sys) = &mut self.sys else {
            return self.create_sys();
        };
        sys.epoll.replace_after_fork()?;
        sys.fork = crate::sys::process::fork_stamp();
        self.epoch = self.epoch.wrapping_add(1).max(1);
        let unpark = self.unpark_shared().clone();
        if let (Some(efd), Some(sys)) = (unpark.eventfd(), &self.sys) {
            efd.replace_after_fork()?;
            unpark.clear();
            self.stats.epoll_ctl_calls += 1;
            sys.epoll
                .add(efd.as_raw_fd(), IN, super::driver::UNPARK_TAG)?;
        }
        for key in self.slots.keys() {
            if let Some(slot) = self.slots.get_mut(key) {
                for d in &mut slot.dirs {
                    self.waiters.notify_all(d, &mut self.deferred);
                    d.readiness = Readiness::Unknown;
                }
            }
        }
        Ok(())
    }

    fn begin(
        &mut self,
        key: Key,
        dir: Dir,
        waiter: Option<&mut WaitSlot>,
        cx: &mut Context<'_>,
    ) -> io::Result<Begin> {
        let slot = self.slots.get_mut(key).ok_or_else(stale)?;
        let d = &mut slot.dirs[dir as usize];
        if let Some(w) = waiter {
            if let Some(wk) = w.waiter {
                match self.waiters.refresh(wk, cx.waker()) {
                    Some(WaiterState::Queued) => return Ok(Begin::Pending),
                    Some(WaiterState::Notified) => {
                        if coop::poll_proceed(cx).is_pending() {
                            return Ok(Begin::Pending);
                        }
                        self.waiters.remove(d, wk);
                        w.waiter = None;
                        return Ok(Begin::Try { notified: true });
                    }
                    None => w.waiter = None,
                }
            }
            if d.readiness != Readiness::NotReady {
                if coop::poll_proceed(cx).is_pending() {
                    return Ok(Begin::Pending);
                }
                return Ok(Begin::Try { notified: false });
            }
            w.waiter = Some(self.waiters.enqueue(d, cx.waker()));
            return Ok(Begin::Pending);
        }
        if d.readiness != Readiness::NotReady {
            if coop::poll_proceed(cx).is_pending() {
                return Ok(Begin::Pending);
            }
            return Ok(Begin::Try { notified: false });
        }
        d.add_poll_waker(cx.waker());
        Ok(Begin::Pending)
    }

    /// Records an operation's outcome. `Ok(true)`: the caller must return `Pending` (it is
    /// queued for the next edge).
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        key: Key,
        dir: Dir,
        waiter: Option<&mut WaitSlot>,
        cx: &mut Context<'_>,
        notified: bool,
        outcome: Outcome,
        wakes: &mut Vec<Waker>,
    ) -> io::Result<bool> {
        let outcome = match outcome {
            Outcome::Drained
                if self
                    .slots
                    .get_mut(key)
                    .is_some_and(|s| s.dirs[dir as usize].short_not_drained) =>
            {
                Outcome::Progress
            }
            o => o,
        };
        match outcome {
            Outcome::WouldBlock => {
                if let Err(e) = self.ensure_added(key) {
                    if notified {
                        self.pass_on(key, dir, wakes);
                    }
                    return Err(e);
                }
                let slot = self.slots.get_mut(key).ok_or_else(stale)?;
                let d = &mut slot.dirs[dir as usize];
                d.readiness = Readiness::NotReady;
                match waiter {
                    // A waiter that was notified (it was first in line) keeps its place.
                    Some(w) if notified => {
                        w.waiter = Some(self.waiters.enqueue_front(d, cx.waker()))
                    }
                    Some(w) => w.waiter = Some(self.waiters.enqueue(d, cx.waker())),
                    None => d.add_poll_waker(cx.waker()),
                }
                Ok(true)
            }
            Outcome::Drained => {
                coop::consume();
                // NotReady promises an edge will come, which needs the fd in epoll. If adding it
                // fails, stay Unknown: the next operation tries its syscall and sees the error.
                if self.ensure_added(key).is_ok() {
                    if let Some(slot) = self.slots.get_mut(key) {
                        slot.dirs[dir as usize].readiness = Readiness::NotReady;
                    }
                }
                Ok(false)
            }
            Outcome::Progress => {
                coop::consume();
                if notified {
                    self.pass_on(key, dir, wakes);
                }
                Ok(false)
            }
        }
    }

    fn pass_on(&mut self, key: Key, dir: Dir, wakes: &mut Vec<Waker>) {
        if let Some(slot) = self.slots.get_mut(key) {
            self.waiters.pass_on(&mut slot.dirs[dir as usize], wakes);
        }
    }

    /// `readable()`/`writable()`: Ready once an edge has been seen (or passed on).
    fn poll_ready(
        &mut self,
        key: Key,
        dir: Dir,
        waiter: Option<&mut WaitSlot>,
        cx: &mut Context<'_>,
        wakes: &mut Vec<Waker>,
    ) -> Poll<io::Result<()>> {
        let slot = match self.slots.get_mut(key) {
            Some(s) => s,
            None => return Poll::Ready(Err(stale())),
        };
        let d = &mut slot.dirs[dir as usize];
        let mut waiter = waiter;
        if let Some(w) = waiter.as_deref_mut() {
            if let Some(wk) = w.waiter {
                match self.waiters.refresh(wk, cx.waker()) {
                    Some(WaiterState::Queued) => return Poll::Pending,
                    Some(WaiterState::Notified) => {
                        // Readiness is handed to the caller, who may or may not use it: pass
                        // it on too, so nobody behind us can hang on an unconsumed edge.
                        self.waiters.remove(d, wk);
                        w.waiter = None;
                        self.waiters.pass_on(d, wakes);
                        return Poll::Ready(Ok(()));
                    }
                    None => w.waiter = None,
                }
            }
        }
        match d.readiness {
            Readiness::Ready => {
                if coop::poll_proceed(cx).is_pending() {
                    return Poll::Pending;
                }
                coop::consume();
                return Poll::Ready(Ok(()));
            }
            Readiness::Unknown => {
                // Not in epoll yet: add it; the ADD reports current readiness as an edge.
                if let Err(e) = self.ensure_added(key) {
                    return Poll::Ready(Err(e));
                }
            }
            Readiness::NotReady => {}
        }
        let slot = match self.slots.get_mut(key) {
            Some(s) => s,
            None => return Poll::Ready(Err(stale())),
        };
        let d = &mut slot.dirs[dir as usize];
        d.readiness = Readiness::NotReady;
        match waiter {
            Some(w) => w.waiter = Some(self.waiters.enqueue(d, cx.waker())),
            None => d.add_poll_waker(cx.waker()),
        }
        Poll::Pending
    }

    fn drop_waiter(&mut self, key: Key, dir: Dir, wk: Key, wakes: &mut Vec<Waker>) {
        if let Some(slot) = self.slots.get_mut(key) {
            let d = &mut slot.dirs[dir as usize];
            if self.waiters.remove(d, wk) == Some(WaiterState::Notified) {
                self.waiters.pass_on(d, wakes);
            }
        }
    }
}

fn libc_einval() -> i32 {
    crate::sys::errno::EINVAL
}

fn libc_eperm() -> i32 {
    crate::sys::errno::EPERM
}

/// Runs `op` once (retrying `EINTR` in place: going back to `begin` would drop a notification
/// the waiter has already consumed) and classifies the result.
fn attempt<R>(
    op: &mut impl FnMut() -> io::Result<R>,
    drained: &impl Fn(&R) -> bool,
) -> (io::Result<R>, Outcome) {
    let res = loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            res => break res,
        }
    };
    let outcome = match &res {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
        Ok(v) if drained(v) => Outcome::Drained,
        _ => Outcome::Progress,
    };
    (res, outcome)
}

/// What `poll_io` returns, given `finish`'s verdict on the attempt.
fn conclude<R>(wait: io::Result<bool>, res: io::Result<R>) -> Poll<io::Result<R>> {
    match wait {
        Ok(true) => Poll::Pending,
        Ok(false) => Poll::Ready(res),
        Err(e) => Poll::Ready(Err(e)),
    }
}

/// An fd's registration with this thread's reactor. Deregisters on drop, which must happen
/// before the fd is closed (field order in the owners sees to it).
///
/// Thread-bound: the slot lives in this thread's reactor.
#[derive(Debug)]
pub(crate) struct Registration {
    key: Key,
    fd: RawFd,
    _thread_bound: PhantomData<*const ()>,
}

impl Registration {
    /// Registers any fd: checks that epoll can watch it (a regular file or directory is
    /// refused with `Unsupported`) and whether it is a listening socket.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> io::Result<Registration> {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        let (kind, id) = crate::sys::fd::file_kind(raw)?;
        match kind {
            FileKind::Regular => return Err(unsupported("a regular file")),
            FileKind::Directory => return Err(unsupported("a directory")),
            _ => {}
        }
        crate::sys::fd::set_nonblocking(raw)?;
        let key = with(|r| r.register(raw, kind, id));
        Ok(Registration {
            key,
            fd: raw,
            _thread_bound: PhantomData,
        })
    }

    /// Registers a socket geode created itself (non-blocking already, kind known): no syscall.
    pub(crate) fn new_socket(fd: BorrowedFd<'_>) -> Registration {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        let key = with(|r| r.register(raw, FileKind::Socket, (0, 0)));
        Registration {
            key,
            fd: raw,
            _thread_bound: PhantomData,
        }
    }

    /// Runs `op` if the direction may be ready; on `WouldBlock`, queues for the next edge and
    /// returns `Pending` (the caller polls again when woken). `drained` tells, from a successful result, whether the fd is
    /// now drained (a short read or write on a stream socket).
    pub(crate) fn poll_io<R>(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        mut waiter: Option<&mut WaitSlot>,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let begin = with(|r| r.begin(self.key, dir, waiter.as_deref_mut(), cx));
        let notified = match begin {
            Ok(Begin::Try { notified }) => notified,
            Ok(Begin::Pending) => return Poll::Pending,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let (res, outcome) = attempt(&mut op, &drained);
        let mut wakes = Vec::new();
        let wait = with(|r| r.finish(self.key, dir, waiter, cx, notified, outcome, &mut wakes));
        wakes.into_iter().for_each(Waker::wake);
        conclude(wait, res)
    }

    /// [`poll_io`](Self::poll_io) for an `op` that cannot re-enter the reactor (a plain
    /// syscall on a socket geode owns, never user code): it runs inside the same reactor
    /// borrow as the readiness bookkeeping, saving a second thread-local borrow per operation.
    pub(crate) fn poll_io_syscall<R>(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        waiter: Option<&mut WaitSlot>,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let mut wakes = Vec::new();
        let mut waiter = waiter;
        let out = with(|r| {
            let notified = match r.begin(self.key, dir, waiter.as_deref_mut(), cx) {
                Ok(Begin::Try { notified }) => notified,
                Ok(Begin::Pending) => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let (res, outcome) = attempt(&mut op, &drained);
            let wait = r.finish(self.key, dir, waiter, cx, notified, outcome, &mut wakes);
            conclude(wait, res)
        });
        wakes.into_iter().for_each(Waker::wake);
        out
    }

    /// Ready when the direction is (probably) ready; see `Async::readable`.
    pub(crate) fn poll_ready(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        waiter: Option<&mut WaitSlot>,
    ) -> Poll<io::Result<()>> {
        let mut wakes = Vec::new();
        let res = with(|r| r.poll_ready(self.key, dir, waiter, cx, &mut wakes));
        wakes.into_iter().for_each(Waker::wake);
        res
    }

    /// A queue slot for one future-style operation in direction `dir`.
    pub(crate) fn waiter(&self, dir: Dir) -> WaitSlot {
        WaitSlot {
            reg: self.key,
            dir,
            waiter: None,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let (key, fd) = (self.key, self.fd);
        let _ = super::try_with(|r| r.deregister(key, fd));
    }
}

/// One future's place in a direction's FIFO queue. Dropping it leaves the queue in O(1), and
/// passes readiness on if it had been woken and not used it.
pub(crate) struct WaitSlot {
    reg: Key,
    dir: Dir,
    waiter: Option<Key>,
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        if let Some(wk) = self.waiter.take() {
            let mut wakes = Vec::new();
            let (reg, dir) = (self.reg, self.dir);
            let _ = super::try_with(|r| r.drop_waiter(reg, dir, wk, &mut wakes));
            wakes.into_iter().for_each(Waker::wake);
        }
    }
}
