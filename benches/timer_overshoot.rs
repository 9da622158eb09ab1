//! How late does `sleep(100 µs)` wake up? geode (epoll_pwait2, nanosecond timeouts) beside
//! tokio's current-thread runtime (a 1 ms timer wheel), interleaved in one run.
//!
//! Run: `cargo bench --bench timer_overshoot` (add `-- --quick` for fewer samples). Prints the
//! p50/p99 overshoot (wake time minus requested time) of each runtime and their ratio. No
//! assertion: the numbers are for docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

const REQUEST: Duration = Duration::from_micros(100);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn geode_round(samples: usize) -> Vec<Duration> {
    geode::block_on(async {
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let start = Instant::now();
            geode::time::sleep(REQUEST).await;
            out.push(start.elapsed().saturating_sub(REQUEST));
        }
        out
    })
}

fn tokio_round(rt: &tokio::runtime::Runtime, samples: usize) -> Vec<Duration> {
    rt.block_on(async {
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let start = Instant::now();
            tokio::time::sleep(REQUEST).await;
            out.push(start.elapsed().saturating_sub(REQUEST));
        }
        out
    })
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, samples) = if quick { (3, 200) } else { (5, 2000) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    let (mut g, mut t) = (Vec::new(), Vec::new());
    // Interleaved: A B A B ..., so drift in machine load hits both alike.
    for _ in 0..rounds {
        g.extend(geode_round(samples));
        t.extend(tokio_round(&rt, samples));
    }
    g.sort();
    t.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("sleep({REQUEST:?}) overshoot, {} samples each", g.len());
    println!("{:<8} {:>10} {:>10}", "runtime", "p50 (µs)", "p99 (µs)");
    for (name, v) in [("geode", &g), ("tokio", &t)] {
        println!(
            "{:<8} {:>10.1} {:>10.1}",
            name,
            us(percentile(v, 0.50)),
            us(percentile(v, 0.99))
        );
    }
    println!(
        "tokio/geode p50 ratio: {:.1}x",
        us(percentile(&t, 0.50)) / us(percentile(&g, 0.50)).max(0.001)
    );
}
