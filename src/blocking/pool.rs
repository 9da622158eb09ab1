//! The process-wide pool of threads that run blocking jobs.
//!
//! One `Mutex` guards the queue and the counters; one `Condvar` wakes idle threads. A job
//! starts a new thread only when no thread is idle (tokio's policy): a burst of N jobs on an
//! idle pool starts at most N threads, and a steady trickle reuses the ones there are.
//! `notified` counts the idle threads already claimed by a queued job, so a spurious condvar
//! wake-up neither loses a job nor lets two jobs count on the same idle thread.
//!
//! Fork: the child has only the forking thread, but a copy of the parent's counters (and
//! perhaps of a lock some other parent thread held at that instant). So the pool is not reset
//! in place: each fork generation gets a pool of its own, and a child leaves the inherited one
//! untouched (leaked, with whatever jobs were queued in it).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sys::process::ForkLocal;

/// A queued job. Dropping it unrun must resolve its handle (as cancelled): see `task.rs`.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// tokio's default cap (its `max_blocking_threads`).
pub(crate) const DEFAULT_MAX_THREADS: usize = 512;
/// How long an idle thread waits for work before it exits (tokio's `KEEP_ALIVE`).
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// The environment variable that sets the cap, until a runtime `Builder` does.
pub(crate) const MAX_THREADS_ENV: &str = "GEODE_MAX_BLOCKING_THREADS";

pub(crate) struct Pool {
    state: Mutex<State>,
    wake: Condvar,
    cap: usize,
    keep_alive: Duration,
}

struct State {
    queue: VecDeque<Job>,
    /// Threads alive (running a job or idle).
    threads: usize,
    /// Threads waiting on the condvar and not yet claimed by a job.
    idle: usize,
    /// Idle threads woken for a job that have not yet woken up.
    notified: usize,
    /// For thread names: `geode-blocking-N`.
    spawned: u64,
    /// Most threads alive at once (tests check the cap with it).
    peak: usize,
}

static CURRENT: ForkLocal<Arc<Pool>> = ForkLocal::new();

/// This process's pool, created on first use (and anew in a fork child).
pub(crate) fn current() -> &'static Arc<Pool> {
    CURRENT.get(|| Arc::new(Pool::new(cap_from_env(), KEEP_ALIVE)))
}

/// `GEODE_MAX_BLOCKING_THREADS` if it is a positive integer, else 512.
fn cap_from_env() -> usize {
    std::env::var(MAX_THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_THREADS)
}

impl Pool {
    pub(crate) fn new(cap: usize, keep_alive: Duration) -> Pool {
        Pool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                spawned: 0,
                peak: 0,
            }),
            wake: Condvar::new(),
            cap: cap.max(1),
            keep_alive,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock and panics in them are caught, so a poisoned lock can only
        // come from a bug here; the counters are still consistent (each update is one step).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`, waking an idle thread or starting one if none is idle and the cap allows.
    pub(crate) fn submit(self: &Arc<Self>, job: Job) {
        let mut st = self.lock();
        st.queue.push_back(job);
        if st.idle > 0 {
            st.idle -= 1;
            st.notified += 1;
            drop(st);
            self.wake.notify_one();
            return;
        }
        if st.threads >= self.cap {
            return; // FIFO: the next thread to finish takes it.
        }
        st.threads += 1;
        st.peak = st.peak.max(st.threads);
        st.spawned += 1;
        let name = format!("geode-blocking-{}", st.spawned);
        drop(st);
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name(name)
            .spawn(move || pool.work());
        if spawned.is_err() {
            let mut st = self.lock();
            st.threads -= 1;
            if st.threads == 0 {
                // Nobody will ever run the queue: drop it, which resolves every handle in it
                // as cancelled instead of leaving it pending forever. With threads alive, the
                // job waits for one of them.
                let orphans = std::mem::take(&mut st.queue);
                drop(st);
                drop(orphans);
            }
        }
    }

    fn work(&self) {
        let mut st = self.lock();
        loop {
            while let Some(job) = st.queue.pop_front() {
                drop(st);
                job(); // Never unwinds: the job catches its closure's panic.
                st = self.lock();
            }
            st.idle += 1;
            let deadline = Instant::now() + self.keep_alive;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let (guard, _) = self
                    .wake
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner());
                st = guard;
                if st.notified > 0 {
                    // `submit` already took us off `idle`.
                    st.notified -= 1;
                    break;
                }
                if Instant::now() >= deadline {
                    st.idle -= 1;
                    if st.queue.is_empty() {
                        st.threads -= 1;
                        return;
                    }
                    break; // Work came in without a notification for us: take it.
                }
            }
        }
    }

    /// (threads alive, most threads ever alive at once).
    #[cfg(test)]
    pub(crate) fn thread_counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.threads, st.peak)
    }

    #[cfg(test)]
    pub(crate) fn idle_threads(&self) -> usize {
        self.lock().idle
    }
}
