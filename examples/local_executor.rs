//! async-executor's `LocalExecutor` on geode's reactor: the executor runs the tasks, geode's
//! `park` sleeps in epoll between them. Run: `cargo run --example local_executor`.
//!
//! Any executor can await geode's futures (a fallback helper thread then watches this thread's
//! reactor); driving the reactor with `park` instead is the efficient way: no helper, and a
//! round trip costs what it costs under geode's own executor.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use async_executor::LocalExecutor;
use geode::net::UnixStream;
use geode::reactor::{Unparker, park, unparker};

/// Woken when the executor has work: it then runs instead of sleeping in `park`.
struct Flag(AtomicBool, Unparker);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
        self.1.unpark(); // from another thread: interrupts `park`
    }
}

/// Runs `fut` (here `LocalExecutor::run`), parking in geode's reactor while nothing is woken.
pub(crate) fn block_on<T>(fut: impl Future<Output = T>) -> T {
    park(Some(std::time::Duration::ZERO)).expect("reactor"); // this thread drives it: no helper
    let flag = Arc::new(Flag(AtomicBool::new(true), unparker()));
    let waker = Waker::from(flag.clone());
    let mut fut = pin!(fut);
    loop {
        if flag.0.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
                return out;
            }
        }
        if !flag.0.load(Ordering::Acquire) {
            park(None).expect("reactor");
        }
    }
}

/// The demo: an echo task spawned on the executor, and a client that talks to it.
pub(crate) fn demo() -> std::io::Result<String> {
    let ex = LocalExecutor::new();
    block_on(ex.run(async {
        let (a, b) = UnixStream::pair()?;
        let echo = ex.spawn(async move {
            let mut buf = [0; 64];
            let n = b.read(&mut buf).await?;
            b.write_all(&buf[..n]).await
        });
        geode::time::sleep(std::time::Duration::from_millis(5)).await;
        a.write_all(b"hello from a LocalExecutor").await?;
        let mut buf = [0; 64];
        let n = a.read(&mut buf).await?;
        echo.await?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }))
}

#[allow(dead_code)] // unused where tests/local_executor.rs includes this file
fn main() -> std::io::Result<()> {
    println!("echoed: {}", demo()?);
    Ok(())
}
