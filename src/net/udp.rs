//! `UdpSocket`.

use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use crate::io::{Async, Direction, Interest};
use crate::sys::addr::RawAddr;
use crate::sys::socket::{self, Kind};
use crate::sys::sockopt;

/// A UDP socket.
///
/// # Examples
/// ```
/// use geode::net::UdpSocket;
/// geode::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     a.send_to(b"hello", b.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    io: Async<net::UdpSocket>,
}

impl UdpSocket {
    /// Creates a socket bound to the first of `addrs` that works. Not async.
    pub fn bind(addrs: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        super::each_addr(addrs, |addr| {
            let fd = socket::socket(socket::family_of(addr), Kind::Datagram)?;
            socket::bind(fd.as_fd(), &RawAddr::from_inet(addr))?;
            Ok(UdpSocket {
                io: Async::new_socket(net::UdpSocket::from(fd)),
            })
        })
    }

    /// Sets the default peer of `send`/`recv`, and filters what `recv` accepts to it. Not
    /// async: UDP has no handshake.
    pub fn connect(&self, addrs: impl ToSocketAddrs) -> io::Result<()> {
        self.io.get_ref().connect(addrs)
    }

    /// Sends a datagram to `target` (its first address). An IP literal is used at once; a
    /// host name is resolved on the blocking pool (see [`ToSocketAddrs`](super::ToSocketAddrs)).
    pub async fn send_to(
        &self,
        buf: &[u8],
        target: impl super::ToSocketAddrs,
    ) -> io::Result<usize> {
        let addr = super::addrs::resolve(&target)
            .await?
            .next()
            .ok_or_else(super::no_addresses)?;
        self.io.write_with(|s| s.send_to(buf, addr)).await
    }

    /// Receives a datagram without removing it from the queue.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.peek_from(buf)).await
    }

    /// Receives a datagram from the connected peer without removing it from the queue.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// Sends a datagram to `target` now, without waiting: tokio's `try_send_to`.
    ///
    /// # Errors
    /// `WouldBlock` if the send buffer is full (the write direction is then marked not
    /// ready); `sendto`'s errors otherwise.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io
            .try_own(Interest::WRITABLE, |s| s.send_to(buf, target))
    }

    /// Receives a queued datagram without removing it, and its sender's address, now:
    /// tokio's `try_peek_from`. `WouldBlock` if none is queued.
    pub fn try_peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_own(Interest::READABLE, |s| s.peek_from(buf))
    }

    /// Receives the next datagram from the connected peer without removing it, now: tokio's
    /// `try_peek`. `WouldBlock` if none is queued.
    pub fn try_peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_own(Interest::READABLE, |s| s.peek(buf))
    }

    /// Polls a peek at the next datagram from the connected peer (its length).
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_with(Direction::Read, cx, |s| s.peek(buf))
    }

    /// Polls a send to `target`, for hand-written futures.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_with(Direction::Write, cx, |s| s.send_to(buf, target))
    }

    /// Polls a peek at the next datagram and its sender's address (tokio's takes a
    /// `ReadBuf`; this returns the datagram's length).
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_with(Direction::Read, cx, |s| s.peek_from(buf))
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface with address `interface`
    /// (`Ipv4Addr::UNSPECIFIED`: the kernel's choice).
    ///
    /// # Errors
    /// `EINVAL` (`InvalidInput`) if `multiaddr` is not a multicast address; `EADDRINUSE` if
    /// already joined; `ENODEV` for an unknown interface.
    ///
    /// # Examples
    /// ```
    /// use std::net::Ipv4Addr;
    ///
    /// let socket = geode::net::UdpSocket::bind("0.0.0.0:0")?;
    /// let err = socket
    ///     .join_multicast_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED)
    ///     .unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EINVAL)); // not a multicast address
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().join_multicast_v4(&multiaddr, &interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on interface number `interface` (0: any).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group joined with [`join_multicast_v4`](Self::join_multicast_v4).
    ///
    /// # Errors
    /// `EADDRNOTAVAIL` if it was not joined.
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v4(&multiaddr, &interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v6(multiaddr, interface)
    }

    /// Sets `IP_MULTICAST_LOOP`: whether this host's own multicast sends come back to it.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_multicast_loop_v4(on)
    }

    /// Gets `IP_MULTICAST_LOOP`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.io.get_ref().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL` (default 1: the local network only).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_multicast_ttl_v4(ttl)
    }

    /// Gets `IP_MULTICAST_TTL`.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.io.get_ref().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_multicast_loop_v6(on)
    }

    /// Gets `IPV6_MULTICAST_LOOP`.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.io.get_ref().multicast_loop_v6()
    }

    /// `IP_TOS`, the IPv4 type-of-service byte of outgoing datagrams.
    pub fn tos(&self) -> io::Result<u32> {
        sockopt::tos(self.io.as_fd())
    }

    /// Sets `IP_TOS`.
    ///
    /// # Examples
    /// ```
    /// let socket = geode::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_tos(0x10)?; // low delay
    /// assert_eq!(socket.tos()?, 0x10);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        sockopt::set_tos(self.io.as_fd(), tos)
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Gets `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    super::datagram::datagram_methods!(
        "UdpSocket",
        net::UdpSocket,
        SocketAddr,
        "    let a = geode::net::UdpSocket::bind(\"127.0.0.1:0\")?;
    let b = geode::net::UdpSocket::bind(\"127.0.0.1:0\")?;
    a.connect(b.local_addr()?)?;
    b.connect(a.local_addr()?)?;"
    );
}

super::fd_traits::fd_traits!(UdpSocket => net::UdpSocket);
