//! A fork child starts a runtime of its own inside its parent's `block_on` (the pre-fork
//! server pattern: fork a worker from an async main; it runs its own event loop and `_exit`s),
//! then goes on in the copied runtime; the parent's runtime is untouched.
//!
//! This file holds exactly one test, so the process has no other test threads when it forks.

mod util;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use geode::net::UnixStream;
use geode::time::{sleep, timeout};

/// What the child does, each failure mapped to its own exit code.
async fn child(parent_task: geode::JoinHandle<u32>) -> util::ChildResult {
    // A fresh runtime of the child's own, started inside the copied one: it spawns, does I/O,
    // sleeps and yields, and its tasks end with it.
    let fresh = std::panic::catch_unwind(|| {
        geode::block_on(async {
            let (a, b) = UnixStream::pair()?;
            let echo = geode::spawn(async move {
                let mut buf = [0; 2];
                b.read_exact(&mut buf).await?;
                b.write_all(&buf).await
            });
            a.write_all(b"hi").await?;
            let mut back = [0; 2];
            timeout(Duration::from_secs(5), a.read_exact(&mut back)).await??;
            echo.await.map_err(std::io::Error::other)??;
            sleep(Duration::from_millis(1)).await;
            geode::yield_now().await;
            let left_running = geode::spawn(sleep(Duration::from_secs(3600)));
            drop(left_running);
            // Nesting inside the child's own runtime is still refused.
            let nested = std::panic::catch_unwind(|| geode::block_on(async {})).is_err();
            Ok::<_, std::io::Error>((back, nested))
        })
    });
    match fresh {
        Ok(Ok((back, true))) if &back == b"hi" => {}
        Ok(Ok((_, false))) => {
            return Err((
                6,
                "a nested block_on in the child's runtime did not panic".into(),
            ));
        }
        Ok(Ok((back, _))) => return Err((2, format!("the echo came back as {back:?}"))),
        Ok(Err(e)) => return Err((3, format!("the child's own runtime failed: {e}"))),
        Err(p) => {
            return Err((
                4,
                format!(
                    "block_on in the fork child panicked: {}",
                    util::panic_message(&*p)
                ),
            ));
        }
    }
    // Back in the copied runtime: the parent's task, copied, still completes here.
    match timeout(Duration::from_secs(5), parent_task).await {
        Ok(Ok(7)) => {}
        other => return Err((5, format!("the copied parent task gave {other:?}"))),
    }
    Ok(())
}

#[test]
fn a_fork_child_runs_a_fresh_runtime_inside_its_parents_block_on() {
    geode::block_on(async {
        let parent_task = geode::spawn(async {
            sleep(Duration::from_millis(20)).await;
            7u32
        });
        geode::yield_now().await; // the task is running and its timer armed

        // SAFETY: fork has no memory-safety preconditions. The child only runs code of this
        // test (on this thread) and leaves through `_exit`, never returning into the harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let res = AssertUnwindSafe(child(parent_task)).catch_unwind().await;
            util::child_exit(res);
        }

        util::wait_for_fork_child(pid, 10).await;
        // The parent's runtime is untouched.
        let v = timeout(Duration::from_secs(5), parent_task)
            .await
            .expect("the parent's task")
            .unwrap();
        assert_eq!(v, 7);
        assert_eq!(geode::spawn(async { 1 }).await.unwrap(), 1);
    });
}
