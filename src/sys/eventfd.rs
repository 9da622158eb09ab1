//! The eventfd doorbell: another thread writes it, the reactor's `epoll_wait` returns.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt, cvt_retry};

/// An `eventfd(EFD_CLOEXEC | EFD_NONBLOCK)`, closed on drop.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative return is a new fd we own.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        Ok(EventFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Adds 1 to the counter, making the fd readable. `EAGAIN` (the counter is full) means it
    /// is already readable, which is all a signal needs.
    pub(crate) fn signal(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: we pass a pointer to 8 initialised bytes that live across the call.
        let res = cvt_retry(|| unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        });
        match res {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// Resets the counter to zero. `EAGAIN` means it already was.
    pub(crate) fn drain(&self) -> io::Result<()> {
        let mut buf: u64 = 0;
        // SAFETY: we pass a pointer to 8 writable bytes that live across the call.
        let res = cvt_retry(|| unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut buf as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        });
        match res {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// See [`super::epoll::Epoll::replace_after_fork`]: the child must not share the parent's
    /// doorbell, or its unparks would wake the parent.
    pub(crate) fn replace_after_fork(&self) -> io::Result<()> {
        let fresh = EventFd::new()?;
        super::fd::dup_onto(fresh.fd.as_raw_fd(), self.fd.as_raw_fd())
    }

    pub(crate) fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_and_drain() {
        let e = EventFd::new().unwrap();
        e.drain().unwrap();
        e.signal().unwrap();
        e.signal().unwrap();
        e.drain().unwrap();
        e.drain().unwrap();
    }
}
