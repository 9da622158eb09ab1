//! `geode::net::UdpSocket` through the public API: unconnected and connected sends and
//! receives, peeks, oversized datagrams, and ICMP port-unreachable errors (reported once, and
//! followed by a quiet wait, not a spin).
//!
//! Loopback only (127.0.0.1 and ::1, port 0).

mod util;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join;
use geode::net::UdpSocket;
use geode::reactor::stats;
use geode::time::timeout;
use geode::{block_on, yield_now};
use util::bounded;

fn socket() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = s.local_addr().unwrap();
    (s, addr)
}

/// A loopback UDP address nothing is bound to (bound, noted, closed).
fn dead_addr() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn send_to_and_recv_from() {
    block_on(bounded(10, "send_to/recv_from", async {
        let (a, a_addr) = socket();
        let (b, b_addr) = socket();
        assert_eq!(a.send_to(b"one", b_addr).await.unwrap(), 3);
        assert_eq!(a.send_to(b"two!", b_addr).await.unwrap(), 4);
        let mut buf = [0; 64];
        // Datagram boundaries are kept, in order.
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"one"[..], a_addr));
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"two!"[..], a_addr));
        // A receive that has to wait is woken by the datagram.
        let (r, _) = join(b.recv_from(&mut buf), async {
            yield_now().await;
            a.send_to(b"late", b_addr).await.unwrap();
        })
        .await;
        let (n, from) = r.unwrap();
        assert_eq!((n, from), (4, a_addr));
        assert_eq!(&buf[..n], b"late");
        // send_to takes any ToSocketAddrs: a string too.
        b.send_to(b"str", format!("127.0.0.1:{}", a_addr.port()))
            .await
            .unwrap();
        let (n, _) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"str");
        // A zero-length datagram is a datagram.
        a.send_to(&[], b_addr).await.unwrap();
        assert_eq!(b.recv_from(&mut buf).await.unwrap(), (0, a_addr));
    }));
}

#[test]
fn send_to_and_recv_from_ipv6() {
    let Ok(a) = UdpSocket::bind("[::1]:0") else {
        eprintln!("skipped: no IPv6 loopback");
        return;
    };
    block_on(bounded(10, "udp over ::1", async move {
        let b = UdpSocket::bind("[::1]:0").unwrap();
        a.send_to(b"six", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0; 8];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"six"[..], a.local_addr().unwrap()));
    }));
}

#[test]
fn connected_send_and_recv() {
    block_on(bounded(10, "connected udp", async {
        let (a, a_addr) = socket();
        let (b, b_addr) = socket();
        a.connect(b_addr).unwrap();
        b.connect(a_addr).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        assert_eq!(a.send(b"ping").await.unwrap(), 4);
        let mut buf = [0; 16];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        b.send(b"pong").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");

        // A connected socket drops datagrams from anyone else: a third socket's datagram never
        // shows up, the peer's next one does.
        let (c, _) = socket();
        c.send_to(b"stranger", a_addr).await.unwrap();
        b.send(b"friend").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"friend");
    }));
}

/// `peek_from`/`peek` return the next datagram and leave it queued: the following `recv` gets
/// the same one.
#[test]
fn peek_leaves_the_datagram() {
    block_on(bounded(10, "peek", async {
        let (a, a_addr) = socket();
        let (b, b_addr) = socket();
        let mut buf = [0; 16];
        // peek_from waits for a datagram like recv_from does.
        let (r, _) = join(b.peek_from(&mut buf), async {
            yield_now().await;
            a.send_to(b"first", b_addr).await.unwrap();
        })
        .await;
        assert_eq!(r.unwrap(), (5, a_addr));
        assert_eq!(&buf[..5], b"first");
        // Peeking again sees the same datagram.
        let mut again = [0; 16];
        assert_eq!(b.peek_from(&mut again).await.unwrap(), (5, a_addr));
        assert_eq!(&again[..5], b"first");
        let mut got = [0; 16];
        assert_eq!(b.recv_from(&mut got).await.unwrap(), (5, a_addr));
        assert_eq!(&got[..5], b"first");

        // Connected: peek, then recv gets it.
        b.connect(a_addr).unwrap();
        a.send_to(b"second", b_addr).await.unwrap();
        let n = b.peek(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"second");
        let n = b.recv(&mut got).await.unwrap();
        assert_eq!(&got[..n], b"second");
        // Nothing left: a recv now waits.
        assert!(
            timeout(Duration::from_millis(10), b.recv(&mut got))
                .await
                .is_err()
        );
    }));
}

/// A datagram larger than UDP allows (64 KiB) fails with EMSGSIZE at once: not a hang (geode
/// must not take it for "would block") and not a panic.
#[test]
fn oversized_datagram_is_emsgsize() {
    block_on(bounded(10, "oversized datagram", async {
        let (a, _) = socket();
        let (_b, b_addr) = socket();
        let big = vec![0u8; 70 * 1024];
        let e = a.send_to(&big, b_addr).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EMSGSIZE), "{e}");
        a.connect(b_addr).unwrap();
        let e = a.send(&big).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EMSGSIZE), "{e}");
        // The socket still works.
        a.send(b"small").await.unwrap();
    }));
}

/// A datagram to a port nobody listens on draws an ICMP port-unreachable; on a connected
/// socket the kernel turns it into a pending ECONNREFUSED, signalled as EPOLLERR. The waiting
/// `recv` must wake with `ConnectionRefused`. Afterwards, with nothing to receive, a `recv` must
/// wait quietly: a stale error readiness that made the reactor spin would show as many
/// `epoll_wait` calls (or a busy task) during the wait.
#[test]
fn icmp_port_unreachable_is_connection_refused_then_quiet() {
    block_on(bounded(10, "icmp port unreachable", async {
        let (a, _) = socket();
        a.connect(dead_addr()).unwrap();
        let mut buf = [0; 16];
        // Start waiting before the error arrives, so the error has to wake us.
        let (r, sent) = join(a.recv(&mut buf), async {
            yield_now().await;
            a.send(b"anyone?").await
        })
        .await;
        sent.unwrap();
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");

        let before = stats();
        let r = timeout(Duration::from_millis(50), a.recv(&mut buf)).await;
        let after = stats();
        assert!(r.is_err(), "nothing to receive, the recv must wait: {r:?}");
        let waits = after.epoll_wait_calls - before.epoll_wait_calls;
        let wakeups = after.wakeups - before.wakeups;
        assert!(
            waits < 20,
            "recv after ECONNREFUSED spins: {waits} epoll_wait calls in 50 ms"
        );
        assert!(
            wakeups < 20,
            "recv after ECONNREFUSED spins: {wakeups} wakeups"
        );
        // The error was consumed: the socket still sends.
        a.send(b"again").await.unwrap();
    }));
}

/// The same error, this time already pending when `recv` is called.
#[test]
fn icmp_error_pending_before_recv() {
    block_on(bounded(10, "icmp error already pending", async {
        let (a, _) = socket();
        a.connect(dead_addr()).unwrap();
        a.send(b"anyone?").await.unwrap();
        // On loopback the ICMP error is delivered during the send.
        let mut buf = [0; 16];
        let e = a.recv(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        assert!(a.take_error().unwrap().is_none());
    }));
}

/// Sending to an IPv6 address from an IPv4 socket fails at once (not a hang, not a panic);
/// so does sending to an address that resolves to nothing.
#[test]
fn send_to_a_wrong_family_or_no_address_fails() {
    block_on(bounded(10, "wrong family", async {
        let (a, _) = socket();
        let e = a.send_to(b"x", "[::1]:9").await.unwrap_err();
        assert!(
            e.raw_os_error().is_some() || e.kind() == ErrorKind::InvalidInput,
            "{e}"
        );
        let none: &[SocketAddr] = &[];
        let e = a.send_to(b"x", none).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }));
}

#[test]
fn options() {
    let (a, _) = socket();
    a.set_broadcast(true).unwrap();
    assert!(a.broadcast().unwrap());
    a.set_ttl(7).unwrap();
    assert_eq!(a.ttl().unwrap(), 7);
    assert_eq!(
        a.peer_addr().unwrap_err().kind(),
        ErrorKind::NotConnected,
        "an unconnected socket has no peer"
    );
}
