//! The handle an I/O object keeps (tokio's `Registration`): made by registering an fd with
//! this thread's reactor, it deregisters on drop, which must happen before the fd is closed
//! (field order in the owners sees to it). Its operations are the protocol's
//! (`protocol.rs`) on the registration's shared state: none borrows the reactor.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll};

use super::io_state::{Direction, IoState};
use super::kernel::unsupported;
use super::protocol::{self, PollCaller, Waiter};
use super::with;
use crate::sys::fd::FileKind;

/// An fd's registration with this thread's reactor. Thread-bound (`Rc`): the registration
/// lives in this thread's reactor.
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
        let raw = fd.as_raw_fd();
        let state = with(|r| r.register(raw, FileKind::Socket, (0, 0)));
        Registration { state, fd: raw }
    }

    /// A place in `dir`'s line, for one future-style operation.
    #[inline]
    pub(crate) fn waiter(&self, dir: Direction) -> Waiter<'_> {
        Waiter::new(&self.state, dir)
    }

    /// The `poll_*` form of an operation (no place in line): see [`protocol::poll_io`].
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        protocol::poll_io(&self.state, &mut PollCaller(dir), cx, op, drained)
    }

    /// The `poll_*` form of readiness: see [`protocol::poll_ready`].
    pub(crate) fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        protocol::poll_ready(&self.state, &mut PollCaller(dir), cx)
    }

    /// One attempt now: see [`protocol::try_io`].
    pub(crate) fn try_io<R>(
        &self,
        dirs: &[Direction],
        trusted: bool,
        op: impl FnOnce() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        protocol::try_io(&self.state, dirs, trusted, op, drained)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let gone = super::try_with(|r| r.deregister(&self.state, self.fd));
        if gone == Some(true) {
            // Dropped here, outside the reactor's borrow: a waker's drop is foreign code.
            for d in self.state.dirs() {
                drop(d.clear());
            }
        }
    }
}
