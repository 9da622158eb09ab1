//! `GeodeTimer`: hyper's timer on geode's timers and clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant as StdInstant};

use crate::time::{Instant, Sleep};

/// hyper's timer, over [`geode::time::Sleep`](crate::time::Sleep) and geode's clock.
///
/// `now` is [`geode::time::Instant::now`](crate::time::Instant::now), so under
/// [`time::pause`](crate::time::pause) hyper's deadlines are virtual too: a test can see the
/// HTTP/1 header read timeout fire after exactly its duration, in no wall time. `reset` moves
/// the armed timer rather than allocating a new one.
///
/// ```
/// use std::time::Duration;
///
/// use geode::hyper::GeodeTimer;
/// use hyper::rt::Timer;
///
/// geode::block_on(async {
///     geode::time::pause();
///     let start = GeodeTimer.now();
///     GeodeTimer.sleep(Duration::from_secs(30)).await; // virtual: no wall time passes
///     assert_eq!(GeodeTimer.now() - start, Duration::from_secs(30));
/// });
/// ```
///
/// The sleeps it makes must be polled on the thread whose runtime made them, as every geode
/// timer (they may be reset or dropped anywhere).
#[derive(Clone, Copy, Debug, Default)]
pub struct GeodeTimer;

impl hyper::rt::Timer for GeodeTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(GeodeSleep(crate::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: StdInstant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(GeodeSleep(crate::time::sleep_until(Instant::from_std(
            deadline,
        ))))
    }

    fn now(&self) -> StdInstant {
        Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: StdInstant) {
        match sleep.as_mut().downcast_mut_pin::<GeodeSleep>() {
            Some(ours) => Pin::new(&mut ours.get_mut().0).reset(Instant::from_std(new_deadline)),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// `geode::time::Sleep` as a `hyper::rt::Sleep`, which must be `Send + Sync` (geode's `Sleep`
/// is both, and `Unpin`).
#[derive(Debug)]
struct GeodeSleep(Sleep);

impl Future for GeodeSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl hyper::rt::Sleep for GeodeSleep {}
