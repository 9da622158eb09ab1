//! `geode::spawn_blocking`: from geode's executor, from a foreign one, outside any runtime;
//! panics, detaching, a thousand jobs at once, the thread cap, fork.
//!
//! Tests that need process-wide settings (the cap's environment variable, fork) run this
//! binary again as a child process with only that test (`util::run_child_test`). Under
//! `.ci/valgrind.sh` such a child runs natively (valgrind does not trace children), so nothing
//! here is skipped there.

mod util;
use util::{bounded, child_test_command, in_child, run_child_test};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use geode::spawn_blocking;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_job_runs_on_another_thread_and_returns_its_value() {
    let me = std::thread::current().id();
    let (value, thread) = geode::block_on(bounded(30, "a job", async {
        spawn_blocking(move || (6 * 7, std::thread::current().id()))
            .await
            .unwrap()
    }));
    assert_eq!(value, 42);
    assert_ne!(thread, me);
}

#[test]
fn the_reactor_keeps_running_while_a_job_blocks() {
    geode::block_on(bounded(30, "timer beside a job", async {
        let (release, wait) = mpsc::channel::<()>();
        let job = spawn_blocking(move || wait.recv_timeout(LIMIT).is_ok());
        // The thread is free: a timer fires while the job is blocked.
        geode::time::sleep(Duration::from_millis(1)).await;
        assert!(!job.is_finished());
        release.send(()).unwrap();
        assert!(
            job.await.unwrap(),
            "the job timed out waiting for its release"
        );
    }));
}

#[test]
fn a_foreign_executor_awaits_a_handle() {
    let handle = spawn_blocking(|| "from the pool".to_string());
    let got = futures_lite::future::block_on(handle).unwrap();
    assert_eq!(got, "from the pool");
}

#[test]
fn a_plain_thread_outside_any_runtime_can_spawn_and_await() {
    let t = std::thread::spawn(|| {
        let handles: Vec<_> = (0..4u64).map(|i| spawn_blocking(move || i * i)).collect();
        handles
            .into_iter()
            .map(|h| futures_lite::future::block_on(h).unwrap())
            .sum::<u64>()
    });
    assert_eq!(t.join().unwrap(), 1 + 4 + 9);
}

#[test]
fn a_handle_can_move_to_another_thread() {
    let handle = spawn_blocking(|| 5);
    let t = std::thread::spawn(move || futures_lite::future::block_on(handle).unwrap());
    assert_eq!(t.join().unwrap(), 5);
}

#[test]
fn a_panic_is_a_join_error_and_the_pool_stays_usable() {
    geode::block_on(bounded(30, "panicking job", async {
        let err = spawn_blocking(|| -> u32 { panic!("job exploded") })
            .await
            .unwrap_err();
        assert!(err.is_panic() && !err.is_cancelled(), "{err:?}");
        assert!(err.to_string().contains("job exploded"), "{err}");
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"job exploded"));
        // The pool still runs jobs, many of them.
        for i in 0..10 {
            assert_eq!(spawn_blocking(move || i).await.unwrap(), i);
        }
        // And a JoinError converts into an io::Error for `?` in io code.
        let io: std::io::Error = spawn_blocking(|| panic!("again")).await.unwrap_err().into();
        assert_eq!(io.kind(), std::io::ErrorKind::Other);
    }));
}

/// Counts its drops, to see where and whether a job's result is dropped.
struct Tally(Arc<AtomicUsize>);

impl Drop for Tally {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_handle_detaches_the_job_which_still_runs_to_the_end() {
    let (release, wait) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let drops = Arc::new(AtomicUsize::new(0));
    let tally = Tally(drops.clone());
    let handle = spawn_blocking(move || {
        wait.recv_timeout(LIMIT).expect("never released");
        done_tx.send(()).unwrap();
        tally // the result nobody will take
    });
    drop(handle);
    release.send(()).unwrap();
    done_rx
        .recv_timeout(LIMIT)
        .expect("the detached job did not run to the end");
    // The result is dropped once the job lets go of it (right after the send above).
    let start = std::time::Instant::now();
    while drops.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < LIMIT,
            "the detached result was never dropped"
        );
        std::thread::yield_now();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_result_taken_is_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let tally = Tally(drops.clone());
    let got = futures_lite::future::block_on(spawn_blocking(move || tally)).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(got);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_thousand_concurrent_jobs() {
    // Up to 512 threads with the default cap is more than valgrind allows (500); run it in a
    // child with a cap of 32, which also makes most jobs wait in the queue.
    let mut cmd = child_test_command("child_a_thousand_concurrent_jobs");
    cmd.env("GEODE_TEST_CHILD", "1")
        .env("GEODE_MAX_BLOCKING_THREADS", "32");
    run_child_test(cmd, "child_a_thousand_concurrent_jobs", 60);
}

#[test]
#[ignore = "run by a_thousand_concurrent_jobs in a child process"]
fn child_a_thousand_concurrent_jobs() {
    if !in_child() {
        return;
    }
    let sum = geode::block_on(bounded(30, "1,000 jobs", async {
        let handles: Vec<_> = (0..1000u64)
            .map(|i| {
                spawn_blocking(move || {
                    std::thread::sleep(Duration::from_micros(100));
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    }));
    assert_eq!(sum, 999 * 1000 / 2);
    assert!(
        pool_threads() <= 32,
        "{} pool threads for a cap of 32",
        pool_threads()
    );
}

/// Threads of this process named by the pool.
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("geode-blocking"))
        .count()
}

#[test]
fn the_environment_variable_caps_the_threads() {
    let mut cmd = child_test_command("child_the_cap_holds");
    cmd.env("GEODE_TEST_CHILD", "1")
        .env("GEODE_MAX_BLOCKING_THREADS", "3");
    run_child_test(cmd, "child_the_cap_holds", 60);
}

#[test]
#[ignore = "run by the_environment_variable_caps_the_threads in a child process"]
fn child_the_cap_holds() {
    if !in_child() {
        return;
    }
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    // Three jobs that need each other: they can only finish if three threads run at once.
    let barrier = Arc::new(Barrier::new(3));
    geode::block_on(bounded(30, "capped jobs", async {
        let mut handles = Vec::new();
        for i in 0..30 {
            let (running, most, barrier) = (running.clone(), most.clone(), barrier.clone());
            handles.push(spawn_blocking(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if i < 3 {
                    barrier.wait();
                }
                std::thread::sleep(Duration::from_millis(1));
                running.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
    }));
    assert_eq!(
        most.load(Ordering::SeqCst),
        3,
        "the cap is 3 and the first 3 met"
    );
    assert!(pool_threads() <= 3, "{} threads", pool_threads());
}

#[test]
fn a_fork_child_gets_a_fresh_pool() {
    let mut cmd = child_test_command("child_fork_with_a_used_pool");
    cmd.env("GEODE_TEST_CHILD", "1");
    run_child_test(cmd, "child_fork_with_a_used_pool", 60);
}

#[test]
#[ignore = "run by a_fork_child_gets_a_fresh_pool in a child process (it forks)"]
fn child_fork_with_a_used_pool() {
    if !in_child() {
        return;
    }
    // Leave the parent's pool with idle threads and one thread busy for good: copied into the
    // child, those counters would make it wait on threads that do not exist there.
    let (_keep_busy, busy) = mpsc::channel::<()>();
    let stuck = spawn_blocking(move || {
        let _ = busy.recv();
    });
    futures_lite::future::block_on(async {
        let handles: Vec<_> = (0..4).map(|i| spawn_blocking(move || i)).collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    // SAFETY: the child only runs geode's pool (threads, a mutex, a condvar, malloc) and then
    // `_exit`s; this process has no other test threads (the child test runs alone).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(|| {
            geode::block_on(async {
                let job = spawn_blocking(|| 7);
                match geode::time::timeout(Duration::from_secs(10), job).await {
                    Ok(Ok(7)) => 0,
                    Ok(_) => 2,
                    Err(_) => 3, // hung: the child used the parent's pool
                }
            })
        })
        .unwrap_or(4);
        // SAFETY: _exit ends the child without running the parent's copied destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child; status is a valid out pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "fork child failed: status {status:#x} (exit 3: its job never ran)"
    );
    // The parent's pool is untouched.
    assert_eq!(
        futures_lite::future::block_on(spawn_blocking(|| 1)).unwrap(),
        1
    );
    drop(stuck);
}
