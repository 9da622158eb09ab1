//! `geode::net::{UnixListener, UnixStream, UnixDatagram}` through the public API: paths in a
//! temp dir, socketpairs, `incoming()`, EOF, errors for missing or dead paths, a full backlog,
//! and abstract addresses.

mod util;
use util::{check_echoes, echo_until_eof, read_to_eof, write_until_error};

use std::io::{self, ErrorKind};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::pin::pin;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join;
use geode::net::{UnixDatagram, UnixListener, UnixStream};
use geode::time::timeout;
use geode::{block_on, spawn, yield_now};
use util::{TempDir, bounded};

#[test]
fn listener_bind_accept_echo() {
    let dir = TempDir::new("unix-echo");
    let path = dir.join("sock");
    block_on(bounded(10, "unix echo", async {
        let l = UnixListener::bind(&path).unwrap();
        assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));
        let server = spawn(async move {
            let (s, peer) = l.accept().await?;
            // The client did not bind: its address is unnamed.
            assert!(peer.is_unnamed());
            echo_until_eof(&s, &mut [0; 256]).await
        });
        let c = UnixStream::connect(&path).await.unwrap();
        assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
        check_echoes(&c, &[b"hello", b"unix", &[9u8; 200]]).await;
        c.shutdown(Shutdown::Write).unwrap();
        server.await.unwrap().unwrap();
        assert_eq!(c.read(&mut [0; 4]).await.unwrap(), 0, "EOF");
    }));
}

#[test]
fn connect_to_a_missing_path_is_not_found() {
    let dir = TempDir::new("unix-missing");
    block_on(bounded(10, "connect to missing path", async {
        let e = UnixStream::connect(dir.join("nobody-here"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }));
}

/// A socket file whose listener is gone: `ConnectionRefused`.
#[test]
fn connect_to_a_dead_socket_file_is_refused() {
    let dir = TempDir::new("unix-dead");
    let path = dir.join("sock");
    block_on(bounded(10, "connect to dead socket", async {
        drop(UnixListener::bind(&path).unwrap());
        assert!(
            path.exists(),
            "the socket file stays after the listener closes"
        );
        let e = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        // Binding over the stale file fails: AddrInUse.
        let e = UnixListener::bind(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
    }));
}

/// A Unix connect does not complete in the background: when the listener's backlog is full
/// the kernel says EAGAIN. The connect must then wait (without blocking the thread) and
/// complete once the listener accepts and frees a slot.
#[test]
fn connect_to_a_full_backlog_waits_until_a_slot_frees() {
    let dir = TempDir::new("unix-backlog");
    let path = dir.join("sock");
    // A listener with backlog 0 (it holds one pending connection), made with libc because
    // bind() in geode and std use a large backlog.
    // SAFETY: socket takes no pointers; a non-negative return is a new fd we own.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a fresh fd nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_un; we fill in family and path.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    assert!(bytes.len() < sun.sun_path.len(), "temp path too long");
    for (d, &s) in sun.sun_path.iter_mut().zip(bytes) {
        *d = s as libc::c_char;
    }
    // SAFETY: `sun` is a valid sockaddr_un of the size we pass.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sun as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
    // SAFETY: listen takes no pointers.
    assert_eq!(unsafe { libc::listen(fd, 0) }, 0);
    let std_listener = std::os::unix::net::UnixListener::from(owned);
    assert_eq!(std_listener.as_raw_fd(), fd);

    block_on(bounded(10, "unix connect to full backlog", async {
        // The first connection fills the queue.
        let first = UnixStream::connect(&path).await.unwrap();
        // The next connect cannot complete while the queue is full.
        assert!(
            timeout(Duration::from_millis(50), UnixStream::connect(&path))
                .await
                .is_err(),
            "connect to a full backlog must wait"
        );
        let waiting = spawn({
            let path = path.clone();
            async move { UnixStream::connect(&path).await }
        });
        yield_now().await;
        // Accept one (it is queued, so this blocking std accept returns at once): a slot frees.
        let (served, _) = std_listener.accept().unwrap();
        let second = waiting.await.unwrap().unwrap();
        drop((first, served, second));
    }));
}

/// Writes `data` on `s` while reading as much back from it, and checks what it read.
async fn send_recv(s: &UnixStream, data: &[u8]) {
    let mut got = vec![0; data.len()];
    let (w, r) = join(s.write_all(data), s.read_exact(&mut got)).await;
    w.unwrap();
    r.unwrap();
    assert!(got == data, "corrupted");
}

/// Paths too long for `sockaddr_un` are an error, not a panic, wherever a path is taken.
#[test]
fn too_long_paths_are_errors() {
    let long = std::path::PathBuf::from(format!("/tmp/{}", "x".repeat(200)));
    assert!(UnixListener::bind(&long).is_err());
    assert!(UnixDatagram::bind(&long).is_err());
    block_on(bounded(10, "too long paths", async {
        assert!(UnixStream::connect(&long).await.is_err());
        let u = UnixDatagram::unbound().unwrap();
        assert!(u.send_to(b"x", &long).await.is_err());
        assert!(u.connect(&long).is_err());
    }));
}

#[test]
fn stream_pair_both_ways_and_eof() {
    block_on(bounded(10, "unix stream pair", async {
        let (a, b) = UnixStream::pair().unwrap();
        assert!(a.peer_addr().unwrap().is_unnamed());
        a.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        b.write_all(b"pong").await.unwrap();
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");

        // 1 MiB each way at once: more than the socket buffers hold.
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        join(send_recv(&a, &data), send_recv(&b, &data)).await;

        drop(b);
        assert_eq!(
            a.read(&mut buf).await.unwrap(),
            0,
            "EOF after the peer closed"
        );
        assert_eq!(a.read(&mut buf).await.unwrap(), 0, "EOF stays");
        let e = a.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
        let e = a.write_all(b"x").await.unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "write to a closed peer: {e}"
        );
    }));
}

/// A read waiting on an empty socket is woken by the peer's close, with EOF.
#[test]
fn waiting_read_is_woken_by_eof() {
    block_on(bounded(10, "eof wakes reader", async {
        let (a, b) = UnixStream::pair().unwrap();
        let reader = spawn(async move { a.read(&mut [0; 8]).await });
        yield_now().await;
        assert!(!reader.is_finished());
        drop(b);
        assert_eq!(reader.await.unwrap().unwrap(), 0);
    }));
}

/// Data and EOF arrive together while a read waits (one epoll event for both): the reader must
/// get the data and then EOF, not take the short read for "drained" and wait for an edge that
/// will never come.
#[test]
fn data_and_eof_arriving_together_give_data_then_eof() {
    block_on(bounded(5, "data + EOF in one event", async {
        let (a, b) = UnixStream::pair().unwrap();
        let reader = spawn(async move { read_to_eof(&a).await });
        yield_now().await;
        assert!(!reader.is_finished());
        b.write_all(b"last words").await.unwrap();
        drop(b);
        assert_eq!(reader.await.unwrap().unwrap(), b"last words");
    }));
}

/// A connection whose client already closed is still accepted (the accepted socket's peer
/// address must not be required to exist), and reads its data then EOF.
#[test]
fn accept_of_an_already_closed_connection() {
    let dir = TempDir::new("unix-closed-accept");
    let path = dir.join("sock");
    block_on(bounded(10, "accept closed unix connection", async {
        let l = UnixListener::bind(&path).unwrap();
        let c = UnixStream::connect(&path).await.unwrap();
        c.write_all(b"bye").await.unwrap();
        drop(c);
        let (s, _) = l.accept().await.unwrap();
        let mut buf = [0; 3];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"bye");
        assert_eq!(s.read(&mut buf).await.unwrap(), 0);
    }));
}

/// A write waiting for room (the peer reads nothing) is woken with an error when the peer
/// closes, instead of waiting forever.
#[test]
fn write_waiting_on_a_full_buffer_fails_when_the_peer_closes() {
    block_on(bounded(10, "pending unix write, then peer closes", async {
        let (a, b) = UnixStream::pair().unwrap();
        let writer = spawn(async move {
            let chunk = vec![0x42; 64 * 1024];
            write_until_error(&a, &chunk).await
        });
        for _ in 0..16 {
            yield_now().await;
        }
        assert!(!writer.is_finished(), "the writer cannot finish");
        drop(b);
        let e = writer.await.unwrap();
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "{e}"
        );
    }));
}

/// The same for datagrams: a send waiting on a full receive queue (the peer reads nothing) is
/// woken with an error when the peer closes.
#[test]
fn datagram_send_waiting_on_a_full_peer_fails_when_the_peer_closes() {
    block_on(bounded(
        10,
        "pending unix datagram send, then peer closes",
        async {
            let (a, b) = UnixDatagram::pair().unwrap();
            let sender = spawn(async move {
                let mut sent = 0u64;
                loop {
                    if let Err(e) = a.send(&[0; 512]).await {
                        return (sent, e);
                    }
                    sent += 1;
                }
            });
            for _ in 0..16 {
                yield_now().await;
            }
            assert!(!sender.is_finished(), "the sender cannot finish");
            drop(b);
            let (sent, e) = sender.await.unwrap();
            assert!(sent > 0);
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                        | ErrorKind::BrokenPipe
                ),
                "{e}"
            );
        },
    ));
}

#[test]
fn incoming_is_a_stream() {
    let dir = TempDir::new("unix-incoming");
    let path = dir.join("sock");
    block_on(bounded(10, "unix incoming", async {
        let l = UnixListener::bind(&path).unwrap();
        let clients = spawn({
            let path = path.clone();
            async move {
                let mut v = Vec::new();
                for i in 0..3u8 {
                    let c = UnixStream::connect(&path).await.unwrap();
                    c.write_all(&[i]).await.unwrap();
                    v.push(c);
                }
                v
            }
        });
        let mut incoming = pin!(l.incoming());
        let mut got = Vec::new();
        for _ in 0..3 {
            let s = incoming.next().await.expect("never ends").unwrap();
            let mut b = [0];
            s.read_exact(&mut b).await.unwrap();
            got.push(b[0]);
        }
        got.sort();
        assert_eq!(got, [0, 1, 2]);
        clients.await.unwrap();
    }));
}

/// A leading NUL byte names an abstract socket (no file in the filesystem).
#[test]
fn abstract_address() {
    let name = format!("\0geode-test-{}-abstract", std::process::id());
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(name.as_bytes()));
    block_on(bounded(10, "abstract unix socket", async {
        let l = UnixListener::bind(path).unwrap();
        let (c, s) = join(UnixStream::connect(path), l.accept()).await;
        let (c, (s, _)) = (c.unwrap(), s.unwrap());
        c.write_all(b"abs").await.unwrap();
        let mut buf = [0; 3];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abs");
    }));
}

#[test]
fn datagram_pair() {
    block_on(bounded(10, "unix datagram pair", async {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(b"one").await.unwrap();
        a.send(b"two").await.unwrap();
        let mut buf = [0; 16];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two");
        // A recv that has to wait is woken by the datagram.
        let (r, _) = join(b.recv(&mut buf), async {
            yield_now().await;
            a.send(b"three").await.unwrap();
        })
        .await;
        assert_eq!(&buf[..r.unwrap()], b"three");
        // The sender fills the receiver's queue and then waits until the receiver drains it.
        let sender = async {
            for i in 0..2000u32 {
                a.send(&i.to_le_bytes()).await.unwrap();
            }
        };
        let receiver = async {
            let mut buf = [0; 4];
            for i in 0..2000u32 {
                assert_eq!(b.recv(&mut buf).await.unwrap(), 4);
                assert_eq!(u32::from_le_bytes(buf), i);
            }
        };
        join(sender, receiver).await;
        b.shutdown(Shutdown::Both).unwrap();
    }));
}

#[test]
fn datagram_bind_send_to_recv_from_and_unbound() {
    let dir = TempDir::new("unix-dgram");
    let (pa, pb) = (dir.join("a"), dir.join("b"));
    block_on(bounded(10, "unix datagram paths", async {
        let a = UnixDatagram::bind(&pa).unwrap();
        let b = UnixDatagram::bind(&pb).unwrap();
        assert_eq!(a.local_addr().unwrap().as_pathname(), Some(pa.as_path()));
        assert_eq!(a.send_to(b"to b", &pb).await.unwrap(), 4);
        let mut buf = [0; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"to b");
        assert_eq!(from.as_pathname(), Some(pa.as_path()));
        // Reply to the sender's address.
        b.send_to(b"to a", from.as_pathname().unwrap())
            .await
            .unwrap();
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            (&buf[..n], from.as_pathname()),
            (&b"to a"[..], Some(pb.as_path()))
        );

        // An unbound socket can send; its datagrams come from an unnamed address.
        let u = UnixDatagram::unbound().unwrap();
        u.send_to(b"anon", &pb).await.unwrap();
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"anon");
        assert!(from.is_unnamed());

        // connect + send/recv on path sockets.
        u.connect(&pa).unwrap();
        assert_eq!(u.peer_addr().unwrap().as_pathname(), Some(pa.as_path()));
        u.send(b"connected").await.unwrap();
        let (n, _) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"connected");

        // Sending to a path with nobody bound: NotFound (or ConnectionRefused for a stale file),
        // at once.
        let e = u.send_to(b"x", dir.join("nobody")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        drop(b);
        let e = a.send_to(b"x", &pb).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    }));
}
