//! `suite micro <geode|tokio|smol> <bench> [--n N]`: in-process benchmarks, one process per
//! (peer, bench), so that peak RSS and allocator state belong to that bench alone.
//!
//! - `sleepers`: N tasks each sleeping a random 1–100 ms (fixed seed): wall time, and peak
//!   RSS (VmHWM) minus the RSS before spawning, per task;
//! - `timeout_ready`: N `timeout(1 s, ready)`; `timeout_pending`: N `timeout(1 s, f)` where `f`
//!   is pending once (waking itself) then ready: one timer insert + cancel each; reported net of
//!   the same loop without the timeout (`pending_once`);
//! - `spawn_join`: N tasks spawned and joined from the main future, in batches of 1,000;
//! - `chan_pingpong`: N round trips between two tasks over a tiny `Rc` channel (below);
//! - `mem_timers`, `mem_tasks`, `mem_conns`: RSS growth per pending timer (the sleep futures
//!   stored in place in a `Vec`), per pending task, per idle registered TCP connection (a task
//!   waiting on `readable()`);
//! - `overshoot`: how late `sleep(100 µs)` wakes, p50/p99;
//! - `blocking_rt`: N sequential round trips through the blocking pool (submit a no-op, await
//!   it): geode's `spawn_blocking`, tokio's, smol's `blocking::unblock`;
//! - `blocking_burst`: N rounds of 1,000 no-op jobs submitted at once, then all awaited;
//! - `file_read`: a 64 MiB file read with `read_to_end` through geode's `fs::File`,
//!   `tokio::fs::File` and `async_fs::File`, and with a `read` loop into a preallocated
//!   buffer (N runs, best of each), beside `std::fs::read` (the floor) in the same process.
//! - `proc_spawn`, `proc_read`, `signal_latency`: child processes and signals, in
//!   `proc_sig.rs` (peers there include `std`).
//!
//! tokio runs a current-thread runtime (`tokio::spawn`; a `LocalSet` only for the `Rc` channel);
//! smol runs an `async_executor::LocalExecutor` inside `async_io::block_on`.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::common::{Rng, hwm, percentile, print_result, raise_nofile, rss};

pub(crate) const PEERS: [&str; 3] = ["geode", "tokio", "smol"];

/// Counts finished tasks; the main future waits for zero. `Send`, so `tokio::spawn` takes it.
struct Countdown {
    left: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl Countdown {
    fn new(n: usize) -> Arc<Countdown> {
        Arc::new(Countdown {
            left: AtomicUsize::new(n),
            waker: Mutex::new(None),
        })
    }

    fn done_one(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(w) = self.waker.lock().unwrap().take() {
                w.wake();
            }
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.left.load(Ordering::Acquire) == 0 {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.left.load(Ordering::Acquire) == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Pending once (after waking itself), then ready.
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// The local channel of `chan_pingpong`: a flag and the receiver's waker, nothing else. The
/// same code for every peer.
#[derive(Default)]
struct Signal {
    set: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    fn send(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    fn recv(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            if self.set.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

pub(crate) fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

thread_local! {
    /// smol's executor for this thread (leaked: it lives as long as the process).
    static SMOL: &'static async_executor::LocalExecutor<'static> =
        Box::leak(Box::new(async_executor::LocalExecutor::new()));
}

fn smol_ex() -> &'static async_executor::LocalExecutor<'static> {
    SMOL.with(|e| *e)
}

/// Runs a future on `$peer`'s runtime: `geode::block_on`, tokio's current-thread `block_on`, or
/// smol's `LocalExecutor::run` inside `async_io::block_on`.
macro_rules! run_on {
    ($peer:expr, $fut:expr) => {
        match $peer {
            "geode" => geode::block_on($fut),
            "tokio" => tokio_rt().block_on($fut),
            "smol" => async_io::block_on(smol_ex().run($fut)),
            p => panic!("unknown peer {p}"),
        }
    };
}

// The peers' arms of a bench are one loop but for the call that starts a job (and whether its
// handle yields a `Result`): these macros paste that call into the loop, so every peer runs
// exactly the code it would written out by hand.

/// `spawn_join`'s loop: `$rounds` batches of `$per` tasks, started by `|$i| $spawn` into one
/// `Vec` reused by every batch, then each awaited (and `$unwrap`ped); ns per task.
macro_rules! spawn_batches {
    ($rounds:expr, $per:expr, |$i:ident| $spawn:expr $(, $unwrap:ident)?) => {{
        let mut hs = Vec::with_capacity($per);
        let start = Instant::now();
        for _ in 0..$rounds {
            hs.extend((0..$per).map(|$i| $spawn));
            for h in hs.drain(..) {
                black_box(h.await $(.$unwrap())?);
            }
        }
        ns_per(start, $rounds * $per)
    }};
}

/// `blocking_burst`'s loop: `$rounds` times, `$per` jobs started by `|$i| $spawn` into a new
/// `Vec`, then each awaited (and `$unwrap`ped); ns per job.
macro_rules! burst {
    ($rounds:expr, $per:expr, |$i:ident| $spawn:expr $(, $unwrap:ident)?) => {{
        let start = Instant::now();
        for _ in 0..$rounds {
            let hs: Vec<_> = (0..$per).map(|$i| $spawn).collect();
            for h in hs {
                black_box(h.await $(.$unwrap())?);
            }
        }
        ns_per(start, $rounds * $per)
    }};
}

/// `file_read`'s runs with file type `$file` (whose async read traits the caller has in
/// scope): best of `$runs` of `open` + `read_to_end`, and of `open` + a `read` loop into a
/// preallocated buffer, in ms.
macro_rules! file_reads {
    ($file:path, $path:expr, $runs:expr) => {{
        let (mut best, mut best_loop) = (f64::MAX, f64::MAX);
        let mut into = vec![0u8; SIZE];
        for _ in 0..$runs {
            let start = Instant::now();
            let mut f = <$file>::open($path).await?;
            let mut v = Vec::new();
            f.read_to_end(&mut v).await?;
            assert_eq!(black_box(v).len(), SIZE);
            best = best.min(start.elapsed().as_secs_f64() * 1e3);
            let start = Instant::now();
            let mut f = <$file>::open($path).await?;
            let mut at = 0;
            while at < SIZE {
                at += f.read(&mut into[at..]).await?;
            }
            best_loop = best_loop.min(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok::<(f64, f64), io::Error>((best, best_loop))
    }};
}

/// Spawns a detached task on the running runtime of `peer`.
fn spawn_detached<F: Future<Output = ()> + Send + 'static>(peer: &str, f: F) {
    match peer {
        "geode" => drop(geode::spawn(f)),
        "tokio" => drop(tokio::spawn(f)),
        _ => smol_ex().spawn(f).detach(),
    }
}

/// Spawns a task on the running runtime of `peer` and waits for its output.
async fn spawn_wait<T, F>(peer: &str, f: F) -> T
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    match peer {
        "geode" => geode::spawn(f).await.unwrap(),
        "tokio" => tokio::spawn(f).await.unwrap(),
        _ => smol_ex().spawn(f).await,
    }
}

fn ns_per(start: Instant, n: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / n as f64
}

pub(crate) fn main(args: &[String]) -> io::Result<()> {
    let [peer, bench, rest @ ..] = args else {
        return Err(io::Error::other(
            "usage: suite micro <peer> <bench> [--n N]",
        ));
    };
    let n: Option<usize> = rest
        .iter()
        .position(|a| a == "--n")
        .and_then(|i| rest.get(i + 1))
        .and_then(|v| v.parse().ok());
    match bench.as_str() {
        "proc_spawn" => return crate::proc_sig::proc_spawn(peer, n.unwrap_or(1000)),
        "proc_read" => return crate::proc_sig::proc_read(peer),
        "signal_latency" => return crate::proc_sig::signal_latency(peer, n.unwrap_or(1000)),
        _ => {}
    }
    let Some(&peer) = PEERS.iter().find(|p| **p == peer.as_str()) else {
        return Err(io::Error::other(format!("micro: unknown peer {peer}")));
    };
    match bench.as_str() {
        "sleepers" => sleepers(peer, n.unwrap_or(200_000)),
        "timeout_ready" => timeout_ready(peer, n.unwrap_or(1_000_000)),
        "timeout_pending" => timeout_pending(peer, n.unwrap_or(1_000_000)),
        "spawn_join" => spawn_join(peer, n.unwrap_or(1_000_000)),
        "chan_pingpong" => chan_pingpong(peer, n.unwrap_or(1_000_000)),
        "mem_timers" => mem_timers(peer, n.unwrap_or(200_000)),
        "mem_tasks" => mem_tasks(peer, n.unwrap_or(200_000)),
        "mem_conns" => mem_conns(peer, n.unwrap_or(8_000))?,
        "overshoot" => overshoot(peer, n.unwrap_or(1000)),
        "blocking_rt" => blocking_rt(peer, n.unwrap_or(20_000)),
        "blocking_burst" => blocking_burst(peer, n.unwrap_or(20)),
        "file_read" => file_read(peer, n.unwrap_or(5))?,
        b => return Err(io::Error::other(format!("unknown micro bench {b}"))),
    }
    Ok(())
}

fn sleepers(peer: &'static str, n: usize) {
    // One concrete future type per peer (a `match` inside one async block would size every
    // peer's task for the largest of the three sleep futures).
    let (wall, base, peak) = match peer {
        "geode" => run_on!(peer, sleepers_run(peer, n, geode::time::sleep)),
        "tokio" => run_on!(peer, sleepers_run(peer, n, tokio::time::sleep)),
        _ => run_on!(peer, sleepers_run(peer, n, async_io::Timer::after)),
    };
    print_result(&[
        ("wall_ms", wall.as_secs_f64() * 1e3),
        (
            "bytes_per_task",
            peak.saturating_sub(base) as f64 / n as f64,
        ),
        ("n", n as f64),
    ]);
}

async fn sleepers_run<S, F>(peer: &'static str, n: usize, sleep: F) -> (Duration, u64, u64)
where
    S: Future + Send + 'static,
    F: Fn(Duration) -> S + Copy + Send + 'static,
{
    let base = rss();
    let start = Instant::now();
    let done = Countdown::new(n);
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    for _ in 0..n {
        let d = Duration::from_micros(rng.range(1_000, 100_000));
        let done = done.clone();
        spawn_detached(peer, async move {
            sleep(d).await;
            done.done_one();
        });
    }
    done.wait().await;
    (start.elapsed(), base, hwm())
}

/// Awaits `op(i)` for i in 0..n; nanoseconds per iteration.
async fn op_loop<T: Future, F: Fn(usize) -> T>(n: usize, op: F) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        black_box(op(i).await);
    }
    ns_per(start, n)
}

fn timeout_ready(peer: &'static str, n: usize) {
    let limit = Duration::from_secs(1);
    let ns = match peer {
        "geode" => run_on!(
            peer,
            op_loop(n, |i| geode::time::timeout(limit, std::future::ready(i)))
        ),
        "tokio" => run_on!(
            peer,
            op_loop(n, |i| tokio::time::timeout(limit, std::future::ready(i)))
        ),
        _ => run_on!(
            peer,
            op_loop(n, |i| futures_lite::future::or(
                async move { Ok(std::future::ready(i).await) },
                async move {
                    async_io::Timer::after(limit).await;
                    Err(())
                }
            ))
        ),
    };
    print_result(&[("ns_per_op", ns), ("n", n as f64)]);
}

fn timeout_pending(peer: &'static str, n: usize) {
    let limit = Duration::from_secs(1);
    // Both loops run in a spawned task: a self-wake is then a run-queue push on every runtime.
    let base = run_on!(peer, spawn_wait(peer, op_loop(n, |_| PendingOnce(false))));
    let with = match peer {
        "geode" => run_on!(
            peer,
            spawn_wait(
                peer,
                op_loop(n, move |_| geode::time::timeout(limit, PendingOnce(false)))
            )
        ),
        "tokio" => run_on!(
            peer,
            spawn_wait(
                peer,
                op_loop(n, move |_| tokio::time::timeout(limit, PendingOnce(false)))
            )
        ),
        _ => run_on!(
            peer,
            spawn_wait(
                peer,
                op_loop(n, move |_| futures_lite::future::or(
                    async {
                        PendingOnce(false).await;
                        Ok(())
                    },
                    async move {
                        async_io::Timer::after(limit).await;
                        Err(())
                    },
                ))
            )
        ),
    };
    print_result(&[
        ("ns_per_op", with),
        ("pending_once_ns", base),
        ("net_ns", with - base),
        ("n", n as f64),
    ]);
}

fn spawn_join(peer: &'static str, n: usize) {
    const BATCH: usize = 1000;
    let ns = match peer {
        "geode" => geode::block_on(async move {
            spawn_batches!(
                n / BATCH,
                BATCH,
                |i| geode::spawn(async move { black_box(i) }),
                unwrap
            )
        }),
        "tokio" => tokio_rt().block_on(async move {
            spawn_batches!(
                n / BATCH,
                BATCH,
                |i| tokio::spawn(async move { black_box(i) }),
                unwrap
            )
        }),
        _ => {
            let ex = async_executor::LocalExecutor::new();
            async_io::block_on(ex.run(async {
                spawn_batches!(n / BATCH, BATCH, |i| ex.spawn(async move { black_box(i) }))
            }))
        }
    };
    print_result(&[("ns_per_task", ns), ("n", n as f64)]);
}

async fn ping(n: usize, to: Rc<Signal>, from: Rc<Signal>) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        to.send();
        from.recv().await;
    }
    ns_per(start, n)
}

async fn pong(n: usize, from: Rc<Signal>, to: Rc<Signal>) {
    for _ in 0..n {
        from.recv().await;
        to.send();
    }
}

fn chan_pingpong(peer: &'static str, n: usize) {
    let (ab, ba) = (Rc::new(Signal::default()), Rc::new(Signal::default()));
    let ns = match peer {
        "geode" => geode::block_on(async move {
            let b = geode::spawn(pong(n, ab.clone(), ba.clone()));
            let a = geode::spawn(ping(n, ab, ba));
            let ns = a.await.unwrap();
            b.await.unwrap();
            ns
        }),
        "tokio" => {
            let local = tokio::task::LocalSet::new();
            local.block_on(&tokio_rt(), async move {
                let b = tokio::task::spawn_local(pong(n, ab.clone(), ba.clone()));
                let a = tokio::task::spawn_local(ping(n, ab, ba));
                let ns = a.await.unwrap();
                b.await.unwrap();
                ns
            })
        }
        _ => {
            let ex = async_executor::LocalExecutor::new();
            async_io::block_on(ex.run(async {
                let b = ex.spawn(pong(n, ab.clone(), ba.clone()));
                let a = ex.spawn(ping(n, ab, ba));
                let ns = a.await;
                b.await;
                ns
            }))
        }
    };
    print_result(&[("ns_per_rt", ns), ("n", n as f64)]);
}

/// Polls each future in `v` once, in place. The futures must not move afterwards: `v` is not
/// touched again until it is dropped (in place).
fn poll_all_once<F: Future>(v: &mut [F], cx: &mut Context<'_>) {
    for f in v.iter_mut() {
        // SAFETY: the elements of `v` stay where they are until they are dropped.
        let f = unsafe { Pin::new_unchecked(f) };
        let _ = f.poll(cx);
    }
}

fn mem_timers(peer: &'static str, n: usize) {
    let d = Duration::from_secs(3600);
    let (base, after, size) = match peer {
        "geode" => geode::block_on(async move {
            let base = rss();
            let mut v = Vec::with_capacity(n);
            v.extend((0..n).map(|_| geode::time::sleep(d)));
            poll_fn(|cx| {
                poll_all_once(&mut v, cx);
                Poll::Ready(())
            })
            .await;
            let after = rss();
            assert_eq!(geode::reactor::stats().timers_pending, n as u64);
            (base, after, size_of::<geode::time::Sleep>())
        }),
        "tokio" => tokio_rt().block_on(async move {
            let base = rss();
            let mut v = Vec::with_capacity(n);
            v.extend((0..n).map(|_| tokio::time::sleep(d)));
            poll_fn(|cx| {
                poll_all_once(&mut v, cx);
                Poll::Ready(())
            })
            .await;
            (base, rss(), size_of::<tokio::time::Sleep>())
        }),
        _ => async_io::block_on(async move {
            let base = rss();
            let mut v = Vec::with_capacity(n);
            v.extend((0..n).map(|_| async_io::Timer::after(d)));
            poll_fn(|cx| {
                poll_all_once(&mut v, cx);
                Poll::Ready(())
            })
            .await;
            (base, rss(), size_of::<async_io::Timer>())
        }),
    };
    print_result(&[
        (
            "bytes_per_timer",
            after.saturating_sub(base) as f64 / n as f64,
        ),
        ("future_size", size as f64),
        ("n", n as f64),
    ]);
}

fn mem_tasks(peer: &'static str, n: usize) {
    let (base, after) = run_on!(peer, async move {
        let base = rss();
        let started = Countdown::new(n);
        for _ in 0..n {
            let started = started.clone();
            spawn_detached(peer, async move {
                started.done_one();
                drop(started);
                std::future::pending::<()>().await;
            });
        }
        started.wait().await;
        (base, rss())
    });
    print_result(&[
        (
            "bytes_per_task",
            after.saturating_sub(base) as f64 / n as f64,
        ),
        ("n", n as f64),
    ]);
}

fn mem_conns(peer: &'static str, n: usize) -> io::Result<()> {
    raise_nofile();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut clients = Vec::with_capacity(n);
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(std::net::TcpStream::connect(addr)?);
        servers.push(listener.accept()?.0);
    }
    // Each task polls `readable()` once (registering the fd and queueing a waker), reports
    // that it did, and stays pending.
    macro_rules! idle_task {
        ($s:ident, $started:ident) => {
            async move {
                let r = $s.readable();
                let mut r = std::pin::pin!(r);
                let _ = poll_fn(|cx| {
                    let p = r.as_mut().poll(cx);
                    $started.done_one();
                    p
                })
                .await;
                std::future::pending::<()>().await;
            }
        };
    }
    let (base, after) = run_on!(peer, async {
        let base = rss();
        let started = Countdown::new(n);
        for s in servers.drain(..) {
            let started = started.clone();
            match peer {
                "geode" => {
                    let s = geode::io::Async::new(s).unwrap();
                    drop(geode::spawn(idle_task!(s, started)));
                }
                "tokio" => {
                    s.set_nonblocking(true).unwrap();
                    let s = tokio::net::TcpStream::from_std(s).unwrap();
                    drop(tokio::spawn(idle_task!(s, started)));
                }
                _ => {
                    let s = async_io::Async::new(s).unwrap();
                    smol_ex().spawn(idle_task!(s, started)).detach();
                }
            }
        }
        started.wait().await;
        (base, rss())
    });
    drop(clients);
    print_result(&[
        (
            "bytes_per_conn",
            after.saturating_sub(base) as f64 / n as f64,
        ),
        ("n", n as f64),
    ]);
    Ok(())
}

fn overshoot(peer: &'static str, n: usize) {
    let mut v = match peer {
        "geode" => run_on!(peer, overshoot_run(n, geode::time::sleep)),
        "tokio" => run_on!(peer, overshoot_run(n, tokio::time::sleep)),
        _ => run_on!(peer, overshoot_run(n, async_io::Timer::after)),
    };
    v.sort_unstable();
    print_result(&[
        ("p50_us", percentile(&v, 0.5) as f64 / 1e3),
        ("p99_us", percentile(&v, 0.99) as f64 / 1e3),
        ("n", n as f64),
    ]);
}

async fn overshoot_run<S: Future, F: Fn(Duration) -> S>(n: usize, sleep: F) -> Vec<u64> {
    const REQ: Duration = Duration::from_micros(100);
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        sleep(REQ).await;
        v.push(t.elapsed().saturating_sub(REQ).as_nanos() as u64);
    }
    v
}

fn blocking_rt(peer: &'static str, n: usize) {
    let ns = match peer {
        "geode" => run_on!(peer, async move {
            let start = Instant::now();
            for i in 0..n {
                black_box(geode::spawn_blocking(move || black_box(i)).await.unwrap());
            }
            ns_per(start, n)
        }),
        "tokio" => run_on!(peer, async move {
            let start = Instant::now();
            for i in 0..n {
                black_box(
                    tokio::task::spawn_blocking(move || black_box(i))
                        .await
                        .unwrap(),
                );
            }
            ns_per(start, n)
        }),
        _ => run_on!(peer, async move {
            let start = Instant::now();
            for i in 0..n {
                black_box(blocking::unblock(move || black_box(i)).await);
            }
            ns_per(start, n)
        }),
    };
    print_result(&[("ns_per_rt", ns), ("n", n as f64)]);
}

fn blocking_burst(peer: &'static str, rounds: usize) {
    const JOBS: usize = 1000;
    let ns = match peer {
        "geode" => run_on!(peer, async move {
            burst!(
                rounds,
                JOBS,
                |i| geode::spawn_blocking(move || black_box(i)),
                unwrap
            )
        }),
        "tokio" => run_on!(peer, async move {
            burst!(
                rounds,
                JOBS,
                |i| tokio::task::spawn_blocking(move || black_box(i)),
                unwrap
            )
        }),
        _ => run_on!(peer, async move {
            burst!(rounds, JOBS, |i| blocking::unblock(move || black_box(i)))
        }),
    };
    print_result(&[("ns_per_job", ns), ("n", (rounds * JOBS) as f64)]);
}

fn file_read(peer: &'static str, runs: usize) -> io::Result<()> {
    const SIZE: usize = 64 << 20;
    let path = std::env::temp_dir().join(format!("geode-bench-64m-{}", std::process::id()));
    std::fs::write(&path, vec![0x5a; SIZE])?;
    // The floor, in this process: best of `runs` (the page cache is warm after the write).
    let mut floor = f64::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        assert_eq!(black_box(std::fs::read(&path)?).len(), SIZE);
        floor = floor.min(start.elapsed().as_secs_f64() * 1e3);
    }
    let p = path.clone();
    let (best, best_loop) = match peer {
        "geode" => run_on!(peer, async move {
            use futures_lite::AsyncReadExt;
            file_reads!(geode::fs::File, &p, runs)
        })?,
        "tokio" => run_on!(peer, async move {
            use tokio::io::AsyncReadExt;
            file_reads!(tokio::fs::File, &p, runs)
        })?,
        _ => run_on!(peer, async move {
            use futures_lite::AsyncReadExt;
            file_reads!(async_fs::File, &p, runs)
        })?,
    };
    std::fs::remove_file(&path)?;
    print_result(&[
        ("read_ms", best),
        ("loop_ms", best_loop),
        ("std_read_ms", floor),
        ("vs_floor", best / floor),
        ("loop_vs_floor", best_loop / floor),
    ]);
    Ok(())
}
