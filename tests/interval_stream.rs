//! `Interval` as a `futures_core::Stream`, and `reset_immediately`/`reset_after`/`reset_at`,
//! on virtual time (no wall-clock assertion).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use futures_util::StreamExt;
use geode::time::{Instant, MissedTickBehavior, interval, interval_at, pause};

const S: Duration = Duration::from_secs(1);

#[test]
fn the_stream_yields_the_ticks_scheduled_instants() {
    geode::block_on(async {
        pause();
        let start = Instant::now();
        let ticks: Vec<Instant> = interval_at(start + S, 2 * S).take(3).collect().await;
        assert_eq!(ticks, vec![start + S, start + 3 * S, start + 5 * S]);
        // It never ends.
        assert_eq!(
            futures_core::Stream::size_hint(&interval(S)),
            (usize::MAX, None)
        );
    });
}

#[test]
fn reset_immediately_ticks_now_then_every_period() {
    geode::block_on(async {
        pause();
        let mut every = interval(10 * S);
        every.tick().await;
        geode::time::advance(3 * S).await;
        every.reset_immediately();
        let now = Instant::now();
        assert_eq!(every.tick().await, now);
        assert_eq!(every.tick().await, now + 10 * S);
    });
}

#[test]
fn reset_after_and_reset_at_move_the_next_tick() {
    geode::block_on(async {
        pause();
        let mut every = interval(10 * S);
        let start = every.tick().await;
        every.reset_after(4 * S);
        assert_eq!(every.tick().await, start + 4 * S);
        assert_eq!(every.tick().await, start + 14 * S);
        // Earlier than the pending tick, and later.
        let now = Instant::now();
        every.reset_at(now + S);
        assert_eq!(every.next().await, Some(now + S));
        every.reset_at(now + 100 * S);
        assert_eq!(every.tick().await, now + 100 * S);
        assert_eq!(every.tick().await, now + 110 * S);
    });
}

#[test]
fn reset_at_a_past_instant_ticks_at_once_and_follows_the_missed_tick_behaviour() {
    geode::block_on(async {
        pause();
        let mut every = interval(10 * S);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        every.tick().await;
        geode::time::advance(30 * S).await;
        let past = Instant::now() - 20 * S;
        every.reset_at(past);
        // Ready on the first poll: no waiting for a deadline that is gone.
        let first = match pin!(every.tick()).poll(&mut Context::from_waker(Waker::noop())) {
            std::task::Poll::Ready(t) => t,
            std::task::Poll::Pending => panic!("a past deadline did not tick at once"),
        };
        assert_eq!(first, past);
        let now = Instant::now();
        assert_eq!(
            every.tick().await,
            now + 10 * S,
            "Delay: a period after now"
        );
    });
}
