//! `geode::net::TcpSocket`: options set before `connect` or `listen` hold, connect works and
//! fails with the real error, and nothing leaks on the error paths.

mod util;
// The tests of this file run one at a time (`serial`): one counts open fds.
use util::serial;

use std::io::ErrorKind;
use std::time::Duration;

use geode::net::{TcpListener, TcpSocket};

#[test]
fn options_set_before_connect_read_back_and_carry_over() {
    let _g = serial();
    geode::block_on(util::bounded(10, "connect with options", async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.set_keepalive(true)?;
        socket.set_nodelay(true)?;
        socket.set_linger(Some(Duration::from_millis(1500)))?;
        socket.set_send_buffer_size(64 * 1024)?;
        socket.set_recv_buffer_size(64 * 1024)?;
        assert!(socket.reuseaddr()? && socket.reuseport()?);
        assert!(socket.keepalive()? && socket.nodelay()?);
        // Whole seconds, a fraction rounded up.
        assert_eq!(socket.linger()?, Some(Duration::from_secs(2)));
        // The kernel doubles a buffer size for its bookkeeping (socket(7)).
        assert!(socket.send_buffer_size()? >= 64 * 1024);
        assert!(socket.recv_buffer_size()? >= 64 * 1024);
        socket.set_linger(None)?;
        assert_eq!(socket.linger()?, None);
        socket.bind("127.0.0.1:0".parse().unwrap())?;
        let local = socket.local_addr()?;

        let stream = socket.connect(listener.local_addr()?).await?;
        assert!(stream.nodelay()?, "TCP_NODELAY carried over");
        assert_eq!(
            stream.local_addr()?,
            local,
            "the bound address carried over"
        );
        let (server, peer) = listener.accept().await?;
        assert_eq!(peer, local);
        stream.write_all(b"hi").await?;
        let mut buf = [0; 2];
        server.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"hi");
        Ok::<(), std::io::Error>(())
    }))
    .unwrap();
}

#[test]
fn a_refused_connect_is_connection_refused_and_leaks_nothing() {
    let _g = serial();
    geode::block_on(util::bounded(10, "refused connect", async {
        // A port nobody listens on: bound, then closed.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        // The first one also creates this thread's epoll instance and doorbell.
        let _ = TcpSocket::new_v4()?.connect(addr).await;
        let before = util::open_fds();
        for _ in 0..20 {
            let err = TcpSocket::new_v4()?.connect(addr).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
            assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
        }
        assert_eq!(
            util::open_fds(),
            before,
            "a failed connect leaked its socket"
        );
        Ok::<(), std::io::Error>(())
    }))
    .unwrap();
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let _g = serial();
    let socket = TcpSocket::new_v4().unwrap();
    let e = socket.set_send_buffer_size(u32::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = socket.set_recv_buffer_size(u32::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = socket
        .set_linger(Some(Duration::from_secs(u64::MAX)))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // An IPv6 address for an IPv4 socket: the kernel's EAFNOSUPPORT (or EINVAL), not a hang.
    let e = geode::block_on(util::bounded(
        10,
        "connect to the other family",
        socket.connect("[::1]:9".parse().unwrap()),
    ))
    .unwrap_err();
    assert!(
        matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT | libc::EINVAL)),
        "{e}"
    );
    assert!(TcpSocket::new_v4().unwrap().take_error().unwrap().is_none());
}
