//! A complete single-threaded executor built only on `geode::reactor::{park, unparker}`: a main
//! future plus spawned local tasks. Run: `cargo run --example custom_executor`.

use std::cell::RefCell;
use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use geode::io::Async;
use geode::reactor::{Unparker, park, unparker};

/// A task's wake flag: waking sets it and interrupts the reactor's `park`.
struct Flag {
    woken: AtomicBool,
    unparker: Unparker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.unparker.unpark();
    }
}

type Task = (Pin<Box<dyn Future<Output = ()>>>, Arc<Flag>);

thread_local! {
    static SPAWNED: RefCell<Vec<Task>> = const { RefCell::new(Vec::new()) };
}

fn flag() -> Arc<Flag> {
    let (woken, unparker) = (AtomicBool::new(true), unparker());
    Arc::new(Flag { woken, unparker })
}

/// Spawns a local task onto the executor running on this thread.
pub(crate) fn spawn(fut: impl Future<Output = ()> + 'static) {
    SPAWNED.with(|s| s.borrow_mut().push((Box::pin(fut), flag())));
}

/// Runs `main` to completion, polling spawned tasks whenever they are woken.
pub(crate) fn block_on<T>(main: impl Future<Output = T>) -> T {
    // One turn before the first poll tells geode this thread drives its reactor: no fallback
    // helper thread (what futures get under executors that never park) is started for it.
    park(Some(Duration::ZERO)).expect("reactor failed");
    let mut main = Box::pin(main);
    let main_flag = flag();
    let main_waker = Waker::from(main_flag.clone());
    let mut tasks: Vec<Task> = Vec::new();
    loop {
        if main_flag.woken.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(out) = main.as_mut().poll(&mut Context::from_waker(&main_waker)) {
                return out;
            }
        }
        tasks.extend(SPAWNED.with(|s| s.take()));
        tasks.retain_mut(|(fut, flag)| {
            if !flag.woken.swap(false, Ordering::AcqRel) {
                return true;
            }
            let waker = Waker::from(flag.clone());
            fut.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        });
        let runnable = main_flag.woken.load(Ordering::Acquire)
            || tasks.iter().any(|(_, f)| f.woken.load(Ordering::Acquire))
            || SPAWNED.with(|s| !s.borrow().is_empty());
        // Nothing to run: sleep in epoll until an fd, a timer or an unpark wakes someone.
        park(if runnable { Some(Duration::ZERO) } else { None }).expect("reactor failed");
    }
}

/// The demo: an echo task on one end of a socket pair, a client on the other, and a timer.
pub(crate) fn demo() -> std::io::Result<String> {
    block_on(async {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        let (a, b) = (Async::new(a)?, Async::new(b)?);
        spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = b.read_with(|mut s| s.read(&mut buf)).await {
                let _ = b.write_with(|mut s| s.write_all(&buf[..n])).await;
            }
        });
        geode::time::sleep(Duration::from_millis(5)).await;
        a.write_with(|mut s| s.write(b"hello from a custom executor"))
            .await?;
        let mut buf = [0u8; 64];
        let n = a.read_with(|mut s| s.read(&mut buf)).await?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
}

#[allow(dead_code)] // unused where tests/custom_executor.rs includes this file
fn main() -> std::io::Result<()> {
    println!("echoed: {}", demo()?);
    Ok(())
}
