//! Thread per core: `geode::runtime::thread_per_core` starts N threads, each pinned to a CPU
//! with its own runtime and its own clone of one listening socket. The listener is registered
//! with `EPOLLEXCLUSIVE` in every thread's reactor, so each connection wakes one idle thread
//! instead of all of them.
//!
//! Run: `cargo run --example thread_per_core [threads] [connections]`. A client on the main
//! thread makes `connections` connections, one at a time, each once every server thread is
//! idle; each server answers with one byte. It prints how many connections each thread took
//! and how often each thread's reactor woke up: about once per connection in all, not once per
//! connection per thread.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What one server thread did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThreadReport {
    pub(crate) accepted: u64,
    /// Returns from `epoll_wait` (geode's `stats()`).
    pub(crate) epoll_wait_calls: u64,
    /// Times the kernel woke the thread: voluntary context switches. This also counts wakeups
    /// that epoll swallowed (it re-polls an edge-triggered fd before returning, so a thread
    /// that lost the race for a connection goes back to sleep inside `epoll_wait`).
    pub(crate) woken: u64,
}

/// This thread's voluntary context switches so far.
fn voluntary_switches() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One core's server: accepts on its clone of the listener until told to stop.
async fn serve(
    core: usize,
    listener: io::Result<std::net::TcpListener>,
    stop: &AtomicBool,
    tid: mpsc::Sender<String>,
) -> io::Result<ThreadReport> {
    // "/proc/thread-self" links to "<pid>/task/<tid>": tell the client where to watch us.
    let _ = tid.send(
        std::fs::read_link("/proc/thread-self")?
            .display()
            .to_string(),
    );
    drop(tid);
    if let Some(Err(e)) = geode::runtime::core_affinity() {
        eprintln!("core {core}: not pinned ({e}); running unpinned");
    }
    let listener = geode::net::TcpListener::from_std(listener?)?;
    let before = geode::reactor::stats();
    let switches = voluntary_switches();
    let mut accepted = 0;
    loop {
        let (stream, _) = listener.accept().await?;
        if stop.load(Ordering::Acquire) {
            break;
        }
        accepted += 1;
        // A fresh socket's send buffer is empty: this write never waits.
        stream.write_all(b"!").await?;
    }
    let after = geode::reactor::stats();
    Ok(ThreadReport {
        accepted,
        epoll_wait_calls: after.epoll_wait_calls - before.epoll_wait_calls,
        woken: voluntary_switches() - switches,
    })
}

/// Whether every thread in `tasks` ("<pid>/task/<tid>") is blocked in an epoll wait right now
/// (`/proc/<pid>/task/<tid>/syscall` names the syscall a sleeping thread is in; a running one
/// reads "running"). Only then does a connection meet every reactor waiting: the kernel's
/// exclusive wakeup stops at the first epoll instance with a thread waiting in it, while an
/// instance whose thread is still busy gets the event too.
fn all_idle(tasks: &[String]) -> bool {
    tasks.iter().all(|t| {
        std::fs::read_to_string(format!("/proc/{t}/syscall"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
            .is_some_and(|nr| {
                nr == libc::SYS_epoll_pwait
                    || nr == libc::SYS_epoll_pwait2
                    || (cfg!(target_arch = "x86_64") && nr == EPOLL_WAIT)
            })
    })
}

/// `epoll_wait`'s number where it exists (x86_64; newer ABIs have only `epoll_pwait`).
#[cfg(target_arch = "x86_64")]
const EPOLL_WAIT: i64 = libc::SYS_epoll_wait;
#[cfg(not(target_arch = "x86_64"))]
const EPOLL_WAIT: i64 = -1;

/// Starts `threads` servers on one loopback listener (`geode::runtime::thread_per_core`),
/// makes `connections` sequential connections (each once all servers are idle), stops the
/// servers, and returns what each did.
pub(crate) fn run(threads: usize, connections: usize) -> io::Result<Vec<ThreadReport>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr: SocketAddr = listener.local_addr()?;
    let stop = AtomicBool::new(false);
    let servers_done = AtomicBool::new(false);
    let (tid_tx, tid_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let made = client(addr, threads, connections, tid_rx);
            // Each stopping server takes one connection and returns; keep connecting until
            // all have (also after a failure, so that the servers end and the error shows).
            stop.store(true, Ordering::Release);
            while !servers_done.load(Ordering::Acquire) {
                let _ = TcpStream::connect(addr);
                std::thread::yield_now();
            }
            made
        });
        let reports = geode::runtime::thread_per_core(threads, |core| {
            serve(core, listener.try_clone(), &stop, tid_tx.clone())
        });
        servers_done.store(true, Ordering::Release);
        let made = client
            .join()
            .map_err(|_| io::Error::other("the client thread panicked"))?;
        made?;
        reports?.into_iter().collect()
    })
}

/// Makes `connections` connections one at a time, each once every server thread is idle.
fn client(
    addr: SocketAddr,
    threads: usize,
    connections: usize,
    tid_rx: mpsc::Receiver<String>,
) -> io::Result<()> {
    let tasks: Vec<String> = tid_rx.iter().take(threads).collect();
    if tasks.len() < threads {
        return Err(io::Error::other(
            "a server thread ended before it started serving",
        ));
    }
    for i in 0..connections {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !all_idle(&tasks) {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "before connection {i}: the server threads did not all go back to \
                     epoll_wait within 10 s"
                )));
            }
            std::thread::yield_now();
        }
        let mut s = TcpStream::connect(addr)?;
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte)?;
    }
    Ok(())
}

#[allow(dead_code)] // unused where tests/thread_per_core.rs includes this file
fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = args.next().and_then(|a| a.parse().ok()).unwrap_or(cores);
    let connections = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let reports = run(threads, connections)?;
    for (i, r) in reports.iter().enumerate() {
        println!(
            "thread {i}: accepted {:4}, epoll_wait returned {:4} times, woken {:4} times",
            r.accepted, r.epoll_wait_calls, r.woken
        );
    }
    let total: u64 = reports.iter().map(|r| r.accepted).sum();
    let woken: u64 = reports.iter().map(|r| r.woken).sum();
    println!("{total} connections accepted by {threads} threads, which were woken {woken} times");
    Ok(())
}
