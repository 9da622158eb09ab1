//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};
use std::time::Duration;

/// Number of open fds of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// A waker that counts its wakes.
pub struct CountingWaker {
    pub wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let c = Arc::new(CountingWaker {
        wakes: AtomicUsize::new(0),
    });
    (c.clone(), Waker::from(c))
}

/// Fails the test (instead of hanging it) if `fut` takes longer than `secs` seconds (ten times
/// that under valgrind, which runs code 20-50x slower: the bound is a hang guard, not a timing
/// assertion).
pub async fn bounded<F: std::future::Future>(secs: u64, what: &str, fut: F) -> F::Output {
    let secs = if under_valgrind() { secs * 10 } else { secs };
    match geode::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not complete within {secs} s"),
    }
}

/// A connected loopback TCP pair (std, blocking), on an ephemeral port.
pub fn tcp_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    (a, b)
}

/// Sets its flag when dropped: put one inside a future to observe that the future was dropped.
pub struct DropFlag(pub std::rc::Rc<std::cell::Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A fresh flag and the guard that sets it when dropped.
pub fn drop_flag() -> (std::rc::Rc<std::cell::Cell<bool>>, DropFlag) {
    let flag = std::rc::Rc::new(std::cell::Cell::new(false));
    (flag.clone(), DropFlag(flag))
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic payload>".to_string())
}

/// A fresh directory for Unix socket paths, `$TMPDIR/geode-test-<pid>-<name>`, removed (with
/// its contents) when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("geode-test-{}-{}", std::process::id(), name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn join(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until thread `tid` of this process is blocked in an epoll wait (as /proc shows it), so
/// a wake from here reaches a parked runtime, not a busy one. Returns whether it saw that; gives
/// up after 5 s (the wake then still has to work, the test just proves less).
pub fn wait_until_parked(tid: i32) -> bool {
    let epoll_calls = [
        libc::SYS_epoll_wait,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        // First field: the number of the syscall the thread is blocked in ("running" if none).
        let syscall =
            std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).unwrap_or_default();
        let nr = syscall
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<i64>().ok());
        let wchan =
            std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).unwrap_or_default();
        if nr.is_some_and(|n| epoll_calls.contains(&n)) || wchan.contains("epoll") {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

pub fn inode(fd: RawFd) -> u64 {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` has room for one `struct stat`, which fstat fills on success.
    let rc = unsafe { libc::fstat(fd, st.as_mut_ptr()) };
    assert_eq!(rc, 0, "fstat: {}", std::io::Error::last_os_error());
    // SAFETY: fstat succeeded, so `st` is initialised.
    unsafe { st.assume_init() }.st_ino
}

/// Every epoll interest in this process on the file with inode `ino`, as (fd number it was
/// added under, event mask), read from the kernel's `/proc/self/fdinfo/<epfd>` listings.
pub fn epoll_interests(ino: u64) -> Vec<(RawFd, u32)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return found;
    };
    for entry in dir.flatten() {
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if link.to_str() != Some("anon_inode:[eventpoll]") {
            continue;
        }
        let Ok(info) = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            entry.file_name().to_string_lossy()
        )) else {
            continue;
        };
        // tfd:        5 events: 8000201d data:  100000000  pos:0 ino:2a7 sdev:f
        for line in info.lines().filter(|l| l.starts_with("tfd:")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let tfd = words.get(1).and_then(|w| w.parse::<RawFd>().ok());
            let events = words
                .iter()
                .position(|w| *w == "events:")
                .and_then(|i| words.get(i + 1))
                .and_then(|h| u32::from_str_radix(h, 16).ok());
            let this_ino = words
                .iter()
                .find_map(|w| w.strip_prefix("ino:"))
                .and_then(|h| u64::from_str_radix(h, 16).ok());
            if let (Some(tfd), Some(events), Some(i)) = (tfd, events, this_ino) {
                if i == ino {
                    found.push((tfd, events));
                }
            }
        }
    }
    found
}

/// The accept queue of a listening socket: (queued connections, maximum), from `TCP_INFO`
/// (for a listener the kernel reports `sk_ack_backlog` in `tcpi_unacked` and
/// `sk_max_ack_backlog` in `tcpi_sacked`).
pub fn accept_queue(fd: RawFd) -> (u32, u32) {
    // SAFETY: all-zero is a valid `tcp_info`.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` has room for `len` bytes, which getsockopt updates.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", io::Error::last_os_error());
    (info.tcpi_unacked, info.tcpi_sacked)
}

/// A loopback listener whose accept queue is full, so that a further connect to it is never
/// answered (Linux drops the SYN) and stays pending until the kernel gives up (minutes).
///
/// Created with libc because geode's and std's `bind` use a large backlog: `listen(fd, 0)`
/// lets the queue hold one connection. It is filled with blocking std connects until it is full
/// (or until a connect does not complete, e.g. with SYN cookies off, where even the first SYN is
/// dropped). Returns the listener (never accepted from) and the connections that fill it.
pub fn full_backlog_listener() -> (std::net::TcpListener, Vec<std::net::TcpStream>) {
    // SAFETY: socket takes no pointers; a non-negative return is a new fd we own.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a fresh fd nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid `sockaddr_in`; we fill in family and address.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
    sin.sin_port = 0;
    // SAFETY: `sin` is a valid sockaddr_in of the size we pass.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
    // SAFETY: listen takes no pointers.
    assert_eq!(unsafe { libc::listen(fd, 0) }, 0, "listen");
    let listener = std::net::TcpListener::from(owned);
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        let (queued, max) = accept_queue(listener.as_raw_fd());
        if queued > max {
            break;
        }
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => fillers.push(s),
            // Not answered: the queue is full already.
            Err(e) if e.kind() == ErrorKind::TimedOut => break,
            Err(e) => panic!("filling the backlog: {e}"),
        }
    }
    (listener, fillers)
}

/// This test binary again, to run only the `#[ignore]`d test `name` in a child process (for
/// process-wide settings: environment variables, fork, namespaces).
pub fn child_test_command(name: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        name,
        "--nocapture",
        "--ignored",
        "--test-threads=1",
    ]);
    cmd
}

/// Runs `cmd` (from [`child_test_command`], perhaps wrapped), killing it after `secs` seconds;
/// fails unless the child test ran and passed. Returns its stdout.
pub fn run_child_test(mut cmd: std::process::Command, name: &str, secs: u64) -> String {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.expect("wait for the child test process"),
        Err(_) => {
            // SAFETY: kill has no memory preconditions; pid is our own child, not yet reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("child test {name} did not finish within {secs} s");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child test {name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(&format!("test {name} ..."))
            && stdout.contains("test result: ok. 1 passed"),
        "child did not run {name}:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Whether this process is a child started by [`run_child_test`] for a test (set in its env).
pub fn in_child() -> bool {
    std::env::var_os("GEODE_TEST_CHILD").is_some()
}

/// Whether this process runs under valgrind (its preload library is in `LD_PRELOAD`). Valgrind
/// serialises threads through one lock, handing it over with futex waits: every hand-over is a
/// voluntary context switch, so counts of those mean nothing there.
pub fn under_valgrind() -> bool {
    std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("vgpreload"))
}

/// Whether geode runs its listeners without `EPOLLEXCLUSIVE` (the fallback CI also tests).
pub fn epollexclusive_disabled() -> bool {
    std::env::var_os("GEODE_NO_EPOLLEXCLUSIVE").is_some()
}

/// Makes this thread's reactor driven by `park`, as a custom executor's: tests that poll by hand
/// and then park call it first, so no fallback helper (which keeps waker clones and may wake
/// early) starts at their first pending poll.
pub fn drive_with_park() {
    geode::reactor::park(Some(Duration::ZERO)).expect("park");
}

/// What a fork child reports: `Ok`, or the exit code a failure maps to and what went wrong.
pub type ChildResult = Result<(), (i32, String)>;

/// Ends a fork child at once with the exit code of `res` (0 on success), writing a failure's
/// message to stderr first. Never returns into the test harness and runs no destructor.
pub fn child_exit(res: std::thread::Result<ChildResult>) -> ! {
    let (code, msg) = match res {
        Ok(Ok(())) => (0, String::new()),
        Ok(Err((code, msg))) => (code, msg),
        Err(_) => (99, "the child panicked".to_string()),
    };
    if code != 0 {
        let line = format!("fork child failure (exit {code}): {msg}\n");
        // SAFETY: writes `line`'s bytes to stderr; no lock, no allocation.
        unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    }
    // SAFETY: ends the child at once, without running the harness or any destructor.
    unsafe { libc::_exit(code) }
}

/// In a geode runtime: waits (polling with geode timers, so the runtime keeps turning) until
/// fork child `pid` exits, killing it after `secs` seconds, and fails the test unless it
/// exited with status 0.
pub async fn wait_for_fork_child(pid: libc::pid_t, secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid int to write to.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", io::Error::last_os_error());
        if r == pid {
            break;
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: `pid` is our child; killing and reaping it has no other effect.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the fork child did not exit within {secs} s (killed)");
        }
        geode::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "fork child failed: wait status {status:#x} (exit code {}; see stderr)",
        libc::WEXITSTATUS(status)
    );
}

/// Threads of this process named `geode-fallback` (the fallback helpers of undriven threads).
pub fn helper_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == "geode-fallback")
        .count()
}

/// Polls `fut` once with a waker that does nothing: makes a geode future hit `WouldBlock` (which
/// is when geode adds its fd to epoll) without waiting. Pass `fut.as_mut()` to keep the future,
/// or the future itself to drop it after the poll.
pub fn poll_once<F: std::future::Future>(fut: F) -> std::task::Poll<F::Output> {
    std::pin::pin!(fut).poll(&mut std::task::Context::from_waker(Waker::noop()))
}

/// Makes `a` hit `WouldBlock` on a read, which is when geode adds it to epoll.
pub fn register_by_blocking_read<T>(a: &geode::io::Async<T>)
where
    T: std::os::fd::AsFd,
    for<'a> &'a T: io::Read,
{
    use std::io::Read;
    let mut buf = [0; 1];
    let mut fut = std::pin::pin!(a.read_with(|mut r| r.read(&mut buf)));
    assert!(
        poll_once(fut.as_mut()).is_pending(),
        "nothing to read yet: the pipe or socket must be empty"
    );
}

/// `SO_LINGER {on, 0}`: closing the socket then sends a RST instead of a FIN.
pub fn set_linger_zero(fd: RawFd) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: we pass a pointer to a `linger` and its size, as SO_LINGER expects.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt(SO_LINGER): {}",
        io::Error::last_os_error()
    );
}

/// Runs this thread's reactor until `task` has been woken; fails after 5 s instead of hanging.
/// Returns the reactor wakeups counted meanwhile.
pub fn park_until_woken<F: std::future::Future>(
    task: &tokio_test::task::Spawn<F>,
    what: &str,
) -> u64 {
    let before = geode::reactor::stats().wakeups;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !task.is_woken() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not woken within 5 s"
        );
        geode::reactor::park(Some(Duration::from_millis(100))).expect("park");
    }
    geode::reactor::stats().wakeups - before
}

/// Awaits `fut`, calling `on_pending` the first time it returns `Pending` (i.e. once it is
/// registered and waiting).
pub async fn signal_when_pending<F: std::future::Future>(
    fut: F,
    on_pending: impl FnOnce(),
) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut on_pending = Some(on_pending);
    std::future::poll_fn(|cx| {
        let p = fut.as_mut().poll(cx);
        if p.is_pending() {
            if let Some(f) = on_pending.take() {
                f();
            }
        }
        p
    })
    .await
}

/// A lock over this test binary: tests take it shared; a test that must see the process quiet
/// (counting its open fds or helper threads, or needing a precise fd number) takes it
/// exclusively, so that no other test of the binary opens or closes fds or starts threads
/// meanwhile.
static QUIET: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// [`QUIET`], shared.
pub fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    QUIET.read().unwrap_or_else(|e| e.into_inner())
}

/// [`QUIET`], exclusively.
pub fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    QUIET.write().unwrap_or_else(|e| e.into_inner())
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the tests of this binary that take it one at a time (a poisoned lock is taken over:
/// one failed test does not fail the others).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on a fresh thread under [`serial`]: its reactor is created there and its fds are
/// closed when the thread is joined, before the next test starts counting; `f`'s panic is
/// the test's.
pub fn isolated(f: impl FnOnce() + Send + 'static) {
    let _guard = serial();
    if let Err(panic) = std::thread::spawn(f).join() {
        std::panic::resume_unwind(panic);
    }
}

/// `size` bytes of a pattern (period 251, prime) that a shifted or dropped chunk would break.
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// A connected loopback pair of geode `TcpStream`s, on an ephemeral port.
pub async fn geode_tcp_pair() -> (geode::net::TcpStream, geode::net::TcpStream) {
    let listener = geode::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = geode::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (b, _) = listener.accept().await.unwrap();
    (a, b)
}

/// Polls `done` every millisecond until it holds; fails with `failure()`'s message after 60 s
/// (a hang guard for work that completes a little later, e.g. on a pool thread).
pub fn poll_until(mut done: impl FnMut() -> bool, failure: impl Fn() -> String) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "{}", failure());
        // A poll interval, not a settle: the condition is checked, bounded by the limit.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// geode's stream types, for the loops that tests/tcp.rs and tests/unix.rs both run: each method
/// is the type's own inherent method of that name (not the futures-io or tokio traits).
#[allow(async_fn_in_trait)]
pub trait GeodeStream {
    async fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()>;
    async fn write_all(&self, buf: &[u8]) -> io::Result<()>;
}

macro_rules! geode_stream {
    ($($t:ty),*) => {$(
        impl GeodeStream for $t {
            async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                <$t>::read(self, buf).await
            }
            async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
                <$t>::read_exact(self, buf).await
            }
            async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
                <$t>::write_all(self, buf).await
            }
        }
    )*};
}
geode_stream!(geode::net::TcpStream, geode::net::UnixStream);

/// A server's side of an echo: writes back what `s` reads (through `buf`) until EOF.
pub async fn echo_until_eof(s: &impl GeodeStream, buf: &mut [u8]) -> io::Result<()> {
    loop {
        let n = s.read(buf).await?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n]).await?;
    }
}

/// A client's side of an echo: writes each of `msgs` and reads the same bytes back.
pub async fn check_echoes(c: &impl GeodeStream, msgs: &[&[u8]]) {
    for msg in msgs {
        c.write_all(msg).await.unwrap();
        let mut back = vec![0; msg.len()];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(back, *msg);
    }
}

/// Everything `s` reads (4 KiB at a time) until EOF.
pub async fn read_to_eof(s: &impl GeodeStream) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match s.read(&mut buf).await? {
            0 => return Ok(all),
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `chunk` to `s` over and over until a write fails; returns that error.
pub async fn write_until_error(s: &impl GeodeStream, chunk: &[u8]) -> io::Error {
    loop {
        if let Err(e) = s.write_all(chunk).await {
            return e;
        }
    }
}
