//! `geode::io::Async` over the fd kinds the API promises to support: pipes, unix socketpairs,
//! TCP on loopback, UDP, eventfd, timerfd; and the ones it must refuse (regular files,
//! directories, closed fds), without leaking.

mod util;
use util::{exclusive, park_until_woken, poll_once, set_linger_zero, shared};

use std::fs::File;
use std::future::poll_fn;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use geode::io::Async;
use geode::reactor::{park, stats};
use tokio_test::{assert_pending, assert_ready};

// ---------------------------------------------------------------------------------------------
// Helpers

fn eventfd() -> File {
    // SAFETY: eventfd takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    assert!(fd >= 0, "eventfd: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a fresh fd that nothing else owns.
    File::from(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A one-shot CLOCK_MONOTONIC timerfd that expires after `after`.
fn timerfd(after: Duration) -> File {
    // SAFETY: timerfd_create takes no pointers.
    let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) };
    assert!(
        fd >= 0,
        "timerfd_create: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `fd` is a fresh fd that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: after.as_secs() as libc::time_t,
            tv_nsec: after.subsec_nanos() as libc::c_long,
        },
    };
    // SAFETY: `spec` is a valid itimerspec living across the call; old_value may be null.
    let rc = unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) };
    assert_eq!(
        rc,
        0,
        "timerfd_settime: {}",
        std::io::Error::last_os_error()
    );
    File::from(owned)
}

fn fd_flags(fd: RawFd) -> i32 {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "F_GETFL: {}", std::io::Error::last_os_error());
    flags
}

/// A temp file with a unique name, removed on drop (even when the test fails).
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new() -> TempFile {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "geode-async-fd-test-{}-{nanos}",
            std::process::id()
        ));
        std::fs::write(&path, b"regular file contents").unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An fd number we do not own and that is not open. No `Drop`: nothing is closed when it is
/// dropped, so handing it to `Async::new` (which drops its argument on error) is harmless.
#[derive(Debug)]
struct Raw(RawFd);

impl AsFd for Raw {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `BorrowedFd` requires an open fd for the borrow's lifetime; this one is
        // deliberately closed. That is sound here because geode only passes it to syscalls
        // (fstat/fcntl), which report EBADF for it, and `Raw` never closes it. It is the only
        // way to ask `Async::new` about a closed fd without std's `OwnedFd` drop closing a
        // bad fd (which debug builds abort on).
        unsafe { BorrowedFd::borrow_raw(self.0) }
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn pipe_round_trip_and_eof() {
    let _g = shared();
    geode::block_on(util::bounded(5, "pipe round trip", async {
        let (r, w) = std::io::pipe().unwrap();
        let (r, w) = (Async::new(r).unwrap(), Async::new(w).unwrap());
        w.write_with(|mut w| w.write(b"ping")).await.unwrap();
        let mut buf = [0; 16];
        let n = r.read_with(|mut r| r.read(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"ping");

        // The futures-io impls, on `&Async` and on `Async`.
        (&w).write_all(b"pong").await.unwrap();
        let mut four = [0; 4];
        (&r).read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"pong");

        // A reader waiting on an empty pipe sees EOF (Ok(0)) once the writer is gone.
        let reader = geode::spawn(async move {
            let mut buf = [0; 16];
            r.read_with(|mut r| r.read(&mut buf)).await
        });
        geode::yield_now().await;
        drop(w);
        assert_eq!(reader.await.unwrap().unwrap(), 0);
    }));
}

#[test]
fn pipe_eof_wakes_a_waiting_reader() {
    // Deterministic order: the read is pending (registered in epoll) before the writer goes.
    let _g = shared();
    let (r, w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let mut buf = [0; 8];
    let mut task = tokio_test::task::spawn(r.read_with(|mut r| r.read(&mut buf)));
    assert_pending!(task.poll());
    drop(w);
    park_until_woken(&task, "read after writer dropped");
    assert_eq!(assert_ready!(task.poll()).unwrap(), 0);
}

#[test]
fn unix_socketpair_round_trip_and_shutdown_eof() {
    let _g = shared();
    geode::block_on(util::bounded(5, "socketpair", async {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        a.write_all(b"hello").await.unwrap();
        let mut buf = [0; 5];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        b.write_all(b"world").await.unwrap();
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"world");

        // Peer shuts down its write half while we wait: EOF, not a hang.
        let reader = geode::spawn(async move {
            let mut buf = [0; 8];
            b.read_with(|mut s| s.read(&mut buf)).await
        });
        geode::yield_now().await;
        a.get_ref().shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.await.unwrap().unwrap(), 0);
    }));
}

#[test]
fn tcp_round_trip_and_shutdown_eof() {
    let _g = shared();
    geode::block_on(util::bounded(5, "tcp", async {
        let (a, b) = util::tcp_pair();
        let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        (&a).write_all(b"over tcp").await.unwrap();
        let mut buf = [0; 8];
        (&b).read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"over tcp");

        let mut small = [0; 8];
        let mut task = pin!(b.read_with(|mut s| s.read(&mut small)));
        assert!(poll_once(task.as_mut()).is_pending());
        a.get_ref().shutdown(Shutdown::Write).unwrap();
        assert_eq!(task.await.unwrap(), 0, "FIN gives EOF");
        // The other direction still works.
        (&b).write_all(b"back").await.unwrap();
        let mut four = [0; 4];
        (&a).read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"back");
    }));
}

#[test]
fn eventfd_through_async() {
    // eventfds are anonymous inodes: fstat reports no file type; they must not be mistaken for
    // regular files.
    let _g = shared();
    geode::block_on(util::bounded(5, "eventfd", async {
        let efd = Async::new(eventfd()).unwrap();
        let waiter = async {
            let mut buf = [0u8; 8];
            let n = efd.read_with(|mut f| f.read(&mut buf)).await.unwrap();
            assert_eq!(n, 8);
            u64::from_ne_bytes(buf)
        };
        let signaller = async {
            geode::yield_now().await;
            efd.write_with(|mut f| f.write(&3u64.to_ne_bytes()))
                .await
                .unwrap();
        };
        let (value, ()) = futures_util::future::join(waiter, signaller).await;
        assert_eq!(value, 3);
        // Drained: the next read would block.
        let mut buf = [0u8; 8];
        let err = efd.get_ref().read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
    }));
}

#[test]
fn timerfd_through_async() {
    let _g = shared();
    geode::block_on(util::bounded(5, "timerfd", async {
        let tfd = Async::new(timerfd(Duration::from_millis(10))).unwrap();
        let mut buf = [0u8; 8];
        let n = tfd.read_with(|mut f| f.read(&mut buf)).await.unwrap();
        assert_eq!(n, 8);
        assert!(u64::from_ne_bytes(buf) >= 1, "expiration count");
    }));
}

#[test]
fn large_transfer_through_socketpair() {
    // 16 MiB is far more than the socket buffers: both sides block and wake many times.
    const LEN: usize = 16 << 20;
    let _g = shared();
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    geode::block_on(util::bounded(10, "16 MiB transfer", async move {
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        let reader = geode::spawn(async move {
            let mut got = vec![0u8; LEN];
            (&b).read_exact(&mut got).await.unwrap();
            // Nothing more than LEN was sent: EOF once the writer is gone.
            let mut extra = [0u8; 1];
            assert_eq!((&b).read(&mut extra).await.unwrap(), 0);
            got
        });
        (&a).write_all(&data).await.unwrap();
        drop(a);
        let got = reader.await.unwrap();
        assert!(got == expected, "the data arrived altered");
    }));
}

// ---------------------------------------------------------------------------------------------
// Errors: reset, broken pipe, ICMP errors

#[test]
fn tcp_reset_wakes_waiting_reader_with_connection_reset() {
    let _g = shared();
    let (a, b) = util::tcp_pair();
    let a = Async::new(a).unwrap();
    let mut buf = [0; 8];
    let mut task = tokio_test::task::spawn(a.read_with(|mut s| s.read(&mut buf)));
    assert_pending!(task.poll());
    set_linger_zero(b.as_raw_fd());
    drop(b); // sends RST
    park_until_woken(&task, "read on a reset connection");
    let err = assert_ready!(task.poll()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn tcp_reset_then_read_and_write_fail_never_hang() {
    let _g = shared();
    geode::block_on(util::bounded(5, "reset then read", async {
        let (a, b) = util::tcp_pair();
        set_linger_zero(b.as_raw_fd());
        drop(b);
        let a = Async::new(a).unwrap();
        let mut buf = [0; 8];
        let err = a.read_with(|mut s| s.read(&mut buf)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    }));
    geode::block_on(util::bounded(5, "reset then write", async {
        let (a, b) = util::tcp_pair();
        set_linger_zero(b.as_raw_fd());
        drop(b);
        let a = Async::new(a).unwrap();
        // Until the RST has been processed a write may still be accepted into the send buffer;
        // after it every write fails.
        let err = loop {
            match a.write_with(|mut s| s.write(b"x")).await {
                Ok(_) => geode::yield_now().await,
                Err(e) => break e,
            }
        };
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    }));
}

#[test]
fn pipe_write_after_reader_closed_is_broken_pipe() {
    let _g = shared();
    geode::block_on(util::bounded(5, "broken pipe", async {
        let (r, w) = std::io::pipe().unwrap();
        drop(r);
        let w = Async::new(w).unwrap();
        let err = w.write_with(|mut w| w.write(b"x")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    }));
}

#[test]
fn blocked_pipe_writer_wakes_with_broken_pipe_when_reader_closes() {
    // A writer waiting for room must learn that the reader is gone (EPOLLERR), not hang.
    let _g = shared();
    let (r, w) = std::io::pipe().unwrap();
    let w = Async::new(w).unwrap();
    let chunk = [7u8; 4096];
    loop {
        match w.get_ref().write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }
    let mut task = tokio_test::task::spawn(w.write_with(|mut w| w.write(&chunk)));
    assert_pending!(task.poll());
    drop(r);
    park_until_woken(&task, "blocked writer after reader closed");
    let err = assert_ready!(task.poll()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}

#[test]
fn udp_icmp_error_is_reported_once_and_does_not_spin() {
    // An ICMP port unreachable sets the socket error (EPOLLERR). The recv that reports it must
    // get ConnectionRefused; afterwards an idle socket must stay idle: if geode treated the
    // error as sticky readiness, the reader would spin through epoll_wait.
    let _g = shared();
    geode::block_on(util::bounded(5, "udp", async {
        let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(dead_addr).unwrap();
        let s = Async::new(s).unwrap();
        s.write_with(|s| s.send(b"anyone?")).await.unwrap();
        let mut buf = [0; 16];
        let err = s.read_with(|s| s.recv(&mut buf)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

        let before = stats();
        let res =
            geode::time::timeout(Duration::from_millis(50), s.read_with(|s| s.recv(&mut buf)))
                .await;
        assert!(res.is_err(), "nothing to receive, yet got {res:?}");
        let waits = stats().epoll_wait_calls - before.epoll_wait_calls;
        assert!(
            waits < 20,
            "{waits} epoll_wait calls in 50 ms on an idle socket: the error left it always ready"
        );
    }));
}

// ---------------------------------------------------------------------------------------------
// Registration bookkeeping

#[test]
fn registered_fds_tracks_new_and_drop() {
    let _g = shared();
    let base = stats();
    let (r, w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let w = Async::new(w).unwrap();
    assert_eq!(stats().registered_fds, base.registered_fds + 2);
    assert_eq!(stats().registrations, base.registrations + 2);
    // Registration is lazy: nothing has blocked, so no epoll_ctl yet, and none on drop either.
    drop(w);
    assert_eq!(stats().registered_fds, base.registered_fds + 1);
    assert_eq!(stats().epoll_ctl_calls, base.epoll_ctl_calls);

    // A would-block read adds it (one ADD, at most plus the reactor's own doorbell on first
    // use); drop then removes it (one DEL).
    let mut buf = [0; 4];
    {
        let mut fut = pin!(r.read_with(|mut r| r.read(&mut buf)));
        match poll_once(fut.as_mut()) {
            // The writer is gone: EOF without blocking. Registration is then not needed.
            Poll::Ready(res) => assert_eq!(res.unwrap(), 0),
            Poll::Pending => panic!("a pipe without a writer reads EOF at once"),
        }
    }
    drop(r);
    assert_eq!(stats().registered_fds, base.registered_fds);

    let (r, _w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let before_add = stats().epoll_ctl_calls;
    {
        let mut fut = pin!(r.read_with(|mut r| r.read(&mut buf)));
        assert!(poll_once(fut.as_mut()).is_pending());
    }
    let after_add = stats().epoll_ctl_calls;
    assert!(
        after_add > before_add,
        "a would-block read registers the fd"
    );
    drop(r);
    assert_eq!(stats().epoll_ctl_calls, after_add + 1, "drop deregisters");
    assert_eq!(stats().registered_fds, base.registered_fds);
}

#[test]
fn into_inner_deregisters_and_stays_nonblocking() {
    let _g = shared();
    let base = stats();
    let (r, mut w) = std::io::pipe().unwrap();
    let a = Async::new(r).unwrap();
    assert_ne!(
        fd_flags(a.as_raw_fd()) & libc::O_NONBLOCK,
        0,
        "new sets O_NONBLOCK"
    );
    let mut buf = [0; 8];
    {
        let mut fut = pin!(a.read_with(|mut r| r.read(&mut buf)));
        assert!(poll_once(fut.as_mut()).is_pending(), "empty pipe");
    }
    assert_eq!(stats().registered_fds, base.registered_fds + 1);
    let ctl = stats().epoll_ctl_calls;
    let mut r = a.into_inner().unwrap();
    assert_eq!(stats().registered_fds, base.registered_fds);
    assert_eq!(
        stats().epoll_ctl_calls,
        ctl + 1,
        "into_inner removes it from epoll"
    );
    assert_ne!(
        fd_flags(r.as_raw_fd()) & libc::O_NONBLOCK,
        0,
        "still non-blocking"
    );
    // Usable with std: non-blocking semantics, then data.
    assert_eq!(r.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    w.write_all(b"std").unwrap();
    let n = r.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"std");
    // And it can be wrapped again.
    let again = Async::new(r).unwrap();
    w.write_all(b"again").unwrap();
    let n = geode::block_on(util::bounded(
        5,
        "re-wrapped read",
        again.read_with(|mut r| r.read(&mut buf)),
    ))
    .unwrap();
    assert_eq!(&buf[..n], b"again");
}

// ---------------------------------------------------------------------------------------------
// readable()/writable() and poll_readable()/poll_writable()

#[test]
fn readable_waits_for_data() {
    let _g = shared();
    let (r, mut w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let mut task = tokio_test::task::spawn(r.readable());
    assert_pending!(task.poll());
    // Nothing happened: a non-blocking turn of the reactor does not wake it.
    park(Some(Duration::ZERO)).unwrap();
    assert!(!task.is_woken());
    assert_pending!(task.poll());
    w.write_all(b"x").unwrap();
    park_until_woken(&task, "readable after write");
    assert_ready!(task.poll()).unwrap();
    drop(task);
    let mut buf = [0; 4];
    assert_eq!(r.get_ref().read(&mut buf).unwrap(), 1);
}

#[test]
fn writable_on_fresh_pipe_and_after_drain() {
    let _g = shared();
    geode::block_on(util::bounded(5, "writable", async {
        let (r, w) = std::io::pipe().unwrap();
        let w = Async::new(w).unwrap();
        w.writable().await.unwrap();
        // Fill it; writable() then waits until the reader makes room.
        let chunk = [1u8; 4096];
        while w.get_ref().write(&chunk).is_ok() {}
        let mut r = r;
        let waiter = async {
            w.writable().await.unwrap();
        };
        let drainer = async {
            geode::yield_now().await;
            let mut sink = vec![0u8; 1 << 20];
            let _ = r.read(&mut sink).unwrap();
        };
        futures_util::future::join(waiter, drainer).await;
        w.write_with(|mut w| w.write(b"room")).await.unwrap();
    }));
}

#[test]
fn poll_readable_and_poll_writable() {
    let _g = shared();
    let (r, w) = std::io::pipe().unwrap();
    let (r, w) = (Async::new(r).unwrap(), Async::new(w).unwrap());

    // A fresh, empty pipe's writer becomes writable (possibly after one reactor turn: geode
    // learns readiness from epoll).
    let mut wt = tokio_test::task::spawn(poll_fn(|cx| w.poll_writable(cx)));
    if wt.poll().is_pending() {
        park_until_woken(&wt, "poll_writable");
        assert_ready!(wt.poll()).unwrap();
    }

    let mut rt = tokio_test::task::spawn(poll_fn(|cx| r.poll_readable(cx)));
    match rt.poll() {
        Poll::Pending => {}
        Poll::Ready(res) => {
            // Allowed (readiness is a hint), but then a read must say WouldBlock.
            res.unwrap();
            let mut buf = [0; 1];
            let err = r.get_ref().read(&mut buf).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
            assert_pending!(rt.poll());
        }
    }
    w.get_ref().write_all(b"z").unwrap();
    park_until_woken(&rt, "poll_readable after write");
    assert_ready!(rt.poll()).unwrap();
    let mut buf = [0; 1];
    assert_eq!(r.get_ref().read(&mut buf).unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Refused fds, closed fds, and leaks (the only test here that counts fds: it runs exclusively)

#[test]
fn refused_and_bad_fds_leak_nothing() {
    let _g = exclusive();
    // Create this thread's reactor (epoll fd + eventfd) before counting.
    park(Some(Duration::ZERO)).unwrap();
    let tmp = TempFile::new();
    let base = stats();
    let before = util::open_fds();

    // A regular file: epoll cannot watch it.
    let err = Async::new(File::open(&tmp.0).unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("epoll"), "message: {err}");

    // A directory, likewise.
    let err = Async::new(File::open(std::env::temp_dir()).unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("epoll"), "message: {err}");

    // A closed fd number: the fstat/fcntl error, errno intact.
    let bad: RawFd = 4000;
    // SAFETY: F_GETFD takes no pointer argument; it only asks whether `bad` is open.
    let rc = unsafe { libc::fcntl(bad, libc::F_GETFD) };
    assert_eq!(rc, -1, "fd {bad} is unexpectedly open");
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EBADF)
    );
    let err = Async::new(Raw(bad)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");

    assert!(
        util::open_fds() <= before,
        "refused fds leaked: {before} open before, {} after",
        util::open_fds()
    );
    assert_eq!(stats().registered_fds, base.registered_fds);

    // A full life cycle of every supported kind (registered, waited on, dropped) leaks
    // nothing either: drop deregisters and closes.
    geode::block_on(util::bounded(5, "life cycle", async {
        let (r, w) = std::io::pipe().unwrap();
        let (r, w) = (Async::new(r).unwrap(), Async::new(w).unwrap());
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        let (c, d) = util::tcp_pair();
        let (c, d) = (Async::new(c).unwrap(), Async::new(d).unwrap());
        let e = Async::new(eventfd()).unwrap();
        let t = Async::new(timerfd(Duration::from_millis(1))).unwrap();
        let mut buf = [0u8; 8];
        let echo = async {
            let n = r.read_with(|mut r| r.read(&mut buf)).await.unwrap();
            assert_eq!(n, 1);
            let n = b.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            assert_eq!(n, 1);
            let n = d.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            assert_eq!(n, 1);
            let n = e.read_with(|mut f| f.read(&mut buf)).await.unwrap();
            assert_eq!(n, 8);
            let n = t.read_with(|mut f| f.read(&mut buf)).await.unwrap();
            assert_eq!(n, 8);
        };
        let send = async {
            geode::yield_now().await;
            w.write_with(|mut w| w.write(b"1")).await.unwrap();
            a.write_with(|mut s| s.write(b"1")).await.unwrap();
            c.write_with(|mut s| s.write(b"1")).await.unwrap();
            e.write_with(|mut f| f.write(&1u64.to_ne_bytes()))
                .await
                .unwrap();
        };
        futures_util::future::join(echo, send).await;
    }));
    assert_eq!(stats().registered_fds, base.registered_fds);
    let after = util::open_fds();
    assert!(
        after <= before,
        "fds leaked: {before} open before, {after} after"
    );
}

/// The same (non-listener) fd wrapped twice in one reactor: the second registration cannot be
/// added to epoll, and says why instead of failing with a bare EEXIST or hanging.
#[test]
fn the_same_fd_wrapped_twice_is_a_clear_error() {
    let (r, _w) = std::io::pipe().unwrap();
    let first = Async::new(&r).unwrap();
    let second = Async::new(&r).unwrap();
    geode::block_on(async {
        let mut buf = [0u8; 1];
        let mut t = tokio_test::task::spawn(first.read_with(|p| (&**p).read(&mut buf)));
        assert!(
            t.poll().is_pending(),
            "the first wrapper waits (added to epoll)"
        );
        let mut buf2 = [0u8; 1];
        let err = second
            .read_with(|p| (&**p).read(&mut buf2))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{err}");
        assert!(err.to_string().contains("wrapped twice"), "{err}");
    });
}
