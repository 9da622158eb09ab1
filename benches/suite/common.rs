//! Small helpers shared by every part of the suite: a fixed-seed RNG, statistics, RSS and
//! rlimit readings, and the `RESULT k=v ...` line every worker process prints.

use std::collections::BTreeMap;

/// xorshift64*: tiny, fast and the same sequence on every run.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi` (tiny modulo bias, irrelevant here).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// The value at quantile `p` (0..=1) of a sorted slice.
pub(crate) fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// (min, median, max) of a set of samples.
pub(crate) fn min_med_max(v: &[f64]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (s[0], med, s[n - 1])
}

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`); 0 if unreadable.
pub(crate) fn proc_status_bytes(pid: &str, field: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            if let Some(rest) = rest.strip_prefix(':') {
                let kb: u64 = rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                return kb * 1024;
            }
        }
    }
    0
}

/// This process's resident set size in bytes.
pub(crate) fn rss() -> u64 {
    proc_status_bytes("self", "VmRSS")
}

/// This process's peak resident set size in bytes.
pub(crate) fn hwm() -> u64 {
    proc_status_bytes("self", "VmHWM")
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
pub(crate) fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// Prints the one line the orchestrator parses: `RESULT k=v k=v ...`.
pub(crate) fn print_result(fields: &[(&str, f64)]) {
    let mut line = String::from("RESULT");
    for (k, v) in fields {
        line.push_str(&format!(" {k}={v}"));
    }
    println!("{line}");
}

/// Parses the last `RESULT` line of a worker's output.
pub(crate) fn parse_result(out: &str) -> Option<BTreeMap<String, f64>> {
    let line = out.lines().rev().find(|l| l.starts_with("RESULT"))?;
    let mut m = BTreeMap::new();
    for kv in line.split_whitespace().skip(1) {
        let (k, v) = kv.split_once('=')?;
        m.insert(k.to_string(), v.parse().ok()?);
    }
    Some(m)
}

/// Exits the process once stdin reaches EOF (the orchestrator closes it to stop a server), so
/// a server under `strace -c` or callgrind ends normally and writes its summary.
pub(crate) fn exit_on_stdin_eof() {
    std::thread::spawn(|| {
        use std::io::Read;
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => std::process::exit(0),
                Ok(_) => {}
            }
        }
    });
}
