//! `examples/custom_executor.rs` works: geode's reactor drives an executor that is not geode's.

#[path = "../examples/custom_executor.rs"]
mod custom_executor;

#[test]
fn the_custom_executor_example_echoes_and_sleeps() {
    assert_eq!(
        custom_executor::demo().unwrap(),
        "hello from a custom executor"
    );
}

#[test]
fn the_custom_executor_is_woken_from_another_thread() {
    use std::sync::mpsc;
    use std::task::Poll;
    let (tx, rx) = mpsc::channel::<std::task::Waker>();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let waker_thread = std::thread::spawn(move || {
        let waker = rx.recv().unwrap();
        flag.store(true, std::sync::atomic::Ordering::Release);
        waker.wake();
    });
    let mut sent = Some(tx);
    // The reactor has no fd and no timer: only the unpark can end the park.
    custom_executor::block_on(std::future::poll_fn(|cx| {
        if done.load(std::sync::atomic::Ordering::Acquire) {
            return Poll::Ready(());
        }
        if let Some(tx) = sent.take() {
            tx.send(cx.waker().clone()).unwrap();
        }
        Poll::Pending
    }));
    waker_thread.join().unwrap();
}
