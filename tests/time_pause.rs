//! Virtual time: paused clocks, auto-advance, intervals. Uses `#[geode::test]` throughout.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use geode::net::UnixStream;
use geode::time::{Instant, MissedTickBehavior, advance, interval, sleep, timeout};

#[geode::test(start_paused = true)]
async fn an_hour_of_sleeps_takes_no_wall_time() {
    let wall = std::time::Instant::now();
    let start = Instant::now();
    for _ in 0..60 {
        sleep(Duration::from_secs(60)).await;
    }
    assert_eq!(
        Instant::now() - start,
        Duration::from_secs(3600),
        "the clock moved by exactly the virtual time"
    );
    assert!(
        wall.elapsed() < Duration::from_secs(1),
        "{:?}",
        wall.elapsed()
    );
}

#[geode::test(start_paused = true)]
async fn concurrent_virtual_sleeps_fire_in_deadline_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = [5u64, 1, 4, 2, 3]
        .into_iter()
        .map(|mins| {
            let order = order.clone();
            geode::spawn(async move {
                sleep(Duration::from_secs(60 * mins)).await;
                order.borrow_mut().push(mins);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.borrow(), vec![1, 2, 3, 4, 5]);
}

#[geode::test(start_paused = true)]
async fn timeouts_armed_at_one_instant_elapse_together_in_arming_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let order = order.clone();
            geode::spawn(async move {
                let r = timeout(Duration::from_secs(10), std::future::pending::<()>()).await;
                assert!(r.is_err());
                order.borrow_mut().push((i, Instant::now() - start));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let expect: Vec<_> = (0..50).map(|i| (i, Duration::from_secs(10))).collect();
    assert_eq!(*order.borrow(), expect);
}

#[geode::test(start_paused = true)]
async fn a_timeout_counts_from_its_poll_when_the_clock_jumps_before_the_reactor_turns() {
    let start = Instant::now();
    let mut t = std::pin::pin!(timeout(
        Duration::from_secs(10),
        std::future::pending::<()>()
    ));
    // Armed here; the reactor has not turned since, so its deadline is not set yet.
    std::future::poll_fn(|cx| {
        assert!(t.as_mut().poll(cx).is_pending());
        std::task::Poll::Ready(())
    })
    .await;
    advance(Duration::from_secs(10)).await;
    assert!(t.await.is_err());
    assert_eq!(Instant::now() - start, Duration::from_secs(10));
}

#[geode::test(start_paused = true)]
async fn advance_fires_exactly_the_timers_it_passes() {
    let early = geode::spawn(sleep(Duration::from_secs(10)));
    let late = geode::spawn(sleep(Duration::from_secs(20)));
    geode::yield_now().await; // let both arm their timers
    advance(Duration::from_secs(10)).await;
    geode::yield_now().await;
    assert!(early.is_finished());
    assert!(!late.is_finished());
    advance(Duration::from_secs(10)).await;
    geode::yield_now().await;
    assert!(late.is_finished());
}

#[geode::test(start_paused = true)]
async fn a_timeout_racing_a_read_goes_as_in_real_time() {
    // The peer answers after 10 virtual ms; the read's limit is 1 s: the read wins. Then a
    // read nobody answers loses to its 50 ms limit.
    let (a, b) = UnixStream::pair().unwrap();
    geode::spawn(async move {
        sleep(Duration::from_millis(10)).await;
        b.write_all(b"x").await.unwrap();
        std::future::pending::<()>().await;
    });
    let start = Instant::now();
    let mut buf = [0u8; 1];
    let n = timeout(Duration::from_secs(1), a.read(&mut buf)).await;
    assert_eq!(n.unwrap().unwrap(), 1);
    assert_eq!(Instant::now() - start, Duration::from_millis(10));
    let r = timeout(Duration::from_millis(50), a.read(&mut buf)).await;
    assert!(r.is_err(), "nothing was sent: the timeout fires");
    assert_eq!(Instant::now() - start, Duration::from_millis(60));
}

#[geode::test(start_paused = true)]
async fn data_already_there_beats_a_timer_that_is_due() {
    // Auto-advance looks at I/O first: ready data is never overtaken by a jump of the clock.
    let (a, b) = UnixStream::pair().unwrap();
    b.write_all(b"y").await.unwrap();
    let mut buf = [0u8; 1];
    let r = timeout(Duration::from_millis(1), a.read(&mut buf)).await;
    assert_eq!(r.unwrap().unwrap(), 1);
}

#[geode::test(start_paused = true)]
async fn resume_runs_on_from_the_virtual_time() {
    let start = Instant::now();
    advance(Duration::from_secs(100)).await;
    geode::time::resume();
    sleep(Duration::from_millis(1)).await;
    let elapsed = Instant::now() - start;
    assert!(elapsed >= Duration::from_millis(100_001), "{elapsed:?}");
}

#[geode::test(start_paused = true)]
async fn interval_ticks_on_schedule() {
    let mut every = interval(Duration::from_secs(10));
    let t0 = every.tick().await;
    assert_eq!(t0, Instant::now(), "the first tick is immediate");
    for k in 1..=3u32 {
        let t = every.tick().await;
        assert_eq!(t - t0, Duration::from_secs(10) * k);
    }
}

/// Ticks of an interval whose task was busy 35 s past the first tick (period 10 s).
async fn ticks_after_missing(behavior: MissedTickBehavior) -> Vec<u64> {
    let t0 = Instant::now();
    let mut every = interval(Duration::from_secs(10));
    every.set_missed_tick_behavior(behavior);
    assert_eq!(every.missed_tick_behavior(), behavior);
    every.tick().await;
    advance(Duration::from_secs(35)).await; // busy: ticks at 10, 20, 30 are missed
    let mut at = Vec::new();
    for _ in 0..5 {
        every.tick().await;
        at.push((Instant::now() - t0).as_secs());
    }
    at
}

#[geode::test(start_paused = true)]
async fn missed_ticks_burst() {
    // The missed ticks fire at once, then the original schedule resumes.
    assert_eq!(
        ticks_after_missing(MissedTickBehavior::Burst).await,
        [35, 35, 35, 40, 50]
    );
}

#[geode::test(start_paused = true)]
async fn missed_ticks_delay() {
    // One tick now, then a full period after each tick.
    assert_eq!(
        ticks_after_missing(MissedTickBehavior::Delay).await,
        [35, 45, 55, 65, 75]
    );
}

#[geode::test(start_paused = true)]
async fn missed_ticks_skip() {
    // One tick now, then back on the original schedule (multiples of 10 s).
    assert_eq!(
        ticks_after_missing(MissedTickBehavior::Skip).await,
        [35, 40, 50, 60, 70]
    );
}

#[geode::test(start_paused = true)]
async fn sleep_reset_later_and_earlier_reuses_its_timer() {
    let pending = geode::reactor::stats().timers_pending;
    let start = Instant::now();
    let mut s = std::pin::pin!(sleep(Duration::from_secs(5)));
    assert!(futures_util::poll!(s.as_mut()).is_pending());
    assert_eq!(geode::reactor::stats().timers_pending, pending + 1);
    s.as_mut().reset(start + Duration::from_secs(50));
    assert_eq!(
        geode::reactor::stats().timers_pending,
        pending + 1,
        "no leaked entry"
    );
    assert_eq!(s.deadline(), start + Duration::from_secs(50));
    s.as_mut().reset(start + Duration::from_secs(2));
    assert_eq!(
        geode::reactor::stats().timers_pending,
        pending + 1,
        "no leaked entry"
    );
    s.as_mut().await;
    assert_eq!(Instant::now() - start, Duration::from_secs(2));
    // A completed sleep reset to the future sleeps again.
    s.as_mut().reset(Instant::now() + Duration::from_secs(3));
    s.as_mut().await;
    assert_eq!(Instant::now() - start, Duration::from_secs(5));
    assert_eq!(geode::reactor::stats().timers_pending, pending);
}

#[geode::test]
async fn a_dropped_sleep_leaves_no_timer_behind() -> std::io::Result<()> {
    let pending = geode::reactor::stats().timers_pending;
    let mut s = Box::pin(sleep(Duration::from_secs(60)));
    assert!(futures_util::poll!(s.as_mut()).is_pending());
    assert_eq!(geode::reactor::stats().timers_pending, pending + 1);
    drop(s);
    assert_eq!(geode::reactor::stats().timers_pending, pending);
    Ok(())
}

#[geode::test]
async fn reset_to_a_past_deadline_completes_at_the_next_poll() {
    let mut s = std::pin::pin!(sleep(Duration::from_secs(60)));
    assert!(futures_util::poll!(s.as_mut()).is_pending());
    s.as_mut().reset(Instant::now());
    assert!(futures_util::poll!(s.as_mut()).is_ready());
}
