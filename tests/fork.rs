//! `fork` inside `block_on`.
//!
//! A fork child inherits the parent's epoll fd, which refers to the *same* epoll instance: an
//! `epoll_ctl` in the child would edit the parent's interest list (a DEL on drop would silently
//! stop the parent's wakeups). geode must give the child its own epoll instance and doorbell on
//! first use, and leave the parent's runtime untouched.
//!
//! This file holds exactly one test, so the process has no other test threads when it forks.

mod util;
use util::{epoll_interests, inode};
use util::{register_by_blocking_read, signal_when_pending};

use std::future::poll_fn;
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use futures_util::FutureExt;
use geode::io::Async;
use geode::time::{sleep, timeout};

use util::{ChildResult, child_exit};

fn check(ok: bool, code: i32, what: impl FnOnce() -> String) -> ChildResult {
    if ok { Ok(()) } else { Err((code, what())) }
}

/// Everything the child does. It runs in the same future, on the same thread, inside the
/// parent's `block_on` call stack (copied by fork). It must never panic out of here or return
/// into the test harness: the caller maps every outcome to `_exit`.
async fn child(
    inherited: Async<PipeReader>,
    mut inherited_w: PipeWriter,
    unused: Async<PipeReader>,
    timer: geode::JoinHandle<u32>,
) -> ChildResult {
    // stats() works in the child.
    let s0 = geode::reactor::stats();

    // A new pipe, created and used in the child, with a spawned reader.
    let (r, w) = std::io::pipe().map_err(|e| (10, format!("pipe: {e}")))?;
    let r = Async::new(r).map_err(|e| (10, format!("Async::new: {e}")))?;
    let w = Async::new(w).map_err(|e| (10, format!("Async::new: {e}")))?;
    let reader = geode::spawn(async move {
        let mut buf = [0; 16];
        let n = r.read_with(|mut r| r.read(&mut buf)).await?;
        Ok::<_, std::io::Error>(buf[..n].to_vec())
    });
    let io = async {
        geode::yield_now().await;
        w.write_with(|mut w| w.write(b"fresh")).await?;
        reader.await.map_err(std::io::Error::other)?
    };
    let got = timeout(Duration::from_secs(2), io)
        .await
        .map_err(|_| (11, "new pipe in the child: timed out".to_string()))?
        .map_err(|e| (12, format!("new pipe in the child: {e}")))?;
    check(got == b"fresh", 12, || format!("new pipe: got {got:?}"))?;

    // The inherited pipe: wait on it, then write to it.
    let mut buf = [0; 16];
    let read = inherited.read_with(|mut r| r.read(&mut buf));
    let write = async {
        geode::yield_now().await;
        inherited_w.write_all(b"from child")
    };
    let (n, wrote) = timeout(
        Duration::from_secs(2),
        futures_util::future::join(read, write),
    )
    .await
    .map_err(|_| (13, "inherited pipe in the child: timed out".to_string()))?;
    wrote.map_err(|e| (14, format!("write to inherited pipe: {e}")))?;
    let n = n.map_err(|e| (14, format!("read from inherited pipe: {e}")))?;
    check(&buf[..n] == b"from child", 14, || {
        format!("inherited pipe: got {:?}", &buf[..n])
    })?;

    // Timers: a fresh one, and the one the parent armed before the fork.
    timeout(Duration::from_secs(2), sleep(Duration::from_millis(5)))
        .await
        .map_err(|_| (15, "sleep(5 ms) in the child did not end".to_string()))?;
    let v = timeout(Duration::from_secs(2), timer)
        .await
        .map_err(|_| (16, "inherited timer task: timed out".to_string()))?
        .map_err(|e| (16, format!("inherited timer task: {e}")))?;
    check(v == 7, 16, || format!("inherited timer task returned {v}"))?;

    // Cross-thread wake in the child: goes through the runtime's Unparker and the child's
    // own doorbell (an unpark that rang the parent's eventfd would leave us asleep).
    let flag = Arc::new((AtomicBool::new(false), Mutex::new(None::<Waker>)));
    let wait = poll_fn(|cx| {
        *flag.1.lock().unwrap() = Some(cx.waker().clone());
        if flag.0.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    let mut thread = None;
    let waited = timeout(
        Duration::from_secs(2),
        signal_when_pending(wait, || {
            let flag = flag.clone();
            thread = Some(std::thread::spawn(move || {
                flag.0.store(true, Ordering::SeqCst);
                if let Some(w) = flag.1.lock().unwrap().take() {
                    w.wake();
                }
            }));
        }),
    )
    .await;
    if let Some(t) = thread {
        let _ = t.join();
    }
    waited.map_err(|_| {
        (
            17,
            "wake from another thread in the child was lost".to_string(),
        )
    })?;

    // And a bare Unparker: unpark, then a park returns (it would otherwise wait the 2 s).
    let unparker = geode::reactor::unparker();
    unparker.unpark();
    geode::reactor::park(Some(Duration::from_secs(2)))
        .map_err(|e| (18, format!("park in the child: {e}")))?;

    let s1 = geode::reactor::stats();
    check(s1.epoll_wait_calls > s0.epoll_wait_calls, 19, || {
        format!("child stats did not move: {s0:?} -> {s1:?}")
    })?;

    // Dropping inherited registrations (one re-added in the child, one never used here) must
    // not touch the parent's epoll instance.
    drop(inherited);
    drop(unused);
    Ok(())
}

#[test]
fn fork_inside_block_on() {
    // This thread's reactor (epoll fd + doorbell) exists before counting.
    geode::reactor::park(Some(Duration::ZERO)).unwrap();
    let fds_before = util::open_fds();
    fork_scenario();
    let fds_after = util::open_fds();
    assert!(
        fds_after <= fds_before,
        "fds leaked in the parent: {fds_before} open before, {fds_after} after"
    );
}

fn fork_scenario() {
    geode::block_on(async {
        // Before the fork: two pipes registered in this reactor (a would-block read adds them
        // to epoll) and a pending timer in a spawned task.
        let (r1, w1) = std::io::pipe().unwrap();
        let (r2, w2) = std::io::pipe().unwrap();
        let (ino1, ino2) = (inode(r1.as_raw_fd()), inode(r2.as_raw_fd()));
        let a1 = Async::new(r1).unwrap();
        let a2 = Async::new(r2).unwrap();
        register_by_blocking_read(&a1);
        register_by_blocking_read(&a2);
        assert_eq!(epoll_interests(ino1).len(), 1);
        assert_eq!(epoll_interests(ino2).len(), 1);
        let timer = geode::spawn(async {
            sleep(Duration::from_millis(20)).await;
            7u32
        });
        let w1_child = w1.try_clone().unwrap();

        // SAFETY: fork has no memory-safety preconditions. The child only runs code of this
        // test (async, on this thread) and leaves through `_exit`, never returning into the
        // harness; the one thread it starts is its own.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let res = AssertUnwindSafe(child(a1, w1_child, a2, timer))
                .catch_unwind()
                .await;
            child_exit(res);
        }
        drop(w1_child);

        // Parent: wait for the child to finish (and so to have dropped its copies), polling
        // with geode timers so this runtime keeps turning meanwhile.
        util::wait_for_fork_child(pid, 5).await;

        // The parent's interests are intact in the kernel...
        assert_eq!(
            epoll_interests(ino1).len(),
            1,
            "child's drop removed pipe 1"
        );
        assert_eq!(
            epoll_interests(ino2).len(),
            1,
            "child's drop removed pipe 2"
        );

        // ...and the parent's readers are still woken. Each read waits first; only then does
        // another thread write.
        for (a, mut w, msg) in [(&a1, w1, &b"one"[..]), (&a2, w2, &b"two"[..])] {
            let mut buf = [0; 16];
            let mut writer = None;
            let read = a.read_with(|mut r| r.read(&mut buf));
            let res = timeout(
                Duration::from_secs(5),
                signal_when_pending(read, || {
                    writer = Some(std::thread::spawn(move || w.write_all(msg)));
                }),
            )
            .await;
            let writer = writer.expect("the read should have waited");
            writer.join().unwrap().unwrap();
            let n = res
                .expect("parent reader not woken after the fork child dropped its copy")
                .unwrap();
            assert_eq!(&buf[..n], msg);
        }

        // The parent's timer task is unaffected by the child's copy firing.
        let v = timeout(Duration::from_secs(5), timer)
            .await
            .expect("timer task")
            .unwrap();
        assert_eq!(v, 7);
    });
}
