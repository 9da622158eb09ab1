//! The pool's policy, on private pools with a small cap and a short keep-alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::pool::Pool;

const LIMIT: Duration = Duration::from_secs(30);

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn never_more_threads_than_the_cap() {
    let pool = Arc::new(Pool::new(2, Duration::from_secs(10)));
    let (tx, rx) = mpsc::channel();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    for i in 0..8 {
        let (tx, running, most) = (tx.clone(), running.clone(), most.clone());
        pool.submit(Box::new(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
            tx.send(i).unwrap();
        }));
    }
    let mut order = Vec::new();
    for _ in 0..8 {
        order.push(rx.recv_timeout(LIMIT).expect("a job never ran"));
    }
    assert!(most.load(Ordering::SeqCst) <= 2);
    assert_eq!(pool.thread_counts().1, 2, "peak threads");
    order.sort();
    assert_eq!(order, (0..8).collect::<Vec<_>>());
}

#[test]
fn with_one_thread_jobs_run_in_submission_order() {
    let pool = Arc::new(Pool::new(1, Duration::from_secs(10)));
    let (tx, rx) = mpsc::channel();
    for i in 0..16 {
        let tx = tx.clone();
        pool.submit(Box::new(move || tx.send(i).unwrap()));
    }
    let order: Vec<i32> = (0..16)
        .map(|_| rx.recv_timeout(LIMIT).expect("a job never ran"))
        .collect();
    assert_eq!(order, (0..16).collect::<Vec<_>>());
}

#[test]
fn an_idle_thread_is_reused_and_exits_after_the_keep_alive() {
    let pool = Arc::new(Pool::new(8, Duration::from_millis(200)));
    for _ in 0..3 {
        let (tx, rx) = mpsc::channel();
        pool.submit(Box::new(move || tx.send(()).unwrap()));
        rx.recv_timeout(LIMIT).expect("the job never ran");
        // The thread goes idle before it can be reused; wait for that, not for time.
        wait_until("the thread to go idle", || pool.idle_threads() == 1);
    }
    assert_eq!(
        pool.thread_counts(),
        (1, 1),
        "one thread did all three jobs"
    );
    wait_until("the idle thread to exit", || pool.thread_counts().0 == 0);
    // And the pool starts a new one for the next job.
    let (tx, rx) = mpsc::channel();
    pool.submit(Box::new(move || tx.send(()).unwrap()));
    rx.recv_timeout(LIMIT)
        .expect("the job after the exit never ran");
}

#[test]
fn a_burst_starts_one_thread_per_job_up_to_the_cap() {
    let pool = Arc::new(Pool::new(4, Duration::from_secs(10)));
    // Four jobs that all wait for each other: they finish only if four threads run at once.
    let barrier = Arc::new(Barrier::new(4));
    let (tx, rx) = mpsc::channel();
    for _ in 0..4 {
        let (barrier, tx) = (barrier.clone(), tx.clone());
        pool.submit(Box::new(move || {
            barrier.wait();
            tx.send(()).unwrap();
        }));
    }
    for _ in 0..4 {
        rx.recv_timeout(LIMIT)
            .expect("the jobs did not run side by side");
    }
    assert_eq!(pool.thread_counts().1, 4);
}

// ---------------------------------------------------------------------------------------------
// Unblock: write errors keep their bytes; read-ahead never moves the caller's position.
// ---------------------------------------------------------------------------------------------

use std::io::{self, SeekFrom};
use std::sync::Mutex;
use std::task::Poll;

use super::unblock::{Inner, MIN_CHUNK, Unblock};

/// A file in memory whose writes fail with ENOSPC while `full` is set, after taking `room`
/// bytes (a partial write, then the error).
#[derive(Default)]
struct FlakyDisk {
    state: Mutex<Disk>,
}

#[derive(Default)]
struct Disk {
    data: Vec<u8>,
    pos: usize,
    full: bool,
    room: usize,
    reads: usize,
}

impl Inner for FlakyDisk {
    const WRITE_BEHIND: usize = MIN_CHUNK;
    const FLUSHES: bool = false;
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut d = self.state.lock().unwrap();
        d.reads += 1;
        let n = buf.len().min(d.data.len().saturating_sub(d.pos));
        let pos = d.pos;
        buf[..n].copy_from_slice(&d.data[pos..pos + n]);
        d.pos += n;
        Ok(n)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut d = self.state.lock().unwrap();
        let n = if d.full {
            if d.room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(d.room);
            d.room -= n;
            n
        } else {
            buf.len()
        };
        let pos = d.pos;
        if d.data.len() < pos + n {
            d.data.resize(pos + n, 0);
        }
        d.data[pos..pos + n].copy_from_slice(&buf[..n]);
        d.pos += n;
        Ok(n)
    }
    fn seek(&self, pos: SeekFrom) -> io::Result<u64> {
        let mut d = self.state.lock().unwrap();
        let new = match pos {
            SeekFrom::Start(n) => n as i64,
            SeekFrom::Current(n) => d.pos as i64 + n,
            SeekFrom::End(n) => d.data.len() as i64 + n,
        };
        if new < 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        d.pos = new as usize;
        Ok(new as u64)
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
}

fn drive<T>(mut f: impl FnMut(&mut std::task::Context<'_>) -> Poll<T>) -> T {
    futures_lite::future::block_on(std::future::poll_fn(|cx| f(cx)))
}

#[test]
fn a_failed_write_keeps_its_bytes_and_the_flush_after_retries_them() {
    let mut io = Unblock::new(FlakyDisk::default());
    {
        let mut d = io.inner().state.lock().unwrap();
        d.full = true;
        d.room = 10;
    }
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    assert_eq!(drive(|cx| io.poll_write(cx, &data)).unwrap(), 1000);
    // The disk takes 10 bytes, then ENOSPC: reported, twice, and nothing dropped.
    let e = drive(|cx| io.poll_flush(cx)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    let e = drive(|cx| io.poll_flush(cx)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "the retry fails too");
    assert_eq!(io.inner().state.lock().unwrap().data, &data[..10]);
    // Space comes back: the next flush writes the rest, in order.
    io.inner().state.lock().unwrap().full = false;
    drive(|cx| io.poll_flush(cx)).unwrap();
    assert_eq!(io.inner().state.lock().unwrap().data, data);
    // And a write error surfaces at the next write too.
    {
        let mut d = io.inner().state.lock().unwrap();
        d.full = true;
        d.room = 0;
    }
    let big = vec![7u8; MIN_CHUNK]; // starts a job by itself
    assert_eq!(drive(|cx| io.poll_write(cx, &big)).unwrap(), MIN_CHUNK);
    let e = drive(|cx| io.poll_write(cx, b"x")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
}

#[test]
fn small_reads_cost_one_job_per_chunk_and_a_seek_counts_from_the_caller() {
    let disk = FlakyDisk::default();
    disk.state.lock().unwrap().data = (0..(4 * MIN_CHUNK) as u32).map(|i| i as u8).collect();
    let mut io = Unblock::new(disk);
    let mut got = Vec::new();
    let mut buf = [0u8; 100];
    while got.len() < MIN_CHUNK {
        let n = drive(|cx| io.poll_read(cx, &mut buf)).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    // 656 reads of 100 bytes, one job for the 64 KiB.
    assert_eq!(io.inner().state.lock().unwrap().reads, 1);
    assert_eq!(
        drive(|cx| io.poll_seek(cx, SeekFrom::Current(0))).unwrap(),
        got.len() as u64
    );
    // A second sequential refill after the seek starts again at 64 KiB; a streak doubles it.
    let mut total = got.len();
    while total < 4 * MIN_CHUNK {
        let n = drive(|cx| io.poll_read(cx, &mut buf)).unwrap();
        assert_eq!(
            &buf[..n],
            &io.inner().state.lock().unwrap().data[total..total + n]
        );
        total += n;
    }
    // After the seek: 64 KiB, then (a streak) 128 KiB, which is the rest.
    assert_eq!(io.inner().state.lock().unwrap().reads, 3);
    assert_eq!(drive(|cx| io.poll_read(cx, &mut buf)).unwrap(), 0);
    assert_eq!(
        io.inner().state.lock().unwrap().reads,
        4,
        "EOF is one more job"
    );
}
