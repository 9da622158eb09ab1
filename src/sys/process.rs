//! Fork detection, and pidfds for child processes.
//!
//! After `fork` the child inherits the parent's epoll fd, which refers to the *same* epoll
//! instance: any `epoll_ctl` in the child edits the parent's interest list. The reactor must
//! notice it is in a child before it touches epoll again. Asking `getpid` on every turn would
//! cost a syscall per turn (glibc no longer caches the pid), so a `pthread_atfork` child handler
//! bumps a generation counter instead, and the reactor compares one atomic load.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();
/// False if `pthread_atfork` failed: then [`forked_since`] asks for the pid every time.
static HANDLER_INSTALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_fork_child() {
    // Async-signal-safe: one atomic add, no allocation, no lock.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Where a process stands with respect to fork: compare two with [`forked_since`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ForkStamp {
    generation: u64,
    pid: u32,
}

/// Installs the fork handler (once per process) and stamps the present.
pub(crate) fn fork_stamp() -> ForkStamp {
    INSTALL.call_once(|| {
        // SAFETY: `on_fork_child` is an `extern "C" fn()` that lives for the whole program and
        // is async-signal-safe, as a child handler must be. On failure (ENOMEM) we record it
        // and `forked_since` compares pids instead.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(on_fork_child)) };
        HANDLER_INSTALLED.store(rc == 0, Ordering::Relaxed);
    });
    ForkStamp {
        generation: FORK_GENERATION.load(Ordering::Relaxed),
        pid: std::process::id(),
    }
}

/// Whether this process is a fork child of the one that took `stamp`.
#[inline]
pub(crate) fn forked_since(stamp: &ForkStamp) -> bool {
    if HANDLER_INSTALLED.load(Ordering::Relaxed) {
        FORK_GENERATION.load(Ordering::Relaxed) != stamp.generation
    } else {
        std::process::id() != stamp.pid
    }
}

/// A value made once per process *and once again in every fork child*, reached without a lock.
///
/// A child must not use a copy of a value whose threads did not survive the fork (the blocking
/// pool's counters), nor take a lock another parent thread may have held at that instant. So
/// each fork generation gets its own value, leaked (it lives until exit, like a `static`); the
/// inherited one is left as it was.
pub(crate) struct ForkLocal<T> {
    ptr: std::sync::atomic::AtomicPtr<(ForkStamp, T)>,
}

impl<T: Sync + 'static> ForkLocal<T> {
    pub(crate) const fn new() -> ForkLocal<T> {
        ForkLocal {
            ptr: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// This process's value, made with `init` on first use (first use in this fork child).
    pub(crate) fn get(&self, init: impl FnOnce() -> T) -> &'static T {
        let seen = self.ptr.load(Ordering::Acquire);
        // SAFETY: the pointer is null or comes from `Box::leak` below, and a leaked box is
        // never freed or written again, so a shared `'static` reference to it is valid. The
        // Acquire load pairs with the AcqRel exchange that published it.
        if let Some((stamp, value)) = unsafe { seen.as_ref() } {
            if !forked_since(stamp) {
                return value;
            }
        }
        let fresh: &'static mut (ForkStamp, T) = Box::leak(Box::new((fork_stamp(), init())));
        let fresh_ptr: *mut (ForkStamp, T) = fresh;
        match self
            .ptr
            .compare_exchange(seen, fresh_ptr, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: as above: `fresh_ptr` is a leaked box, now published and never freed.
            Ok(_) => unsafe { &(*fresh_ptr).1 },
            Err(theirs) => {
                // Another thread published one first. Ours was never shared: free it.
                // SAFETY: `fresh_ptr` came from `Box::leak` above and nobody else has seen it.
                drop(unsafe { Box::from_raw(fresh_ptr) });
                // SAFETY: `theirs` is non-null (it differs from `seen`, and only leaked boxes
                // are ever stored) and points at a leaked box, as above.
                unsafe { &(*theirs).1 }
            }
        }
    }
}

/// `pidfd_open(pid, 0)` (Linux 5.3+): an fd that becomes readable when the process exits.
/// Flags 0 (not `PIDFD_NONBLOCK`, 5.10+) keep 5.3 working; geode never reads from it. The fd
/// is close-on-exec. A kernel without the call gives `ENOSYS` (seccomp filters may say `EPERM`).
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: pidfd_open takes two integers; a non-negative return is a new fd we own.
    let fd = super::cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
