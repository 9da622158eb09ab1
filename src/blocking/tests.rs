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
