//! The inherent methods `UdpSocket` and `UnixDatagram` share, written once.

/// Expands, inside the `impl` of a datagram type with an `io: Async<$std>` field, to `send`,
/// `recv`, `recv_from` in their future, `poll_*` and `try_*` forms, the addresses and the
/// readiness methods. `$setup` is doc-test code making `a`, `b`, connected to each other.
macro_rules! datagram_methods {
    ($name:literal, $std:ty, $addr:ty, $setup:literal) => {
        crate::net::readiness::readiness_methods!($name, $std, $setup, "send");

        /// Sends a datagram to the connected peer, waiting for room in the send buffer.
        ///
        /// # Errors
        /// `send`'s: e.g. `ConnectionRefused` on UDP once an earlier datagram was answered
        /// with ICMP port-unreachable (the error is consumed by reporting it).
        ///
        /// # Cancel safety
        /// Cancel-safe: if dropped before completing, nothing was sent.
        pub async fn send(&self, buf: &[u8]) -> std::io::Result<usize> {
            self.io.write_with(|s| s.send(buf)).await
        }

        /// Receives a datagram from the connected peer (the part of it that fits in `buf`; the
        /// rest is dropped).
        ///
        /// # Cancel safety
        /// Cancel-safe: if dropped before completing, nothing was received.
        pub async fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.io.read_with(|s| s.recv(buf)).await
        }

        /// Receives a datagram and its sender's address.
        ///
        /// # Cancel safety
        /// Cancel-safe.
        pub async fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, $addr)> {
            self.io.read_with(|s| s.recv_from(buf)).await
        }

        /// Sends a datagram to the connected peer now, without waiting: tokio's `try_send`.
        ///
        /// # Errors
        /// `WouldBlock` if the send buffer is full (the write direction is then marked not
        /// ready, so [`writable`](Self::writable) waits for room); `send`'s errors otherwise.
        ///
        /// # Examples
        /// ```
        /// geode::block_on(async {
        #[doc = $setup]
        ///     a.writable().await?;
        ///     assert_eq!(a.try_send(b"hi")?, 2);
        ///     let mut buf = [0; 8];
        ///     b.readable().await?;
        ///     assert_eq!(b.try_recv(&mut buf)?, 2);
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn try_send(&self, buf: &[u8]) -> std::io::Result<usize> {
            self.io
                .try_own(crate::io::Interest::WRITABLE, |s| s.send(buf))
        }

        /// Receives a queued datagram now, without waiting: tokio's `try_recv`.
        ///
        /// # Errors
        /// `WouldBlock` if none is queued (the read direction is then marked not ready, so
        /// [`readable`](Self::readable) waits for one); `recv`'s errors otherwise.
        ///
        /// # Examples
        /// ```
        /// use std::io::ErrorKind;
        ///
        /// geode::block_on(async {
        #[doc = $setup]
        ///     let mut buf = [0; 8];
        ///     assert_eq!(a.try_recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn try_recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.io
                .try_own(crate::io::Interest::READABLE, |s| s.recv(buf))
        }

        /// [`try_recv`](Self::try_recv), with the sender's address.
        pub fn try_recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, $addr)> {
            self.io
                .try_own(crate::io::Interest::READABLE, |s| s.recv_from(buf))
        }

        /// Polls a send to the connected peer, for hand-written futures (only the tasks that
        /// most recently polled are woken).
        pub fn poll_send(
            &self,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let dir = crate::io::Direction::Write;
            self.io.poll_with(dir, cx, |s| s.send(buf))
        }

        /// Polls a receive from the connected peer into `buf` (tokio's takes a `ReadBuf`;
        /// this returns the datagram's length, as [`recv`](Self::recv) does).
        pub fn poll_recv(
            &self,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let dir = crate::io::Direction::Read;
            self.io.poll_with(dir, cx, |s| s.recv(buf))
        }

        /// Polls a receive, with the sender's address. See [`poll_recv`](Self::poll_recv).
        pub fn poll_recv_from(
            &self,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<(usize, $addr)>> {
            let dir = crate::io::Direction::Read;
            self.io.poll_with(dir, cx, |s| s.recv_from(buf))
        }

        /// The local address.
        pub fn local_addr(&self) -> std::io::Result<$addr> {
            self.io.get_ref().local_addr()
        }

        /// The connected peer's address.
        ///
        /// # Errors
        /// `NotConnected` if the socket has no peer.
        pub fn peer_addr(&self) -> std::io::Result<$addr> {
            self.io.get_ref().peer_addr()
        }
    };
}
pub(crate) use datagram_methods;
