//! Moving sockets between geode and std: `into_std` (deregisters, hands back a still
//! non-blocking socket that std can use once made blocking again), `from_std`/`TryFrom` (sets
//! O_NONBLOCK on a blocking std socket and registers it), `AsFd`/`AsRawFd`, a std socket that
//! was never connected, and no fd leaked by any of it.
//!
//! Every test locks `util::serial` and runs its body on a thread of its own, joined before the
//! lock is released: that thread's reactor (its epoll fd and eventfd) is closed by then, so the
//! fd-counting test sees no other test's descriptors come and go.

mod util;
use util::poll_once;
use util::{epoll_interests, inode};
use util::{isolated, serial};

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net as unix;
use std::time::Duration;

use futures_util::future::join;
use geode::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use geode::reactor::stats;
use geode::{block_on, yield_now};
use util::{TempDir, bounded, open_fds};

const STD_TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

fn is_nonblocking(fd: RawFd) -> bool {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "F_GETFL: {}", std::io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

/// Checks what `into_std` promises, given the geode socket's fd before the call and the std
/// socket after: one registration fewer, the fd out of epoll, the same fd, still non-blocking.
fn check_handed_back(fd_before: RawFd, registered_before: u64, std_fd: RawFd) {
    assert_eq!(std_fd, fd_before, "into_std keeps the fd");
    assert_eq!(
        stats().registered_fds,
        registered_before - 1,
        "into_std deregisters"
    );
    assert_eq!(
        epoll_interests(inode(std_fd)).len(),
        0,
        "still in an epoll set"
    );
    assert!(
        is_nonblocking(std_fd),
        "into_std hands the fd back non-blocking"
    );
}

// ---------------------------------------------------------------------------------------------
// into_std
// ---------------------------------------------------------------------------------------------

#[test]
fn tcp_stream_into_std() {
    isolated(|| {
        block_on(bounded(10, "TcpStream::into_std", async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let (c, s) = join(TcpStream::connect(l.local_addr().unwrap()), l.accept()).await;
            let (c, (s, _)) = (c.unwrap(), s.unwrap());
            assert!(poll_once(c.read(&mut [0; 1])).is_pending());
            assert_eq!(epoll_interests(inode(c.as_raw_fd())).len(), 1, "registered");
            let (fd, reg) = (c.as_raw_fd(), stats().registered_fds);
            let mut std_c = c.into_std().unwrap();
            check_handed_back(fd, reg, std_c.as_raw_fd());

            // Blocking-style std use, after switching blocking mode back on.
            std_c.set_nonblocking(false).unwrap();
            std_c.set_read_timeout(STD_TIMEOUT).unwrap();
            s.write_all(b"to std").await.unwrap();
            let mut buf = [0; 6];
            std_c.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"to std");
            std_c.write_all(b"from std").unwrap();
            let mut buf = [0; 8];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"from std");
        }));
    });
}

#[test]
fn tcp_listener_into_std() {
    isolated(|| {
        block_on(bounded(10, "TcpListener::into_std", async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            assert!(poll_once(l.accept()).is_pending());
            let (fd, reg) = (l.as_raw_fd(), stats().registered_fds);
            let std_l = l.into_std().unwrap();
            check_handed_back(fd, reg, std_l.as_raw_fd());
            std_l.set_nonblocking(false).unwrap();
            // The connection is queued before the blocking accept, so it returns at once.
            let c = std::net::TcpStream::connect(addr).unwrap();
            let (s, peer) = std_l.accept().unwrap();
            assert_eq!(peer, c.local_addr().unwrap());
            drop(s);
        }));
    });
}

#[test]
fn udp_socket_into_std() {
    isolated(|| {
        block_on(bounded(10, "UdpSocket::into_std", async {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            assert!(poll_once(a.recv_from(&mut [0; 1])).is_pending());
            let (fd, reg) = (a.as_raw_fd(), stats().registered_fds);
            let std_a = a.into_std().unwrap();
            check_handed_back(fd, reg, std_a.as_raw_fd());
            std_a.set_nonblocking(false).unwrap();
            std_a.set_read_timeout(STD_TIMEOUT).unwrap();
            b.send_to(b"to std", a_addr).await.unwrap();
            let mut buf = [0; 16];
            let (n, from) = std_a.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"to std"[..], b_addr));
            std_a.send_to(b"from std", b_addr).unwrap();
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (&b"from std"[..], a_addr));
        }));
    });
}

#[test]
fn unix_stream_into_std() {
    isolated(|| {
        block_on(bounded(10, "UnixStream::into_std", async {
            let (a, b) = UnixStream::pair().unwrap();
            assert!(poll_once(a.read(&mut [0; 1])).is_pending());
            let (fd, reg) = (a.as_raw_fd(), stats().registered_fds);
            let mut std_a = a.into_std().unwrap();
            check_handed_back(fd, reg, std_a.as_raw_fd());
            std_a.set_nonblocking(false).unwrap();
            std_a.set_read_timeout(STD_TIMEOUT).unwrap();
            b.write_all(b"to std").await.unwrap();
            let mut buf = [0; 6];
            std_a.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"to std");
            std_a.write_all(b"from std").unwrap();
            let mut buf = [0; 8];
            b.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"from std");
        }));
    });
}

#[test]
fn unix_listener_and_datagram_into_std() {
    isolated(|| {
        let dir = TempDir::new("net-std-into");
        let path = dir.join("listener");
        block_on(bounded(10, "UnixListener/UnixDatagram::into_std", async {
            let l = UnixListener::bind(&path).unwrap();
            assert!(poll_once(l.accept()).is_pending());
            let (fd, reg) = (l.as_raw_fd(), stats().registered_fds);
            let std_l = l.into_std().unwrap();
            check_handed_back(fd, reg, std_l.as_raw_fd());
            std_l.set_nonblocking(false).unwrap();
            let _c = unix::UnixStream::connect(&path).unwrap();
            std_l.accept().unwrap();

            let (a, b) = UnixDatagram::pair().unwrap();
            assert!(poll_once(a.recv(&mut [0; 1])).is_pending());
            let (fd, reg) = (a.as_raw_fd(), stats().registered_fds);
            let std_a = a.into_std().unwrap();
            check_handed_back(fd, reg, std_a.as_raw_fd());
            std_a.set_nonblocking(false).unwrap();
            std_a.set_read_timeout(STD_TIMEOUT).unwrap();
            b.send(b"dgram").await.unwrap();
            let mut buf = [0; 8];
            let n = std_a.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"dgram");
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// from_std, TryFrom, AsFd
// ---------------------------------------------------------------------------------------------

/// `from_std` of a *blocking* std socket: geode sets O_NONBLOCK itself (a blocking fd would
/// block the whole thread), registers it, and operations that must wait work. Each socket's
/// fd is the std socket's, through both `AsFd` and `AsRawFd`.
#[test]
fn from_std_of_blocking_sockets() {
    isolated(|| {
        let dir = TempDir::new("net-std-from");
        block_on(bounded(10, "from_std", async move {
            // TcpListener and TcpStream.
            let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = std_l.local_addr().unwrap();
            let fd = std_l.as_raw_fd();
            assert!(!is_nonblocking(fd));
            let reg = stats().registered_fds;
            let l = TcpListener::from_std(std_l).unwrap();
            assert_eq!(stats().registered_fds, reg + 1);
            assert!(is_nonblocking(fd));
            assert_eq!((l.as_raw_fd(), l.as_fd().as_raw_fd()), (fd, fd));
            let (std_c, accepted) = join(
                async {
                    yield_now().await;
                    std::net::TcpStream::connect(addr).unwrap()
                },
                l.accept(),
            )
            .await;
            let (s, _) = accepted.unwrap();
            // Wrap a dup of the client, keeping the original to look at.
            let dup = std_c.try_clone().unwrap();
            let fd = dup.as_raw_fd();
            assert!(!is_nonblocking(fd));
            let c = TcpStream::from_std(dup).unwrap();
            assert!(is_nonblocking(fd));
            // O_NONBLOCK lives on the open file: the dup we kept is non-blocking too.
            assert!(is_nonblocking(std_c.as_raw_fd()));
            assert_eq!((c.as_raw_fd(), c.as_fd().as_raw_fd()), (fd, fd));
            let mut buf = [0; 4];
            let (r, ()) = join(c.read_exact(&mut buf), async {
                yield_now().await;
                s.write_all(b"tcp!").await.unwrap();
            })
            .await;
            r.unwrap();
            assert_eq!(&buf, b"tcp!");
            drop(std_c);

            // UdpSocket.
            let std_u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let fd = std_u.as_raw_fd();
            assert!(!is_nonblocking(fd));
            let u = UdpSocket::from_std(std_u).unwrap();
            assert!(is_nonblocking(fd));
            assert_eq!((u.as_raw_fd(), u.as_fd().as_raw_fd()), (fd, fd));
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let target = u.local_addr().unwrap();
            let mut buf = [0; 8];
            let (r, ()) = join(u.recv_from(&mut buf), async {
                yield_now().await;
                sender.send_to(b"udp", target).unwrap();
            })
            .await;
            assert_eq!(r.unwrap(), (3, sender.local_addr().unwrap()));

            // UnixListener and UnixStream.
            let path = dir.join("sock");
            let std_l = unix::UnixListener::bind(&path).unwrap();
            let fd = std_l.as_raw_fd();
            assert!(!is_nonblocking(fd));
            let l = UnixListener::from_std(std_l).unwrap();
            assert!(is_nonblocking(fd));
            assert_eq!((l.as_raw_fd(), l.as_fd().as_raw_fd()), (fd, fd));
            let (c, accepted) = join(
                async {
                    yield_now().await;
                    unix::UnixStream::connect(&path).unwrap()
                },
                l.accept(),
            )
            .await;
            let (s, _) = accepted.unwrap();
            let fd = c.as_raw_fd();
            assert!(!is_nonblocking(fd));
            let c = UnixStream::from_std(c).unwrap();
            assert!(is_nonblocking(fd));
            assert_eq!((c.as_raw_fd(), c.as_fd().as_raw_fd()), (fd, fd));
            let mut buf = [0; 4];
            let (r, ()) = join(c.read_exact(&mut buf), async {
                yield_now().await;
                s.write_all(b"unix").await.unwrap();
            })
            .await;
            r.unwrap();
            assert_eq!(&buf, b"unix");

            // UnixDatagram.
            let (std_a, std_b) = unix::UnixDatagram::pair().unwrap();
            let fd = std_a.as_raw_fd();
            assert!(!is_nonblocking(fd));
            let a = UnixDatagram::from_std(std_a).unwrap();
            assert!(is_nonblocking(fd));
            assert_eq!((a.as_raw_fd(), a.as_fd().as_raw_fd()), (fd, fd));
            let mut buf = [0; 8];
            let (r, ()) = join(a.recv(&mut buf), async {
                yield_now().await;
                std_b.send(b"dgram").unwrap();
            })
            .await;
            assert_eq!(&buf[..r.unwrap()], b"dgram");
        }));
    });
}

/// `TryFrom<std type>` for every type: the same as `from_std`.
#[test]
fn try_from_std_types() {
    isolated(|| {
        let dir = TempDir::new("net-std-tryfrom");
        block_on(bounded(10, "TryFrom", async move {
            let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = std_l.local_addr().unwrap();
            let l = TcpListener::try_from(std_l).unwrap();
            let std_c = std::net::TcpStream::connect(addr).unwrap();
            let fd = std_c.as_raw_fd();
            let c: TcpStream = std_c.try_into().unwrap();
            assert_eq!(c.as_raw_fd(), fd);
            assert!(is_nonblocking(fd));
            let (s, _) = l.accept().await.unwrap();
            s.write_all(b"ok").await.unwrap();
            let mut buf = [0; 2];
            c.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ok");

            let u: UdpSocket = std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .try_into()
                .unwrap();
            assert!(is_nonblocking(u.as_raw_fd()));

            let path = dir.join("sock");
            let ul: UnixListener = unix::UnixListener::bind(&path).unwrap().try_into().unwrap();
            assert!(is_nonblocking(ul.as_raw_fd()));
            let (a, _b) = unix::UnixStream::pair().unwrap();
            let us = UnixStream::try_from(a).unwrap();
            assert!(is_nonblocking(us.as_raw_fd()));
            let (a, _b) = unix::UnixDatagram::pair().unwrap();
            let ud = UnixDatagram::try_from(a).unwrap();
            assert!(is_nonblocking(ud.as_raw_fd()));
        }));
    });
}

/// A std `TcpStream` over a socket that was never connected (possible through `From<OwnedFd>`):
/// reading and writing must fail at once (ENOTCONN, EPIPE), not wait for a readiness that will
/// never come.
#[test]
fn from_std_of_an_unconnected_socket_fails_instead_of_hanging() {
    isolated(|| {
        // SAFETY: socket takes no pointers; a non-negative return is a new fd we own.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is a fresh fd nothing else owns.
        let std_s = std::net::TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
        block_on(bounded(10, "unconnected socket", async {
            let s = TcpStream::from_std(std_s).unwrap();
            let e = s.read(&mut [0; 8]).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN), "{e}");
            let e = s.write(b"x").await.unwrap_err();
            assert!(
                matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ENOTCONN)),
                "{e}"
            );
            assert!(s.peer_addr().is_err());
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// No fd leaked
// ---------------------------------------------------------------------------------------------

/// A mix of all the above, plus the failure paths (a refused connect, a dropped pending
/// accept, a `from_std` that geode refuses), must leave the process with exactly the fds it
/// had. The geode work runs on its own thread, joined before counting, so its reactor's own
/// fds (epoll, eventfd) are counted as closed too.
#[test]
fn no_fd_leaked() {
    let _guard = serial();
    let before = open_fds();
    let dir = TempDir::new("net-std-leak");
    let path = dir.join("sock");
    let worker = std::thread::spawn(move || {
        block_on(bounded(10, "fd leak mix", async {
            for _ in 0..3 {
                // TCP: connect, accept, into_std, from_std, drop.
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let (c, s) = join(TcpStream::connect(addr), l.accept()).await;
                let (c, (s, _)) = (c.unwrap(), s.unwrap());
                let c = TcpStream::from_std(c.into_std().unwrap()).unwrap();
                assert!(poll_once(c.read(&mut [0; 1])).is_pending());
                let std_s = s.into_std().unwrap();
                drop((c, std_s));
                assert!(poll_once(l.accept()).is_pending());
                let l = TcpListener::try_from(l.into_std().unwrap()).unwrap();
                drop(l);

                // A refused connect.
                let dead: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap();
                assert_eq!(
                    TcpStream::connect(dead).await.unwrap_err().kind(),
                    ErrorKind::ConnectionRefused
                );

                // UDP.
                let u = UdpSocket::bind("127.0.0.1:0").unwrap();
                assert!(poll_once(u.recv(&mut [0; 1])).is_pending());
                let u = UdpSocket::from_std(u.into_std().unwrap()).unwrap();
                drop(u);

                // Unix.
                let ul = UnixListener::bind(&path).unwrap();
                let (c, s) = join(UnixStream::connect(&path), ul.accept()).await;
                let (c, (s, _)) = (c.unwrap(), s.unwrap());
                let c = UnixStream::from_std(c.into_std().unwrap()).unwrap();
                drop((c, s, ul.into_std().unwrap()));
                std::fs::remove_file(&path).unwrap();
                let (a, b) = UnixDatagram::pair().unwrap();
                drop((a.into_std().unwrap(), b));

                // A descriptor geode refuses (a regular file): the error closes it.
                let f = File::open("/proc/self/exe").unwrap();
                let as_socket = std::net::TcpStream::from(OwnedFd::from(f));
                let e = TcpStream::from_std(as_socket).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            }
        }));
    });
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
    drop(dir);
    assert_eq!(open_fds(), before, "fds leaked");
}
