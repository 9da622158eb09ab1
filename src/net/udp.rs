//! `UdpSocket`.

use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::io::Async;
use crate::sys::addr::RawAddr;
use crate::sys::socket::{self, Kind};

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

    /// Sends a datagram to the connected peer.
    ///
    /// # Errors
    /// `ConnectionRefused` if an earlier datagram was answered with ICMP port-unreachable; the
    /// error is consumed by reporting it.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|s| s.send(buf)).await
    }

    /// Receives a datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.recv(buf)).await
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

    /// Receives a datagram and the address it came from.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// Receives a datagram without removing it from the queue.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.peek_from(buf)).await
    }

    /// Receives a datagram from the connected peer without removing it from the queue.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
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

    /// Takes the socket's pending error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Wraps a std socket (which geode makes non-blocking) and registers it.
    pub fn from_std(socket: net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: Async::new(socket)?,
        })
    }

    /// Deregisters the socket and returns it as a std socket, still non-blocking.
    pub fn into_std(self) -> io::Result<net::UdpSocket> {
        self.io.into_inner()
    }
}

impl TryFrom<net::UdpSocket> for UdpSocket {
    type Error = io::Error;

    fn try_from(s: net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::from_std(s)
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
