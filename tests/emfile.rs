//! `accept` out of descriptors (EMFILE).
//!
//! When the process has no fd left, `accept4` fails with EMFILE but the connection stays
//! queued and the listener stays readable: a naive `loop { accept }` that retries on error would
//! spin at 100% CPU until an fd frees up. geode promises that the accept after such an error
//! waits first (1 ms doubling to 1 s), so the retry loop backs off; and that the loop accepts
//! as soon as descriptors are available again.
//!
//! Lowering RLIMIT_NOFILE would break the other tests of a process, so the test runs in a
//! forked child, which ends with `_exit` (never returning into the harness) and reports its
//! result as its exit code, with details through a pipe. This file holds exactly one test, so
//! the process has no other test thread when it forks.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use geode::net::TcpListener;
use geode::time::{sleep, timeout};

/// The checks of the child, by exit code.
const CHECKS: &[(i32, &str)] = &[
    (10, "bind the listener"),
    (11, "create the reactor's fds before lowering the limit"),
    (12, "lower RLIMIT_NOFILE"),
    (13, "open client connections until EMFILE"),
    (14, "the descriptor limit took effect"),
    (15, "the first accept out of descriptors fails with EMFILE"),
    (16, "accepts keep failing with EMFILE while no fd is free"),
    (17, "the failing retry loop backs off (CPU time)"),
    (18, "the failing retry loop backs off (number of retries)"),
    (
        19,
        "the retry loop accepts once descriptors are freed (in time)",
    ),
    (
        20,
        "the retry loop accepts once descriptors are freed (no other error)",
    ),
    (99, "the child panicked"),
];

/// A child-side failure: its exit code and what went wrong.
type ChildResult = Result<(), (i32, String)>;

fn is_emfile(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EMFILE)
}

/// User + system CPU time this process has used.
fn cpu_time() -> Duration {
    // SAFETY: all-zero is a valid `rusage`, which getrusage fills.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid for writes.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Everything the child does, inside its own `block_on`.
async fn child() -> ChildResult {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| (10, format!("bind: {e}")))?;
    let addr = listener.local_addr().map_err(|e| (10, e.to_string()))?;
    // The reactor creates its epoll fd and eventfd on first use: make that happen now, while
    // fds are available.
    sleep(Duration::from_millis(1)).await;

    // Room for a handful of connections, then the table is full.
    let open = util::open_fds() as u64;
    let lim = libc::rlimit {
        rlim_cur: open + 8,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `cur` is a valid `rlimit` for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) } != 0 {
        return Err((
            12,
            format!("getrlimit: {}", std::io::Error::last_os_error()),
        ));
    }
    let lim = libc::rlimit {
        rlim_max: cur.rlim_max,
        ..lim
    };
    // SAFETY: `lim` is a valid `rlimit`; lowering the soft limit is always allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err((
            12,
            format!("setrlimit: {}", std::io::Error::last_os_error()),
        ));
    }

    // Blocking std connects complete through the listener's backlog without an accept. Each
    // takes one fd, until socket() fails with EMFILE; the connections stay queued.
    let mut clients = Vec::new();
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(c) => clients.push(c),
            Err(e) if is_emfile(&e) => break,
            Err(e) => return Err((13, format!("connect: {e}"))),
        }
        if clients.len() > 64 {
            return Err((14, format!("{} connections and no EMFILE", clients.len())));
        }
    }
    if clients.len() < 5 {
        return Err((14, format!("only {} connections fit", clients.len())));
    }

    // No fd left for the accepted socket: EMFILE, with the connection still queued.
    match timeout(Duration::from_secs(5), listener.accept()).await {
        Ok(Err(e)) if is_emfile(&e) => {}
        Ok(Err(e)) => return Err((15, format!("first accept: {e} (wanted EMFILE)"))),
        Ok(Ok(_)) => return Err((15, "first accept succeeded with no fd free".into())),
        Err(_) => return Err((15, "first accept hung (5 s)".into())),
    }

    // A naive retry loop, for 300 ms: every accept fails. Measure the CPU it burns.
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let mut failures = 0u32;
    while t0.elapsed() < Duration::from_millis(300) {
        match timeout(Duration::from_secs(5), listener.accept()).await {
            Ok(Err(e)) if is_emfile(&e) => failures += 1,
            Ok(Err(e)) => return Err((16, format!("retry {failures}: {e} (wanted EMFILE)"))),
            Ok(Ok(_)) => return Err((16, "accept succeeded with no fd free".into())),
            Err(_) => return Err((16, format!("retry {failures} hung (5 s)"))),
        }
    }
    let (cpu, wall) = (cpu_time() - cpu0, t0.elapsed());
    let summary = format!(
        "{failures} failed retries in {:.0} ms wall, {:.1} ms CPU",
        wall.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3
    );
    report(&format!("emfile child: {summary}\n"));
    if cpu >= Duration::from_millis(150) {
        return Err((17, format!("the retry loop spins: {summary}")));
    }
    if failures > 100 {
        return Err((18, format!("the retry loop does not back off: {summary}")));
    }

    // Free some descriptors: the same loop must now accept (a queued connection whose client
    // has since closed is still accepted).
    clients.truncate(clients.len() - 4);
    let retry_loop = async {
        let mut retries = 0u32;
        loop {
            match listener.accept().await {
                Ok(conn) => return Ok((conn, retries)),
                Err(e) if is_emfile(&e) => retries += 1,
                Err(e) => return Err(e),
            }
        }
    };
    match timeout(Duration::from_secs(5), retry_loop).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err((20, format!("accept after freeing fds: {e}"))),
        Err(_) => Err((19, "no accept within 5 s of freeing fds".into())),
    }
}

/// Writes to the real stderr (fd 2): the harness's output capture does not survive the fork.
fn report(msg: &str) {
    // SAFETY: writes `msg.len()` bytes from a valid buffer to fd 2.
    let _ = unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

#[test]
fn accept_out_of_descriptors_backs_off_and_recovers() {
    let (mut rd, mut wr) = std::io::pipe().unwrap();
    // SAFETY: fork has no preconditions; the child only runs the code below and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        drop(rd);
        // Hang guard: the default SIGALRM action kills the child.
        // SAFETY: alarm takes no pointers.
        unsafe { libc::alarm(20) };
        let res = catch_unwind(AssertUnwindSafe(|| geode::block_on(child())));
        let (code, msg) = match res {
            Ok(Ok(())) => (0, String::new()),
            Ok(Err((code, msg))) => (code, msg),
            Err(panic) => (99, util::panic_message(&*panic)),
        };
        let _ = wr.write_all(msg.as_bytes());
        drop(wr);
        // SAFETY: ends the child at once, without running the harness or any destructor.
        unsafe { libc::_exit(code) };
    }
    drop(wr);
    let mut status = 0;
    loop {
        // SAFETY: `status` is valid for writes; `pid` is our child.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), ErrorKind::Interrupted, "waitpid: {e}");
    }
    let mut detail = String::new();
    let _ = rd.read_to_string(&mut detail);
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        panic!(
            "the child was killed by signal {sig}{}",
            if sig == libc::SIGALRM {
                " (SIGALRM: it hung for 20 s)"
            } else {
                ""
            }
        );
    }
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    let code = libc::WEXITSTATUS(status);
    if code != 0 {
        let check = CHECKS
            .iter()
            .find(|(c, _)| *c == code)
            .map_or("unknown check", |(_, what)| what);
        panic!("child failed check {code} ({check}): {detail}");
    }
}
