//! The datagram surface: `try_send`, `try_recv`, `try_send_to`, `try_recv_from`,
//! `try_peek_from`, their `poll_*` forms, and the readiness methods, on `UdpSocket` and
//! `UnixDatagram`; `poll_accept` on the listeners. Ready, would-block and error paths.

mod util;
use util::poll_once;

use std::future::poll_fn;
use std::io::ErrorKind;
use std::pin::pin;

use geode::io::Interest;
use geode::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};

fn udp_pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    (a, b)
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("geode-dgram-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

macro_rules! datagram_tests {
    ($module:ident, $pair:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn try_send_and_try_recv() {
                geode::block_on(util::bounded(10, "try_send/try_recv", async {
                    let (a, b) = $pair;
                    let mut buf = [0; 16];
                    assert_eq!(
                        b.try_recv(&mut buf).unwrap_err().kind(),
                        ErrorKind::WouldBlock
                    );
                    assert_eq!(
                        b.try_recv_from(&mut buf).unwrap_err().kind(),
                        ErrorKind::WouldBlock
                    );
                    assert!(
                        poll_once(pin!(b.readable())).is_pending(),
                        "cleared by WouldBlock"
                    );
                    a.writable().await.unwrap();
                    assert_eq!(a.try_send(b"one").unwrap(), 3);
                    assert_eq!(a.try_send(b"two").unwrap(), 3);
                    let r = b.ready(Interest::READABLE).await.unwrap();
                    assert!(r.is_readable() && !r.is_read_closed(), "{r:?}");
                    assert_eq!(b.try_recv(&mut buf).unwrap(), 3);
                    assert_eq!(&buf[..3], b"one");
                    // The second datagram may still be on its way (loopback delivery can be
                    // deferred under load): wait for it the tokio way.
                    let (n, _from) = loop {
                        b.readable().await.unwrap();
                        match b.try_recv_from(&mut buf) {
                            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                            res => break res.unwrap(),
                        }
                    };
                    assert_eq!(&buf[..n], b"two");
                    assert_eq!(
                        b.try_recv(&mut buf).unwrap_err().kind(),
                        ErrorKind::WouldBlock
                    );
                    // The future still sees the next one.
                    a.send(b"three").await.unwrap();
                    assert_eq!(b.recv(&mut buf).await.unwrap(), 5);
                }));
            }

            #[test]
            fn poll_forms() {
                geode::block_on(util::bounded(10, "poll forms", async {
                    let (a, b) = $pair;
                    let mut buf = [0; 16];
                    assert!(poll_once(pin!(poll_fn(|cx| b.poll_recv(cx, &mut buf)))).is_pending());
                    poll_fn(|cx| a.poll_write_ready(cx)).await.unwrap();
                    assert_eq!(poll_fn(|cx| a.poll_send(cx, b"hi")).await.unwrap(), 2);
                    poll_fn(|cx| b.poll_read_ready(cx)).await.unwrap();
                    assert_eq!(poll_fn(|cx| b.poll_recv(cx, &mut buf)).await.unwrap(), 2);
                    a.send(b"from").await.unwrap();
                    let (n, _) = poll_fn(|cx| b.poll_recv_from(cx, &mut buf)).await.unwrap();
                    assert_eq!(&buf[..n], b"from");
                }));
            }
        }
    };
}

datagram_tests!(udp, udp_pair());
datagram_tests!(unix, UnixDatagram::pair().unwrap());

#[test]
fn udp_try_send_to_try_peek_from_and_their_poll_forms() {
    geode::block_on(util::bounded(10, "udp to/from", async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut buf = [0; 16];
        assert_eq!(
            b.try_peek_from(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert_eq!(a.try_send_to(b"peek", b_addr).unwrap(), 4);
        b.readable().await.unwrap();
        assert_eq!(b.try_peek_from(&mut buf).unwrap(), (4, a_addr));
        assert_eq!(
            poll_fn(|cx| b.poll_peek_from(cx, &mut buf)).await.unwrap(),
            (4, a_addr)
        );
        // The connected forms peek too.
        b.connect(a_addr).unwrap();
        assert_eq!(b.try_peek(&mut buf).unwrap(), 4);
        assert_eq!(poll_fn(|cx| b.poll_peek(cx, &mut buf)).await.unwrap(), 4);
        // Peeking left it queued.
        assert_eq!(b.try_recv_from(&mut buf).unwrap(), (4, a_addr));
        assert_eq!(
            poll_fn(|cx| a.poll_send_to(cx, b"x", b_addr))
                .await
                .unwrap(),
            1
        );
        assert_eq!(b.recv_from(&mut buf).await.unwrap(), (1, a_addr));
        // A v6 target from a v4 socket: the kernel's error, not a panic.
        let v6: std::net::SocketAddr = "[::1]:9".parse().unwrap();
        let err = a.try_send_to(b"x", v6).unwrap_err();
        assert!(err.raw_os_error().is_some(), "{err:?}");
    }));
}

#[test]
fn a_udp_icmp_error_shows_as_ready_with_an_error_and_is_consumed() {
    geode::block_on(util::bounded(10, "icmp", async {
        // A port nobody listens on: bind one, note it, close it.
        let dead = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(dead).unwrap();
        a.try_send(b"anyone?").unwrap();
        let r = a.ready(Interest::READABLE).await.unwrap();
        assert!(r.is_error(), "{r:?}");
        let err = a.try_recv(&mut [0; 8]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
        // Consumed: the socket is quiet again, readable() waits.
        assert_eq!(
            a.try_recv(&mut [0; 8]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert!(poll_once(pin!(a.readable())).is_pending());
    }));
}

#[test]
fn unix_datagram_would_block_on_a_full_peer_and_errors_on_a_missing_path() {
    let dir = temp_dir("full");
    geode::block_on(util::bounded(20, "unix dgram", async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let mut sent = 0;
        loop {
            match a.try_send(&[0; 512]) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("try_send: {e}"),
            }
        }
        assert!(sent > 0);
        let mut writable = pin!(a.writable());
        assert!(
            poll_once(writable.as_mut()).is_pending(),
            "full, yet writable"
        );
        // The kernel calls the sender writable again once its send buffer is mostly free:
        // drain the receiver.
        let mut buf = [0; 512];
        for _ in 0..sent {
            b.recv(&mut buf).await.unwrap();
        }
        writable.await.unwrap();
        assert!(a.try_send(b"again").is_ok());

        let missing = dir.join("nobody");
        let err = a.try_send_to(b"x", &missing).unwrap_err();
        // A connected socket refuses another destination; an unconnected one finds no file.
        assert!(err.raw_os_error().is_some(), "{err:?}");
        let lone = UnixDatagram::unbound().unwrap();
        let err = lone.try_send_to(b"x", &missing).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        let err = poll_fn(|cx| lone.poll_send_to(cx, b"x", &missing))
            .await
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        let target = UnixDatagram::bind(dir.join("target")).unwrap();
        assert_eq!(lone.try_send_to(b"hey", dir.join("target")).unwrap(), 3);
        assert_eq!(target.recv(&mut buf).await.unwrap(), 3);
    }));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn poll_accept_on_both_listeners() {
    let dir = temp_dir("accept");
    geode::block_on(util::bounded(10, "poll_accept", async {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(poll_once(pin!(poll_fn(|cx| tcp.poll_accept(cx)))).is_pending());
        let client = TcpStream::connect(tcp.local_addr().unwrap()).await.unwrap();
        let (server, peer) = poll_fn(|cx| tcp.poll_accept(cx)).await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        client.write_all(b"k").await.unwrap();
        let mut one = [0];
        server.read_exact(&mut one).await.unwrap();

        let path = dir.join("sock");
        let unix = UnixListener::bind(&path).unwrap();
        assert!(poll_once(pin!(poll_fn(|cx| unix.poll_accept(cx)))).is_pending());
        let client = UnixStream::connect(&path).await.unwrap();
        let (server, _) = poll_fn(|cx| unix.poll_accept(cx)).await.unwrap();
        assert_eq!(server.peer_cred().unwrap(), client.peer_cred().unwrap());
    }));
    std::fs::remove_dir_all(&dir).unwrap();
}
