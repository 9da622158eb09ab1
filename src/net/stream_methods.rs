//! The inherent methods `TcpStream` and `UnixStream` share, written once.

/// Expands, inside the `impl` of a stream type with an `io: Async<$std>` field, to its reads,
/// writes (future, `poll_*` and `try_*` forms, plain and vectored), `shutdown`, the addresses
/// and the readiness methods. `$setup` is doc-test code making a connected pair `a`, `b`.
macro_rules! stream_methods {
    ($name:literal, $std:ty, $addr:ty, $setup:literal) => {
        crate::net::readiness::readiness_methods!($name, $std, $setup, "write_all");

        #[cfg(any(feature = "futures-io", feature = "tokio-io"))]
        pub(crate) fn io(&self) -> &crate::io::Async<$std> {
            &self.io
        }

        #[cfg(any(feature = "futures-io", feature = "tokio-io"))]
        pub(crate) fn shutdown_write(&self) -> std::io::Result<()> {
            self.io.get_ref().shutdown(std::net::Shutdown::Write)
        }

        /// Reads into `buf`, waiting until data arrives. `Ok(0)` means the peer closed its
        /// write half (EOF), or `buf` is empty.
        ///
        /// # Cancel safety
        /// Cancel-safe: if dropped before completing, no data was read.
        pub fn read<'a>(
            &'a self,
            buf: &'a mut [u8],
        ) -> impl std::future::Future<Output = std::io::Result<usize>> + 'a {
            crate::io::stream::read(&self.io, buf)
        }

        /// Writes some of `buf`, waiting until the socket can take data. Returns how much it
        /// wrote.
        ///
        /// # Cancel safety
        /// Cancel-safe: if dropped before completing, nothing was written.
        pub fn write<'a>(
            &'a self,
            buf: &'a [u8],
        ) -> impl std::future::Future<Output = std::io::Result<usize>> + 'a {
            crate::io::stream::write(&self.io, buf)
        }

        /// Reads exactly `buf.len()` bytes.
        ///
        /// # Errors
        /// `UnexpectedEof` if the peer closes first.
        ///
        /// # Cancel safety
        /// Not cancel-safe: bytes read before the drop are lost.
        pub fn read_exact<'a>(
            &'a self,
            buf: &'a mut [u8],
        ) -> impl std::future::Future<Output = std::io::Result<()>> + 'a {
            crate::io::stream::read_exact(&self.io, buf)
        }

        /// Writes all of `buf`.
        ///
        /// # Cancel safety
        /// Not cancel-safe: some of `buf` may have been written before the drop.
        pub fn write_all<'a>(
            &'a self,
            buf: &'a [u8],
        ) -> impl std::future::Future<Output = std::io::Result<()>> + 'a {
            crate::io::stream::write_all(&self.io, buf)
        }

        /// Reads into `bufs`, in order (one `recvmsg`; at most 1024 buffers are used),
        /// waiting until data arrives. `Ok(0)` is EOF.
        ///
        /// # Cancel safety
        /// Cancel-safe.
        ///
        /// # Examples
        /// ```
        /// use std::io::IoSliceMut;
        ///
        /// geode::block_on(async {
        #[doc = $setup]
        ///     b.write_all(b"headbody").await?;
        ///     let (mut head, mut body) = ([0; 4], [0; 4]);
        ///     let mut bufs = [IoSliceMut::new(&mut head), IoSliceMut::new(&mut body)];
        ///     let n = a.read_vectored(&mut bufs).await?; // one write, one segment here
        ///     assert_eq!(n, 8);
        ///     assert_eq!((&head, &body), (b"head", b"body"));
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub async fn read_vectored(
            &self,
            bufs: &mut [std::io::IoSliceMut<'_>],
        ) -> std::io::Result<usize> {
            crate::io::stream::read_vectored(&self.io, bufs).await
        }

        /// Writes from `bufs`, in order (one `sendmsg`, `MSG_NOSIGNAL`: a closed peer is
        /// `EPIPE`, never `SIGPIPE`), waiting until the socket can take data. Returns how
        /// much it wrote.
        ///
        /// # Cancel safety
        /// Cancel-safe.
        ///
        /// # Examples
        /// ```
        /// use std::io::IoSlice;
        ///
        /// geode::block_on(async {
        #[doc = $setup]
        ///     let n = a.write_vectored(&[IoSlice::new(b"head"), IoSlice::new(b"body")]).await?;
        ///     assert_eq!(n, 8); // an empty socket buffer takes it all
        ///     let mut buf = [0; 8];
        ///     b.read_exact(&mut buf).await?;
        ///     assert_eq!(&buf, b"headbody");
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub async fn write_vectored(
            &self,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::io::Result<usize> {
            crate::io::stream::write_vectored(&self.io, bufs).await
        }

        /// Polls a read into `buf` (the `AsyncRead` primitive).
        pub fn poll_read(
            &self,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            crate::io::stream::poll_read(&self.io, cx, buf)
        }

        /// Polls a write of `buf` (the `AsyncWrite` primitive).
        pub fn poll_write(
            &self,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            crate::io::stream::poll_write(&self.io, cx, buf)
        }

        /// Reads what is there now, without waiting: tokio's `try_read`.
        ///
        /// # Errors
        /// `WouldBlock` if nothing is queued (the read direction is then marked not ready,
        /// so the next [`readable`](Self::readable) waits for data); the socket's error
        /// otherwise, e.g. `ConnectionReset`. `Ok(0)` is EOF (or an empty `buf`).
        ///
        /// # Examples
        /// ```
        /// use std::io::ErrorKind;
        ///
        /// geode::block_on(async {
        #[doc = $setup]
        ///     let mut buf = [0; 8];
        ///     assert_eq!(a.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        ///     b.write_all(b"hi").await?;
        ///     let n = loop {
        ///         a.readable().await?;
        ///         match a.try_read(&mut buf) {
        ///             Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
        ///             res => break res?,
        ///         }
        ///     };
        ///     assert_eq!(&buf[..n], b"hi");
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            crate::io::stream::try_read(&self.io, buf)
        }

        /// Writes what the socket takes now, without waiting: tokio's `try_write`.
        ///
        /// # Errors
        /// `WouldBlock` if the send buffer is full (the write direction is then marked not
        /// ready, so the next [`writable`](Self::writable) waits for room); `BrokenPipe` once
        /// the peer is gone (never `SIGPIPE`).
        ///
        /// # Examples
        /// ```
        /// geode::block_on(async {
        #[doc = $setup]
        ///     a.writable().await?;
        ///     assert_eq!(a.try_write(b"hi")?, 2);
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
            crate::io::stream::try_write(&self.io, buf)
        }

        /// [`try_read`](Self::try_read) into several buffers, in order (one `recvmsg`).
        pub fn try_read_vectored(
            &self,
            bufs: &mut [std::io::IoSliceMut<'_>],
        ) -> std::io::Result<usize> {
            crate::io::stream::try_read_vectored(&self.io, bufs)
        }

        /// [`try_write`](Self::try_write) from several buffers, in order (one `sendmsg`).
        pub fn try_write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
            crate::io::stream::try_write_vectored(&self.io, bufs)
        }

        /// Shuts down the read half, the write half, or both.
        pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
            self.io.get_ref().shutdown(how)
        }

        /// The local address.
        pub fn local_addr(&self) -> std::io::Result<$addr> {
            self.io.get_ref().local_addr()
        }

        /// The remote address.
        pub fn peer_addr(&self) -> std::io::Result<$addr> {
            self.io.get_ref().peer_addr()
        }
    };
}
pub(crate) use stream_methods;
