//! Soak: TCP connection churn on one thread, with futures dropped mid-flight everywhere, and
//! nothing may leak or hang.
//!
//! Each cycle opens `conns` loopback connections (at most `window` at a time), exchanges data
//! over them and closes them, while a fixed-seed RNG picks for each connection one of several
//! behaviours (plain echo, a read polled once and dropped, reads under short timeouts, a
//! large write dropped half-way then a close with unread data (RST), a pending accept on an idle
//! listener dropped, sleeps dropped, close without data, RST, half-close). Two accept loops
//! serve the listener, each accept under a random short timeout (so notified accepts are
//! dropped too), and one echo task per accepted connection, some reading under timeouts.
//!
//! After every cycle it prints the open-fd count (`/proc/self/fd`), RSS (`VmRSS`) and
//! `geode::reactor::stats()`, and fails if:
//! - the fd count differs from the one before the first cycle (any growth is a leak);
//! - RSS after the warm-up cycles grows more than 1 MiB above its highest value during warm-up
//!   (sampled after `malloc_trim(0)`);
//! - the reactor still holds registrations or timers beyond the two listeners;
//! - a cycle does not finish within its time limit (a lost wakeup: every connection that
//!   connected must be accepted, answered and closed), or any exchange returns wrong data;
//! - the whole soak exceeds its budget (a hang the in-runtime timeout cannot catch).
//!
//! Modes (environment):
//! - default ("quick", what CI runs): 500 connections x 5 cycles, all 500 at once;
//! - `GEODE_SOAK=full`: 10,000 connections x 100 cycles, 1,000 at a time;
//! - `GEODE_SOAK_CONNS`, `GEODE_SOAK_CYCLES`, `GEODE_SOAK_WINDOW`, `GEODE_SOAK_SEED`: override.
//!
//! Run the full soak with its per-cycle report:
//! `GEODE_SOAK=full cargo test --release --test soak -- --nocapture`
//!
//! This file holds one test, so nothing else in the process opens fds while it counts.

mod util;
use util::set_linger_zero;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{Either, select};
use geode::net::{TcpListener, TcpStream};
use geode::reactor::stats;
use geode::time::{sleep, timeout};
use geode::{block_on, spawn};

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Config {
    full: bool,
    conns: usize,
    cycles: usize,
    window: usize,
    /// Cycles before the RSS baseline is taken (allocator and slab high-water marks settle).
    warmup: usize,
    cycle_limit: Duration,
    seed: u64,
}

fn env_num(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
    )
}

fn config() -> Config {
    let full = std::env::var("GEODE_SOAK").is_ok_and(|v| v == "full");
    let mut c = if full {
        Config {
            full,
            conns: 10_000,
            cycles: 100,
            window: 1_000,
            warmup: 5,
            cycle_limit: Duration::from_secs(120),
            seed: 0x5eed_50a4,
        }
    } else {
        Config {
            full,
            conns: 500,
            cycles: 5,
            window: 500,
            warmup: 2,
            cycle_limit: Duration::from_secs(20),
            seed: 0x5eed_50a4,
        }
    };
    if let Some(n) = env_num("GEODE_SOAK_CONNS") {
        c.conns = n as usize;
    }
    if let Some(n) = env_num("GEODE_SOAK_CYCLES") {
        c.cycles = n as usize;
    }
    if let Some(n) = env_num("GEODE_SOAK_WINDOW") {
        c.window = n as usize;
    }
    if let Some(n) = env_num("GEODE_SOAK_SEED") {
        c.seed = n;
    }
    c.window = c.window.clamp(1, c.conns.max(1));
    c.warmup = c.warmup.min(c.cycles.saturating_sub(1));
    c
}

// ---------------------------------------------------------------------------------------------
// Process measurements
// ---------------------------------------------------------------------------------------------

/// Resident set size in KiB (`VmRSS` of `/proc/self/status`), after `malloc_trim(0)`: the
/// allocator returns the free pages it caches, so the figure follows live memory rather than
/// how fragmented the heap happens to be at that instant (without it, RSS wanders by +-1 MiB
/// from cycle to cycle with no trend).
fn rss_kib() -> u64 {
    // SAFETY: malloc_trim takes no pointers and only releases free memory.
    unsafe { libc::malloc_trim(0) };
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Raises the soft `RLIMIT_NOFILE` to at least `want` if the hard limit allows; returns the
/// soft limit in force.
fn raise_nofile_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid `rlimit` for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < want && lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = want.min(lim.rlim_max);
        // SAFETY: `lim` is a valid `rlimit`; a soft limit up to the hard one is always allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    lim.rlim_cur
}

// ---------------------------------------------------------------------------------------------
// Shared state of one soak
// ---------------------------------------------------------------------------------------------

/// xorshift64*: a fixed-seed generator, so a failing soak can be replayed (as far as the
/// kernel's event order allows) with the same `GEODE_SOAK_SEED`.
struct Rng(Cell<u64>);

impl Rng {
    fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What a client connection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Write a message, read the echo, close.
    Echo,
    /// Poll a read once before anything was sent (it queues a waiter), drop it, then echo.
    ReadPolledOnceAndDropped,
    /// Echo, reading through reads under random µs timeouts (dropped, then retried).
    ReadsUnderTimeouts,
    /// Start a large write, drop it half-way, close with the echo unread (the peer gets RST).
    WriteDroppedThenClose,
    /// Drop pending accepts on the idle listener (polled once; timed out), then echo.
    AcceptsDropped,
    /// Drop sleeps (polled once; raced against a shorter timeout), then echo.
    SleepsDropped,
    /// Connect and close at once.
    CloseAtOnce,
    /// Write a little, then close with `SO_LINGER` 0 (RST).
    Reset,
    /// Write, `shutdown(Write)`, read the echo up to EOF.
    HalfClose,
}

const KINDS: [(Kind, u64); 9] = [
    (Kind::Echo, 40),
    (Kind::ReadPolledOnceAndDropped, 10),
    (Kind::ReadsUnderTimeouts, 10),
    (Kind::WriteDroppedThenClose, 4),
    (Kind::AcceptsDropped, 8),
    (Kind::SleepsDropped, 8),
    (Kind::CloseAtOnce, 7),
    (Kind::Reset, 6),
    (Kind::HalfClose, 7),
];

fn pick_kind(rng: &Rng) -> Kind {
    let total: u64 = KINDS.iter().map(|k| k.1).sum();
    let mut r = rng.below(total);
    for (kind, weight) in KINDS {
        if r < weight {
            return kind;
        }
        r -= weight;
    }
    unreachable!()
}

#[derive(Default)]
struct Counters {
    connected: Cell<u64>,
    accepted: Cell<u64>,
    echoed: Cell<u64>,
    live_handlers: Cell<u64>,
    dropped_reads: Cell<u64>,
    dropped_writes: Cell<u64>,
    dropped_accepts: Cell<u64>,
    dropped_sleeps: Cell<u64>,
    by_kind: RefCell<Vec<(Kind, u64)>>,
}

impl Counters {
    fn bump(c: &Cell<u64>) {
        c.set(c.get() + 1);
    }

    fn count_kind(&self, kind: Kind) {
        let mut v = self.by_kind.borrow_mut();
        match v.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => v.push((kind, 1)),
        }
    }
}

struct Soak {
    rng: Rng,
    /// While set, the accept loops accept under random timeouts (dropping pending accepts);
    /// cleared at the end of a cycle so no timer stays armed.
    active: Cell<bool>,
    n: Counters,
    /// Failures seen by tasks that cannot fail the test themselves (spawned tasks).
    failures: RefCell<Vec<String>>,
    /// The payload of large writes (allocated once, so RSS does not move with it).
    big: Vec<u8>,
    /// Client connections in progress: id -> (kind, what it is doing), for the report of a
    /// hung cycle.
    inflight: RefCell<HashMap<u64, (Kind, &'static str)>>,
}

impl Soak {
    fn stage(&self, id: u64, kind: Kind, stage: &'static str) {
        self.inflight.borrow_mut().insert(id, (kind, stage));
    }

    /// Up to 10 connections still in progress, for a hang report.
    fn stuck(&self) -> Vec<(u64, Kind, &'static str)> {
        let mut v: Vec<_> = self
            .inflight
            .borrow()
            .iter()
            .map(|(&id, &(k, s))| (id, k, s))
            .collect();
        v.sort_by_key(|x| x.0);
        v.truncate(10);
        v
    }

    fn fail(&self, what: String) {
        let mut f = self.failures.borrow_mut();
        if f.len() < 20 {
            f.push(what);
        }
    }
}

/// The message of connection `id`: its bytes depend on the id and the offset.
fn message(id: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (id.wrapping_mul(31).wrapping_add(i as u64 * 7) % 251) as u8)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------------

async fn accept_loop(l: Rc<TcpListener>, soak: Rc<Soak>) {
    loop {
        let res = if soak.active.get() {
            let limit = Duration::from_micros(soak.rng.below(2_000));
            match timeout(limit, l.accept()).await {
                Ok(r) => r,
                Err(_) => {
                    Counters::bump(&soak.n.dropped_accepts);
                    continue;
                }
            }
        } else {
            l.accept().await
        };
        match res {
            Ok((s, _)) => {
                Counters::bump(&soak.n.accepted);
                Counters::bump(&soak.n.live_handlers);
                let timed = soak.rng.chance(15);
                drop(spawn(echo(s, soak.clone(), timed)));
            }
            Err(e) => {
                soak.fail(format!("accept: {e}"));
                // Do not spin on a persistent error.
                sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Echoes until EOF or an error (resets are expected: some clients close with RST).
async fn echo(s: TcpStream, soak: Rc<Soak>, timed_reads: bool) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = if timed_reads {
            let limit = Duration::from_micros(soak.rng.below(500));
            match timeout(limit, s.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    Counters::bump(&soak.n.dropped_reads);
                    continue;
                }
            }
        } else {
            s.read(&mut buf).await
        };
        match n {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    drop(s);
    soak.n.live_handlers.set(soak.n.live_handlers.get() - 1);
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

fn invalid(what: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what)
}

async fn write_and_read_echo(c: &TcpStream, id: u64, len: usize) -> io::Result<()> {
    let msg = message(id, len);
    c.write_all(&msg).await?;
    let mut back = vec![0; len];
    c.read_exact(&mut back).await?;
    if back != msg {
        return Err(invalid(format!("connection {id}: echo differs")));
    }
    Ok(())
}

/// One client connection of the given kind. An error fails the soak.
async fn client(id: u64, kind: Kind, addr: SocketAddr, idle: &TcpListener, soak: &Soak) {
    soak.stage(id, kind, "connect");
    let res = client_inner(id, kind, addr, idle, soak).await;
    soak.inflight.borrow_mut().remove(&id);
    match res {
        Ok(()) => soak.n.count_kind(kind),
        Err(e) => soak.fail(format!("connection {id} ({kind:?}): {e}")),
    }
}

async fn client_inner(
    id: u64,
    kind: Kind,
    addr: SocketAddr,
    idle: &TcpListener,
    soak: &Soak,
) -> io::Result<()> {
    let len = 1 + soak.rng.below(2_048) as usize;
    let c = TcpStream::connect(addr).await?;
    Counters::bump(&soak.n.connected);
    soak.stage(id, kind, "exchange");
    match kind {
        Kind::Echo => write_and_read_echo(&c, id, len).await?,
        Kind::ReadPolledOnceAndDropped => {
            let mut buf = [0; 16];
            if let Some(r) = c.read(&mut buf).now_or_never() {
                return Err(invalid(format!("read before any write completed: {r:?}")));
            }
            Counters::bump(&soak.n.dropped_reads);
            write_and_read_echo(&c, id, len).await?;
        }
        Kind::ReadsUnderTimeouts => {
            let msg = message(id, len);
            c.write_all(&msg).await?;
            let mut back = vec![0; len];
            let mut got = 0;
            let mut tries = 0;
            while got < len {
                tries += 1;
                if tries > 100_000 {
                    return Err(invalid("no progress in 100,000 timed reads".into()));
                }
                let limit = Duration::from_micros(soak.rng.below(300));
                match timeout(limit, c.read(&mut back[got..])).await {
                    Ok(Ok(0)) => return Err(ErrorKind::UnexpectedEof.into()),
                    Ok(Ok(n)) => got += n,
                    Ok(Err(e)) => return Err(e),
                    Err(_) => Counters::bump(&soak.n.dropped_reads),
                }
            }
            if back != msg {
                return Err(invalid("echo differs".into()));
            }
        }
        Kind::WriteDroppedThenClose => {
            // One poll writes until the socket would block; the write future is then dropped.
            let _ = c.write_all(&soak.big).now_or_never();
            Counters::bump(&soak.n.dropped_writes);
            let limit = Duration::from_micros(soak.rng.below(1_000));
            if timeout(limit, c.write_all(&soak.big)).await.is_err() {
                Counters::bump(&soak.n.dropped_writes);
            }
            // Dropped with the echo unread: the kernel answers with RST.
        }
        Kind::AcceptsDropped => {
            if idle.accept().now_or_never().is_some() {
                return Err(invalid("the idle listener accepted something".into()));
            }
            Counters::bump(&soak.n.dropped_accepts);
            let limit = Duration::from_micros(soak.rng.below(500));
            if timeout(limit, idle.accept()).await.is_ok() {
                return Err(invalid("the idle listener accepted something".into()));
            }
            Counters::bump(&soak.n.dropped_accepts);
            write_and_read_echo(&c, id, len).await?;
        }
        Kind::SleepsDropped => {
            let long = Duration::from_secs(10);
            if sleep(long).now_or_never().is_some() {
                return Err(invalid("a 10 s sleep completed at once".into()));
            }
            Counters::bump(&soak.n.dropped_sleeps);
            let limit = Duration::from_micros(soak.rng.below(500));
            if timeout(limit, sleep(long)).await.is_ok() {
                return Err(invalid("a 10 s sleep beat a 500 µs timeout".into()));
            }
            Counters::bump(&soak.n.dropped_sleeps);
            // A sleep that loses a race against the echo.
            let echo = write_and_read_echo(&c, id, len);
            match select(std::pin::pin!(echo), sleep(long)).await {
                Either::Left((r, _)) => r?,
                Either::Right(_) => return Err(invalid("the echo took 10 s".into())),
            }
            Counters::bump(&soak.n.dropped_sleeps);
        }
        Kind::CloseAtOnce => {}
        Kind::Reset => {
            c.write_all(b"bye").await?;
            set_linger_zero(c.as_raw_fd());
        }
        Kind::HalfClose => {
            let msg = message(id, len);
            c.write_all(&msg).await?;
            c.shutdown(Shutdown::Write)?;
            let mut back = Vec::with_capacity(len);
            let mut buf = [0; 4096];
            loop {
                let n = c.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&buf[..n]);
                if back.len() > len {
                    break;
                }
            }
            if back != msg {
                return Err(invalid("half-close echo differs".into()));
            }
        }
    }
    Counters::bump(&soak.n.echoed);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The soak
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Sample {
    fds: usize,
    rss_kib: u64,
}

fn sample() -> Sample {
    Sample {
        fds: util::open_fds(),
        rss_kib: rss_kib(),
    }
}

/// One cycle: `conns` connections, `window` at a time; returns once every connection has
/// been accepted, served and closed and the accept loops are quiet.
async fn cycle(cfg: &Config, n: usize, addr: SocketAddr, idle: Rc<TcpListener>, soak: &Rc<Soak>) {
    soak.active.set(true);
    let mut workers = Vec::new();
    for w in 0..cfg.window {
        let (soak, idle) = (soak.clone(), idle.clone());
        let (conns, window) = (cfg.conns, cfg.window);
        workers.push(spawn(async move {
            let mut i = w;
            while i < conns {
                let id = (n * conns + i) as u64;
                let kind = pick_kind(&soak.rng);
                client(id, kind, addr, &idle, &soak).await;
                i += window;
            }
        }));
    }
    for w in workers {
        w.await.expect("client worker panicked");
    }
    soak.active.set(false);
    // Every connection made is accepted and its echo task ends (the clients have closed).
    // Bounded by the cycle's time limit.
    while soak.n.accepted.get() < soak.n.connected.get() || soak.n.live_handlers.get() > 0 {
        sleep(Duration::from_millis(1)).await;
    }
    // Longer than any accept timeout: the accept loops are back to plain accepts, no timer.
    sleep(Duration::from_millis(5)).await;
}

fn soak(cfg: Config) -> String {
    let limit = raise_nofile_limit(2 * cfg.window as u64 + 256);
    let mut cfg = cfg;
    if (limit as usize) < 2 * cfg.window + 128 {
        let w = (limit as usize).saturating_sub(128) / 2;
        println!(
            "RLIMIT_NOFILE is {limit}: {} connections at a time instead of {}",
            w, cfg.window
        );
        cfg.window = w.max(1);
    }
    println!(
        "soak ({}): {} connections x {} cycles, {} at a time, seed {:#x}",
        if cfg.full { "full" } else { "quick" },
        cfg.conns,
        cfg.cycles,
        cfg.window,
        cfg.seed
    );
    block_on(async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").expect("bind"));
        let addr = listener.local_addr().unwrap();
        let idle = Rc::new(TcpListener::bind("127.0.0.1:0").expect("bind idle"));
        let soak = Rc::new(Soak {
            rng: Rng(Cell::new(cfg.seed | 1)),
            active: Cell::new(false),
            n: Counters::default(),
            failures: RefCell::new(Vec::new()),
            big: vec![0x5a; 1 << 20],
            inflight: RefCell::new(HashMap::new()),
        });
        let _acceptors = [
            spawn(accept_loop(listener.clone(), soak.clone())),
            spawn(accept_loop(listener.clone(), soak.clone())),
        ];
        // Let the accept loops start (they add the listener to epoll) before the baseline.
        sleep(Duration::from_millis(5)).await;
        let base_stats = stats();
        let base = sample();
        println!(
            "start: fds {}, RSS {} KiB, registered_fds {}, timers_pending {}",
            base.fds, base.rss_kib, base_stats.registered_fds, base_stats.timers_pending
        );
        let mut samples = Vec::new();
        let started = Instant::now();
        for n in 0..cfg.cycles {
            let t = Instant::now();
            let done = timeout(cfg.cycle_limit, cycle(&cfg, n, addr, idle.clone(), &soak)).await;
            let s = sample();
            let st = stats();
            let failures = soak.failures.borrow().clone();
            println!(
                "cycle {:3}/{}: {:6.2} s | fds {} | RSS {} KiB | conns ok {} accepted {} | \
                 dropped reads {} writes {} accepts {} sleeps {} | registrations {} \
                 registered_fds {} timers_pending {} epoll_wait {} epoll_ctl {} wakeups {} \
                 timers_fired {}",
                n + 1,
                cfg.cycles,
                t.elapsed().as_secs_f64(),
                s.fds,
                s.rss_kib,
                soak.n.echoed.get(),
                soak.n.accepted.get(),
                soak.n.dropped_reads.get(),
                soak.n.dropped_writes.get(),
                soak.n.dropped_accepts.get(),
                soak.n.dropped_sleeps.get(),
                st.registrations,
                st.registered_fds,
                st.timers_pending,
                st.epoll_wait_calls,
                st.epoll_ctl_calls,
                st.wakeups,
                st.timers_fired,
            );
            assert!(
                done.is_ok(),
                "cycle {} hung: not done within {:?} (connected {}, accepted {}, finished {}, \
                 echo tasks alive {}); failures: {failures:?}; in progress: {:?}",
                n + 1,
                cfg.cycle_limit,
                soak.n.connected.get(),
                soak.n.accepted.get(),
                soak.n.echoed.get(),
                soak.n.live_handlers.get(),
                soak.stuck(),
            );
            assert!(failures.is_empty(), "cycle {}: {failures:#?}", n + 1);
            assert_eq!(
                soak.n.echoed.get(),
                ((n + 1) * cfg.conns) as u64,
                "every connection finishes its exchange"
            );
            assert_eq!(
                s.fds,
                base.fds,
                "cycle {}: open fds went from {} to {}",
                n + 1,
                base.fds,
                s.fds
            );
            assert_eq!(
                st.registered_fds,
                base_stats.registered_fds,
                "cycle {}: registrations leaked",
                n + 1
            );
            assert_eq!(st.timers_pending, 0, "cycle {}: timers left armed", n + 1);
            samples.push(s);
        }
        // The baseline: the highest RSS of the warm-up cycles (slabs, queues and the
        // allocator reach their high-water marks there).
        let warm = samples[..=cfg.warmup]
            .iter()
            .copied()
            .max_by_key(|s| s.rss_kib)
            .unwrap_or(base);
        for (i, s) in samples.iter().enumerate().skip(cfg.warmup + 1) {
            assert!(
                s.rss_kib <= warm.rss_kib + 1024,
                "RSS grew by more than 1 MiB after warm-up: {} KiB at most in cycles 1-{}, {} \
                 KiB after cycle {}",
                warm.rss_kib,
                cfg.warmup + 1,
                s.rss_kib,
                i + 1
            );
        }
        let last = samples.last().copied().unwrap_or(base);
        let max_rss = samples
            .iter()
            .skip(cfg.warmup + 1)
            .map(|s| s.rss_kib)
            .max()
            .unwrap_or(0);
        let summary = format!(
            "soak ({}): {} cycles x {} connections ({} total) in {:.1} s; fds {} before, {} \
             after every cycle; RSS {} KiB at start, {} KiB at most in warm-up (cycles 1-{}), {} \
             KiB at end (max {} KiB after warm-up); dropped reads {}, writes {}, accepts {}, sleeps {}",
            if cfg.full { "full" } else { "quick" },
            cfg.cycles,
            cfg.conns,
            cfg.cycles * cfg.conns,
            started.elapsed().as_secs_f64(),
            base.fds,
            last.fds,
            base.rss_kib,
            warm.rss_kib,
            cfg.warmup + 1,
            last.rss_kib,
            max_rss,
            soak.n.dropped_reads.get(),
            soak.n.dropped_writes.get(),
            soak.n.dropped_accepts.get(),
            soak.n.dropped_sleeps.get(),
        );
        println!("{summary}");
        println!("by kind: {:?}", soak.n.by_kind.borrow());
        summary
    })
}

#[test]
fn soak_connections_with_drops_leak_nothing() {
    let cfg = config();
    // A hang that the runtime's own timeouts cannot catch (a reactor that never wakes) still
    // fails the test: the soak runs on its own thread, watched from here.
    let budget = cfg.cycle_limit * cfg.cycles as u32 + Duration::from_secs(60);
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("soak".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| soak(cfg)));
            let _ = tx.send(r.map_err(|p| util::panic_message(&*p)));
        })
        .unwrap();
    match rx.recv_timeout(budget) {
        Ok(Ok(summary)) => {
            worker.join().unwrap();
            eprintln!("{summary}");
        }
        Ok(Err(msg)) => panic!("soak failed: {msg}"),
        Err(_) => panic!("soak hung: no result within {budget:?}"),
    }
}
