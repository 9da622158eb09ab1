//! The orchestrator (`suite [--quick]`): runs every row, peers interleaved A B C D A B C D ...,
//! each server and each client in its own process (pinned with `taskset` when available), and
//! prints one markdown table per row (median and min–max over the rounds, and each peer's
//! median relative to geode's), then the targets, met or not.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{min_med_max, parse_result};

const NET_PEERS: [&str; 4] = ["geode", "tokio", "smol", "epoll"];
const MICRO_PEERS: [&str; 3] = crate::micro::PEERS;
/// The threads row: geode on 1 and 2 `thread_per_core` threads, tokio's multi-thread runtime
/// with 1 and 2 workers.
const THREAD_PEERS: [&str; 4] = ["geode-tpc1", "geode-tpc2", "tokio-mt1", "tokio-mt2"];
const ALL_ROWS: [&str; 13] = [
    "pingpong",
    "echo",
    "syscalls",
    "instructions",
    "http",
    "threads",
    "timers",
    "tasks",
    "blocking",
    "scaling",
    "memory",
    "process",
    "executors",
];
/// geode's echo server under three executors: its own, async-executor's `LocalExecutor`
/// driven by `park`, and the same `LocalExecutor` under `futures_lite::future::block_on`,
/// which never runs geode's reactor (the fallback helper wakes it).
const EXECUTOR_PEERS: [&str; 3] = ["geode", "geode-local", "geode-fallback"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pin {
    /// Server on core 1, client on core 0.
    Split,
    /// Server and client both on core 1.
    Same,
    /// No pinning (taskset missing, or asked for).
    None,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
    /// On this CPU whatever `--pin` says (unless taskset is missing).
    Cpu(&'static str),
    /// On any CPU whatever `--pin` says.
    Anywhere,
}

enum Wrap<'a> {
    Plain,
    Strace(&'a Path),
    Callgrind(&'a Path),
}

struct Cfg {
    exe: PathBuf,
    http_hello: Option<PathBuf>,
    quick: bool,
    rounds: usize,
    count_rounds: usize,
    pin: Pin,
    tmp: PathBuf,
    rows: Vec<String>,
    pingpong_secs: f64,
    echo_secs: f64,
    http_secs: f64,
    scaling_secs: f64,
    paced_rts: usize,
    base_rts: usize,
}

/// One metric's samples per peer.
#[derive(Default)]
struct Metric {
    samples: BTreeMap<String, Vec<f64>>,
}

struct Table {
    title: String,
    peers: Vec<&'static str>,
    /// (column header, higher is better, samples)
    cols: Vec<(String, bool, Metric)>,
    notes: Vec<String>,
}

impl Table {
    fn new(title: &str, peers: &[&'static str], cols: &[(&str, bool)]) -> Table {
        Table {
            title: title.to_string(),
            peers: peers.to_vec(),
            cols: cols
                .iter()
                .map(|(c, h)| (c.to_string(), *h, Metric::default()))
                .collect(),
            notes: Vec::new(),
        }
    }

    fn push(&mut self, col: usize, peer: &str, v: f64) {
        self.cols[col]
            .2
            .samples
            .entry(peer.to_string())
            .or_default()
            .push(v);
    }

    fn median(&self, col: usize, peer: &str) -> f64 {
        self.cols[col]
            .2
            .samples
            .get(peer)
            .map(|v| min_med_max(v).1)
            .unwrap_or(f64::NAN)
    }

    fn render(&self) -> String {
        let mut s = format!("### {}\n\n| peer |", self.title);
        for (c, h, _) in &self.cols {
            let arrow = if *h { "↑" } else { "↓" };
            s.push_str(&format!(" {c} {arrow} median (min–max) | ÷ geode |"));
        }
        s.push_str("\n|---|");
        for _ in &self.cols {
            s.push_str("---|---|");
        }
        s.push('\n');
        for peer in &self.peers {
            s.push_str(&format!("| {peer} |"));
            for (i, (_, _, m)) in self.cols.iter().enumerate() {
                match m.samples.get(*peer) {
                    Some(v) if !v.is_empty() => {
                        let (lo, med, hi) = min_med_max(v);
                        let g = self.median(i, "geode");
                        let ratio = if g.is_finite() && g != 0.0 {
                            format!("{:.2}×", med / g)
                        } else {
                            "–".into()
                        };
                        s.push_str(&format!(
                            " {} ({}–{}) | {} |",
                            fmt(med),
                            fmt(lo),
                            fmt(hi),
                            ratio
                        ));
                    }
                    _ => s.push_str(" – | – |"),
                }
            }
            s.push('\n');
        }
        for n in &self.notes {
            s.push_str(&format!("\n{n}\n"));
        }
        s
    }
}

/// Three significant digits, or whole numbers for large values.
fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn taskset_works() -> bool {
    Command::new("taskset")
        .args(["-c", "0", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl Cfg {
    fn command(&self, side: Side, wrap: &Wrap<'_>, program: &Path, args: &[&str]) -> Command {
        let mut argv: Vec<String> = Vec::new();
        let core = match (self.pin, side) {
            (Pin::None, _) | (_, Side::Anywhere) => None,
            (_, Side::Cpu(cpu)) => Some(cpu),
            (Pin::Split, Side::Client) => Some("0"),
            _ => Some("1"),
        };
        if let Some(c) = core {
            argv.extend(["taskset".into(), "-c".into(), c.into()]);
        }
        match wrap {
            Wrap::Plain => {}
            Wrap::Strace(f) => argv.extend([
                "strace".into(),
                "-f".into(),
                "-c".into(),
                "-o".into(),
                f.display().to_string(),
            ]),
            Wrap::Callgrind(f) => argv.extend([
                "valgrind".into(),
                "--tool=callgrind".into(),
                "-q".into(),
                format!("--callgrind-out-file={}", f.display()),
            ]),
        }
        argv.push(program.display().to_string());
        argv.extend(args.iter().map(|s| s.to_string()));
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        if matches!(wrap, Wrap::Callgrind(_)) {
            // valgrind 3.19 does not know epoll_pwait2 (it would print a warning and fail it
            // with ENOSYS, after which geode falls back to epoll_wait anyway): ask for the
            // fallback up front. Ignored by the other servers.
            c.env("GEODE_NO_EPOLL_PWAIT2", "1");
        }
        c
    }

    /// Runs a worker (client or micro) to completion and parses its `RESULT` line.
    fn run_worker(
        &self,
        side: Side,
        args: &[&str],
        limit: Duration,
    ) -> Option<BTreeMap<String, f64>> {
        let mut cmd = self.command(side, &Wrap::Plain, &self.exe, args);
        let out = run_with_limit(&mut cmd, limit)?;
        let r = parse_result(&out);
        if r.is_none() {
            eprintln!("    worker {args:?} gave no result:\n{out}");
        }
        r
    }
}

/// Runs a command with stdout captured, killing it after `limit`.
fn run_with_limit(cmd: &mut Command, limit: Duration) -> Option<String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| eprintln!("    spawn failed: {e}"))
        .ok()?;
    let stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        s
    });
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                eprintln!("    worker over its time limit: killed");
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    reader.join().ok()
}

/// A running server process.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl Server {
    fn start(cfg: &Cfg, peer: &str, workload: &str, wrap: Wrap<'_>) -> Option<Server> {
        Server::start_on(cfg, Side::Server, peer, workload, wrap)
    }

    fn start_on(
        cfg: &Cfg,
        side: Side,
        peer: &str,
        workload: &str,
        wrap: Wrap<'_>,
    ) -> Option<Server> {
        let example = peer == "geode" && workload == "http" && cfg.http_hello.is_some();
        let mut cmd = if example {
            let bin = cfg.http_hello.as_ref()?;
            cfg.command(side, &wrap, bin, &["127.0.0.1:0"])
        } else {
            cfg.command(
                side,
                &wrap,
                &cfg.exe,
                &["server", peer, workload, "127.0.0.1:0"],
            )
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| eprintln!("    cannot start server: {e}"))
            .ok()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take()?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let port = if let Some(p) = line.strip_prefix("PORT ") {
                    p.trim().parse::<u16>().ok()
                } else if let Some(rest) = line.strip_prefix("listening on http://") {
                    rest.trim_end_matches('/')
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse().ok())
                } else {
                    None
                };
                if let Some(p) = port {
                    let _ = tx.send(p);
                }
            }
        });
        let limit = match wrap {
            Wrap::Callgrind(_) => Duration::from_secs(60),
            _ => Duration::from_secs(15),
        };
        match rx.recv_timeout(limit) {
            Ok(port) => Some(Server { child, stdin, port }),
            Err(_) => {
                eprintln!("    server {peer} {workload} did not report its port");
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the server's stdin (it exits by itself, writing any strace/callgrind summary);
    /// kills it if it has not gone within `limit` (the geode example does not watch stdin).
    fn stop(mut self, limit: Duration) {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}

pub(crate) fn main(args: &[String]) -> std::io::Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let opt = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let exe = std::env::current_exe()?;
    let http_hello = std::env::var_os("GEODE_HTTP_HELLO")
        .map(PathBuf::from)
        .or_else(|| {
            // target/<profile>/deps/suite-<hash> -> target/<profile>/examples/http_hello
            exe.parent()?
                .parent()
                .map(|p| p.join("examples").join("http_hello"))
        })
        .filter(|p| p.is_file());
    // Default: server and client on one core. Across this VM's two cores a wake-up costs
    // tens of µs with a p99 of milliseconds, which drowns every difference between servers
    // (see docs/BENCHMARKS.md); on one core the ratios hold within a few percent.
    let mut pin = match opt("--pin").as_deref() {
        Some("split") => Pin::Split,
        Some("none") => Pin::None,
        _ => Pin::Same,
    };
    let taskset = taskset_works();
    if !taskset {
        pin = Pin::None;
    }
    let rows: Vec<String> = match opt("--only") {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => ALL_ROWS.iter().map(|s| s.to_string()).collect(),
    };
    let rounds = opt("--rounds")
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 3 } else { 5 });
    let tmp = std::env::temp_dir().join(format!("geode-suite-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let cfg = Cfg {
        exe,
        http_hello,
        quick,
        rounds,
        count_rounds: if quick { 1 } else { 3 },
        pin,
        tmp: tmp.clone(),
        rows,
        pingpong_secs: if quick { 0.4 } else { 2.0 },
        echo_secs: if quick { 0.4 } else { 2.0 },
        http_secs: if quick { 1.0 } else { 3.0 },
        scaling_secs: if quick { 0.3 } else { 1.5 },
        paced_rts: if quick { 300 } else { 2000 },
        base_rts: 20,
    };
    let started = Instant::now();
    let mut report = String::new();
    report.push_str(&header(&cfg, taskset));
    println!("{report}");
    let mut tables: BTreeMap<&str, Table> = BTreeMap::new();
    let want = |r: &str| cfg.rows.iter().any(|x| x == r);
    let mut row_start = Instant::now();
    let mut emit = |name: &'static str, t: Table, report: &mut String| {
        eprintln!("  ({name}: {:.1} s)", row_start.elapsed().as_secs_f64());
        row_start = Instant::now();
        let s = t.render();
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
        let _ = std::io::stdout().flush();
        tables.insert(name, t);
    };
    if want("pingpong") {
        emit("pingpong", row_pingpong(&cfg), &mut report);
    }
    if want("echo") {
        emit("echo32", row_echo(&cfg, 32), &mut report);
        emit("echo256", row_echo(&cfg, 256), &mut report);
    }
    if want("syscalls") {
        if have("strace") {
            emit("syscalls", row_syscalls(&cfg), &mut report);
        } else {
            skipped("syscalls", "strace", &mut report);
        }
    }
    if want("instructions") {
        if have("valgrind") {
            emit("instructions", row_instructions(&cfg), &mut report);
        } else {
            skipped("instructions", "valgrind", &mut report);
        }
    }
    if want("http") {
        if have("wrk") {
            emit("http", row_http(&cfg), &mut report);
        } else {
            skipped("http", "wrk", &mut report);
        }
    }
    if want("threads") {
        if have("wrk") {
            emit("threads", row_threads(&cfg), &mut report);
        } else {
            skipped("threads", "wrk", &mut report);
        }
    }
    if want("timers") {
        let (a, b) = row_timers(&cfg);
        emit("sleepers", a, &mut report);
        emit("timeouts", b, &mut report);
    }
    if want("tasks") {
        emit("tasks", row_tasks(&cfg), &mut report);
    }
    if want("blocking") {
        emit("blocking", row_blocking(&cfg), &mut report);
    }
    if want("scaling") {
        emit("scaling", row_scaling(&cfg), &mut report);
    }
    if want("memory") {
        emit("memory", row_memory(&cfg), &mut report);
    }
    if want("executors") {
        emit("executors", row_executors(&cfg), &mut report);
    }
    if want("process") {
        emit("process", row_process(&cfg), &mut report);
    }
    let t = targets(&tables);
    println!("{t}");
    report.push_str(&t);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let total = format!(
        "\nSuite wall time: {:.0} s. Load average at the end: {load}.\n",
        started.elapsed().as_secs_f64()
    );
    println!("{total}");
    report.push_str(&total);
    if let Some(out) = opt("--out") {
        std::fs::write(&out, &report)?;
        eprintln!("report written to {out}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Reports a row left out because `tool` is missing.
fn skipped(row: &str, tool: &str, report: &mut String) {
    let s = format!("### {row}: skipped, `{tool}` is not installed\n");
    println!("{s}");
    report.push_str(&s);
}

fn header(cfg: &Cfg, taskset: bool) -> String {
    let pin = match cfg.pin {
        Pin::Split => "server on core 1, client on core 0 (`taskset -c`)".to_string(),
        Pin::Same => "server and client both on core 1 (`taskset -c 1`)".to_string(),
        Pin::None if taskset => "unpinned (asked for)".to_string(),
        Pin::None => "unpinned: `taskset` is not available".to_string(),
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "## geode benchmark suite ({} mode)\n\n{} rounds per row (strace/callgrind rows: {}), \
         peers interleaved; {pin}. geode's HTTP server: {}. Load average at start: {load}.\n\n\
         ↑ higher is better, ↓ lower is better; \"÷ geode\" is the peer's median over geode's.\n\n",
        if cfg.quick { "quick" } else { "full" },
        cfg.rounds,
        cfg.count_rounds,
        match &cfg.http_hello {
            Some(p) => format!("the built example `{}`", p.display()),
            None => "the suite's own copy (examples/http_hello not built)".into(),
        }
    )
}

/// Every (round, peer) run of a row, rounds outermost, each announced on stderr as it starts.
fn runs<'a>(
    rounds: usize,
    row: &'a str,
    peers: &'a [&'a str],
) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    (0..rounds).flat_map(move |round| {
        peers.iter().map(move |&peer| {
            progress(row, round, peer);
            (round, peer)
        })
    })
}

fn progress(row: &str, round: usize, peer: &str) {
    eprintln!("  [{row}] round {} {peer}", round + 1);
}

fn row_pingpong(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "ping-pong: 1 connection, 64-byte messages",
        &NET_PEERS,
        &[
            ("round trips/s", true),
            ("p50 µs", false),
            ("p99 µs", false),
        ],
    );
    let secs = cfg.pingpong_secs.to_string();
    for (_, peer) in runs(cfg.rounds, "pingpong", &NET_PEERS) {
        if let Some(r) = against_echo(cfg, peer, "pingpong", &["--secs", &secs]) {
            t.push(0, peer, r["rate_med"]);
            t.push(1, peer, r["p50_us"]);
            t.push(2, peer, r["p99_us"]);
        }
    }
    t.notes.push(format!(
        "{} s per run after 200 warm-up round trips; round trips/s is the median over 20 ms \
         windows (robust to another process taking the core for a while).",
        cfg.pingpong_secs
    ));
    t
}

fn row_echo(cfg: &Cfg, conns: usize) -> Table {
    let mut t = Table::new(
        &format!("echo: {conns} connections, 64-byte messages, one in flight on each"),
        &NET_PEERS,
        &[("round trips/s", true)],
    );
    let secs = cfg.echo_secs.to_string();
    let conns_s = conns.to_string();
    for (_, peer) in runs(cfg.rounds, &format!("echo{conns}"), &NET_PEERS) {
        let args = ["--conns", &conns_s, "--secs", &secs, "--warmup", "0.2"];
        if let Some(r) = against_echo(cfg, peer, "echo", &args) {
            t.push(0, peer, r["rate_med"]);
        }
    }
    t.notes.push(format!(
        "{} s per run after 0.2 s of warm-up; the client is one epoll loop over all \
         connections; round trips/s is the median over 20 ms windows.",
        cfg.echo_secs
    ));
    t
}

/// Runs client workload `client` (with `args` after the address) against `peer`'s echo server,
/// started for the run and stopped after it; the client's results, unless a side failed.
fn against_echo(
    cfg: &Cfg,
    peer: &str,
    client: &str,
    args: &[&str],
) -> Option<BTreeMap<String, f64>> {
    let srv = Server::start(cfg, peer, "echo", Wrap::Plain)?;
    let addr = srv.addr();
    let mut argv = vec!["client", client, &addr];
    argv.extend_from_slice(args);
    let r = cfg.run_worker(Side::Client, &argv, Duration::from_secs(60));
    srv.stop(Duration::from_secs(5));
    r
}

/// Runs a paced ping-pong of `rts` round trips against a server under `wrap`.
fn paced_run(cfg: &Cfg, peer: &str, wrap: Wrap<'_>, rts: usize) -> bool {
    let callgrind = matches!(wrap, Wrap::Callgrind(_));
    let Some(srv) = Server::start(cfg, peer, "echo", wrap) else {
        return false;
    };
    let addr = srv.addr();
    let ok = cfg
        .run_worker(
            Side::Client,
            &[
                "client",
                "pingpong",
                &addr,
                "--count",
                &rts.to_string(),
                "--pace-us",
                "1000",
            ],
            Duration::from_secs(120),
        )
        .is_some();
    srv.stop(Duration::from_secs(if callgrind { 60 } else { 10 }));
    ok
}

/// The base run ([`Cfg::base_rts`] round trips) and the full run ([`Cfg::paced_rts`]) of a
/// paced ping-pong, each under the tool `wrap` makes with its own output file (named
/// `{tag}-{peer}-{round}-base`/`-full` in the suite's temp dir); their two files, unless a run
/// failed. A per-round-trip count is (full − base) / (paced_rts − base_rts): startup cancels.
fn paced_pair(
    cfg: &Cfg,
    peer: &str,
    wrap: fn(&Path) -> Wrap<'_>,
    tag: &str,
    round: usize,
) -> Option<(PathBuf, PathBuf)> {
    let base = cfg.tmp.join(format!("{tag}-{peer}-{round}-base"));
    let full = cfg.tmp.join(format!("{tag}-{peer}-{round}-full"));
    (paced_run(cfg, peer, wrap(&base), cfg.base_rts)
        && paced_run(cfg, peer, wrap(&full), cfg.paced_rts))
    .then_some((base, full))
}

/// Syscall counts by name from an `strace -c` summary.
fn parse_strace(path: &Path) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let Ok(s) = std::fs::read_to_string(path) else {
        return m;
    };
    for line in s.lines() {
        let tok: Vec<&str> = line.split_whitespace().collect();
        if tok.len() < 5 || tok[0].starts_with('%') || tok[0].starts_with('-') {
            continue;
        }
        let name = tok[tok.len() - 1];
        if let Ok(calls) = tok[3].parse::<f64>() {
            m.insert(name.to_string(), calls);
        }
    }
    m
}

fn syscall_groups(m: &BTreeMap<String, f64>) -> [f64; 5] {
    let sum = |names: &[&str]| {
        names
            .iter()
            .map(|n| m.get(*n).copied().unwrap_or(0.0))
            .sum()
    };
    [
        sum(&["read", "recvfrom", "recvmsg", "readv"]),
        sum(&["write", "sendto", "sendmsg", "writev"]),
        sum(&["epoll_wait", "epoll_pwait", "epoll_pwait2"]),
        sum(&["epoll_ctl"]),
        m.get("total").copied().unwrap_or(0.0),
    ]
}

fn row_syscalls(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "syscalls per round trip on the server (strace -f -c; paced client, 1 ms apart)",
        &NET_PEERS,
        &[
            ("read", false),
            ("write", false),
            ("epoll_wait", false),
            ("epoll_ctl", false),
            ("all syscalls", false),
        ],
    );
    let mut names: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (round, peer) in runs(cfg.count_rounds, "syscalls", &NET_PEERS) {
        let pair = paced_pair(cfg, peer, |p| Wrap::Strace(p), "strace", round);
        let Some((base, full)) = pair else {
            continue;
        };
        let (b, f) = (parse_strace(&base), parse_strace(&full));
        let (gb, gf) = (syscall_groups(&b), syscall_groups(&f));
        let n = (cfg.paced_rts - cfg.base_rts) as f64;
        for i in 0..5 {
            t.push(i, peer, (gf[i] - gb[i]) / n);
        }
        if round == 0 {
            let per: BTreeMap<String, f64> = f
                .iter()
                .filter(|(k, _)| *k != "total")
                .map(|(k, v)| (k.clone(), (v - b.get(k).copied().unwrap_or(0.0)) / n))
                .filter(|(_, v)| v.abs() >= 0.005)
                .collect();
            names.insert(peer.to_string(), per);
        }
    }
    t.notes.push(format!(
        "Counts are (run of {} round trips − run of {}) / {}: startup cancels out. \
         read = read+recvfrom+recvmsg, write = write+sendto+sendmsg, \
         epoll_wait = epoll_wait+epoll_pwait+epoll_pwait2.",
        cfg.paced_rts,
        cfg.base_rts,
        cfg.paced_rts - cfg.base_rts
    ));
    for (peer, per) in names {
        let list: Vec<String> = per.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
        t.notes.push(format!("{peer}: {}", list.join(", ")));
    }
    t
}

/// Total instructions (Ir) of a callgrind output file.
fn parse_callgrind(path: &Path) -> Option<f64> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Instructions per round trip from the callgrind files of a [`paced_pair`].
fn ir_per_round_trip(cfg: &Cfg, base: &Path, full: &Path) -> Option<f64> {
    let (b, f) = (parse_callgrind(base)?, parse_callgrind(full)?);
    Some((f - b) / (cfg.paced_rts - cfg.base_rts) as f64)
}

fn row_instructions(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "user-space instructions per round trip on the server (callgrind; paced client)",
        &NET_PEERS,
        &[("Ir per round trip", false)],
    );
    for (round, peer) in runs(cfg.count_rounds, "instructions", &NET_PEERS) {
        let pair = paced_pair(cfg, peer, |p| Wrap::Callgrind(p), "cg", round);
        let Some((base, full)) = pair else {
            continue;
        };
        if let Some(ir) = ir_per_round_trip(cfg, &base, &full) {
            t.push(0, peer, ir);
        }
        if round == 0 {
            if let Some(dir) = std::env::var_os("SUITE_KEEP_CALLGRIND") {
                let dir = Path::new(&dir);
                let _ = std::fs::copy(&full, dir.join(format!("callgrind.{peer}.full")));
                let _ = std::fs::copy(&base, dir.join(format!("callgrind.{peer}.base")));
            }
        }
    }
    t.notes.push(format!(
        "(Ir of a run of {} round trips − Ir of a run of {}) / {}, whole server process. \
         Set SUITE_KEEP_CALLGRIND=DIR to keep the profiles for callgrind_annotate.",
        cfg.paced_rts,
        cfg.base_rts,
        cfg.paced_rts - cfg.base_rts
    ));
    t
}

fn row_executors(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "geode's echo server under other executors: ping-pong, 1 connection, 64-byte messages",
        &EXECUTOR_PEERS,
        &[("round trips/s", true), ("Ir per round trip", false)],
    );
    let secs = cfg.pingpong_secs.to_string();
    for (_, peer) in runs(cfg.rounds, "executors", &EXECUTOR_PEERS) {
        if let Some(r) = against_echo(cfg, peer, "pingpong", &["--secs", &secs]) {
            t.push(0, peer, r["rate_med"]);
        }
    }
    if have("valgrind") {
        for (round, peer) in runs(cfg.count_rounds, "executors (callgrind)", &EXECUTOR_PEERS) {
            let pair = paced_pair(cfg, peer, |p| Wrap::Callgrind(p), "cgx", round);
            let Some((base, full)) = pair else {
                continue;
            };
            if let Some(ir) = ir_per_round_trip(cfg, &base, &full) {
                t.push(1, peer, ir);
            }
        }
    }
    t.notes.push(format!(
        "`geode`: geode's executor; `geode-local`: async-executor's LocalExecutor driven by \
         geode's `park` (examples/local_executor.rs); `geode-fallback`: the same LocalExecutor \
         under futures_lite::future::block_on, which never runs geode's reactor (each wait goes \
         through the fallback helper thread). Round trips/s as in the ping-pong row ({} s \
         runs); instructions as in the instructions row, whole process (the helper thread \
         included).",
        cfg.pingpong_secs
    ));
    t
}

fn row_http(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "HTTP plaintext keep-alive \"Hello, World!\" (wrk -c64 -t1)",
        &NET_PEERS,
        &[("requests/s", true)],
    );
    let secs = format!("{}s", cfg.http_secs);
    for (_, peer) in runs(cfg.rounds, "http", &NET_PEERS) {
        let Some(srv) = Server::start(cfg, peer, "http", Wrap::Plain) else {
            continue;
        };
        let url = format!("http://{}/", srv.addr());
        let mut cmd = cfg.command(
            Side::Client,
            &Wrap::Plain,
            Path::new("wrk"),
            &["-c64", "-t1", &format!("-d{secs}"), &url],
        );
        if let Some(out) = run_with_limit(&mut cmd, Duration::from_secs(60)) {
            if let Some(r) = wrk_requests_per_sec(&out, peer) {
                t.push(0, peer, r);
            }
        }
        srv.stop(Duration::from_millis(500));
    }
    t
}

/// wrk's `Requests/sec:` from its output `out` (for `peer`'s server); says so on stderr when
/// the line is missing or wrk reports errors.
fn wrk_requests_per_sec(out: &str, peer: &str) -> Option<f64> {
    let rps = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok());
    if rps.is_none() {
        eprintln!("    wrk output without Requests/sec:\n{out}");
    }
    if out.contains("Non-2xx") || out.contains("Socket errors") {
        eprintln!("    wrk reported errors for {peer}:\n{out}");
    }
    rps
}

/// CPU time (user + system) of process `pid` so far, in seconds.
fn process_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): utime and stime are the 14th and
    // 15th fields, in USER_HZ ticks (100 a second on every Linux ABI).
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn row_threads(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "threads: HTTP keep-alive \"Hello, World!\" on 1 and 2 server threads (wrk -c64 -t1)",
        &THREAD_PEERS,
        &[("requests/s", true), ("server CPU µs per request", false)],
    );
    let secs = format!("{}s", cfg.http_secs);
    for (_, peer) in runs(cfg.rounds, "threads", &THREAD_PEERS) {
        // One server thread: the server on CPU 1, wrk on CPU 0. Two: the server has both
        // CPUs and wrk shares them (a 2-core machine cannot keep them apart).
        let one = peer.ends_with('1');
        let (server_side, client_side) = if one {
            (Side::Cpu("1"), Side::Cpu("0"))
        } else {
            (Side::Anywhere, Side::Anywhere)
        };
        let Some(srv) = Server::start_on(cfg, server_side, peer, "http", Wrap::Plain) else {
            continue;
        };
        let url = format!("http://{}/", srv.addr());
        let before = process_cpu_secs(srv.pid());
        let mut cmd = cfg.command(
            client_side,
            &Wrap::Plain,
            Path::new("wrk"),
            &["-c64", "-t1", &format!("-d{secs}"), &url],
        );
        let out = run_with_limit(&mut cmd, Duration::from_secs(60));
        let after = process_cpu_secs(srv.pid());
        if let Some(out) = out {
            let rps = wrk_requests_per_sec(&out, peer);
            let requests = out.lines().find_map(|l| {
                let (n, rest) = l.trim().split_once(' ')?;
                rest.starts_with("requests in")
                    .then(|| n.parse::<f64>().ok())?
            });
            if let Some(r) = rps {
                t.push(0, peer, r);
            }
            if let (Some(b), Some(a), Some(n)) = (before, after, requests) {
                if n > 0.0 {
                    t.push(1, peer, (a - b) * 1e6 / n);
                }
            }
        }
        srv.stop(Duration::from_millis(500));
    }
    t.notes.push(
        "geode-tpc<n>: geode::runtime::thread_per_core(n), every thread accepting on a clone \
         of one listener; tokio-mt<n>: tokio's multi-thread runtime with n workers. With one \
         server thread the server is pinned to CPU 1 and wrk to CPU 0; with two, both share \
         both CPUs with wrk, so a 2-core machine shows what a second thread costs and whether \
         it helps at all here, not how either scales: wrk's own thread takes a CPU's worth."
            .to_string(),
    );
    t
}

fn micro(cfg: &Cfg, peer: &str, bench: &str) -> Option<BTreeMap<String, f64>> {
    cfg.run_worker(
        Side::Server,
        &["micro", peer, bench],
        Duration::from_secs(120),
    )
}

/// Runs micro-benchmark `bench` for `peer` and puts each `(column, key)` of its result in `t`.
fn micro_into(t: &mut Table, cfg: &Cfg, peer: &str, bench: &str, cols: &[(usize, &str)]) {
    if let Some(r) = micro(cfg, peer, bench) {
        for &(col, key) in cols {
            t.push(col, peer, r[key]);
        }
    }
}

fn row_timers(cfg: &Cfg) -> (Table, Table) {
    let mut a = Table::new(
        "timers: 200,000 tasks sleeping a random 1–100 ms (fixed seed)",
        &MICRO_PEERS,
        &[("wall ms", false), ("peak bytes per task", false)],
    );
    let mut b = Table::new(
        "timeouts and sleep overshoot",
        &MICRO_PEERS,
        &[
            ("timeout(ready) ns", false),
            ("timeout(pending once) ns", false),
            ("insert+cancel ns (net)", false),
            ("sleep(100µs) late p50 µs", false),
            ("p99 µs", false),
        ],
    );
    for (_, peer) in runs(cfg.rounds, "timers", &MICRO_PEERS) {
        micro_into(
            &mut a,
            cfg,
            peer,
            "sleepers",
            &[(0, "wall_ms"), (1, "bytes_per_task")],
        );
        micro_into(&mut b, cfg, peer, "timeout_ready", &[(0, "ns_per_op")]);
        micro_into(
            &mut b,
            cfg,
            peer,
            "timeout_pending",
            &[(1, "ns_per_op"), (2, "net_ns")],
        );
        if let Some(r) = cfg.run_worker(
            Side::Server,
            &[
                "micro",
                peer,
                "overshoot",
                "--n",
                if cfg.quick { "200" } else { "1000" },
            ],
            Duration::from_secs(60),
        ) {
            b.push(3, peer, r["p50_us"]);
            b.push(4, peer, r["p99_us"]);
        }
    }
    a.notes.push(
        "Wall time from the first spawn to the last wake-up (the longest sleep is 100 ms). \
         Peak bytes = (VmHWM at the end − VmRSS before spawning) / 200,000: task, timer and \
         runtime growth together. Each task is `async move { sleep(d).await; done.done_one() }` \
         (`done`: an `Arc` countdown), spawned detached from the main future."
            .into(),
    );
    b.notes.push(
        "1,000,000 `timeout(1 s, f)` each. \"pending once\": `f` wakes itself and returns \
         Pending once, so every timeout arms its timer and cancels it on completion; \
         \"net\" subtracts the same loop without the timeout (the yield). smol: \
         `futures_lite::future::or(f, Timer::after(1 s))`. Overshoot: wake-up time minus \
         100 µs."
            .into(),
    );
    (a, b)
}

fn row_tasks(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "tasks",
        &MICRO_PEERS,
        &[
            ("spawn+join ns/task", false),
            ("two-task ping-pong ns/round trip", false),
        ],
    );
    for (_, peer) in runs(cfg.rounds, "tasks", &MICRO_PEERS) {
        micro_into(&mut t, cfg, peer, "spawn_join", &[(0, "ns_per_task")]);
        micro_into(&mut t, cfg, peer, "chan_pingpong", &[(1, "ns_per_rt")]);
    }
    t.notes.push(
        "spawn+join: 1,000,000 trivial tasks spawned from the main future and joined, 1,000 \
         at a time. Ping-pong: 1,000,000 round trips between two spawned tasks over a flag + \
         `Rc<RefCell<Option<Waker>>>` channel (tokio: `LocalSet` + `spawn_local`)."
            .into(),
    );
    t
}

fn row_blocking(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "blocking pool and files",
        &MICRO_PEERS,
        &[
            ("round trip ns", false),
            ("1,000 at once ns/job", false),
            ("64 MiB read_to_end ms", false),
            ("read loop ms", false),
            ("std::fs::read ms", false),
            ("loop / std", false),
        ],
    );
    for (_, peer) in runs(cfg.rounds, "blocking", &MICRO_PEERS) {
        micro_into(&mut t, cfg, peer, "blocking_rt", &[(0, "ns_per_rt")]);
        micro_into(&mut t, cfg, peer, "blocking_burst", &[(1, "ns_per_job")]);
        micro_into(
            &mut t,
            cfg,
            peer,
            "file_read",
            &[
                (2, "read_ms"),
                (3, "loop_ms"),
                (4, "std_read_ms"),
                (5, "loop_vs_floor"),
            ],
        );
    }
    t.notes.push(
        "Round trip: 20,000 no-op jobs submitted and awaited one at a time (geode \
         `spawn_blocking`, tokio `task::spawn_blocking`, smol `blocking::unblock`). 1,000 at \
         once: 20 rounds of 1,000 no-op jobs submitted together, then awaited. 64 MiB read: \
         `File::open` + `read_to_end` of a page-cached file (geode `fs::File`, \
         `tokio::fs::File`, `async_fs::File`; geode and smol through futures-lite's \
         `read_to_end`, which zero-fills each growth of the `Vec` and costs some 2x \
         `std::fs::read` by itself on a plain std file; tokio's does not), and a `read` loop \
         into a preallocated 64 MiB buffer (the runtimes' own cost), best of 5 each, beside \
         `std::fs::read` of the same file in the same process (the floor)."
            .into(),
    );
    t
}

fn row_process(cfg: &Cfg) -> Table {
    const PEERS: [&str; 4] = ["geode", "tokio", "smol", "std"];
    let mut t = Table::new(
        "child processes and signals",
        &PEERS,
        &[
            ("spawn+wait µs", false),
            ("read 256 MiB MiB/s", true),
            ("signal p50 µs", false),
            ("signal p99 µs", false),
        ],
    );
    let spawns = if cfg.quick { "200" } else { "1000" };
    for (_, peer) in runs(cfg.rounds, "process", &PEERS) {
        let spawn = ["micro", peer, "proc_spawn", "--n", spawns];
        if let Some(r) = cfg.run_worker(Side::Server, &spawn, Duration::from_secs(120)) {
            t.push(0, peer, r["us_per_child"]);
        }
        micro_into(&mut t, cfg, peer, "proc_read", &[(1, "mib_per_s")]);
        if peer != "std" {
            micro_into(
                &mut t,
                cfg,
                peer,
                "signal_latency",
                &[(2, "p50_us"), (3, "p99_us")],
            );
        }
    }
    t.notes.push(format!(
        "spawn+wait: {spawns} × `Command::new(\"/bin/true\").status()` one after another (std: on \
         a plain thread). Read: `head -c 268435456 /dev/zero` through a piped stdout, 64 KiB \
         reads. Signal: 1,000 rounds of `kill(getpid(), SIGUSR1)` to the listener's `recv` \
         returning (tokio: `signal::unix::signal`, smol: `async_signal::Signals`)."
    ));
    t
}

fn row_scaling(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "scaling: ping-pong with 10 and 10,000 idle connections open",
        &NET_PEERS,
        &[
            ("p50 µs, 10 idle", false),
            ("p50 µs, 10,000 idle", false),
            ("cost ratio 10,000/10", false),
            ("RT/s, 10,000 idle", true),
            ("server bytes per idle conn", false),
        ],
    );
    let secs = cfg.scaling_secs.to_string();
    for (_, peer) in runs(cfg.rounds, "scaling", &NET_PEERS) {
        let mut rates = [f64::NAN; 2];
        let mut p50s = [f64::NAN; 2];
        for (i, idle) in ["10", "10000"].into_iter().enumerate() {
            let Some(srv) = Server::start(cfg, peer, "echo", Wrap::Plain) else {
                continue;
            };
            let addr = srv.addr();
            let pid = srv.pid().to_string();
            if let Some(r) = cfg.run_worker(
                Side::Client,
                &[
                    "client",
                    "pingpong",
                    &addr,
                    "--secs",
                    &secs,
                    "--idle",
                    idle,
                    "--rss-pid",
                    &pid,
                ],
                Duration::from_secs(120),
            ) {
                rates[i] = r["rate_med"];
                p50s[i] = r["p50_us"];
                if i == 1 {
                    t.push(
                        4,
                        peer,
                        (r["srv_rss_after"] - r["srv_rss_before"]) / r["idle"],
                    );
                }
            }
            srv.stop(Duration::from_secs(5));
        }
        if rates.iter().chain(&p50s).all(|r| r.is_finite()) {
            t.push(0, peer, p50s[0]);
            t.push(1, peer, p50s[1]);
            t.push(2, peer, p50s[1] / p50s[0]);
            t.push(3, peer, rates[1]);
        }
    }
    t.notes.push(
        "Round trips/s are the median of 20 ms windows. Each idle connection made one round trip first (so the server has registered it) \
         and stays open. Cost ratio = p50 round trip with 10,000 idle ÷ with 10 (1.00: flat); \
         the median is used because it is robust to the machine's noise. \
         Server bytes per idle connection: the echo server's RSS growth over the 10,000 idle \
         connections / 10,000, including the 4 KiB buffer every server keeps per connection."
            .into(),
    );
    t
}

fn row_memory(cfg: &Cfg) -> Table {
    let mut t = Table::new(
        "memory (RSS growth per item)",
        &MICRO_PEERS,
        &[
            ("bytes per idle registered connection", false),
            ("bytes per pending timer", false),
            ("bytes per pending task", false),
        ],
    );
    let mut sizes = BTreeMap::new();
    for (_, peer) in runs(cfg.rounds, "memory", &MICRO_PEERS) {
        micro_into(&mut t, cfg, peer, "mem_conns", &[(0, "bytes_per_conn")]);
        if let Some(r) = micro(cfg, peer, "mem_timers") {
            t.push(1, peer, r["bytes_per_timer"]);
            sizes.insert(peer, r["future_size"]);
        }
        micro_into(&mut t, cfg, peer, "mem_tasks", &[(2, "bytes_per_task")]);
    }
    let sizes: Vec<String> = sizes
        .iter()
        .map(|(p, s)| format!("{p} {s} bytes"))
        .collect();
    t.notes.push(format!(
        "Connection: 8,000 accepted TCP sockets, each registered and awaited by a task \
         polling `readable()` (task + registration + waiter). Timer: 200,000 sleep futures \
         of 1 h, stored in place in a `Vec` and polled once; the figure includes the future \
         itself ({}). Task: 200,000 tasks pending forever.",
        sizes.join(", ")
    ));
    t
}

/// The targets, checked against this run's medians.
fn targets(tables: &BTreeMap<&str, Table>) -> String {
    let mut s = String::from(
        "### Targets (issue 6), from this run's medians\n\n| target | measured | verdict |\n|---|---|---|\n",
    );
    let mut line = |target: &str, measured: String, ok: Option<bool>| {
        let (measured, v) = match ok {
            Some(true) => (measured, "met"),
            Some(false) => (measured, "**not met**"),
            // A row left out by `--only`: no NaN in the report.
            None => ("–".to_string(), "not measured"),
        };
        s.push_str(&format!("| {target} | {measured} | {v} |\n"));
    };
    let med = |t: &str, col: usize, peer: &str| {
        tables
            .get(t)
            .map(|t| t.median(col, peer))
            .unwrap_or(f64::NAN)
    };
    let check = |v: f64, ok: bool| if v.is_finite() { Some(ok) } else { None };
    let note = "\nRate and latency verdicts: a gap of a few percent is within this shared \
                machine's run-to-run noise (docs/BENCHMARKS.md, Method); the syscall and \
                instruction counts are exact.\n";
    for (t, what) in [
        ("pingpong", "ping-pong rate"),
        ("echo32", "echo 32 rate"),
        ("echo256", "echo 256 rate"),
        ("http", "HTTP rate"),
    ] {
        let g = med(t, 0, "geode");
        let (tk, ep) = (g / med(t, 0, "tokio"), g / med(t, 0, "epoll"));
        line(
            &format!("{what} ≥ 1.0× tokio, ≥ 0.98× epoll loop"),
            format!("{tk:.3}× tokio, {ep:.3}× epoll"),
            check(tk + ep, tk >= 1.0 && ep >= 0.98),
        );
    }
    let p = med("pingpong", 1, "geode") / med("pingpong", 1, "epoll");
    line(
        "ping-pong p50 latency ≤ 1.02× epoll loop",
        format!("{p:.3}×"),
        check(p, p <= 1.02),
    );
    let sc: Vec<f64> = (0..4).map(|i| med("syscalls", i, "geode")).collect();
    let ok = (sc[0] - 1.0).abs() < 0.02
        && (sc[1] - 1.0).abs() < 0.02
        && (sc[2] - 1.0).abs() < 0.02
        && sc[3].abs() < 0.02;
    line(
        "syscalls/round trip: 1 read, 1 write, 1 epoll_wait, 0 epoll_ctl",
        format!(
            "{:.2} read, {:.2} write, {:.2} epoll_wait, {:.2} epoll_ctl",
            sc[0], sc[1], sc[2], sc[3]
        ),
        check(sc.iter().sum(), ok),
    );
    let ir = med("instructions", 0, "geode");
    line(
        "user-space instructions/round trip ≤ 400",
        format!("{ir:.0}"),
        check(ir, ir <= 400.0),
    );
    let (gw, sw) = (med("sleepers", 0, "geode"), med("sleepers", 0, "smol"));
    line(
        "200,000 sleepers: wall time ≤ smol's",
        format!("{gw:.1} ms vs smol {sw:.1} ms"),
        check(gw + sw, gw <= sw),
    );
    let gb = med("sleepers", 1, "geode");
    line(
        "200,000 sleepers: peak ≤ 160 bytes/task",
        format!("{gb:.0} bytes"),
        check(gb, gb <= 160.0),
    );
    let tr = med("timeouts", 0, "geode");
    line(
        "timeout around a ready future ≤ 5 ns (no timer)",
        format!("{tr:.1} ns"),
        check(tr, tr <= 5.0),
    );
    let ic = med("timeouts", 2, "geode");
    line(
        "timer insert + cancel ≤ 40 ns",
        format!("{ic:.1} ns"),
        check(ic, ic <= 40.0),
    );
    let sj = med("tasks", 0, "geode") / med("tasks", 0, "tokio");
    line(
        "spawn + join ≤ 0.5× tokio",
        format!("{sj:.3}×"),
        check(sj, sj <= 0.5),
    );
    let scl = med("scaling", 2, "geode");
    line(
        "scaling 10 → 10,000 idle connections ≤ 1.1×",
        format!("{scl:.3}×"),
        check(scl, scl <= 1.1),
    );
    s.push_str(note);
    s
}
