//! Every fd geode opens is close-on-exec: a program the application starts must not inherit
//! the reactor's epoll instance or eventfd, nor any socket (an inherited listening socket keeps
//! the port bound after the parent closes it; an inherited stream keeps the connection open).
//!
//! `every_fd_geode_opens_is_cloexec` creates the reactor (one `park`), an `Async` pipe, and
//! every `geode::net` socket kind (TCP listener, connected and accepted streams, UDP, Unix
//! listener, connected and accepted streams, bound/unbound/paired datagrams, stream pairs),
//! checks `FD_CLOEXEC` on each, then starts `/bin/sh -c 'ls -l /proc/self/fd'` and checks
//! that none of those descriptors is in the child's list. An fd is matched by number *and*
//! target (`socket:[inode]`, `anon_inode:[eventpoll]`, ...), so the child's own descriptors,
//! such as the directory `ls` reads, which may reuse a freed number, are not mistaken for ours.
//!
//! `fork_child_reactor_fds_are_cloexec` does the same in a fork child after geode replaced
//! the inherited epoll instance and eventfd (with `dup3`, which must pass `O_CLOEXEC`): the
//! child execs the listing itself, and the parent checks it.
//!
//! Each test runs on a fresh thread in `util::isolated`, one at a time, so the fork happens
//! while no other test of this file runs, and the only reactor in the process is the test's
//! own.

mod util;
use util::isolated;

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use futures_util::future::join;
use geode::io::Async;
use geode::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use geode::{block_on, reactor};

/// What `/proc/self/fd/<fd>` points to.
fn target(fd: RawFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .unwrap_or_else(|e| panic!("readlink fd {fd}: {e}"))
        .to_string_lossy()
        .into_owned()
}

fn is_cloexec(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no pointer argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(
        flags >= 0,
        "F_GETFD fd {fd}: {}",
        std::io::Error::last_os_error()
    );
    flags & libc::FD_CLOEXEC != 0
}

/// This process's epoll and eventfd descriptors (the reactor's, as no other code in this test
/// binary creates any), by their `/proc/self/fd` link targets.
fn reactor_fds() -> Vec<(String, RawFd)> {
    let mut v = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<RawFd>() else {
            continue;
        };
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let link = link.to_string_lossy().into_owned();
        if link == "anon_inode:[eventpoll]" || link == "anon_inode:[eventfd]" {
            v.push((format!("reactor {link}"), fd));
        }
    }
    v
}

/// Parses `ls -l /proc/self/fd` output: fd number -> link target.
fn parse_listing(out: &str) -> HashMap<RawFd, String> {
    out.lines()
        .filter_map(|line| {
            let (left, target) = line.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.trim().to_string()))
        })
        .collect()
}

/// Fails if any of `ours` (name, fd, target) shows in the child's `listing`.
fn assert_none_inherited(ours: &[(String, RawFd, String)], listing: &str) {
    let child = parse_listing(listing);
    assert!(
        child.contains_key(&1) && child.contains_key(&2),
        "unexpected listing from the child:\n{listing}"
    );
    let inherited: Vec<_> = ours
        .iter()
        .filter(|(_, fd, t)| child.get(fd) == Some(t))
        .collect();
    assert!(
        inherited.is_empty(),
        "descriptors inherited across exec (no CLOEXEC): {inherited:?}\nchild's fds:\n{listing}"
    );
}

#[test]
fn every_fd_geode_opens_is_cloexec() {
    isolated(every_fd_geode_opens_is_cloexec_body);
}

fn every_fd_geode_opens_is_cloexec_body() {
    let dir = util::TempDir::new("cloexec");
    block_on(async {
        // The reactor: created by the first park.
        reactor::park(Some(Duration::ZERO)).unwrap();
        let (r, mut w) = std::io::pipe().unwrap();
        let r = Async::new(r).unwrap();

        let tl = TcpListener::bind("127.0.0.1:0").unwrap();
        let (tc, ta) = join(TcpStream::connect(tl.local_addr().unwrap()), tl.accept()).await;
        let (tc, (ta, _)) = (tc.unwrap(), ta.unwrap());
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();

        let path = dir.join("l.sock");
        let ul = UnixListener::bind(&path).unwrap();
        let (uc, ua) = join(UnixStream::connect(&path), ul.accept()).await;
        let (uc, (ua, _)) = (uc.unwrap(), ua.unwrap());
        let (up1, up2) = UnixStream::pair().unwrap();
        let ud = UnixDatagram::bind(dir.join("d.sock")).unwrap();
        let udu = UnixDatagram::unbound().unwrap();
        let (udp1, udp2) = UnixDatagram::pair().unwrap();

        // Make the pipe wait once, so it is in epoll too (not that it changes its flags).
        w.write_all(b"x").unwrap();
        let mut buf = [0; 1];
        r.read_with(|mut p| p.read(&mut buf)).await.unwrap();

        let mut ours: Vec<(String, RawFd)> = vec![
            ("Async pipe".into(), r.as_raw_fd()),
            ("TcpListener".into(), tl.as_raw_fd()),
            ("TcpStream (connected)".into(), tc.as_raw_fd()),
            ("TcpStream (accepted)".into(), ta.as_raw_fd()),
            ("UdpSocket".into(), udp.as_raw_fd()),
            ("UnixListener".into(), ul.as_raw_fd()),
            ("UnixStream (connected)".into(), uc.as_raw_fd()),
            ("UnixStream (accepted)".into(), ua.as_raw_fd()),
            ("UnixStream::pair 0".into(), up1.as_raw_fd()),
            ("UnixStream::pair 1".into(), up2.as_raw_fd()),
            ("UnixDatagram (bound)".into(), ud.as_raw_fd()),
            ("UnixDatagram (unbound)".into(), udu.as_raw_fd()),
            ("UnixDatagram::pair 0".into(), udp1.as_raw_fd()),
            ("UnixDatagram::pair 1".into(), udp2.as_raw_fd()),
        ];
        let reactor = reactor_fds();
        assert!(
            reactor.iter().any(|(n, _)| n.contains("eventpoll"))
                && reactor.iter().any(|(n, _)| n.contains("eventfd")),
            "the reactor's epoll fd and eventfd were not found: {reactor:?}"
        );
        ours.extend(reactor);

        let missing: Vec<_> = ours.iter().filter(|(_, fd)| !is_cloexec(*fd)).collect();
        assert!(missing.is_empty(), "FD_CLOEXEC not set on: {missing:?}");

        let ours: Vec<(String, RawFd, String)> = ours
            .into_iter()
            .map(|(name, fd)| (name, fd, target(fd)))
            .collect();
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", "ls -l /proc/self/fd"])
            .output()
            .expect("run /bin/sh");
        assert!(out.status.success(), "ls failed: {out:?}");
        assert_none_inherited(&ours, &String::from_utf8_lossy(&out.stdout));
    });
}

#[test]
fn fork_child_reactor_fds_are_cloexec() {
    isolated(fork_child_reactor_fds_are_cloexec_body);
}

fn fork_child_reactor_fds_are_cloexec_body() {
    // This thread drives its reactor with `park` (so no fallback helper has fds of its own).
    geode::reactor::park(Some(std::time::Duration::ZERO)).unwrap();
    // A reactor with a registration in epoll, so the child has something to replace.
    let (r, _w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    {
        let mut buf = [0; 1];
        let fut = pin!(r.read_with(|mut p| p.read(&mut buf)));
        assert!(
            fut.poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
    }
    let reactor = reactor_fds();
    assert_eq!(reactor.len(), 2, "epoll fd and eventfd: {reactor:?}");

    let (mut out_r, out_w) = std::io::pipe().unwrap();
    // Everything the child needs is allocated before the fork.
    let sh = CString::new("/bin/sh").unwrap();
    let args = [
        CString::new("sh").unwrap(),
        CString::new("-c").unwrap(),
        CString::new("ls -l /proc/self/fd").unwrap(),
    ];
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let out_fd = out_w.as_raw_fd();

    // SAFETY: fork has no preconditions; the child runs only the code below, then execs or
    // `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: alarm takes no pointers (a hang guard: SIGALRM kills the child).
        unsafe { libc::alarm(20) };
        // First use after the fork: geode dup3s a fresh epoll and eventfd onto the same
        // numbers.
        let code = match reactor::park(Some(Duration::ZERO)) {
            Ok(_) => 0,
            Err(_) => 3,
        };
        if code == 0 {
            // SAFETY: `out_fd` is open (the pipe's write end); dup2 onto stdout, which
            // clears CLOEXEC on fd 1 only. `argv` is a NULL-terminated array of C strings
            // that outlive the call; execv returns only on failure.
            unsafe {
                libc::dup2(out_fd, 1);
                libc::execv(sh.as_ptr(), argv.as_ptr());
            }
        }
        // SAFETY: ends the child at once, without running the harness or any destructor.
        unsafe { libc::_exit(if code == 0 { 127 } else { code }) };
    }
    drop(out_w);
    let mut listing = String::new();
    out_r.read_to_string(&mut listing).unwrap();
    let mut status = 0;
    // SAFETY: `status` is valid for writes; `pid` is our child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "waitpid: {e}");
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child failed: status {status:#x} (3: park failed, 127: exec failed)"
    );
    // The parent's reactor is untouched and still CLOEXEC.
    for (name, fd) in &reactor {
        assert!(is_cloexec(*fd), "{name} (fd {fd}) lost FD_CLOEXEC");
    }
    let ours: Vec<(String, RawFd, String)> = reactor
        .into_iter()
        .map(|(name, fd)| {
            let t = target(fd);
            (format!("{name} (replaced in the fork child)"), fd, t)
        })
        .chain(std::iter::once((
            "Async pipe".to_string(),
            r.as_raw_fd(),
            target(r.as_raw_fd()),
        )))
        .collect();
    assert_none_inherited(&ours, &listing);
}
