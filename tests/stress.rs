//! Cross-thread wake stress: 4 threads wake tasks of one runtime, in total 1,000,000 times
//! (`GEODE_STRESS=full`; 100,000 in the default quick mode CI runs), while the runtime also
//! runs a socketpair ping-pong and a ticking timer.
//!
//! Every wake is a ticket handed over through a mutex: a task registers its waker in its slot
//! and returns `Pending`; a remote thread takes that waker out of the slot (so it can wake it
//! only once), adds a ticket and wakes it; the task, polled, must find exactly one new ticket,
//! count it, and register again. So wakes and tickets correspond one to one, and a lost wake
//! leaves a task waiting for a ticket that was already given and a remote thread waiting for
//! a registration that never comes: a deadlock, caught by the hang guard (the runtime runs on
//! its own thread; the test fails if it has not finished within the budget), which reports
//! how far it got. At the end: tickets sent == tickets observed == the target, and the
//! ping-pong made progress throughout.
//!
//! Then a tenth as many again with nothing else running, so that the runtime is parked in
//! `epoll_wait` for (nearly) every wake and each must get through its eventfd.
//!
//! `GEODE_STRESS_WAKES=N` sets the total directly (valgrind runs use a small one).

use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use geode::net::UnixStream;
use geode::time::sleep;
use geode::{block_on, spawn};

/// Threads waking the runtime's tasks.
const THREADS: usize = 4;
/// Tasks per remote thread: several, so a thread's wakes overlap and coalesce in the
/// runtime's injection queue.
const TASKS_PER_THREAD: usize = 8;

fn total_wakes() -> u64 {
    if let Ok(v) = std::env::var("GEODE_STRESS_WAKES") {
        return v.parse().expect("GEODE_STRESS_WAKES: a number");
    }
    if std::env::var("GEODE_STRESS").is_ok_and(|v| v == "full") {
        1_000_000
    } else {
        100_000
    }
}

struct Slot {
    waker: Option<Waker>,
    tickets: u64,
}

struct LaneState {
    slots: Vec<Slot>,
    /// Slots whose task has registered a waker, waiting for a ticket.
    ready: Vec<usize>,
}

/// One remote thread and the tasks it wakes.
struct Lane {
    state: Mutex<LaneState>,
    registered: Condvar,
}

/// What the hang guard reads while the test runs.
#[derive(Default)]
struct Progress {
    sent: AtomicU64,
    observed: AtomicU64,
    round_trips: AtomicU64,
    /// Set when the test ends either way: remote threads stop waiting.
    stop: AtomicBool,
}

fn remote(lane: Arc<Lane>, wakes: u64, progress: Arc<Progress>) {
    for _ in 0..wakes {
        let waker = {
            let mut st = lane.state.lock().unwrap();
            let i = loop {
                if let Some(i) = st.ready.pop() {
                    break i;
                }
                if progress.stop.load(Ordering::Acquire) {
                    return;
                }
                // A timed wait only so that `stop` is seen; a registration notifies.
                st = lane
                    .registered
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap()
                    .0;
            };
            let slot = &mut st.slots[i];
            slot.tickets += 1;
            slot.waker.take().expect("a ready slot holds a waker")
        };
        // Woken outside the lock, from this thread: the runtime gets it through its injection
        // queue and its eventfd.
        waker.wake();
        progress.sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// A runtime task: waits for `quota` tickets in `slot` of `lane`, one wake each.
async fn waiter(lane: Arc<Lane>, slot: usize, quota: u64, progress: Arc<Progress>) -> u64 {
    let mut seen = 0;
    while seen < quota {
        poll_fn(|cx| {
            let mut st = lane.state.lock().unwrap();
            let tickets = st.slots[slot].tickets;
            if tickets > seen {
                assert_eq!(
                    tickets,
                    seen + 1,
                    "a ticket arrived without its own wake (slot {slot})"
                );
                seen = tickets;
                progress.observed.fetch_add(1, Ordering::Relaxed);
                return Poll::Ready(());
            }
            let s = &mut st.slots[slot];
            match &s.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                Some(_) => s.waker = Some(cx.waker().clone()),
                None => {
                    s.waker = Some(cx.waker().clone());
                    st.ready.push(slot);
                    lane.registered.notify_one();
                }
            }
            Poll::Pending
        })
        .await;
    }
    seen
}

/// Ping-pong over a socketpair until `stop`: 64 bytes each way per round trip.
async fn ping_pong(stop: Rc<std::cell::Cell<bool>>, progress: Arc<Progress>) -> u64 {
    let (a, b) = UnixStream::pair().unwrap();
    let echo = spawn(async move {
        let mut buf = [0; 64];
        loop {
            match b.read_exact(&mut buf).await {
                Ok(()) => b.write_all(&buf).await.unwrap(),
                Err(_) => return,
            }
        }
    });
    let mut n = 0u64;
    let mut buf = [0; 64];
    while !stop.get() {
        let msg = [n as u8; 64];
        a.write_all(&msg).await.unwrap();
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, msg, "ping-pong data");
        n += 1;
        progress.round_trips.fetch_add(1, Ordering::Relaxed);
    }
    drop(a);
    echo.await.unwrap();
    n
}

struct Outcome {
    observed: u64,
    round_trips: u64,
    ticks: u64,
    elapsed: Duration,
}

/// `total` wakes; with `io`, while the ping-pong and the ticker run.
fn run(total: u64, io: bool, progress: Arc<Progress>) -> Outcome {
    let tasks = (THREADS * TASKS_PER_THREAD) as u64;
    assert!(
        total.is_multiple_of(tasks),
        "the total must divide into {tasks} tasks"
    );
    let quota = total / tasks;
    let lanes: Vec<Arc<Lane>> = (0..THREADS)
        .map(|_| {
            Arc::new(Lane {
                state: Mutex::new(LaneState {
                    slots: (0..TASKS_PER_THREAD)
                        .map(|_| Slot {
                            waker: None,
                            tickets: 0,
                        })
                        .collect(),
                    ready: Vec::new(),
                }),
                registered: Condvar::new(),
            })
        })
        .collect();
    let start = Instant::now();
    let remotes: Vec<_> = lanes
        .iter()
        .map(|lane| {
            let (lane, progress) = (lane.clone(), progress.clone());
            let wakes = quota * TASKS_PER_THREAD as u64;
            std::thread::spawn(move || remote(lane, wakes, progress))
        })
        .collect();
    let (observed, round_trips, ticks) = block_on(async {
        let stop = Rc::new(std::cell::Cell::new(!io));
        let io = spawn(ping_pong(stop.clone(), progress.clone()));
        let ticker = {
            let stop = stop.clone();
            spawn(async move {
                let mut ticks = 0u64;
                while !stop.get() {
                    sleep(Duration::from_millis(1)).await;
                    ticks += 1;
                }
                ticks
            })
        };
        let waiters: Vec<_> = lanes
            .iter()
            .flat_map(|lane| {
                (0..TASKS_PER_THREAD)
                    .map(|i| spawn(waiter(lane.clone(), i, quota, progress.clone())))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut observed = 0;
        for w in waiters {
            observed += w.await.expect("waiter task");
        }
        stop.set(true);
        let round_trips = io.await.expect("ping-pong task");
        let ticks = ticker.await.expect("ticker task");
        (observed, round_trips, ticks)
    });
    for r in remotes {
        r.join().expect("remote thread");
    }
    Outcome {
        observed,
        round_trips,
        ticks,
        elapsed: start.elapsed(),
    }
}

#[test]
fn four_threads_wake_one_runtime_and_no_wake_is_lost() {
    let total = total_wakes();
    // Then a tenth as many with nothing else running: the runtime parks in epoll before
    // (nearly) every wake, so each must get through the eventfd, not ride on other activity.
    let tasks = (THREADS * TASKS_PER_THREAD) as u64;
    let quiet_total = (total / 10).div_ceil(tasks) * tasks;
    let progress = Arc::new(Progress::default());
    let budget = Duration::from_secs(if total > 200_000 { 600 } else { 60 });
    let (tx, rx) = std::sync::mpsc::channel();
    let p = progress.clone();
    std::thread::Builder::new()
        .name("runtime".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let busy = run(total, true, p.clone());
                let quiet = run(quiet_total, false, p.clone());
                (busy, quiet)
            }));
            p.stop.store(true, Ordering::Release);
            let _ = tx.send(r);
        })
        .unwrap();
    let (outcome, quiet) = match rx.recv_timeout(budget) {
        Ok(Ok(o)) => o,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => {
            progress.stop.store(true, Ordering::Release);
            panic!(
                "deadlock or lost wake: not done within {budget:?}: {} of {} wakes sent, {} \
                 observed, {} ping-pong round trips",
                progress.sent.load(Ordering::Relaxed),
                total + quiet_total,
                progress.observed.load(Ordering::Relaxed),
                progress.round_trips.load(Ordering::Relaxed),
            )
        }
    };
    let sent = progress.sent.load(Ordering::Relaxed);
    eprintln!(
        "stress: {} wakes from {THREADS} threads ({} tasks) in {:.2} s ({:.0} wakes/s); {} \
         ping-pong round trips and {} timer ticks meanwhile",
        outcome.observed,
        THREADS * TASKS_PER_THREAD,
        outcome.elapsed.as_secs_f64(),
        outcome.observed as f64 / outcome.elapsed.as_secs_f64(),
        outcome.round_trips,
        outcome.ticks,
    );
    eprintln!(
        "stress, quiet runtime: {} wakes in {:.2} s ({:.0} wakes/s)",
        quiet.observed,
        quiet.elapsed.as_secs_f64(),
        quiet.observed as f64 / quiet.elapsed.as_secs_f64(),
    );
    assert_eq!(
        sent,
        total + quiet_total,
        "every remote thread sent its wakes"
    );
    assert_eq!(outcome.observed, total, "every wake observed by its task");
    assert_eq!(
        quiet.observed, quiet_total,
        "every wake observed by its task"
    );
    assert_eq!(quiet.round_trips, 0);
    assert_eq!(
        progress.observed.load(Ordering::Relaxed),
        total + quiet_total
    );
    assert!(
        outcome.round_trips > 0,
        "the socketpair ping-pong ran while the wakes came in"
    );
}
