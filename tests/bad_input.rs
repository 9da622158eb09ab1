//! Bad input: descriptors and socket states an application should not (or rarely) hand to
//! geode. Each case must give a clear result (an error, or working correctly where the kernel
//! allows it), never a hang, and leave no fd behind.
//!
//! The list, and where each case is tested:
//! - `Async::new` on a closed fd, a directory, a regular file: `tests/async_fd.rs`
//!   (`refused_and_bad_fds_leak_nothing`, which also counts fds);
//! - `Async::new` on an epoll fd: here (it works: an epoll fd is pollable; nested readiness);
//! - a listening socket used for read (and write): here;
//! - `UdpSocket::send` of a datagram larger than 64 KiB: `tests/udp.rs`
//!   (`oversized_datagram_is_emsgsize`); its fd accounting here;
//! - a `connect` never answered (a full backlog) under `timeout`: `tests/tcp.rs`
//!   (`unanswered_connect_stays_pending_and_does_not_block_the_thread`); its fd accounting
//!   here;
//! - reading after `shutdown(Read)`: here (TCP and Unix, before and while a read waits);
//! - `TcpStream::from_std` of a socket that is not connected: `tests/net_std.rs`
//!   (`from_std_of_an_unconnected_socket_fails_instead_of_hanging`); its fd accounting here.
//!
//! Every test runs its body on a fresh thread under `SERIAL`, counting `/proc/self/fd` before
//! and after: the thread's reactor (epoll fd, eventfd) is gone once it is joined, so the
//! counts must be equal.

mod util;
use util::full_backlog_listener;

use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::FutureExt;
use geode::io::Async;
use geode::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use geode::time::{sleep, timeout};
use geode::{block_on, spawn, yield_now};
use util::{bounded, open_fds};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` on a fresh thread under `SERIAL` and checks that it leaves exactly as many fds
/// open as it found (its reactor included).
fn leak_checked(what: &str, f: impl FnOnce() + Send + 'static) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = open_fds();
    let worker = std::thread::spawn(f);
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
    let after = open_fds();
    assert_eq!(
        after, before,
        "{what}: fds leaked ({before} open before, {after} after)"
    );
}

/// `epoll_create1(EPOLL_CLOEXEC)`.
fn epoll_create() -> OwnedFd {
    // SAFETY: epoll_create1 takes no pointers; a non-negative return is a new fd we own.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(fd >= 0, "epoll_create1: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a fresh fd nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn epoll_add(epfd: RawFd, fd: RawFd, events: u32, data: u64) {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call.
    let rc = unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
    assert_eq!(rc, 0, "epoll_ctl: {}", io::Error::last_os_error());
}

/// One non-blocking `epoll_wait` on `epfd`: its ready `(events, data)`, or `WouldBlock` if
/// none (the contract `read_with` expects).
fn epoll_poll(epfd: RawFd) -> io::Result<Vec<(u32, u64)>> {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
    // SAFETY: `events` has room for the 8 events we allow.
    let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), 8, 0) };
    match n {
        -1 => Err(io::Error::last_os_error()),
        0 => Err(ErrorKind::WouldBlock.into()),
        n => Ok(events[..n as usize]
            .iter()
            .map(|e| {
                let (ev, data) = (e.events, e.u64);
                (ev, data)
            })
            .collect()),
    }
}

/// `read(2)` on a raw fd, for objects std gives no `Read` for (a listening socket).
fn raw_read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

// ---------------------------------------------------------------------------------------------
// An epoll fd: pollable, so `Async::new` accepts it, and its readiness nests
// ---------------------------------------------------------------------------------------------

/// An epoll instance is itself pollable: it is readable while any of *its* fds is ready. So
/// `Async::new` accepts it (no error), and geode's reactor reports the inner instance's
/// readiness: `readable()` waits while the inner set is idle, wakes when a pipe in the inner
/// set gets data, and `read_with` over a non-blocking `epoll_wait` gets the inner event. After
/// the pipe is drained, the next wait blocks again and a new write wakes it again (the edge
/// re-arms through the nesting).
#[test]
fn async_new_on_an_epoll_fd_reports_nested_readiness() {
    leak_checked("nested epoll", || {
        let inner = epoll_create();
        let (mut r, mut w) = std::io::pipe().unwrap();
        const TAG: u64 = 0xfeed;
        epoll_add(inner.as_raw_fd(), r.as_raw_fd(), libc::EPOLLIN as u32, TAG);
        let ep = Async::new(inner).expect("an epoll fd is pollable: Async::new accepts it");
        block_on(bounded(10, "nested epoll", async {
            // Nothing in the inner set is ready: no readiness, no event.
            assert!(
                timeout(Duration::from_millis(50), ep.readable())
                    .await
                    .is_err(),
                "readable() completed with an idle inner epoll set"
            );
            let mut events = ep.read_with(|e| epoll_poll(e.as_raw_fd())).now_or_never();
            assert!(events.is_none(), "inner events while idle: {events:?}");

            // Data on the pipe while readable() waits: the inner set becomes ready, so the
            // outer reactor wakes the waiting task.
            let wait = async {
                bounded(5, "nested readable", ep.readable()).await.unwrap();
            };
            let write = async {
                sleep(Duration::from_millis(10)).await;
                w.write_all(b"x").unwrap();
            };
            futures_util::future::join(wait, write).await;
            events = Some(ep.read_with(|e| epoll_poll(e.as_raw_fd())).await);
            let got = events.unwrap().unwrap();
            assert_eq!(got, vec![(libc::EPOLLIN as u32, TAG)]);

            // Drain the pipe: the inner set is idle again and a read of it waits...
            let mut b = [0; 8];
            assert_eq!(r.read(&mut b).unwrap(), 1);
            assert!(
                timeout(
                    Duration::from_millis(50),
                    ep.read_with(|e| epoll_poll(e.as_raw_fd()))
                )
                .await
                .is_err(),
                "an idle inner set reported events"
            );
            // ...until the next write, which must wake the waiting read (a fresh edge).
            let reader = async {
                bounded(
                    5,
                    "second nested edge",
                    ep.read_with(|e| epoll_poll(e.as_raw_fd())),
                )
                .await
                .unwrap()
            };
            let writer = async {
                sleep(Duration::from_millis(10)).await;
                w.write_all(b"y").unwrap();
            };
            let (got, ()) = futures_util::future::join(reader, writer).await;
            assert_eq!(got, vec![(libc::EPOLLIN as u32, TAG)]);
        }));
        // Dropping deregisters the inner epoll fd from the reactor and closes it.
        drop(ep);
    });
}

// ---------------------------------------------------------------------------------------------
// A listening socket used for read and write
// ---------------------------------------------------------------------------------------------

/// A listening socket has no byte stream: reading it fails at once (`ENOTCONN` for TCP,
/// `EINVAL` for Unix), it must not be mistaken for "no data yet" and wait for an edge. Tried
/// three ways: `Async<std::net::TcpListener>` with a raw `read`, a listening socket passed to
/// `TcpStream::from_std` (geode registers it as the listener it is: `IN | ET | EXCLUSIVE`,
/// no `OUT`, so a write that waited for writability would wait forever), and the same for a
/// Unix listener through `UnixStream::from_std`. Writes fail at once too (`EPIPE`/`ENOTCONN`/
/// `EINVAL`).
#[test]
fn a_listening_socket_used_for_read_is_an_error_not_a_hang() {
    leak_checked("listener read", || {
        let dir = util::TempDir::new("bad-input-listener");
        let path = dir.join("l.sock");
        block_on(bounded(10, "listening socket read", async {
            // Through Async and read(2).
            let l = Async::new(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
            let mut buf = [0; 16];
            let e = l
                .read_with(|l| raw_read(l.as_raw_fd(), &mut buf))
                .await
                .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN), "{e}");
            drop(l);

            // A TCP listener disguised as a stream.
            let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let as_stream = std::net::TcpStream::from(OwnedFd::from(std_l));
            let s = TcpStream::from_std(as_stream).expect("from_std registers any socket");
            let e = s.read(&mut buf).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN), "read: {e}");
            let e = s.write(b"x").await.unwrap_err();
            assert!(
                matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ENOTCONN)),
                "write: {e}"
            );
            assert!(s.peer_addr().is_err());
            // The futures-io path (poll_read without a queue slot) fails the same way.
            let e = futures_util::AsyncReadExt::read(&mut &s, &mut buf)
                .await
                .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN), "poll_read: {e}");
            drop(s);

            // A Unix listener disguised as a stream.
            let ul = UnixListener::bind(&path).unwrap();
            let as_stream =
                std::os::unix::net::UnixStream::from(OwnedFd::from(ul.into_std().unwrap()));
            let s = UnixStream::from_std(as_stream).unwrap();
            let e = s.read(&mut buf).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "unix read: {e}");
            let e = s.write(b"x").await.unwrap_err();
            assert!(
                matches!(
                    e.raw_os_error(),
                    Some(libc::EPIPE) | Some(libc::ENOTCONN) | Some(libc::EINVAL)
                ),
                "unix write: {e}"
            );
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// Reading after shutdown(Read)
// ---------------------------------------------------------------------------------------------

/// After `shutdown(Read)` a read returns at once: `Ok(0)` (EOF) with nothing queued. A read
/// already waiting when another task shuts the read half down is woken (the kernel signals
/// the state change as `EPOLLIN | EPOLLRDHUP`) and returns `Ok(0)` too: it must not keep
/// waiting for data that can no longer be asked for. Data the peer sends afterwards must not
/// make a read hang either (Linux still queues it on TCP; the read returns it or EOF). For
/// TCP and Unix streams.
#[test]
fn reading_after_shutdown_read_returns_at_once() {
    leak_checked("shutdown(Read)", || {
        block_on(bounded(10, "shutdown(Read)", async {
            // TCP.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let (c, s) = futures_util::future::join(TcpStream::connect(addr), l.accept()).await;
            let (c, (s, _)) = (c.unwrap(), s.unwrap());
            let mut buf = [0; 16];

            // Before any read: EOF at once.
            c.shutdown(Shutdown::Read).unwrap();
            assert_eq!(
                bounded(2, "tcp read after shutdown", c.read(&mut buf))
                    .await
                    .unwrap(),
                0
            );
            assert_eq!(
                bounded(2, "tcp second read", c.read(&mut buf))
                    .await
                    .unwrap(),
                0
            );
            // The write half still works.
            c.write_all(b"still writing").await.unwrap();
            let mut got = [0; 13];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"still writing");
            // The peer sends anyway: a read returns (data or EOF or an error), no hang.
            s.write_all(b"late").await.unwrap();
            let r = bounded(2, "tcp read of data sent after shutdown", c.read(&mut buf)).await;
            assert!(
                matches!(r, Ok(0) | Ok(4)) || r.is_err(),
                "read after shutdown(Read) and late data: {r:?}"
            );

            // A read already waiting when the read half is shut down.
            let (c2, s2) = futures_util::future::join(TcpStream::connect(addr), l.accept()).await;
            let (c2, (_s2, _)) = (c2.unwrap(), s2.unwrap());
            let c2 = std::rc::Rc::new(c2);
            let reader = spawn({
                let c2 = c2.clone();
                async move {
                    let mut buf = [0; 16];
                    c2.read(&mut buf).await
                }
            });
            yield_now().await;
            sleep(Duration::from_millis(10)).await;
            assert!(!reader.is_finished(), "the read waits on the empty socket");
            c2.shutdown(Shutdown::Read).unwrap();
            let r = bounded(2, "tcp waiting read woken by shutdown(Read)", reader)
                .await
                .unwrap();
            assert_eq!(r.unwrap(), 0, "a waiting read ends with EOF");

            // Unix.
            let (a, b) = UnixStream::pair().unwrap();
            a.shutdown(Shutdown::Read).unwrap();
            assert_eq!(
                bounded(2, "unix read after shutdown", a.read(&mut buf))
                    .await
                    .unwrap(),
                0
            );
            // The peer's writes now fail (the Unix reader is gone) instead of blocking.
            let e = b.write(b"x").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");

            let (a, _b) = UnixStream::pair().unwrap();
            let a = std::rc::Rc::new(a);
            let reader = spawn({
                let a = a.clone();
                async move {
                    let mut buf = [0; 16];
                    a.read(&mut buf).await
                }
            });
            sleep(Duration::from_millis(10)).await;
            assert!(!reader.is_finished(), "the read waits on the empty socket");
            a.shutdown(Shutdown::Read).unwrap();
            let r = bounded(2, "unix waiting read woken by shutdown(Read)", reader)
                .await
                .unwrap();
            assert_eq!(r.unwrap(), 0, "a waiting read ends with EOF");
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// Fd accounting for the cases whose behaviour is tested elsewhere
// ---------------------------------------------------------------------------------------------

/// The other bad inputs, whose behaviour `tcp.rs`, `udp.rs` and `net_std.rs` check,
/// replayed for their fd accounting, several times each: an oversized datagram (`EMSGSIZE`,
/// the socket stays usable), a never-answered connect dropped by `timeout` (its half-open
/// socket must be closed and deregistered), and `from_std` of a socket never connected.
#[test]
fn other_bad_inputs_leak_no_fd() {
    leak_checked(
        "oversized datagram, unanswered connect, unconnected from_std",
        || {
            let (full, fillers) = full_backlog_listener();
            let addr = full.local_addr().unwrap();
            block_on(bounded(20, "bad inputs", async {
                let base = geode::reactor::stats();
                for _ in 0..3 {
                    // > 64 KiB datagram.
                    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
                    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
                    let big = vec![0u8; 70 * 1024];
                    let e = a.send_to(&big, b.local_addr().unwrap()).await.unwrap_err();
                    assert_eq!(e.raw_os_error(), Some(libc::EMSGSIZE), "{e}");
                    a.send_to(b"ok", b.local_addr().unwrap()).await.unwrap();
                    assert_eq!(b.recv(&mut [0; 8]).await.unwrap(), 2);

                    // Never answered, bounded by timeout.
                    let r = timeout(Duration::from_millis(50), TcpStream::connect(addr)).await;
                    assert!(r.is_err(), "the connect must not complete: {r:?}");

                    // Never connected.
                    // SAFETY: socket takes no pointers; a non-negative return is a new fd we own.
                    let fd = unsafe {
                        libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
                    };
                    assert!(fd >= 0);
                    // SAFETY: `fd` is a fresh fd nothing else owns.
                    let std_s = std::net::TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
                    let s = TcpStream::from_std(std_s).unwrap();
                    let e = s.read(&mut [0; 8]).await.unwrap_err();
                    assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN), "{e}");
                    let _ = s.as_fd();
                }
                assert_eq!(
                    geode::reactor::stats().registered_fds,
                    base.registered_fds,
                    "registrations leaked"
                );
            }));
            drop((full, fillers));
        },
    );
}
