//! geode futures under executors that never run geode's reactor: `futures::executor::block_on`,
//! `pollster::block_on`, `futures_lite::future::block_on` and `async_executor::LocalExecutor`.
//! Each runs the same scenarios (a timer, a read that waits, connect + accept, a timeout that
//! fires, `yield_now`, wakes from other threads), each on a fresh thread and bounded, so a hang
//! fails with the executor's and the scenario's names. Then: a thread that starts calling
//! `park` takes over from the fallback helper, which ends; geode's executor never starts one.

mod util;
use util::helper_threads;
use util::{exclusive, shared};

use std::future::{Future, poll_fn};
use std::io::{self, Read, Write};
use std::pin::pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use geode::io::Async;
use geode::net::{TcpListener, TcpStream, UnixStream};
use geode::time::{sleep, timeout};

/// How a scenario is run.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::enum_variant_names)] // the crates' names
enum Executor {
    FuturesExecutor,
    Pollster,
    FuturesLite,
    AsyncExecutorLocal,
}

const EXECUTORS: [Executor; 4] = [
    Executor::FuturesExecutor,
    Executor::Pollster,
    Executor::FuturesLite,
    Executor::AsyncExecutorLocal,
];

impl Executor {
    fn block_on<T: 'static>(self, fut: impl Future<Output = T> + 'static) -> T {
        match self {
            Executor::FuturesExecutor => futures_executor::block_on(fut),
            Executor::Pollster => pollster::block_on(fut),
            Executor::FuturesLite => futures_lite::future::block_on(fut),
            Executor::AsyncExecutorLocal => {
                let ex = async_executor::LocalExecutor::new();
                let task = ex.spawn(fut);
                futures_lite::future::block_on(ex.run(task))
            }
        }
    }
}

/// Runs `scenario` under `exec` on a fresh thread; fails after 20 s instead of hanging.
fn run_bounded<F, Fut>(exec: Executor, what: &str, scenario: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let _ = tx.send(exec.block_on(scenario()));
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(res) => res.unwrap_or_else(|e| panic!("{what} under {exec:?}: {e}")),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} under {exec:?}: hung (not done within 20 s)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => std::panic::resume_unwind(
            t.join()
                .expect_err("the scenario thread ended without a result"),
        ),
    }
}

/// Awaits `fut`, calling `f` the first time it returns `Pending` (it then waits for real).
async fn on_first_pending<F: Future>(fut: F, f: impl FnOnce()) -> F::Output {
    let mut fut = pin!(fut);
    let mut f = Some(f);
    poll_fn(|cx| {
        let p = fut.as_mut().poll(cx);
        if p.is_pending() {
            if let Some(f) = f.take() {
                f();
            }
        }
        p
    })
    .await
}

async fn timer() -> io::Result<()> {
    let start = Instant::now();
    sleep(Duration::from_millis(50)).await;
    let took = start.elapsed();
    if took < Duration::from_millis(50) {
        return Err(io::Error::other(format!(
            "a 50 ms sleep ended after {took:?}"
        )));
    }
    Ok(())
}

async fn read_that_waits() -> io::Result<()> {
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    let a = UnixStream::from_std(a)?;
    let mut b = Some(b);
    let mut buf = [0; 5];
    let read = a.read_exact(&mut buf);
    on_first_pending(read, || {
        let mut b = b.take().unwrap();
        std::thread::spawn(move || b.write_all(b"hello"));
    })
    .await?;
    if &buf != b"hello" {
        return Err(io::Error::other(format!("read {buf:?}")));
    }
    Ok(())
}

async fn connect_and_accept() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (accepted, connected) =
        futures_util::future::join(listener.accept(), TcpStream::connect(addr)).await;
    let (server, _) = accepted?;
    let client = connected?;
    client.write_all(b"ping").await?;
    let mut buf = [0; 4];
    server.read_exact(&mut buf).await?;
    server.write_all(&buf).await?;
    client.read_exact(&mut buf).await?;
    if &buf != b"ping" {
        return Err(io::Error::other(format!("echoed {buf:?}")));
    }
    Ok(())
}

async fn timeout_that_fires() -> io::Result<()> {
    let start = Instant::now();
    match timeout(Duration::from_millis(30), std::future::pending::<()>()).await {
        Err(_) if start.elapsed() >= Duration::from_millis(30) => Ok(()),
        Err(_) => Err(io::Error::other(format!(
            "a 30 ms timeout fired after {:?}",
            start.elapsed()
        ))),
        Ok(()) => unreachable!(),
    }
}

async fn yields() -> io::Result<()> {
    for _ in 0..10 {
        geode::yield_now().await;
    }
    Ok(())
}

async fn wake_from_another_thread() -> io::Result<()> {
    // An `Async` pipe written by another thread once the read waits...
    let (r, w) = std::io::pipe()?;
    let r = Async::new(r)?;
    let mut w = Some(w);
    let mut buf = [0; 3];
    let n = on_first_pending(r.read_with(|mut f| f.read(&mut buf)), || {
        let mut w = w.take().unwrap();
        std::thread::spawn(move || w.write_all(b"abc"));
    })
    .await?;
    if n == 0 || buf[..n] != b"abc"[..n] {
        return Err(io::Error::other(format!("read {:?}", &buf[..n])));
    }
    // ...and an hour-long sleep that another thread resets to 20 ms from now.
    let s = Arc::new(Mutex::new(sleep(Duration::from_secs(3600))));
    let s2 = s.clone();
    let mut resetter = None;
    poll_fn(|cx| {
        let r = std::pin::Pin::new(&mut *s.lock().unwrap()).poll(cx);
        if r.is_pending() && resetter.is_none() {
            let s2 = s2.clone();
            resetter = Some(std::thread::spawn(move || {
                let when = geode::time::Instant::now() + Duration::from_millis(20);
                std::pin::Pin::new(&mut *s2.lock().unwrap()).reset(when);
            }));
        }
        r
    })
    .await;
    if let Some(t) = resetter {
        t.join()
            .map_err(|_| io::Error::other("the resetting thread panicked"))?;
    }
    Ok(())
}

macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let _g = shared();
            for exec in EXECUTORS {
                run_bounded(exec, stringify!($name), super::$name);
            }
        }
    )*};
}

mod under_each_executor {
    use super::*;
    scenario_tests!(
        timer,
        read_that_waits,
        connect_and_accept,
        timeout_that_fires,
        yields,
        wake_from_another_thread,
    );
}

/// Waits (at most 10 s) until exactly `n` helper threads exist.
fn wait_for_helpers(n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while helper_threads() != n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} helper threads, expected {n}",
            helper_threads()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn park_takes_over_from_the_helper_and_geodes_executor_never_starts_one() {
    let _g = exclusive();
    // Helpers of earlier tests end with their threads.
    wait_for_helpers(0, "before the test");
    std::thread::spawn(|| {
        // Undriven: the first pending poll starts this thread's helper (the sleep is long
        // enough to be pending at its first poll, even under valgrind).
        futures_lite::future::block_on(sleep(Duration::from_millis(100)));
        assert_eq!(helper_threads(), 1, "one helper for the undriven thread");
        // A park loop takes over: the helper ends, and the loop alone completes I/O now.
        geode::reactor::park(Some(Duration::ZERO)).unwrap();
        wait_for_helpers(0, "after park took over");
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        let mut buf = [0; 1];
        let mut read = pin!(a.read_with(|mut s| s.read(&mut buf)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(read.as_mut().poll(&mut cx).is_pending());
        (&b).write_all(b"x").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            geode::reactor::park(Some(Duration::from_millis(100))).unwrap();
            if let Poll::Ready(n) = read.as_mut().poll(&mut cx) {
                assert_eq!(n.unwrap(), 1);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the park loop never completed the read"
            );
        }
        assert_eq!(helper_threads(), 0, "a park loop needs no helper");
    })
    .join()
    .unwrap();

    std::thread::spawn(|| {
        geode::block_on(async {
            sleep(Duration::from_millis(5)).await;
            geode::yield_now().await;
            let (a, b) = UnixStream::pair().unwrap();
            b.write_all(b"x").await.unwrap();
            a.read_exact(&mut [0]).await.unwrap();
        });
        assert_eq!(helper_threads(), 0, "geode's executor started a helper");
        // After geode's executor returns, the thread is undriven again.
        futures_lite::future::block_on(sleep(Duration::from_millis(5)));
    })
    .join()
    .unwrap();
    // That helper ends with its thread.
    wait_for_helpers(0, "after the thread ended");
}

#[test]
fn a_hand_polled_future_woken_by_the_helper_is_ready_at_its_next_poll() {
    // Nothing parks on this thread: the helper wakes the task once the data is there, and
    // the next poll (which turns the reactor first) completes the read.
    let _g = shared();
    std::thread::spawn(|| {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        let mut buf = [0; 1];
        let mut task = tokio_test::task::spawn(a.read_with(|mut s| s.read(&mut buf)));
        assert!(task.poll().is_pending());
        b.write_all(b"x").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !task.is_woken() {
            assert!(Instant::now() < deadline, "the helper never woke the read");
            std::thread::sleep(Duration::from_millis(1));
        }
        match task.poll() {
            Poll::Ready(Ok(1)) => {}
            other => panic!("woken by the helper, the read gave {other:?}"),
        }
    })
    .join()
    .unwrap();
}
