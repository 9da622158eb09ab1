//! The only home of raw system calls.
//!
//! Everything above this module speaks `io::Result` and safe types; everything here is a thin,
//! checked wrapper over one Linux facility:
//!
//! - [`affinity`]: which CPUs a thread may run on (`sched_getaffinity`/`sched_setaffinity`).
//! - [`epoll`]: the epoll instance (`epoll_create1`, `epoll_ctl`, `epoll_pwait2`/`epoll_wait`).
//! - [`eventfd`]: the doorbell that lets another thread interrupt a sleeping `epoll_wait`.
//! - [`pipe`]: pipes and FIFOs (`pipe2`, `S_ISFIFO`, access mode, clearing `O_NONBLOCK`).
//! - [`sockopt`]: socket options std lacks (`SO_LINGER`, `IP_TOS`, `SO_PEERCRED`).
//! - [`fd`]: descriptor facts and flags (`O_NONBLOCK`, `fstat`, `SO_ACCEPTCONN`, `dup3`).
//! - [`process`]: fork detection (`pthread_atfork`), `pidfd_open`.
//! - `raw`: syscalls issued inline (the round trip's three), without libc's `syscall()`.
//! - [`signal`]: the process-wide signal handler (through `signal-hook-registry`), its
//!   generation counters and the eventfd it rings.
//! - [`socket`]: sockets created non-blocking and close-on-exec in one call, `accept4`,
//!   non-blocking `connect`, `SO_ERROR`; [`addr`]: `sockaddr` conversions.
//!
//! Failed calls keep the kernel's errno: [`cvt`] turns `-1` into `io::Error::last_os_error()`, so
//! `raw_os_error()` works for every error geode passes on.

pub(crate) mod addr;
pub(crate) mod affinity;
pub(crate) mod epoll;
pub(crate) mod eventfd;
pub(crate) mod fd;
pub(crate) mod pipe;
pub(crate) mod process;
mod raw;
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod sockopt;

use std::io;

/// Turns a libc-style return value (`-1` and `errno` on failure) into an `io::Result`.
pub(crate) fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`], but retries the call while it fails with `EINTR`.
pub(crate) fn cvt_retry<T: IsMinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Return types of libc calls that signal failure with `-1`.
pub(crate) trait IsMinusOne {
    fn is_minus_one(&self) -> bool;
}

macro_rules! impl_is_minus_one {
    ($($t:ty)*) => {$(
        impl IsMinusOne for $t {
            fn is_minus_one(&self) -> bool {
                *self == -1
            }
        }
    )*};
}
impl_is_minus_one!(i32 i64 isize);

/// The errno values the layers above compare against.
pub(crate) mod errno {
    pub(crate) const EEXIST: i32 = libc::EEXIST;
    pub(crate) const EINVAL: i32 = libc::EINVAL;
    pub(crate) const EPERM: i32 = libc::EPERM;
}
