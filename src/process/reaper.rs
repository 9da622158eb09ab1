//! Orphans: children whose [`Child`] was dropped before they were reaped.
//!
//! A dropped child that still runs (or was just sent `SIGKILL` by `kill_on_drop`) must still be
//! reaped when it exits, or it stays a zombie for as long as this process lives. Its owner's
//! thread cannot be relied on to do it: that thread's runtime may have ended, and a thread
//! with no runtime never polls anything again. So the orphan goes to a helper thread,
//! `geode-reaper`, which runs geode's own executor with one task per orphan: each waits for
//! its child's exit exactly as [`Child::wait`] does (its pidfd, or `SIGCHLD` in the fallback)
//! and reaps it by pid. The thread is started by the first orphan and exits as soon as it has
//! none left, so a program that never drops a running child never has it, and none lingers
//! after the last orphan is reaped.
//!
//! In a fork child the thread does not exist (fork copies only the calling thread) and the
//! queued children are the parent's, not ours: the first orphan there starts afresh.

use std::future::poll_fn;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};
use std::task::{Poll, Waker};

use super::Child;

struct Orphans {
    /// Handed over, not yet picked up by the reaper thread.
    queue: Vec<(std::process::Child, Option<OwnedFd>)>,
    /// Picked up and not yet reaped.
    live: usize,
    /// The reaper thread runs (in process `owner`).
    running: bool,
    owner: u32,
    /// The reaper's main future, waiting for the queue (or for `live` to reach zero).
    waker: Option<Waker>,
}

static ORPHANS: Mutex<Orphans> = Mutex::new(Orphans {
    queue: Vec::new(),
    live: 0,
    running: false,
    owner: 0,
    waker: None,
});

fn lock() -> MutexGuard<'static, Orphans> {
    ORPHANS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes over a child that still runs: it is reaped when it exits.
pub(crate) fn adopt(child: std::process::Child, pidfd: Option<OwnedFd>) {
    let pid = std::process::id();
    let mut orphans = lock();
    if orphans.owner != pid {
        // A fork child (or the first orphan ever): whatever is recorded is not ours.
        orphans.queue.clear();
        orphans.live = 0;
        orphans.running = false;
        orphans.waker = None;
        orphans.owner = pid;
    }
    orphans.queue.push((child, pidfd));
    if let Some(waker) = orphans.waker.take() {
        drop(orphans);
        waker.wake();
        return;
    }
    if !orphans.running {
        orphans.running = true;
        drop(orphans);
        let spawned = std::thread::Builder::new()
            .name("geode-reaper".into())
            .spawn(run);
        if spawned.is_err() {
            // Out of threads: the orphan stays queued, and the next one tries again.
            lock().running = false;
        }
    }
}

/// The reaper thread's body.
fn run() {
    crate::block_on(async {
        loop {
            let batch = poll_fn(|cx| {
                let mut orphans = lock();
                if !orphans.queue.is_empty() {
                    let batch = std::mem::take(&mut orphans.queue);
                    orphans.live += batch.len();
                    return Poll::Ready(Some(batch));
                }
                if orphans.live == 0 {
                    orphans.running = false;
                    return Poll::Ready(None);
                }
                orphans.waker = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
            let Some(batch) = batch else { break };
            for (std, pidfd) in batch {
                crate::spawn(async move {
                    reap(std, pidfd).await;
                    let waker = {
                        let mut orphans = lock();
                        orphans.live -= 1;
                        if orphans.live == 0 {
                            orphans.waker.take()
                        } else {
                            None
                        }
                    };
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                });
            }
        }
    });
}

async fn reap(std: std::process::Child, pidfd: Option<OwnedFd>) {
    match Child::adopt(std, pidfd) {
        Ok(mut child) => {
            if child.wait().await.is_err() {
                // Reaped elsewhere (ECHILD) or unwatchable: nothing more we can do.
                child.disown();
            }
        }
        Err((_, mut std)) => {
            // No watch could be registered here (out of fds?): block this helper thread.
            let _ = std.wait();
        }
    }
}
