//! `Async<T>`: any fd the kernel can poll, driven by this thread's reactor.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

use super::{Direction, Waiter};
use crate::reactor::Registration;

/// An fd made asynchronous: operations that would block wait for the reactor instead.
///
/// `Async::new` puts the fd in non-blocking mode and registers it with this thread's reactor.
/// Pipes, sockets, ttys, eventfds, timerfds, signalfds and inotify fds all work. A regular file
/// or a directory is refused (`ErrorKind::Unsupported`): epoll cannot watch them, because they
/// never block.
///
/// The fd is added to epoll when an operation on it first would block, and removed from it
/// before it is closed (on drop) or handed back ([`into_inner`](Self::into_inner)).
///
/// `Async` is bound to the thread that created it (it is neither `Send` nor `Sync`): each
/// thread has its own reactor. To use one fd from several threads, give each thread its own
/// `try_clone` of it.
///
/// Several tasks may wait on one `Async` (through `&Async`): each direction keeps a FIFO queue
/// of waiters, and an edge wakes them in arrival order.
///
/// # Examples
/// ```
/// use geode::io::Async;
/// use std::io::{Read, Write};
///
/// geode::block_on(async {
///     let (reader, mut writer) = std::io::pipe()?;
///     let reader = Async::new(reader)?;
///     writer.write_all(b"hello")?;
///     let mut buf = [0; 5];
///     let n = reader.read_with(|mut r| r.read(&mut buf)).await?;
///     assert_eq!(&buf[..n], b"hello");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Async<T: AsFd> {
    // Field order matters: the registration is dropped (removed from epoll) before `io`
    // closes the fd.
    pub(super) reg: Registration,
    pub(super) io: T,
}

impl<T: AsFd> Unpin for Async<T> {}

impl<T: AsFd> Async<T> {
    /// Makes `io` non-blocking and registers it with this thread's reactor.
    ///
    /// # Errors
    /// - `ErrorKind::Unsupported` for a regular file or a directory (epoll cannot watch them);
    /// - the `fstat`/`fcntl` error otherwise, e.g. `EBADF` for a closed fd.
    ///
    /// On error `io` is dropped (its fd closed): nothing leaks.
    pub fn new(io: T) -> io::Result<Async<T>> {
        let reg = Registration::new(io.as_fd())?;
        Ok(Async { reg, io })
    }

    /// The inner I/O object.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The inner I/O object, mutably.
    ///
    /// # Safety
    /// The fd must stay the same: replacing the inner object (or closing and reopening its fd)
    /// would leave the old fd registered with the reactor and the new one unwatched.
    pub unsafe fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Deregisters the fd and returns the inner object. The fd stays in non-blocking mode.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for a deregistration that can fail.
    pub fn into_inner(self) -> io::Result<T> {
        let Async { reg, io } = self;
        drop(reg);
        Ok(io)
    }

    /// Waits until the fd is readable.
    ///
    /// It never answers from stale knowledge: before it reports the fd readable it asks the
    /// kernel (a zero-timeout `poll(2)` on this fd), so after a read made outside geode
    /// (through [`get_ref`](Self::get_ref), a raw fd, another library) drained the fd, it
    /// waits for new data. The loop "try the syscall; on `WouldBlock` await `readable()`"
    /// therefore waits instead of spinning. Readiness can still be gone by the time the caller
    /// reads (another task, or another process, may read first): treat `WouldBlock` as "wait
    /// again". [`read_with`](Self::read_with) does that loop for you, and costs no `poll(2)`.
    ///
    /// # Cancel safety
    /// Cancel-safe: a dropped `readable()` hands any readiness it received to the next waiter.
    ///
    /// # Examples
    /// ```
    /// use std::io::{ErrorKind, Read, Write};
    /// use geode::io::Async;
    ///
    /// geode::block_on(async {
    ///     let (r, mut w) = std::io::pipe()?;
    ///     let r = Async::new(r)?;
    ///     w.write_all(b"hi")?;
    ///     let mut buf = [0; 8];
    ///     let n = loop {
    ///         match r.get_ref().read(&mut buf) {
    ///             Err(e) if e.kind() == ErrorKind::WouldBlock => r.readable().await?,
    ///             res => break res?,
    ///         }
    ///     };
    ///     assert_eq!(&buf[..n], b"hi");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        let mut waiter = self.reg.waiter(Direction::Read);
        poll_fn(|cx| waiter.poll_ready(cx)).await
    }

    /// Waits until the fd is writable. Like [`readable`](Self::readable), it checks with the
    /// kernel before answering, so a pipe or socket filled outside geode makes it wait.
    pub async fn writable(&self) -> io::Result<()> {
        let mut waiter = self.reg.waiter(Direction::Write);
        poll_fn(|cx| waiter.poll_ready(cx)).await
    }

    /// Polls for read readiness, with [`readable`](Self::readable)'s guarantee: `Ready` only
    /// if the kernel says the fd is readable now. Only the tasks that most recently called it
    /// are woken (each task once), so use it from `poll_*` implementations, not from several
    /// futures at once.
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg.poll_ready(Direction::Read, cx)
    }

    /// Polls for write readiness. See [`poll_readable`](Self::poll_readable).
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg.poll_ready(Direction::Write, cx)
    }

    /// Runs a read-like operation, waiting for readability each time it returns `WouldBlock`.
    ///
    /// `op` must be non-blocking and must report "no data yet" as `ErrorKind::WouldBlock`
    /// (std's I/O on a non-blocking fd does). Other errors and successes are returned as is.
    ///
    /// # Cancel safety
    /// Cancel-safe if `op` is: a wait dropped after being woken passes the wakeup on.
    ///
    /// # Examples
    /// ```
    /// use geode::io::Async;
    /// use std::os::unix::net::UnixDatagram;
    ///
    /// geode::block_on(async {
    ///     let (a, b) = UnixDatagram::pair()?;
    ///     let (a, b) = (Async::new(a)?, Async::new(b)?);
    ///     b.write_with(|s| s.send(b"ping")).await?;
    ///     let mut buf = [0; 16];
    ///     let n = a.read_with(|s| s.recv(&mut buf)).await?;
    ///     assert_eq!(&buf[..n], b"ping");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut waiter = self.reg.waiter(Direction::Read);
        poll_fn(|cx| waiter.poll_io(cx, || op(&self.io), never)).await
    }

    /// Runs a write-like operation, waiting for writability each time it returns `WouldBlock`.
    /// See [`read_with`](Self::read_with).
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut waiter = self.reg.waiter(Direction::Write);
        poll_fn(|cx| waiter.poll_io(cx, || op(&self.io), never)).await
    }

    /// Wraps a socket geode created non-blocking itself, skipping `new`'s checks (no syscall).
    pub(crate) fn new_socket(io: T) -> Async<T> {
        let reg = Registration::new_socket(io.as_fd());
        Async { reg, io }
    }

    /// A place in `dir`'s FIFO line, for a future-style operation: its `poll_io` and
    /// `poll_ready` keep the place across polls.
    #[inline]
    pub(crate) fn waiter(&self, dir: Direction) -> Waiter<'_> {
        self.reg.waiter(dir)
    }

    /// One poll of an operation for a `poll_*` caller, which has no place in line (its waker
    /// is woken by every edge). `drained` says from a result whether the fd is drained (a
    /// short stream transfer).
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        self.reg.poll_io(dir, cx, op, drained)
    }

    /// [`poll_io`](Self::poll_io) of an operation on the inner object.
    pub(crate) fn poll_with<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.reg.poll_io(dir, cx, || op(&self.io), never)
    }

    /// The registration and the inner object, for operations that need `&mut T`.
    pub(super) fn parts_mut(&mut self) -> (&Registration, &mut T) {
        (&self.reg, &mut self.io)
    }
}

/// `drained` for operations that cannot tell (anything but a stream socket's own syscall).
#[inline]
pub(crate) fn never<R>(_: &R) -> bool {
    false
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_fd().as_raw_fd()
    }
}
