//! `geode::net::UnixSocket`: streams that listen or connect, datagrams, and the errors of a
//! socket used as the other kind, with nothing leaked.

mod util;

use std::io::ErrorKind;

use geode::net::UnixSocket;

#[test]
fn a_stream_socket_listens_and_another_connects() {
    let dir = util::TempDir::new("unix-socket-stream");
    let path = dir.join("s.sock");
    geode::block_on(util::bounded(10, "listen and connect", async {
        let server = UnixSocket::new_stream()?;
        server.bind(&path)?;
        let listener = server.listen(8)?;
        let client = UnixSocket::new_stream()?.connect(&path).await?;
        let (conn, _) = listener.accept().await?;
        client.write_all(b"ping").await?;
        let mut buf = [0; 4];
        conn.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ping");
        Ok::<(), std::io::Error>(())
    }))
    .unwrap();
}

#[test]
fn a_datagram_socket_sends_and_receives() {
    let dir = util::TempDir::new("unix-socket-dgram");
    let (pa, pb) = (dir.join("a.sock"), dir.join("b.sock"));
    geode::block_on(util::bounded(10, "datagrams", async {
        let a = UnixSocket::new_datagram()?;
        a.bind(&pa)?;
        let a = a.datagram()?;
        let b = UnixSocket::new_datagram()?;
        b.bind(&pb)?;
        let b = b.datagram()?;
        a.send_to(b"hello", &pb).await?;
        let mut buf = [0; 8];
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from.as_pathname(), Some(pa.as_path()));
        Ok::<(), std::io::Error>(())
    }))
    .unwrap();
}

#[test]
fn the_wrong_kind_and_bad_paths_are_errors() {
    let dir = util::TempDir::new("unix-socket-errors");
    let e = UnixSocket::new_datagram().unwrap().listen(8).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let e = UnixSocket::new_stream().unwrap().datagram().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    geode::block_on(util::bounded(10, "connect errors", async {
        let e = UnixSocket::new_datagram()?
            .connect(dir.join("x.sock"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let e = UnixSocket::new_stream()?
            .connect(dir.join("nobody.sock"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        Ok::<(), std::io::Error>(())
    }))
    .unwrap();
    // Bound twice: the path exists.
    let path = dir.join("twice.sock");
    UnixSocket::new_stream().unwrap().bind(&path).unwrap();
    let e = UnixSocket::new_stream().unwrap().bind(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
    // Too long for a sockaddr_un.
    let long = dir.join(&"x".repeat(200));
    let e = UnixSocket::new_stream().unwrap().bind(&long).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}
