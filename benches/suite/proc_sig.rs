//! `suite micro <peer> <proc_spawn|proc_read|signal_latency> [--n N]`: child processes and
//! signals, geode beside `tokio::process`/`tokio::signal` (current-thread runtime) and smol's
//! `async-process`/`async-signal` (inside `async_io::block_on`); `proc_spawn` also runs
//! `std::process` on a plain thread (peer `std`).
//!
//! - `proc_spawn`: N times spawn `/bin/true` and wait for it, one at a time: µs per child;
//! - `proc_read`: read 256 MiB from `head -c 268435456 /dev/zero` through a piped stdout in
//!   64 KiB reads: MiB/s;
//! - `signal_latency`: N rounds of `kill(getpid(), SIGUSR1)` and the listener's `recv`
//!   returning (the listener created once, up front): p50/p99 µs.

use std::io::{self, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{percentile, print_result};

const TRUE: &str = "/bin/true";
const READ_BYTES: u64 = 256 << 20;

// The peers' loops are the same but for the API they call: each macro is a loop with the
// peer's call pasted in, so every peer runs exactly the code it would written out by hand.

/// Runs `$status` (a child's exit status: `/bin/true` spawned and waited for) `$n` times.
macro_rules! run_true {
    ($n:expr, $status:expr) => {{
        for _ in 0..$n {
            let status = $status;
            assert!(status.success());
        }
        Ok::<(), io::Error>(())
    }};
}

/// The bytes `$read` (one read into the buffer, giving its count) yields until it gives 0.
macro_rules! count_until_eof {
    ($read:expr) => {{
        let mut total = 0u64;
        loop {
            match $read {
                0 => break,
                n => total += n as u64,
            }
        }
        total
    }};
}

/// `$n` latencies in ns of `raise_usr1()` until `$received` (the listener's next delivery,
/// `true` if there was one).
macro_rules! signal_latencies {
    ($n:expr, $received:expr) => {{
        let mut lat = Vec::with_capacity($n);
        for _ in 0..$n {
            let t = Instant::now();
            raise_usr1();
            assert!($received);
            lat.push(t.elapsed().as_nanos() as u64);
        }
        lat
    }};
}

pub(crate) fn proc_spawn(peer: &str, n: usize) -> io::Result<()> {
    let start = Instant::now();
    match peer {
        "geode" => geode::block_on(async {
            run_true!(n, geode::process::Command::new(TRUE).status().await?)
        })?,
        "tokio" => crate::micro::tokio_rt()
            .block_on(async { run_true!(n, tokio::process::Command::new(TRUE).status().await?) })?,
        "smol" => async_io::block_on(async {
            run_true!(n, async_process::Command::new(TRUE).status().await?)
        })?,
        "std" => {
            std::thread::spawn(move || run_true!(n, std::process::Command::new(TRUE).status()?))
                .join()
                .map_err(|_| io::Error::other("the std thread panicked"))??
        }
        p => return Err(io::Error::other(format!("proc_spawn: unknown peer {p}"))),
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    print_result(&[("us_per_child", us), ("n", n as f64)]);
    Ok(())
}

pub(crate) fn proc_read(peer: &str) -> io::Result<()> {
    let arg = READ_BYTES.to_string();
    let mut buf = vec![0u8; 64 << 10];
    let start = Instant::now();
    let total = match peer {
        "geode" => geode::block_on(async {
            let mut child = geode::process::Command::new("head")
                .args(["-c", &arg, "/dev/zero"])
                .stdout(Stdio::piped())
                .spawn()?;
            let mut out = child.stdout.take().expect("piped");
            let total = count_until_eof!(out.read(&mut buf).await?);
            child.wait().await?;
            Ok::<u64, io::Error>(total)
        })?,
        "tokio" => crate::micro::tokio_rt().block_on(async {
            use tokio::io::AsyncReadExt;
            let mut child = tokio::process::Command::new("head")
                .args(["-c", &arg, "/dev/zero"])
                .stdout(Stdio::piped())
                .spawn()?;
            let mut out = child.stdout.take().expect("piped");
            let total = count_until_eof!(out.read(&mut buf).await?);
            child.wait().await?;
            Ok::<u64, io::Error>(total)
        })?,
        "smol" => async_io::block_on(async {
            use futures_lite::AsyncReadExt;
            let mut child = async_process::Command::new("head")
                .args(["-c", &arg, "/dev/zero"])
                .stdout(async_process::Stdio::piped())
                .spawn()?;
            let mut out = child.stdout.take().expect("piped");
            let total = count_until_eof!(out.read(&mut buf).await?);
            child.status().await?;
            Ok::<u64, io::Error>(total)
        })?,
        "std" => {
            let mut child = std::process::Command::new("head")
                .args(["-c", &arg, "/dev/zero"])
                .stdout(Stdio::piped())
                .spawn()?;
            let mut out = child.stdout.take().expect("piped");
            let total = count_until_eof!(out.read(&mut buf)?);
            child.wait()?;
            total
        }
        p => return Err(io::Error::other(format!("proc_read: unknown peer {p}"))),
    };
    assert_eq!(total, READ_BYTES, "short read from head");
    let mib_s = total as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64();
    print_result(&[("mib_per_s", mib_s)]);
    Ok(())
}

fn raise_usr1() {
    // SAFETY: kill and getpid take no pointers.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
}

pub(crate) fn signal_latency(peer: &str, n: usize) -> io::Result<()> {
    let mut lat = match peer {
        "geode" => geode::block_on(async {
            let mut sig = geode::signal::signal(geode::signal::SignalKind::user_defined1())?;
            Ok::<_, io::Error>(signal_latencies!(n, sig.recv().await.is_some()))
        })?,
        "tokio" => crate::micro::tokio_rt().block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut sig = signal(SignalKind::user_defined1())?;
            Ok::<_, io::Error>(signal_latencies!(n, sig.recv().await.is_some()))
        })?,
        "smol" => async_io::block_on(async {
            use futures_lite::StreamExt;
            let mut sig = async_signal::Signals::new([async_signal::Signal::Usr1])?;
            Ok::<_, io::Error>(signal_latencies!(n, sig.next().await.is_some()))
        })?,
        p => {
            return Err(io::Error::other(format!(
                "signal_latency: unknown peer {p}"
            )));
        }
    };
    lat.sort_unstable();
    let us = |p: f64| Duration::from_nanos(percentile(&lat, p)).as_secs_f64() * 1e6;
    print_result(&[("p50_us", us(0.5)), ("p99_us", us(0.99)), ("n", n as f64)]);
    Ok(())
}
