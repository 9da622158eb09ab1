//! tokio's readiness surface on `Async<T>`: `ready(Interest)`, `try_io`, and the `&mut T`
//! forms of `read_with`/`write_with`. Everything goes through the registration's one protocol
//! (`poll_ready` for readiness, `poll_io` for operations, `try_io` for one attempt now).

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::task::Poll;

use super::async_fd::never;
use super::{Async, Direction, Interest, Ready};

impl<T: AsFd> Async<T> {
    /// Waits until the fd is ready for any of `interest`, and says how it is: readable,
    /// writable, a half closed, an error.
    ///
    /// Like [`readable`](Self::readable), it asks the kernel before answering, so it never
    /// reports readiness a read made outside geode has used up. Each direction asked about
    /// waits in its own FIFO line.
    ///
    /// # Errors
    /// The registration's (the fd could not be added to epoll), or `poll(2)`'s.
    ///
    /// # Cancel safety
    /// Cancel-safe.
    ///
    /// # Examples
    /// ```
    /// use geode::io::{Async, Interest};
    /// use std::os::unix::net::UnixStream;
    ///
    /// geode::block_on(async {
    ///     let (a, _b) = UnixStream::pair()?;
    ///     let a = Async::new(a)?;
    ///     let ready = a.ready(Interest::READABLE | Interest::WRITABLE).await?;
    ///     assert!(ready.is_writable() && !ready.is_readable());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        // A place in each line asked about (the `Interest` has at least one).
        let mut read = interest
            .is_readable()
            .then(|| self.reg.waiter(Direction::Read));
        let mut write = interest
            .is_writable()
            .then(|| self.reg.waiter(Direction::Write));
        poll_fn(|cx| {
            loop {
                let mut any = false;
                if let Some(w) = read.as_mut() {
                    if let Poll::Ready(r) = w.poll_ready(cx) {
                        r?;
                        any = true;
                    }
                }
                if let (false, Some(w)) = (any, write.as_mut()) {
                    if let Poll::Ready(r) = w.poll_ready(cx) {
                        r?;
                        any = true;
                    }
                }
                if !any {
                    return Poll::Pending;
                }
                let revents = crate::sys::fd::poll_revents(
                    self.as_fd().as_raw_fd(),
                    crate::sys::fd::POLL_ALL,
                )?;
                let ready = Ready::from_revents(revents, interest);
                if !ready.is_empty() {
                    return Poll::Ready(Ok(ready));
                }
                // Gone between the two looks (another process read): wait again, in line.
            }
        })
        .await
    }

    /// Runs `f` once, now, without waiting: tokio's `AsyncFd::try_io`. If `f` returns
    /// `WouldBlock` and the kernel agrees (a zero-timeout `poll(2)`), the directions in
    /// `interest` are marked not ready, so the next [`readable`](Self::readable)/
    /// [`writable`](Self::writable) (or geode operation) waits for an edge instead of trying
    /// first. A `WouldBlock` the kernel contradicts clears nothing: `readable()` then answers
    /// at once rather than wait for an edge that already came. Any other result is returned
    /// as is.
    ///
    /// `f` must not block: use it for a syscall on the non-blocking fd.
    ///
    /// # Examples
    /// ```
    /// use geode::io::{Async, Interest};
    /// use std::io::{ErrorKind, Read, Write};
    ///
    /// geode::block_on(async {
    ///     let (r, mut w) = std::io::pipe()?;
    ///     let r = Async::new(r)?;
    ///     let mut buf = [0; 8];
    ///     let err = r.try_io(Interest::READABLE, |mut p| p.read(&mut buf)).unwrap_err();
    ///     assert_eq!(err.kind(), ErrorKind::WouldBlock);
    ///     w.write_all(b"hi")?;
    ///     r.readable().await?;
    ///     assert_eq!(r.try_io(Interest::READABLE, |mut p| p.read(&mut buf))?, 2);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.try_in(interest, false, || f(&self.io), never)
    }

    /// A `try_*` of geode's own: `op` is one non-blocking syscall on this fd, so its
    /// `WouldBlock` is the kernel's word; `drained` says whether a result drained the fd (a
    /// short stream transfer).
    pub(crate) fn try_op<R>(
        &self,
        interest: Interest,
        op: impl FnOnce() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        self.try_in(interest, true, op, drained)
    }

    /// [`try_op`](Self::try_op) on the inner object, nothing drained.
    pub(crate) fn try_own<R>(
        &self,
        interest: Interest,
        op: impl FnOnce(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.try_in(interest, true, || op(&self.io), never)
    }

    fn try_in<R>(
        &self,
        interest: Interest,
        trusted: bool,
        op: impl FnOnce() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let dirs: &[Direction] = match (interest.is_readable(), interest.is_writable()) {
            (true, true) => &[Direction::Read, Direction::Write],
            (true, false) => &[Direction::Read],
            _ => &[Direction::Write],
        };
        self.reg.try_io(dirs, trusted, op, drained)
    }

    /// [`read_with`](Self::read_with) with `&mut T`, for inner types whose reads need it.
    ///
    /// # Examples
    /// ```
    /// use geode::io::Async;
    /// use std::io::{Read, Write};
    ///
    /// geode::block_on(async {
    ///     let (r, mut w) = std::io::pipe()?;
    ///     let mut r = Async::new(r)?;
    ///     w.write_all(b"hi")?;
    ///     let mut buf = [0; 2];
    ///     r.read_with_mut(|p| p.read_exact(&mut buf)).await?;
    ///     assert_eq!(&buf, b"hi");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read_with_mut<R>(
        &mut self,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let (reg, io) = self.parts_mut();
        let mut waiter = reg.waiter(Direction::Read);
        poll_fn(|cx| waiter.poll_io(cx, || op(io), never)).await
    }

    /// [`write_with`](Self::write_with) with `&mut T`.
    ///
    /// # Examples
    /// ```
    /// use geode::io::Async;
    /// use std::io::{Read, Write};
    ///
    /// geode::block_on(async {
    ///     let (mut r, w) = std::io::pipe()?;
    ///     let mut w = Async::new(w)?;
    ///     w.write_with_mut(|p| p.write_all(b"hi")).await?;
    ///     let mut buf = [0; 2];
    ///     r.read_exact(&mut buf)?;
    ///     assert_eq!(&buf, b"hi");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn write_with_mut<R>(
        &mut self,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let (reg, io) = self.parts_mut();
        let mut waiter = reg.waiter(Direction::Write);
        poll_fn(|cx| waiter.poll_io(cx, || op(io), never)).await
    }
}
