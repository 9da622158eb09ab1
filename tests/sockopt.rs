//! Socket options: `linger`/`set_linger`/`set_zero_linger`, `tos`/`set_tos`, UDP broadcast and
//! multicast, `UnixStream::peer_cred`. Good values round-trip; bad ones get the kernel's errno.

mod util;
use util::geode_tcp_pair;

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use geode::net::{UdpSocket, UnixStream};

#[test]
fn linger_round_trips_and_rounds_fractions_up() {
    geode::block_on(async {
        let (a, _b) = geode_tcp_pair().await;
        assert_eq!(a.linger().unwrap(), None);
        a.set_linger(Some(Duration::from_secs(7))).unwrap();
        assert_eq!(a.linger().unwrap(), Some(Duration::from_secs(7)));
        // Half a second is not an abortive close.
        a.set_linger(Some(Duration::from_millis(500))).unwrap();
        assert_eq!(a.linger().unwrap(), Some(Duration::from_secs(1)));
        a.set_zero_linger().unwrap();
        assert_eq!(a.linger().unwrap(), Some(Duration::ZERO));
        a.set_linger(None).unwrap();
        assert_eq!(a.linger().unwrap(), None);
        let err = a
            .set_linger(Some(Duration::from_secs(1 << 40)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(a.linger().unwrap(), None, "a refused value changed nothing");
    });
}

#[test]
fn zero_linger_resets_the_peer() {
    geode::block_on(util::bounded(10, "zero linger", async {
        let (a, b) = geode_tcp_pair().await;
        a.set_zero_linger().unwrap();
        drop(a);
        let err = b.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNRESET));
    }));
}

#[test]
fn tos_round_trips() {
    geode::block_on(async {
        let (a, _b) = geode_tcp_pair().await;
        a.set_tos(0x10).unwrap();
        assert_eq!(a.tos().unwrap(), 0x10);
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_tos(0x08).unwrap();
        assert_eq!(udp.tos().unwrap(), 0x08);
        let err = udp.set_tos(u32::MAX).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    });
}

#[test]
fn broadcast_and_multicast_options_round_trip() {
    let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
    assert!(!udp.broadcast().unwrap());
    udp.set_broadcast(true).unwrap();
    assert!(udp.broadcast().unwrap());
    udp.set_multicast_loop_v4(false).unwrap();
    assert!(!udp.multicast_loop_v4().unwrap());
    udp.set_multicast_ttl_v4(9).unwrap();
    assert_eq!(udp.multicast_ttl_v4().unwrap(), 9);
    // A v6 option on a v4 socket: the kernel's refusal.
    assert!(
        udp.set_multicast_loop_v6(true)
            .unwrap_err()
            .raw_os_error()
            .is_some()
    );
}

#[test]
fn multicast_join_checks_its_address() {
    let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
    let err = udp
        .join_multicast_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    // Leaving a group never joined.
    let group = Ipv4Addr::new(239, 255, 77, 1);
    let err = udp
        .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL));
    // Joining on the loopback interface, then leaving, then leaving again.
    match udp.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
        Ok(()) => {
            let again = udp
                .join_multicast_v4(group, Ipv4Addr::LOCALHOST)
                .unwrap_err();
            assert_eq!(again.raw_os_error(), Some(libc::EADDRINUSE));
            udp.leave_multicast_v4(group, Ipv4Addr::LOCALHOST).unwrap();
            let err = udp
                .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL));
        }
        // A host whose loopback takes no multicast: the kernel says which.
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{e}"),
    }
    // v6 calls on a v4 socket, and a v6 non-multicast address on a v6 socket.
    assert!(udp.join_multicast_v6(&Ipv6Addr::LOCALHOST, 0).is_err());
    if let Ok(v6) = UdpSocket::bind("[::1]:0") {
        let err = v6.join_multicast_v6(&Ipv6Addr::LOCALHOST, 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        assert!(
            v6.leave_multicast_v6(&"ff02::77".parse().unwrap(), 0)
                .is_err()
        );
    }
}

#[test]
fn peer_cred_names_this_process() {
    geode::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let me = std::fs::metadata("/proc/self").unwrap();
        let cred = a.peer_cred().unwrap();
        assert_eq!(cred.uid(), me.uid());
        assert_eq!(cred.gid(), me.gid());
        assert_eq!(cred.pid(), Some(std::process::id() as i32));
        // Still known once the peer is gone (it was taken at connect time).
        drop(a);
        assert_eq!(
            b.peer_cred().unwrap().pid(),
            Some(std::process::id() as i32)
        );
    });
}
