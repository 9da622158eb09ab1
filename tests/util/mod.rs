//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

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

/// Fails the test (instead of hanging it) if `fut` takes longer than `secs` seconds.
pub async fn bounded<F: std::future::Future>(secs: u64, what: &str, fut: F) -> F::Output {
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
