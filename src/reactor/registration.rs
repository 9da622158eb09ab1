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

use std::cell::Cell;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use super::fallback::retry_after_turn;
use super::waiters::{Direction, Readiness, Ticket, WaiterState};
use super::{Reactor, coop, with};
use crate::slab::Key;
use crate::sys::epoll::{ET, EXCLUSIVE, IN, OUT, PRI, RDHUP};
use crate::sys::fd::{FileId, FileKind, PollFor};

/// Set once the kernel has refused `EPOLLEXCLUSIVE` (EINVAL, before Linux 4.5).
static NO_EXCLUSIVE: AtomicBool = AtomicBool::new(false);

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read = 0,
    Write = 1,
}

/// A registration's state, shared (`Rc`) by the reactor's slot, which routes epoll events to
/// it, and by the I/O object, which reads and updates it on every operation without borrowing
/// the reactor.
pub(crate) struct IoState {
    /// The slot in the reactor: `epoll_event.data`, and the key to deregister with.
    key: Key,
    /// The fd the epoll entry is (or will be) keyed under (a listener's may move to a dup).
    fd: Cell<RawFd>,
    listener: bool,
    /// In the current epoll instance (reset in a fork child, which gets a fresh instance).
    added: Cell<bool>,
    dirs: [Direction; 2],
}

impl IoState {
    pub(super) fn dirs(&self) -> &[Direction; 2] {
        &self.dirs
    }
}

/// The reactor's record of a registration.
pub(crate) struct Slot {
    pub(super) state: Rc<IoState>,
    /// For a listener: its identity and every fd (dups) sharing this slot.
    shared: Option<(FileId, Vec<RawFd>)>,
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
    /// Try the operation; `Some(ticket)` if this waiter was notified (holds the baton).
    Try(Option<Ticket>),
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
    fn register(&mut self, fd: RawFd, kind: FileKind, id: FileId) -> Rc<IoState> {
        self.stats.registrations += 1;
        self.stats.registered_fds += 1;
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
        let state = Rc::new(IoState {
            key,
            fd: Cell::new(fd),
            listener,
            added: Cell::new(false),
            dirs: [Direction::new(), Direction::new()],
        });
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

    /// Makes sure the registration is in the current epoll instance.
    fn ensure_added(&mut self, state: &IoState) -> io::Result<()> {
        self.check_sys()?;
        if state.added.get() {
            return Ok(());
        }
        if self.slots.get(state.key).is_none() {
            return Err(stale());
        }
        let Some(sys) = &self.sys else {
            unreachable!("geode: check_sys leaves the epoll instance in place")
        };
        let (fd, data) = (state.fd.get(), state.key.to_u64());
        let res = if state.listener {
            let exclusive = !self.config.no_epollexclusive && !NO_EXCLUSIVE.load(Ordering::Relaxed);
            let flags = IN | ET | if exclusive { EXCLUSIVE } else { 0 };
            self.stats.epoll_ctl_calls += 1;
            match sys.epoll.add(fd, flags, data) {
                Err(e) if exclusive && e.raw_os_error() == Some(libc_einval()) => {
                    NO_EXCLUSIVE.store(true, Ordering::Relaxed);
                    self.stats.epoll_ctl_calls += 1;
                    sys.epoll.add(fd, IN | ET, data)
                }
                other => other,
            }
        } else {
            self.stats.epoll_ctl_calls += 1;
            sys.epoll.add(fd, IN | OUT | RDHUP | PRI | ET, data)
        };
        match res {
            Ok(()) => {
                state.added.set(true);
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

    /// Removes `fd`'s use of the registration. `true` if the registration is gone (its
    /// waiters are for the caller to clear, outside the reactor's borrow).
    fn deregister(&mut self, state: &IoState, fd: RawFd) -> bool {
        // A fork child must not touch the parent's epoll instance: swap it out first. (With no
        // epoll instance yet, nothing was added and there is nothing to check.)
        if self.sys.is_some() {
            let _ = self.check_sys();
        }
        let key = state.key;
        let Some(slot) = self.slots.get_mut(key) else {
            return false;
        };
        self.stats.registered_fds -= 1;
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
                        if let Some(sys) = &self.sys {
                            self.stats.epoll_ctl_calls += 1;
                            let _ = sys.epoll.delete(fd);
                        }
                        if self.ensure_added(state).is_err() {
                            // Wake the acceptors so they see the error on their next try.
                            for d in &state.dirs {
                                d.notify_all(&mut self.deferred);
                            }
                        }
                    }
                }
                return false;
            }
        }
        if state.added.replace(false) {
            if let Some(sys) = &self.sys {
                self.stats.epoll_ctl_calls += 1;
                // ENOENT/EBADF mean the fd already left the set (closed under us): nothing to do.
                let _ = sys.epoll.delete(fd);
            }
        }
        if let Some(slot) = self.slots.remove(key) {
            if let Some((id, _)) = slot.shared {
                self.listeners.retain(|(i, _)| *i != id);
            }
        }
        true
    }

    /// Creates the epoll instance and doorbell on first use; in a fork child, replaces them.
    #[inline]
    pub(super) fn check_sys(&mut self) -> io::Result<()> {
        match &self.sys {
            Some(sys) if !crate::sys::process::forked_since(&sys.fork) => Ok(()),
            None => self.create_sys(),
            Some(_) => self.after_fork(),
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
        let mut sys = super::Sys {
            epoll,
            events: crate::sys::epoll::Events::with_capacity(self.config.event_capacity),
            fork,
        };
        sys.apply(&self.config);
        self.sys = Some(sys);
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
        let unpark = self.unpark_shared().clone();
        if let (Some(efd), Some(sys)) = (unpark.eventfd(), &self.sys) {
            efd.replace_after_fork()?;
            unpark.clear();
            self.stats.epoll_ctl_calls += 1;
            sys.epoll
                .add(efd.as_raw_fd(), IN, super::driver::UNPARK_TAG)?;
        }
        for key in self.slots.keys() {
            if let Some(slot) = self.slots.get(key) {
                slot.state.added.set(false);
                for d in &slot.state.dirs {
                    d.notify_all(&mut self.deferred);
                    d.readiness.set(Readiness::Unknown);
                }
            }
        }
        Ok(())
    }
}

impl IoState {
    /// Adds the fd to epoll if it is not there yet (first wait, or first wait after a fork).
    fn ensure_added(&self) -> io::Result<()> {
        if self.added.get() {
            return Ok(());
        }
        super::try_with(|r| r.ensure_added(self)).unwrap_or_else(|| Err(stale()))
    }

    #[inline]
    fn begin(&self, dir: Dir, waiter: Option<&mut WaitSlot<'_>>, cx: &mut Context<'_>) -> Begin {
        let d = &self.dirs[dir as usize];
        let Some(w) = waiter else {
            if d.readiness.get() != Readiness::NotReady {
                return proceed(cx, Begin::Try(None));
            }
            d.add_poll_waker(cx.waker());
            return Begin::Pending;
        };
        if let Some(ticket) = w.ticket {
            match d.refresh(ticket, cx.waker()) {
                WaiterState::Queued => return Begin::Pending,
                WaiterState::Notified => {
                    if coop::poll_proceed(cx).is_pending() {
                        return Begin::Pending;
                    }
                    w.ticket = None;
                    return Begin::Try(Some(ticket));
                }
            }
        }
        if d.readiness.get() != Readiness::NotReady {
            return proceed(cx, Begin::Try(None));
        }
        w.ticket = Some(d.enqueue(cx.waker()));
        Begin::Pending
    }

    /// Records an operation's outcome. `Ok(true)`: the caller must return `Pending` (it is
    /// queued for the next edge). The two outcomes of every round trip (progress, and a
    /// short transfer that drained a registered fd) are handled inline; the rest out of line.
    #[inline]
    fn finish(
        &self,
        dir: Dir,
        waiter: Option<&mut WaitSlot<'_>>,
        cx: &mut Context<'_>,
        notified: Option<Ticket>,
        outcome: Outcome,
    ) -> io::Result<bool> {
        let d = &self.dirs[dir as usize];
        match outcome {
            Outcome::Progress if notified.is_none() => coop::consume(),
            Outcome::Drained if self.added.get() && !d.short_not_drained.get() => {
                coop::consume();
                d.readiness.set(Readiness::NotReady);
            }
            _ => return self.finish_slow(dir, waiter, cx, notified, outcome),
        }
        Ok(false)
    }

    #[inline(never)]
    fn finish_slow(
        &self,
        dir: Dir,
        waiter: Option<&mut WaitSlot<'_>>,
        cx: &mut Context<'_>,
        notified: Option<Ticket>,
        outcome: Outcome,
    ) -> io::Result<bool> {
        let d = &self.dirs[dir as usize];
        let outcome = match outcome {
            Outcome::Drained if d.short_not_drained.get() => Outcome::Progress,
            o => o,
        };
        match outcome {
            Outcome::WouldBlock => {
                if let Err(e) = self.ensure_added() {
                    if notified.is_some() {
                        wake(d.pass_on());
                    }
                    return Err(e);
                }
                d.readiness.set(Readiness::NotReady);
                match (waiter, notified) {
                    // A waiter that was notified (it was first in line) keeps its place.
                    (Some(w), Some(ticket)) => {
                        d.requeue(ticket, cx.waker());
                        w.ticket = Some(ticket);
                    }
                    (Some(w), None) => w.ticket = Some(d.enqueue(cx.waker())),
                    (None, _) => d.add_poll_waker(cx.waker()),
                }
                Ok(true)
            }
            Outcome::Drained => {
                coop::consume();
                // NotReady promises an edge will come, which needs the fd in epoll. If adding it
                // fails, stay as is: the next operation tries its syscall and sees the error.
                if self.ensure_added().is_ok() {
                    d.readiness.set(Readiness::NotReady);
                }
                Ok(false)
            }
            Outcome::Progress => {
                coop::consume();
                if notified.is_some() {
                    wake(d.pass_on());
                }
                Ok(false)
            }
        }
    }

    /// `readable()`/`writable()`: Ready once an edge has been seen (or passed on) *and* the fd
    /// is ready now. Readiness records only what geode's own operations saw: a read or write
    /// made outside geode (through `get_ref`, another library) may have used it up since, and a
    /// caller looping on "try the syscall, await `readable()` on `WouldBlock`" would spin on a
    /// stale `Ready`. So before answering `Ready`, one zero-timeout `poll(2)` asks the kernel;
    /// the operations (`poll_io`) never pay for it, they learn from their own syscall.
    fn poll_ready(
        &self,
        dir: Dir,
        waiter: Option<&mut WaitSlot<'_>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let d = &self.dirs[dir as usize];
        let mut waiter = waiter;
        if let Some(w) = waiter.as_deref_mut() {
            if let Some(ticket) = w.ticket {
                match d.refresh(ticket, cx.waker()) {
                    WaiterState::Queued => return Poll::Pending,
                    WaiterState::Notified if !self.ready_now(dir) => {
                        // The edge was used up outside geode: wait for the next one, keeping
                        // this waiter's place (it still heads the line).
                        if let Err(e) = self.ensure_added() {
                            w.ticket = None;
                            wake(d.pass_on());
                            return Poll::Ready(Err(e));
                        }
                        d.readiness.set(Readiness::NotReady);
                        d.requeue(ticket, cx.waker());
                        return Poll::Pending;
                    }
                    WaiterState::Notified => {
                        // Readiness is handed to the caller, who may or may not use it: pass
                        // it on too, so nobody behind us can hang on an unconsumed edge.
                        w.ticket = None;
                        wake(d.pass_on());
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
        match d.readiness.get() {
            Readiness::Ready if self.ready_now(dir) => {
                if coop::poll_proceed(cx).is_pending() {
                    return Poll::Pending;
                }
                coop::consume();
                return Poll::Ready(Ok(()));
            }
            // Ready only as far as geode knew; NotReady promises an edge, which needs the fd
            // in epoll (a no-op if it is there already).
            Readiness::Ready | Readiness::Unknown => {
                // Not in epoll yet: add it; the ADD reports current readiness as an edge.
                if let Err(e) = self.ensure_added() {
                    return Poll::Ready(Err(e));
                }
            }
            Readiness::NotReady => {}
        }
        d.readiness.set(Readiness::NotReady);
        match waiter {
            Some(w) => w.ticket = Some(d.enqueue(cx.waker())),
            None => d.add_poll_waker(cx.waker()),
        }
        Poll::Pending
    }

    /// Whether the kernel says the fd is ready in `dir` right now.
    fn ready_now(&self, dir: Dir) -> bool {
        let asked = match dir {
            Dir::Read => PollFor::Read,
            Dir::Write => PollFor::Write,
        };
        crate::sys::fd::poll_now(self.fd.get(), asked)
    }
}

/// `then`, unless the task's coop budget is spent (then `Pending`, the task re-woken).
fn proceed(cx: &mut Context<'_>, then: Begin) -> Begin {
    if coop::poll_proceed(cx).is_pending() {
        Begin::Pending
    } else {
        then
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
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
#[inline]
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

/// An fd's registration with this thread's reactor. Deregisters on drop, which must happen
/// before the fd is closed (field order in the owners sees to it).
///
/// Thread-bound (`Rc`): the registration lives in this thread's reactor.
pub(crate) struct Registration {
    state: Rc<IoState>,
    fd: RawFd,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("added", &self.state.added.get())
            .finish()
    }
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
        let state = with(|r| r.register(raw, kind, id));
        Ok(Registration { state, fd: raw })
    }

    /// Registers a socket geode created itself (non-blocking already, kind known): no syscall.
    pub(crate) fn new_socket(fd: BorrowedFd<'_>) -> Registration {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        let state = with(|r| r.register(raw, FileKind::Socket, (0, 0)));
        Registration { state, fd: raw }
    }

    /// Runs `op` if the direction may be ready; on `WouldBlock`, queues for the next edge and
    /// returns `Pending` (the caller polls again when woken). `drained` tells, from a
    /// successful result, whether the fd is now drained (a short read or write on a stream
    /// socket). Nothing is borrowed while `op` runs: it may be user code that re-enters.
    pub(crate) fn poll_io<R>(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        mut waiter: Option<&mut WaitSlot<'_>>,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let mut turned = false;
        loop {
            let notified = match self.state.begin(dir, waiter.as_deref_mut(), cx) {
                Begin::Try(notified) => notified,
                Begin::Pending if retry_after_turn(cx.waker(), &mut turned) => continue,
                Begin::Pending => return Poll::Pending,
            };
            let (res, outcome) = attempt(&mut op, &drained);
            return match self
                .state
                .finish(dir, waiter.as_deref_mut(), cx, notified, outcome)
            {
                Ok(true) if retry_after_turn(cx.waker(), &mut turned) => continue,
                Ok(true) => Poll::Pending,
                Ok(false) => Poll::Ready(res),
                Err(e) => Poll::Ready(Err(e)),
            };
        }
    }

    /// A `try_*` operation: `op` once, now, with no waker and no coop budget (tokio's
    /// `try_io`). A `WouldBlock` marks each direction in `dirs` `NotReady` (after adding the
    /// fd to epoll: `NotReady` promises an edge), so the next operation or `readable()` waits
    /// for an edge; a `drained` result does what it does in [`poll_io`](Self::poll_io), HUP
    /// and PRI stickiness included. Waiters in line are not touched: one that was notified
    /// tries its own syscall and requeues if this call took the data.
    ///
    /// `NotReady` is a promise that an edge will come, which only a real `EAGAIN` gives. A
    /// user's closure may say `WouldBlock` without asking the kernel (or about another fd):
    /// unless `trusted` (geode's own syscall on this fd said it), the kernel is asked first,
    /// and a direction it calls ready keeps its readiness, so `readable()` cannot hang on
    /// data that is already there.
    pub(crate) fn try_io<R>(
        &self,
        dirs: &[Dir],
        trusted: bool,
        op: impl FnOnce() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let res = op();
        let state = &*self.state;
        match &res {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                state.ensure_added()?;
                for &dir in dirs {
                    if trusted || !state.ready_now(dir) {
                        state.dirs[dir as usize].readiness.set(Readiness::NotReady);
                    }
                }
            }
            Ok(v) if state.added.get() && drained(v) => {
                for &dir in dirs {
                    let d = &state.dirs[dir as usize];
                    if !d.short_not_drained.get() {
                        d.readiness.set(Readiness::NotReady);
                    }
                }
            }
            _ => {}
        }
        res
    }

    /// Ready when the direction is (probably) ready; see `Async::readable`.
    pub(crate) fn poll_ready(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        waiter: Option<&mut WaitSlot<'_>>,
    ) -> Poll<io::Result<()>> {
        let mut waiter = waiter;
        let mut turned = false;
        loop {
            match self.state.poll_ready(dir, waiter.as_deref_mut(), cx) {
                Poll::Pending if retry_after_turn(cx.waker(), &mut turned) => continue,
                p => return p,
            }
        }
    }

    /// A queue slot for one future-style operation in direction `dir`.
    pub(crate) fn waiter(&self, dir: Dir) -> WaitSlot<'_> {
        WaitSlot {
            state: &self.state,
            dir,
            ticket: None,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let gone = super::try_with(|r| r.deregister(&self.state, self.fd));
        if gone == Some(true) {
            // Dropped here, outside the reactor's borrow: a waker's drop is foreign code.
            for d in &self.state.dirs {
                drop(d.clear());
            }
        }
    }
}

/// One future's place in a direction's FIFO queue. Dropping it leaves the queue, and passes
/// readiness on if it had been woken and not used it.
pub(crate) struct WaitSlot<'a> {
    state: &'a IoState,
    dir: Dir,
    ticket: Option<Ticket>,
}

impl WaitSlot<'_> {
    /// [`Registration::poll_io`] in this slot's direction, keeping this slot's place in line.
    #[inline]
    pub(crate) fn poll_io<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        let (state, dir) = (self.state, self.dir);
        let mut turned = false;
        loop {
            let notified = match state.begin(dir, Some(self), cx) {
                Begin::Try(notified) => notified,
                Begin::Pending if retry_after_turn(cx.waker(), &mut turned) => continue,
                Begin::Pending => return Poll::Pending,
            };
            let (res, outcome) = attempt(&mut op, &drained);
            return match state.finish(dir, Some(self), cx, notified, outcome) {
                Ok(true) if retry_after_turn(cx.waker(), &mut turned) => continue,
                Ok(true) => Poll::Pending,
                Ok(false) => Poll::Ready(res),
                Err(e) => Poll::Ready(Err(e)),
            };
        }
    }
}

impl WaitSlot<'_> {
    /// Leaves the queue; passes readiness on if this waiter was woken and did not use it.
    #[inline(never)]
    fn leave(&self, ticket: Ticket) {
        let d = &self.state.dirs[self.dir as usize];
        if d.remove(ticket) == WaiterState::Notified {
            wake(d.pass_on());
        }
    }
}

impl Drop for WaitSlot<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.leave(ticket);
        }
    }
}
