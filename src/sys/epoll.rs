//! The epoll instance: create, add, delete, wait. Never `EPOLL_CTL_MOD`: geode registers an fd
//! once with everything it will ever want.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::cvt;

/// Interest and event bits, re-exported so the reactor never names `libc`.
pub(crate) const IN: u32 = libc::EPOLLIN as u32;
pub(crate) const OUT: u32 = libc::EPOLLOUT as u32;
pub(crate) const ERR: u32 = libc::EPOLLERR as u32;
pub(crate) const HUP: u32 = libc::EPOLLHUP as u32;
pub(crate) const RDHUP: u32 = libc::EPOLLRDHUP as u32;
pub(crate) const PRI: u32 = libc::EPOLLPRI as u32;
pub(crate) const ET: u32 = libc::EPOLLET as u32;
pub(crate) const EXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;

/// Set once `epoll_pwait2` has failed with `ENOSYS` (kernels before 5.11, or a seccomp filter):
/// from then on every wait uses `epoll_wait` with a millisecond timeout.
static NO_PWAIT2: AtomicBool = AtomicBool::new(false);

/// Forces the `epoll_wait` fallback, as if `epoll_pwait2` were missing. Tests use it (through the
/// `GEODE_NO_EPOLL_PWAIT2` environment variable, read by the reactor) to exercise the fallback.
pub(crate) fn disable_pwait2() {
    NO_PWAIT2.store(true, Ordering::Relaxed);
}

/// An epoll instance, closed on drop.
#[derive(Debug)]
pub(crate) struct Epoll {
    fd: OwnedFd,
    /// This instance waits with `epoll_wait` even where `epoll_pwait2` exists (a runtime asked
    /// for the fallback).
    no_pwait2: bool,
}

/// The buffer `epoll_wait` fills. Its capacity is the most events one wait returns.
pub(crate) struct Events {
    buf: Vec<libc::epoll_event>,
    len: usize,
}

impl Events {
    pub(crate) fn with_capacity(cap: usize) -> Events {
        Events {
            buf: vec![libc::epoll_event { events: 0, u64: 0 }; cap.max(1)],
            len: 0,
        }
    }

    /// The most events one wait returns.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The events of the last wait, as `(event bits, user data)`.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.buf[..self.len].iter().map(|e| {
            // Copy the fields out: `epoll_event` is packed on x86_64.
            let (events, data) = (e.events, e.u64);
            (events, data)
        })
    }
}

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative return is a new fd that we
        // own exclusively, so wrapping it in OwnedFd is sound.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            no_pwait2: false,
        })
    }

    /// Makes this instance wait with `epoll_wait` (whole milliseconds) even where
    /// `epoll_pwait2` exists, or not.
    pub(crate) fn set_no_pwait2(&mut self, on: bool) {
        self.no_pwait2 = on;
    }

    /// The epoll fd, for a thread that only watches whether events are pending (`poll(2)` on
    /// it reports readable while the ready list is not empty, and consumes nothing).
    pub(crate) fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// `EPOLL_CTL_ADD` of `fd` with `events`, tagged with `data`.
    pub(crate) fn add(&self, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: `ev` is a valid epoll_event that lives across the call; the kernel copies it.
        // A bad `fd` is reported as EBADF, never undefined behaviour.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    /// `EPOLL_CTL_DEL` of `fd`.
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: since Linux 2.6.9 the event pointer may be null for EPOLL_CTL_DEL.
        cvt(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        })?;
        Ok(())
    }

    /// Waits for events for at most `timeout` (`None`: no limit), filling `events`.
    ///
    /// Uses `epoll_pwait2` (nanosecond timeout); where the kernel lacks it, falls back to
    /// `epoll_wait` with the timeout rounded *up* to a whole millisecond, so a timer is never
    /// woken early and a sub-millisecond wait never becomes a busy loop of zero timeouts.
    /// An interrupted wait (`EINTR`) returns `Ok(0)`: the caller recomputes its timeout.
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        let cap = events.buf.len() as libc::c_int;
        let ptr = events.buf.as_mut_ptr();
        let res = if self.no_pwait2 || NO_PWAIT2.load(Ordering::Relaxed) {
            self.wait_ms(ptr, cap, timeout)
        } else {
            let ts = timeout.map(|d| libc::timespec {
                // Clamp far-off deadlines (Duration::MAX) to ~31 years: the kernel would
                // saturate anyway, and this keeps tv_sec in range.
                tv_sec: d.as_secs().min(1_000_000_000) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            });
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            let fd = self.fd.as_raw_fd() as usize;
            let args = [fd, ptr as usize, cap as usize, ts_ptr as usize, 0, 0];
            // SAFETY: `ptr` points to `cap` writable epoll_event slots owned by `events`;
            // `ts_ptr` is null or points to a timespec on this stack frame; a null (zero)
            // sigmask means "no mask change". The kernel writes at most `cap` events.
            let r = unsafe { super::raw::syscall6(libc::SYS_epoll_pwait2, args) };
            match r {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    NO_PWAIT2.store(true, Ordering::Relaxed);
                    self.wait_ms(ptr, cap, timeout)
                }
                other => other.map(|n| n as libc::c_int),
            }
        };
        match res {
            Ok(n) => {
                events.len = n as usize;
                Ok(n as usize)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                events.len = 0;
                Ok(0)
            }
            Err(e) => {
                events.len = 0;
                Err(e)
            }
        }
    }

    fn wait_ms(
        &self,
        ptr: *mut libc::epoll_event,
        cap: libc::c_int,
        timeout: Option<Duration>,
    ) -> io::Result<libc::c_int> {
        let ms = timeout.map_or(-1, timeout_ms);
        // A raw syscall rather than glibc's `epoll_wait`, a thread-cancellation point whose
        // bookkeeping geode (which never uses `pthread_cancel`) does not need. `epoll_pwait`
        // with no signal mask is `epoll_wait` on every architecture (some lack the latter).
        let fd = self.fd.as_raw_fd() as usize;
        let args = [fd, ptr as usize, cap as usize, ms as isize as usize, 0, 8];
        // SAFETY: as in `wait`: `ptr` has room for `cap` events; a null (zero) sigmask means
        // "no mask change" (the size argument is then ignored).
        let r = unsafe { super::raw::syscall6(libc::SYS_epoll_pwait, args) };
        r.map(|n| n as libc::c_int)
    }

    /// Replaces, in this process only, the instance behind our fd number with a fresh one.
    ///
    /// After `fork` the child's epoll fd refers to the *parent's* instance; an `epoll_ctl` on it
    /// would change the parent's interest list. `dup3` of a new instance onto the same number
    /// swaps the child's reference without touching the parent's.
    pub(crate) fn replace_after_fork(&self) -> io::Result<()> {
        let fresh = Epoll::new()?;
        super::fd::dup_onto(fresh.fd.as_raw_fd(), self.fd.as_raw_fd())
    }
}

/// A wait timeout in whole milliseconds for `epoll_wait`: rounded up, capped at `c_int::MAX`.
pub(crate) fn timeout_ms(d: Duration) -> libc::c_int {
    let ms = d.as_nanos().div_ceil(1_000_000);
    ms.min(libc::c_int::MAX as u128) as libc::c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_timeout_rounds_up_and_caps() {
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_nanos(1)), 1);
        assert_eq!(timeout_ms(Duration::from_micros(300)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(2)), 2);
        assert_eq!(timeout_ms(Duration::from_micros(2001)), 3);
        assert_eq!(timeout_ms(Duration::MAX), libc::c_int::MAX);
    }

    #[test]
    fn add_wait_delete() {
        let ep = Epoll::new().unwrap();
        let efd = super::super::eventfd::EventFd::new().unwrap();
        ep.add(efd.as_raw_fd(), IN, 7).unwrap();
        let mut evs = Events::with_capacity(4);
        assert_eq!(ep.wait(&mut evs, Some(Duration::ZERO)).unwrap(), 0);
        efd.signal().unwrap();
        assert_eq!(ep.wait(&mut evs, Some(Duration::from_secs(5))).unwrap(), 1);
        assert_eq!(evs.iter().next(), Some((IN, 7)));
        ep.delete(efd.as_raw_fd()).unwrap();
        let err = ep.delete(efd.as_raw_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn exclusive_refuses_rdhup() {
        // The kernel rule the registration policy is built on.
        let ep = Epoll::new().unwrap();
        let efd = super::super::eventfd::EventFd::new().unwrap();
        let err = ep
            .add(efd.as_raw_fd(), IN | ET | EXCLUSIVE | RDHUP, 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }
}
