//! The readiness methods every socket type has, written once: `ready(Interest)`, `readable`,
//! `writable`, their `poll_*` forms, `try_io`, and the std conversions.
//!
//! They are thin: each forwards to the socket's `Async`, whose registration runs the one
//! readiness protocol (FIFO lines, the kernel check before `Ready`, `WouldBlock` clearing).

/// Expands, inside an `impl` block of a socket type with an `io: Async<$std>` field (and no
/// other), to the readiness methods. `$setup` is doc-test code that makes `a` and `b`, a
/// connected pair, inside an async block; `$send` sends `b"hi"` from `b` (`write_all`, `send`).
macro_rules! readiness_methods {
    ($name:literal, $std:ty, $setup:literal, $send:literal) => {
        /// Waits until the socket is ready for any of `interest`, and says how it is found:
        /// readable, writable, a half closed, an error (see [`Ready`](crate::io::Ready)).
        ///
        /// It asks the kernel before answering, so it never reports readiness that a read or
        /// write made elsewhere has used up; but another task may still take it first: treat
        /// a `WouldBlock` from the next `try_*` as "wait again".
        ///
        /// # Errors
        /// The fd could not be added to this thread's epoll, or `poll(2)` failed.
        ///
        /// # Cancel safety
        /// Cancel-safe.
        ///
        /// # Examples
        /// ```
        /// use geode::io::Interest;
        ///
        /// geode::block_on(async {
        #[doc = $setup]
        #[doc = concat!("b.", $send, "(b\"hi\").await?;")]
        ///     let ready = a.ready(Interest::READABLE).await?; // waits for the data
        ///     assert!(ready.is_readable() && !ready.is_writable()); // only what was asked
        ///     let ready = a.ready(Interest::READABLE | Interest::WRITABLE).await?;
        ///     assert!(ready.is_readable() && ready.is_writable());
        ///     assert!(!ready.is_read_closed());
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub async fn ready(
            &self,
            interest: crate::io::Interest,
        ) -> std::io::Result<crate::io::Ready> {
            self.io.ready(interest).await
        }

        /// Waits until the socket is readable: `ready(Interest::READABLE)` without the
        /// flags. The loop "`try_read`; on `WouldBlock` await `readable()`" neither spins nor
        /// misses a wakeup.
        ///
        /// # Errors
        /// As [`ready`](Self::ready).
        ///
        /// # Cancel safety
        /// Cancel-safe: a dropped `readable()` hands any readiness it received on.
        pub async fn readable(&self) -> std::io::Result<()> {
            self.io.readable().await
        }

        /// Waits until the socket is writable. See [`readable`](Self::readable).
        pub async fn writable(&self) -> std::io::Result<()> {
            self.io.writable().await
        }

        /// Polls for read readiness, with [`readable`](Self::readable)'s guarantee. For
        /// hand-written `poll_*` code: only the tasks that most recently called it are woken.
        pub fn poll_read_ready(
            &self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            self.io.poll_readable(cx)
        }

        /// Polls for write readiness. See [`poll_read_ready`](Self::poll_read_ready).
        pub fn poll_write_ready(
            &self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            self.io.poll_writable(cx)
        }

        /// Runs `f`, a non-blocking operation on this socket (a syscall on its fd, say
        /// through `socket2` or `libc`), once, now. If it returns `WouldBlock` and the
        /// kernel agrees (a zero-timeout `poll(2)`), the directions in `interest` are marked
        /// not ready, so the next [`readable`](Self::readable)/[`writable`](Self::writable) or
        /// geode operation waits for an edge; a `WouldBlock` the kernel contradicts clears
        /// nothing. Other results are returned as they are.
        ///
        /// # Examples
        /// ```
        /// use geode::io::Interest;
        /// use std::io::ErrorKind;
        ///
        /// geode::block_on(async {
        #[doc = $setup]
        ///     // A real `f` makes a syscall on the socket's fd (`AsFd`), with socket2, libc...
        ///     let res: std::io::Result<()> =
        ///         a.try_io(Interest::READABLE, || Err(ErrorKind::WouldBlock.into()));
        ///     assert_eq!(res.unwrap_err().kind(), ErrorKind::WouldBlock);
        #[doc = concat!("b.", $send, "(b\"hi\").await?;")]
        ///     a.readable().await?; // waits for the data: the kernel says so
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn try_io<R>(
            &self,
            interest: crate::io::Interest,
            f: impl FnOnce() -> std::io::Result<R>,
        ) -> std::io::Result<R> {
            self.io.try_io(interest, |_| f())
        }

        /// Takes the socket's pending error (`SO_ERROR`).
        pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
            self.io.get_ref().take_error()
        }

        #[doc = concat!("Wraps a std `", $name, "` (geode makes it non-blocking; tokio leaves that")]
        /// to you) and registers it with this thread's reactor.
        ///
        /// # Errors
        /// `fcntl`'s, e.g. `EBADF`.
        pub fn from_std(socket: $std) -> std::io::Result<Self> {
            Ok(Self {
                io: crate::io::Async::new(socket)?,
            })
        }

        /// Deregisters the socket and returns it as the std type, still non-blocking.
        ///
        /// # Errors
        /// None today; the `Result` is std's and tokio's shape.
        pub fn into_std(self) -> std::io::Result<$std> {
            self.io.into_inner()
        }
    };
}
pub(crate) use readiness_methods;
