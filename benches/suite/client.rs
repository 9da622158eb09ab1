//! `suite client <pingpong|echo> <addr> [options]`: the load client, one process, the same for
//! every server.
//!
//! - `pingpong`: one blocking connection, 64-byte messages, one in flight; records every round
//!   trip's latency. `--secs S` or `--count N`; `--pace-us U` sleeps between round trips (for
//!   servers under strace/callgrind); `--idle K` first opens K more connections and makes one
//!   round trip on each (so the server has registered them), keeping them open and idle;
//!   `--rss-pid P` reports the server's RSS before and after the idle connections.
//! - `echo`: `--conns N` connections on a hand-written epoll loop, one 64-byte message in flight
//!   on each; total round trips per second after `--warmup` seconds.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::common::{percentile, print_result, proc_status_bytes, raise_nofile};

const MSG: usize = 64;

fn opts(args: &[String]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(k) = a.strip_prefix("--") {
            if let Some(v) = it.next() {
                m.insert(k.to_string(), v.clone());
            }
        }
    }
    m
}

fn num(m: &HashMap<String, String>, k: &str, default: f64) -> f64 {
    m.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub(crate) fn main(args: &[String]) -> io::Result<()> {
    let [kind, addr, rest @ ..] = args else {
        return Err(io::Error::other(
            "usage: suite client <pingpong|echo> <addr> ...",
        ));
    };
    raise_nofile();
    let o = opts(rest);
    match kind.as_str() {
        "pingpong" => pingpong(addr, &o),
        "echo" => echo(addr, &o),
        k => Err(io::Error::other(format!("unknown client workload {k}"))),
    }
}

fn round_trip(s: &mut TcpStream, msg: &[u8; MSG], back: &mut [u8; MSG]) -> io::Result<()> {
    s.write_all(msg)?;
    s.read_exact(back)
}

fn pingpong(addr: &str, o: &HashMap<String, String>) -> io::Result<()> {
    let secs = num(o, "secs", 0.0);
    let count = num(o, "count", 0.0) as usize;
    let pace = Duration::from_micros(num(o, "pace-us", 0.0) as u64);
    let idle = num(o, "idle", 0.0) as usize;
    let rss_pid = o.get("rss-pid").cloned();
    let msg = [0x5au8; MSG];
    let mut back = [0u8; MSG];
    let rss_before = rss_pid
        .as_deref()
        .map(|p| proc_status_bytes(p, "VmRSS"))
        .unwrap_or(0);
    let mut idle_conns = Vec::with_capacity(idle);
    for _ in 0..idle {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        round_trip(&mut s, &msg, &mut back)?;
        idle_conns.push(s);
    }
    std::thread::sleep(Duration::from_millis(if idle > 0 { 100 } else { 0 }));
    let rss_after = rss_pid
        .as_deref()
        .map(|p| proc_status_bytes(p, "VmRSS"))
        .unwrap_or(0);
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    // Warm-up: the connection, the server's task and caches.
    let warm = if pace.is_zero() { 200 } else { 5 };
    for _ in 0..warm {
        round_trip(&mut s, &msg, &mut back)?;
        if !pace.is_zero() {
            std::thread::sleep(pace);
        }
    }
    let limit = if count > 0 {
        count
    } else {
        (secs * 2_000_000.0) as usize + 1000
    };
    let mut lat = Vec::with_capacity(limit.min(4_000_000));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(if count > 0 { 600.0 } else { secs });
    let mut t0 = start;
    let mut windows = Windows::new(start);
    while lat.len() < limit {
        round_trip(&mut s, &msg, &mut back)?;
        let t1 = Instant::now();
        lat.push((t1 - t0).as_nanos() as u64);
        windows.count(t1, 1);
        if t1 >= deadline {
            break;
        }
        if !pace.is_zero() {
            std::thread::sleep(pace);
            t0 = Instant::now();
        } else {
            t0 = t1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = lat.len();
    lat.sort_unstable();
    drop(s);
    drop(idle_conns);
    print_result(&[
        ("rts", n as f64),
        ("rate", n as f64 / elapsed),
        ("rate_med", windows.median_rate()),
        ("p50_us", percentile(&lat, 0.50) as f64 / 1e3),
        ("p99_us", percentile(&lat, 0.99) as f64 / 1e3),
        ("srv_rss_before", rss_before as f64),
        ("srv_rss_after", rss_after as f64),
        ("idle", idle as f64),
    ]);
    Ok(())
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn echo(addr: &str, o: &HashMap<String, String>) -> io::Result<()> {
    let conns = num(o, "conns", 32.0) as usize;
    let secs = num(o, "secs", 1.0);
    let warmup = num(o, "warmup", 0.2);
    let msg = [0x5au8; MSG];
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        streams.push(s);
    }
    // SAFETY: plain syscall.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    for (i, s) in streams.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: i as u64,
        };
        // SAFETY: valid fds and event pointer.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let mut got = vec![0usize; conns];
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    for s in &streams {
        (&*s).write_all(&msg)?;
    }
    let begin = Instant::now();
    let measure_from = begin + Duration::from_secs_f64(warmup);
    let end = measure_from + Duration::from_secs_f64(secs);
    let mut rts_at_start = None;
    let mut rts: u64 = 0;
    let mut windows = Windows::new(measure_from);
    let mut counted = 0;
    loop {
        let now = Instant::now();
        if rts_at_start.is_none() && now >= measure_from {
            rts_at_start = Some((rts, now));
            counted = rts;
        }
        if rts_at_start.is_some() {
            windows.count(now, rts - counted);
            counted = rts;
        }
        if now >= end {
            break;
        }
        // SAFETY: events has 1024 entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 1024, 100) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        for ev in &events[..n as usize] {
            let i = ev.u64 as usize;
            let fd = streams[i].as_raw_fd();
            loop {
                // SAFETY: buf is valid for writes of its length.
                let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if r > 0 {
                    got[i] += r as usize;
                    while got[i] >= MSG {
                        got[i] -= MSG;
                        rts += 1;
                        // SAFETY: msg is valid for reads of MSG bytes.
                        let w = unsafe { libc::write(fd, msg.as_ptr().cast(), MSG) };
                        if w != MSG as isize {
                            return Err(io::Error::other("echo client: short write"));
                        }
                    }
                    if (r as usize) < buf.len() {
                        break;
                    }
                } else if r == 0 {
                    return Err(io::Error::other("echo client: server closed"));
                } else {
                    let e = errno();
                    if e == libc::EINTR {
                        continue;
                    }
                    if e == libc::EAGAIN {
                        break;
                    }
                    return Err(io::Error::last_os_error());
                }
            }
        }
    }
    let (rts0, t0) = rts_at_start.unwrap_or((0, begin));
    let dt = t0.elapsed().as_secs_f64();
    // SAFETY: we own ep.
    unsafe { libc::close(ep) };
    print_result(&[
        ("rts", (rts - rts0) as f64),
        ("rate", (rts - rts0) as f64 / dt),
        ("rate_med", windows.median_rate()),
        ("conns", conns as f64),
    ]);
    Ok(())
}

/// Round trips counted in consecutive 20 ms windows: the median window's rate is robust to the
/// stalls a shared machine inflicts now and then (another process taking the core).
struct Windows {
    start: Instant,
    current: u64,
    n: u64,
    done: Vec<u64>,
}

const WINDOW: Duration = Duration::from_millis(20);

impl Windows {
    fn new(start: Instant) -> Windows {
        Windows {
            start,
            current: 0,
            n: 0,
            done: Vec::new(),
        }
    }

    fn count(&mut self, now: Instant, rts: u64) {
        let w = (now.saturating_duration_since(self.start).as_nanos() / WINDOW.as_nanos()) as u64;
        while self.current < w {
            self.done.push(self.n);
            self.n = 0;
            self.current += 1;
        }
        self.n += rts;
    }

    /// Round trips per second of the median complete window (NaN if none completed).
    fn median_rate(&self) -> f64 {
        if self.done.is_empty() {
            return f64::NAN;
        }
        let mut v = self.done.clone();
        v.sort_unstable();
        v[v.len() / 2] as f64 / WINDOW.as_secs_f64()
    }
}
