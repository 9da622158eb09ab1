//! Timers through the public API: `sleep`, `sleep_until`, `Sleep::reset`, `timeout`,
//! `timeout_at`, the reactor's timer counters, and the `epoll_wait` millisecond fallback.

mod util;

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::time::Duration;

use geode::reactor::stats;
use geode::time::{Elapsed, Instant, sleep, sleep_until, timeout, timeout_at};
use geode::{block_on, run, spawn};
use tokio_test::{assert_pending, assert_ready, assert_ready_eq, assert_ready_err};
use util::{bounded, wait_until_parked};

const MS: Duration = Duration::from_millis(1);

fn pending_timers() -> u64 {
    stats().timers_pending
}

/// Timers pending, read inside a `bounded` future once its own hang-guard timer is armed (at
/// the first poll that returned `Pending`).
async fn baseline() -> u64 {
    geode::yield_now().await;
    pending_timers()
}

// ---------------------------------------------------------------------------------------------
// sleep, sleep_until
// ---------------------------------------------------------------------------------------------

#[test]
fn sleep_lasts_at_least_its_duration() {
    block_on(bounded(5, "sleep 20 ms", async {
        let start = Instant::now();
        let s = sleep(20 * MS);
        assert!(s.deadline() >= start + 20 * MS);
        assert!(s.deadline() <= Instant::now() + 20 * MS);
        s.await;
        assert!(
            start.elapsed() >= 20 * MS,
            "woke early: {:?}",
            start.elapsed()
        );
    }));
}

/// A deterministic shuffle (Fisher-Yates over an LCG), so the test needs no rand crate.
fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((seed >> 33) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

#[test]
fn sleeps_complete_in_deadline_order() {
    // 100 sleeps of 20 + 2*i ms, created in shuffled order, each awaited by its own task.
    // A sleep whose deadline had already passed at its first poll (a stalled machine) completes
    // at that poll, in spawn order; order is asserted among those that had to wait for their
    // timer, which is all of them unless the machine stalls for 20 ms.
    let log = Rc::new(RefCell::new(Vec::new()));
    let order = shuffled(100, 0x5eed);
    assert_ne!(order, (0..100).collect::<Vec<_>>());
    let start = Instant::now();
    block_on(bounded(5, "100 sleeps", {
        let log = log.clone();
        async move {
            let handles: Vec<_> = order
                .iter()
                .map(|&i| {
                    let s = sleep(Duration::from_millis(20 + 2 * i as u64));
                    let log = log.clone();
                    spawn(async move {
                        let deadline = s.deadline();
                        let mut s = pin!(s);
                        let mut first_poll = None;
                        poll_fn(|cx| {
                            let r = s.as_mut().poll(cx);
                            first_poll.get_or_insert(r.is_ready());
                            r
                        })
                        .await;
                        let now = Instant::now();
                        assert!(now >= deadline, "sleep {i} completed early");
                        log.borrow_mut()
                            .push((deadline, i, first_poll == Some(true)));
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        }
    }));
    assert!(start.elapsed() >= Duration::from_millis(20 + 2 * 99));
    let log = log.borrow();
    assert_eq!(log.len(), 100);
    let mut all: Vec<usize> = log.iter().map(|e| e.1).collect();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    let timed: Vec<_> = log.iter().filter(|e| !e.2).collect();
    assert!(
        !timed.is_empty(),
        "every sleep was already due at its first poll"
    );
    for w in timed.windows(2) {
        assert!(
            w[0].0 <= w[1].0,
            "sleep {} (deadline {:?}) completed before sleep {} (deadline {:?})",
            w[0].1,
            w[0].0,
            w[1].1,
            w[1].0
        );
    }
}

#[test]
fn zero_sleep_is_ready_at_first_poll() {
    let before = pending_timers();
    let mut s = tokio_test::task::spawn(sleep(Duration::ZERO));
    assert_ready!(s.poll());
    assert_eq!(pending_timers(), before, "a zero sleep arms no timer");
    assert!(s.is_elapsed());
    // And inside a runtime.
    block_on(sleep(Duration::ZERO));
}

#[test]
fn sleep_until_a_past_deadline_is_ready_at_first_poll() {
    let before = pending_timers();
    let past = Instant::now() - 10 * MS;
    let mut s = tokio_test::task::spawn(sleep_until(past));
    assert_ready!(s.poll());
    // The earliest representable instant: saturating, no panic.
    let mut s = tokio_test::task::spawn(sleep_until(Instant::now() - Duration::MAX));
    assert_ready!(s.poll());
    assert_eq!(pending_timers(), before);
    block_on(bounded(5, "past deadline", async {
        let start = Instant::now();
        sleep_until(start).await;
        sleep_until(past).await;
    }));
}

#[test]
fn sleep_max_is_pending_far_ahead_and_dropping_it_disarms_it() {
    let before = pending_timers();
    let mut s = tokio_test::task::spawn(sleep(Duration::MAX));
    assert_pending!(s.poll());
    assert_pending!(s.poll());
    assert_eq!(pending_timers(), before + 1);
    assert!(s.deadline() > Instant::now() + Duration::from_secs(86_400 * 365 * 10));
    assert!(!s.is_elapsed());
    // A turn of the reactor with that timer armed neither fires it nor fails.
    geode::reactor::park(Some(Duration::ZERO)).unwrap();
    assert_pending!(s.poll());
    drop(s);
    assert_eq!(pending_timers(), before);
    // sleep_until of a saturated instant as well.
    let mut s = tokio_test::task::spawn(sleep_until(Instant::now() + Duration::MAX));
    assert_pending!(s.poll());
    drop(s);
    assert_eq!(pending_timers(), before);
}

#[test]
fn timeout_max_never_limits() {
    let before = pending_timers();
    block_on(bounded(5, "timeout MAX", async {
        assert_eq!(timeout(Duration::MAX, async { 5 }).await, Ok(5));
        let start = Instant::now();
        assert_eq!(timeout(Duration::MAX, sleep(10 * MS)).await, Ok(()));
        assert!(start.elapsed() >= 10 * MS);
        assert_eq!(
            timeout_at(Instant::now() + Duration::MAX, sleep(MS)).await,
            Ok(())
        );
    }));
    assert_eq!(pending_timers(), before);
}

/// Parks the reactor with a `Duration::MAX` sleep as its only timer (the wait's timeout is then
/// ~30 years, clamped for the kernel), and ends the park from another thread.
fn park_with_only_a_max_timer() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        block_on(async move {
            let mut far = pin!(sleep(Duration::MAX));
            assert!(
                poll_fn(|cx| Poll::Ready(far.as_mut().poll(cx)))
                    .await
                    .is_pending()
            );
            assert_eq!(pending_timers(), 1);
            let woken = Arc::new(AtomicBool::new(false));
            let (wtx, wrx) = mpsc::channel::<Waker>();
            let w2 = woken.clone();
            let waker_thread = std::thread::spawn(move || {
                let w = wrx.recv().unwrap();
                wait_until_parked(tid);
                w2.store(true, Ordering::SeqCst);
                w.wake();
            });
            poll_fn(|cx| {
                if woken.load(Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                let _ = wtx.send(cx.waker().clone());
                Poll::Pending
            })
            .await;
            waker_thread.join().unwrap();
            assert!(
                poll_fn(|cx| Poll::Ready(far.as_mut().poll(cx)))
                    .await
                    .is_pending()
            );
        });
        let _ = tx.send(pending_timers());
    });
    // A hang guard: roomy under valgrind, whose threads and /proc polling are much slower.
    let guard = Duration::from_secs(if util::under_valgrind() { 60 } else { 5 });
    let left = rx
        .recv_timeout(guard)
        .expect("park with a Duration::MAX timer: hung or failed");
    assert_eq!(left, 0);
}

#[test]
fn a_reactor_parks_with_only_a_max_timer() {
    park_with_only_a_max_timer();
}

// ---------------------------------------------------------------------------------------------
// timeout, timeout_at
// ---------------------------------------------------------------------------------------------

#[test]
fn timeout_returns_the_output_when_the_future_wins() {
    block_on(bounded(5, "timeout Ok", async {
        let before = baseline().await;
        let r = timeout(Duration::from_secs(10), async {
            sleep(MS).await;
            "inner"
        })
        .await;
        assert_eq!(r, Ok("inner"));
        assert_eq!(pending_timers(), before, "the timeout's timer is cancelled");
    }));
}

#[test]
fn timeout_gives_elapsed_when_the_deadline_wins() {
    block_on(bounded(5, "timeout Err", async {
        let before = baseline().await;
        let start = Instant::now();
        let r = timeout(10 * MS, sleep(Duration::from_secs(10))).await;
        assert!(start.elapsed() >= 10 * MS, "deadline fired early");
        let e: Elapsed = r.unwrap_err();
        assert_eq!(e.to_string(), "deadline has elapsed");
        let io = std::io::Error::from(e);
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        assert!(io.to_string().contains("deadline has elapsed"), "{io}");
        assert_eq!(
            pending_timers(),
            before,
            "the inner sleep was dropped with the timeout"
        );
        // `?` converts it in io::Result functions.
        let r: std::io::Result<()> = async {
            timeout(MS, std::future::pending::<()>()).await?;
            Ok(())
        }
        .await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    }));
}

#[test]
fn timeout_at_both_ways() {
    block_on(bounded(5, "timeout_at", async {
        let start = Instant::now();
        let deadline = start + 10 * MS;
        assert_eq!(timeout_at(deadline, async { 1 }).await, Ok(1));
        assert!(
            timeout_at(deadline, std::future::pending::<()>())
                .await
                .is_err()
        );
        assert!(Instant::now() >= deadline);
        let far = Instant::now() + Duration::from_secs(10);
        assert_eq!(timeout_at(far, sleep(MS)).await, Ok(()));
    }));
}

#[test]
fn timeout_at_a_past_deadline_fails_at_first_poll_unless_the_future_is_ready() {
    let before = pending_timers();
    let past = Instant::now() - MS;
    let mut t = tokio_test::task::spawn(timeout_at(past, std::future::pending::<()>()));
    assert_ready_err!(t.poll());
    // The inner future is polled first: a ready one wins even against a past deadline.
    let mut t = tokio_test::task::spawn(timeout_at(past, async { 3 }));
    assert_ready_eq!(t.poll(), Ok(3));
    let mut t = tokio_test::task::spawn(timeout(Duration::ZERO, std::future::pending::<()>()));
    assert_ready_err!(t.poll());
    assert_eq!(pending_timers(), before);
}

#[test]
fn a_future_ready_at_once_under_timeout_arms_no_timer() {
    let before = pending_timers();
    let mut t = tokio_test::task::spawn(timeout(Duration::from_secs(3600), async { 5 }));
    assert_ready_eq!(t.poll(), Ok(5));
    assert_eq!(pending_timers(), before, "during");
    drop(t);
    assert_eq!(pending_timers(), before, "after");
    // A pending one does arm exactly one, until dropped.
    let mut t = tokio_test::task::spawn(timeout(
        Duration::from_secs(3600),
        std::future::pending::<()>(),
    ));
    assert_pending!(t.poll());
    assert_eq!(pending_timers(), before + 1);
    drop(t);
    assert_eq!(pending_timers(), before);
}

/// Pending once (after waking itself), then ready: the shape of a timeout that arms its timer
/// and cancels it at the next poll.
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[test]
fn a_hundred_thousand_timeouts_that_win_leave_no_timer_behind() {
    block_on(bounded(10, "100k timeouts", async {
        let before = baseline().await;
        let fired = stats().timers_fired;
        for i in 0..100_000u32 {
            // Varying limits, so a cancelled timer is not always the latest one.
            let limit = Duration::from_secs(1 + u64::from(i % 7));
            assert_eq!(timeout(limit, PendingOnce(false)).await, Ok(()));
        }
        assert_eq!(pending_timers(), before);
        assert_eq!(
            stats().timers_fired,
            fired,
            "none fired: all were cancelled"
        );
    }));
}

#[test]
fn a_timeout_moved_to_another_thread_rearms_there() {
    // The limit must outlast the first poll's own reactor turn, which stamps the staged timer
    // and then fires what is due: under valgrind on a loaded machine that turn took > 20 ms.
    let limit = if util::under_valgrind() { 2000 } else { 200 } * MS;
    let before = pending_timers();
    let start = Instant::now();
    let mut t = Box::pin(timeout(limit, std::future::pending::<()>()));
    {
        let mut poll = tokio_test::task::spawn(poll_fn(|cx| Poll::Ready(t.as_mut().poll(cx))));
        assert!(assert_ready!(poll.poll()).is_pending());
    }
    assert_eq!(pending_timers(), before + 1, "armed on this thread");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = block_on(t);
        let _ = tx.send((r, Instant::now(), pending_timers()));
    });
    let (r, done, left) = rx
        .recv_timeout(Duration::from_secs(if util::under_valgrind() {
            60
        } else {
            5
        }))
        .expect("moved timeout hung");
    assert!(r.is_err());
    assert!(done >= start + limit, "elapsed early");
    assert_eq!(left, 0);
    // The entry left here gets its deadline at this reactor's next turn and fires `limit` on,
    // waking nobody who cares. `park` blocks until then (it may return early: loop).
    for _ in 0..100 {
        if pending_timers() == before {
            break;
        }
        geode::reactor::park(Some(Duration::from_secs(1))).unwrap();
    }
    assert_eq!(
        pending_timers(),
        before,
        "the entry left here fired harmlessly"
    );
}

#[test]
fn sleep_and_timeout_are_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<geode::time::Sleep>();
    check::<geode::time::Timeout<std::future::Ready<()>>>();
    // A state word and a slot key beside the deadline; a regression here costs every
    // sleeping task memory.
    assert!(size_of::<geode::time::Sleep>() <= 32);
}

// ---------------------------------------------------------------------------------------------
// Sleep::reset, deadline, cancellation, counters
// ---------------------------------------------------------------------------------------------

#[test]
fn reset_earlier_completes_sooner_without_leaking_a_timer() {
    block_on(bounded(5, "reset earlier", async {
        let before = baseline().await;
        let mut s = pin!(sleep(Duration::from_secs(3600)));
        assert!(
            poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx)))
                .await
                .is_pending()
        );
        assert_eq!(pending_timers(), before + 1);
        let new = Instant::now() + 10 * MS;
        s.as_mut().reset(new);
        assert_eq!(s.deadline(), new);
        assert_eq!(pending_timers(), before + 1, "reset reuses the armed entry");
        s.as_mut().await;
        assert!(Instant::now() >= new);
        assert!(s.is_elapsed());
        assert_eq!(pending_timers(), before);
    }));
}

#[test]
fn reset_later_rearms_for_the_new_deadline() {
    block_on(bounded(5, "reset later", async {
        let before = baseline().await;
        // Long enough to be pending at the first poll even under valgrind on a loaded machine.
        let mut s = pin!(sleep(100 * MS));
        assert!(
            poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx)))
                .await
                .is_pending()
        );
        let new = Instant::now() + 150 * MS;
        s.as_mut().reset(new);
        assert_eq!(s.deadline(), new);
        assert_eq!(pending_timers(), before + 1, "reset reuses the armed entry");
        s.as_mut().await;
        assert!(Instant::now() >= new, "completed at the old deadline");
        assert_eq!(pending_timers(), before);
    }));
}

#[test]
fn reset_after_completion_makes_the_sleep_pending_again() {
    block_on(bounded(5, "reset after completion", async {
        let before = baseline().await;
        let mut s = pin!(sleep(MS));
        s.as_mut().await;
        assert!(s.is_elapsed());
        let new = Instant::now() + 10 * MS;
        s.as_mut().reset(new);
        assert!(!s.is_elapsed());
        assert!(
            poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx)))
                .await
                .is_pending()
        );
        assert_eq!(pending_timers(), before + 1);
        s.as_mut().await;
        assert!(Instant::now() >= new);
        assert_eq!(pending_timers(), before);
        // Reset before the first poll: nothing armed yet, the new deadline is used.
        let mut s = pin!(sleep(Duration::from_secs(3600)));
        let new = Instant::now() + MS;
        s.as_mut().reset(new);
        assert_eq!(pending_timers(), before);
        s.await;
        assert!(Instant::now() >= new);
    }));
}

#[test]
fn dropping_a_pending_sleep_disarms_its_timer() {
    let before = pending_timers();
    let mut sleeps: Vec<_> = (1..=10)
        .map(|i| tokio_test::task::spawn(sleep(Duration::from_secs(i))))
        .collect();
    for s in &mut sleeps {
        assert_pending!(s.poll());
    }
    assert_eq!(pending_timers(), before + 10);
    // Drop from the middle of the heap, then the rest.
    drop(sleeps.remove(4));
    drop(sleeps.remove(0));
    assert_eq!(pending_timers(), before + 8);
    drop(sleeps);
    assert_eq!(pending_timers(), before);
    // Inside a runtime, through a dropped task.
    block_on(bounded(5, "abort sleeper", async {
        let before = baseline().await;
        let h = spawn(sleep(Duration::from_secs(3600)));
        geode::yield_now().await;
        assert_eq!(pending_timers(), before + 1);
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        assert_eq!(pending_timers(), before);
    }));
}

#[test]
fn timers_fired_counts_completed_sleeps() {
    block_on(bounded(5, "timers_fired", async {
        geode::yield_now().await; // the hang guard's timer is armed from here on
        let before = stats();
        sleep(2 * MS).await;
        let mid = stats();
        assert!(mid.timers_fired > before.timers_fired);
        for _ in 0..3 {
            sleep(MS).await;
        }
        assert!(stats().timers_fired >= mid.timers_fired + 3);
        assert_eq!(stats().timers_pending, before.timers_pending);
    }));
}

#[test]
fn a_sleep_moved_to_another_thread_rearms_there() {
    // Sleep is Send: armed here, then awaited on another thread's reactor.
    let before = pending_timers();
    let mut s = Box::pin(sleep(20 * MS));
    let deadline = s.deadline();
    {
        let mut t = tokio_test::task::spawn(poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))));
        assert!(assert_ready!(t.poll()).is_pending());
    }
    assert_eq!(pending_timers(), before + 1);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        block_on(s);
        let _ = tx.send((Instant::now(), pending_timers()));
    });
    let (done, left) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("moved sleep hung");
    assert!(done >= deadline);
    assert_eq!(left, 0);
    // The entry left on this thread's reactor is cancelled at its next turn (or fired).
    geode::reactor::park(Some(Duration::ZERO)).unwrap();
    assert_eq!(pending_timers(), before);
}

#[test]
fn a_reset_from_another_thread_wakes_the_task_for_the_earlier_deadline() {
    // The task waits on an hour-long sleep; another thread moves its deadline 20 ms ahead. The
    // task must wake for the new deadline, not the old one (the hang guard would fire first).
    let s = Arc::new(std::sync::Mutex::new(sleep(Duration::from_secs(3600))));
    let s2 = s.clone();
    let (armed_tx, armed_rx) = mpsc::channel();
    let resetter = std::thread::spawn(move || {
        armed_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the sleep was never polled");
        let new_deadline = Instant::now() + 20 * MS;
        std::pin::Pin::new(&mut *s2.lock().unwrap()).reset(new_deadline);
        new_deadline
    });
    let before = pending_timers();
    let mut armed = Some(armed_tx);
    block_on(bounded(10, "sleep reset from another thread", async {
        poll_fn(|cx| {
            let r = std::pin::Pin::new(&mut *s.lock().unwrap()).poll(cx);
            if let Some(tx) = armed.take() {
                tx.send(()).unwrap();
            }
            r
        })
        .await
    }));
    let new_deadline = resetter.join().unwrap();
    assert!(
        Instant::now() >= new_deadline,
        "woke before the new deadline"
    );
    assert!(s.lock().unwrap().is_elapsed());
    assert_eq!(
        pending_timers(),
        before,
        "the hour-long timer is left armed"
    );
}

#[test]
fn a_reset_from_another_thread_to_a_later_deadline_is_not_early() {
    // Armed at the first poll for 200 ms from then (pending at that poll, even if valgrind
    // lets another thread run between the reset and the poll), then pushed back from another
    // thread while the first poll is still running: the old deadline cannot fire before the
    // reset is made.
    let s = Arc::new(std::sync::Mutex::new(sleep(Duration::MAX)));
    let s2 = s.clone();
    let (armed_tx, armed_rx) = mpsc::channel();
    let (reset_tx, reset_rx) = mpsc::channel();
    let resetter = std::thread::spawn(move || {
        armed_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the sleep was never polled");
        let new_deadline = Instant::now() + 400 * MS;
        std::pin::Pin::new(&mut *s2.lock().unwrap()).reset(new_deadline);
        reset_tx.send(()).unwrap();
        new_deadline
    });
    let mut armed = Some(armed_tx);
    block_on(bounded(
        10,
        "sleep pushed back from another thread",
        async {
            poll_fn(|cx| {
                let mut guard = s.lock().unwrap();
                if armed.is_some() {
                    std::pin::Pin::new(&mut *guard).reset(Instant::now() + 200 * MS);
                }
                let r = std::pin::Pin::new(&mut *guard).poll(cx);
                drop(guard);
                if let Some(tx) = armed.take() {
                    assert!(r.is_pending(), "a 200 ms sleep completed at its first poll");
                    tx.send(()).unwrap();
                    reset_rx
                        .recv_timeout(Duration::from_secs(5))
                        .expect("the other thread never reset the sleep");
                }
                r
            })
            .await
        },
    ));
    let new_deadline = resetter.join().unwrap();
    assert!(Instant::now() >= new_deadline, "woke at the old deadline");
}

#[test]
fn a_sleep_dropped_on_another_thread_leaves_no_timer_armed() {
    let before = pending_timers();
    let mut s = Box::pin(sleep(Duration::from_secs(3600)));
    let mut t = tokio_test::task::spawn(poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx))));
    assert!(assert_ready!(t.poll()).is_pending());
    drop(t);
    assert_eq!(pending_timers(), before + 1);
    std::thread::spawn(move || drop(s)).join().unwrap();
    // The other thread rang this reactor's doorbell: its next turn cancels the timer.
    geode::reactor::park(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        pending_timers(),
        before,
        "the dropped sleep's timer is still armed"
    );
}

// ---------------------------------------------------------------------------------------------
// Scale, idleness
// ---------------------------------------------------------------------------------------------

#[test]
fn a_hundred_thousand_concurrent_sleeps_all_complete() {
    const N: u64 = 100_000;
    let before = pending_timers();
    let done = Rc::new(std::cell::Cell::new(0u64));
    let d = done.clone();
    block_on(bounded(10, "100k sleeps", async move {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let d = d.clone();
                spawn(async move {
                    sleep(Duration::from_millis(1 + i % 10)).await;
                    d.set(d.get() + 1);
                })
            })
            .collect();
        geode::yield_now().await;
        for h in handles {
            h.await.unwrap();
        }
    }));
    assert_eq!(done.get(), N);
    assert_eq!(pending_timers(), before);
}

/// CPU time (user + system) consumed by the calling thread.
fn thread_cpu_time() -> Duration {
    // SAFETY: rusage is plain integers; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[test]
fn run_with_only_a_timer_pending_sleeps_instead_of_spinning() {
    // A spin detector, not a timing test. Per-thread CPU time (RUSAGE_THREAD): the other tests
    // of this binary run concurrently and would pollute the process-wide figure.
    let wall_start = std::time::Instant::now();
    let cpu_start = thread_cpu_time();
    run(async {
        spawn(sleep(30 * MS));
    });
    let wall = wall_start.elapsed();
    let cpu = thread_cpu_time() - cpu_start;
    assert!(wall >= 30 * MS);
    assert!(
        cpu < wall / 2,
        "run spun while waiting for a timer: {cpu:?} CPU in {wall:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The epoll_wait (millisecond) fallback
// ---------------------------------------------------------------------------------------------

#[test]
fn the_millisecond_fallback_never_wakes_early_nor_busy_loops() {
    // GEODE_NO_EPOLL_PWAIT2 is process-wide, so the checks run in a child process: this test
    // binary again, running only `child_fallback_sleeps`.
    let exe = std::env::current_exe().unwrap();
    let child = std::process::Command::new(exe)
        .args([
            "--exact",
            "child_fallback_sleeps",
            "--nocapture",
            "--ignored",
        ])
        .env("GEODE_NO_EPOLL_PWAIT2", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill has no memory preconditions; pid is our own child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("child test process hung");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("test child_fallback_sleeps ... ok") && stdout.contains("1 passed"),
        "child did not run the test:\n{stdout}\n{stderr}"
    );
}

// Run by `the_millisecond_fallback_never_wakes_early_nor_busy_loops` in a child process with
// GEODE_NO_EPOLL_PWAIT2=1; does nothing when run any other way.
#[test]
#[ignore = "run by the_millisecond_fallback_never_wakes_early_nor_busy_loops as a child process"]
fn child_fallback_sleeps() {
    if std::env::var_os("GEODE_NO_EPOLL_PWAIT2").is_none() {
        return;
    }
    block_on(async {
        sleep(MS).await; // the reactor exists (and has read the variable) from here on
        for requested in [Duration::from_micros(300), 2 * MS] {
            let before = stats();
            let start = Instant::now();
            sleep(requested).await;
            let elapsed = start.elapsed();
            let calls = stats().epoll_wait_calls - before.epoll_wait_calls;
            assert!(
                elapsed >= requested,
                "{requested:?} sleep woke after {elapsed:?}"
            );
            // A millisecond timeout, rounded up: a 300 µs sleep takes a whole millisecond
            // (epoll_pwait2 would take ~300 µs), in a few waits, not a busy loop of 0 ms ones.
            assert!(
                elapsed >= MS,
                "{requested:?} sleep took {elapsed:?}: fallback not used?"
            );
            assert!(
                calls <= 3,
                "{requested:?} sleep took {calls} epoll_wait calls"
            );
        }
    });
    // A Duration::MAX timer: a millisecond timeout capped at c_int::MAX, no error.
    park_with_only_a_max_timer();
}

/// A waker whose last drop uses the reactor (as a custom executor's waker that owns its task,
/// and with it an I/O object, would): the reactor must not be borrowed when a timer lets go of
/// its waker.
struct UsesReactorOnDrop(Arc<AtomicBool>);

impl std::task::Wake for UsesReactorOnDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for UsesReactorOnDrop {
    fn drop(&mut self) {
        // `unparker()` borrows the reactor: it would panic inside a borrow.
        let _ = geode::reactor::unparker();
        self.0.store(true, Ordering::SeqCst);
    }
}

fn reactor_using_waker() -> (Waker, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    (
        Waker::from(Arc::new(UsesReactorOnDrop(dropped.clone()))),
        dropped,
    )
}

#[test]
fn timers_drop_their_wakers_outside_the_reactor() {
    block_on(async {
        // Cancel: the timer holds the last reference when the sleep is dropped.
        let (w, dropped) = reactor_using_waker();
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        assert_pending!(s.as_mut().poll(&mut std::task::Context::from_waker(&w)));
        drop(w);
        drop(s);
        assert!(dropped.load(Ordering::SeqCst));

        // Refresh: a poll with another waker replaces (and drops) the last reference.
        let (w, dropped) = reactor_using_waker();
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        assert_pending!(s.as_mut().poll(&mut std::task::Context::from_waker(&w)));
        drop(w);
        assert_pending!(
            s.as_mut()
                .poll(&mut std::task::Context::from_waker(Waker::noop()))
        );
        assert!(dropped.load(Ordering::SeqCst));

        // A staged timeout, cancelled before the reactor's next turn.
        let (w, dropped) = reactor_using_waker();
        let mut t = Box::pin(timeout(
            Duration::from_secs(3600),
            std::future::pending::<()>(),
        ));
        assert_pending!(t.as_mut().poll(&mut std::task::Context::from_waker(&w)));
        drop(w);
        drop(t);
        assert!(dropped.load(Ordering::SeqCst));
    });
}
