//! `geode::signal` in a `fork` child: the registry works there, for listeners created before
//! the fork and after it.
//!
//! This file holds exactly one test, so the process has no other test threads when it forks.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use geode::signal::{SignalKind, signal};
use geode::time::timeout;

fn raise(sig: i32) {
    // SAFETY: kill and getpid take no pointers.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

/// Waits for one delivery the hard way: the listener is registered and waiting (pending)
/// before the signal is sent, so only an epoll edge can wake it.
async fn sees_a_delivery(sig: &mut geode::signal::Signal) -> bool {
    let mut recv = pin!(sig.recv());
    if poll_fn(|cx| Poll::Ready(recv.as_mut().poll(cx)))
        .await
        .is_ready()
    {
        return false; // nothing was sent yet: a stale wakeup
    }
    raise(libc::SIGUSR2);
    timeout(Duration::from_secs(20), recv).await == Ok(Some(()))
}

/// The child's part: 0 if both listeners see a delivery, else a code saying which did not.
fn child(mut before: geode::signal::Signal) -> i32 {
    geode::block_on(async {
        let Ok(mut after) = signal(SignalKind::user_defined2()) else {
            return 2;
        };
        if !sees_a_delivery(&mut after).await {
            return 3;
        }
        // `before` saw that delivery too: take it, then wait for a new one.
        if timeout(Duration::from_secs(20), before.recv()).await != Ok(Some(())) {
            return 4;
        }
        if !sees_a_delivery(&mut before).await {
            return 5;
        }
        0
    })
}

#[test]
fn a_fork_child_gets_a_working_registry() {
    let mut before = signal(SignalKind::user_defined2()).unwrap();
    // The parent's listener has waited once (so it is in the parent's epoll) before the fork.
    geode::block_on(async {
        raise(libc::SIGUSR2);
        timeout(Duration::from_secs(20), before.recv())
            .await
            .unwrap();
    });
    // SAFETY: this binary has one test, so no other thread holds a lock the child could need;
    // the child ends in `_exit` without returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child(before))).unwrap_or(10);
        // SAFETY: _exit ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        // SAFETY: `status` is valid for writes; `pid` is our child.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(rc >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if rc == pid {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the fork child hangs");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the fork child failed: wait status {status:#x} (exit 2: signal() failed, 3: a new \
         listener saw nothing, 4 or 5: a listener from before the fork saw nothing)"
    );
    // And the parent's listener still works.
    geode::block_on(async {
        assert!(
            sees_a_delivery(&mut before).await,
            "the parent's listener after the fork"
        );
    });
}
