//! Socket options std does not offer: `SO_LINGER`, `IP_TOS`, `SO_PEERCRED`, and the integer
//! options of a socket that is not yet a std type (`TcpSocket`).

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use super::cvt;

/// Option values passed by pointer: plain C structs and integers, any bit pattern valid.
trait OptValue: Copy {}
impl OptValue for libc::c_int {}
impl OptValue for libc::linger {}
impl OptValue for libc::ucred {}

fn get<T: OptValue>(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int) -> io::Result<T> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` has room for `len` bytes, and `len` is a valid, writable socklen_t.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    // SAFETY: zero-initialised, then written by the kernel (perhaps partly); every bit pattern
    // of an `OptValue` is a valid value.
    Ok(unsafe { value.assume_init() })
}

fn set<T: OptValue>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: T,
) -> io::Result<()> {
    // SAFETY: we pass a pointer to a `T` and its size; the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Integer socket options, by what they mean.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IntOpt {
    ReuseAddr,
    ReusePort,
    KeepAlive,
    NoDelay,
    SendBuffer,
    RecvBuffer,
}

impl IntOpt {
    fn level_name(self) -> (libc::c_int, libc::c_int) {
        match self {
            IntOpt::ReuseAddr => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
            IntOpt::ReusePort => (libc::SOL_SOCKET, libc::SO_REUSEPORT),
            IntOpt::KeepAlive => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            IntOpt::NoDelay => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
            IntOpt::SendBuffer => (libc::SOL_SOCKET, libc::SO_SNDBUF),
            IntOpt::RecvBuffer => (libc::SOL_SOCKET, libc::SO_RCVBUF),
        }
    }
}

/// The value of an integer option.
pub(crate) fn int_opt(fd: BorrowedFd<'_>, opt: IntOpt) -> io::Result<libc::c_int> {
    let (level, name) = opt.level_name();
    get(fd, level, name)
}

/// Sets an integer option.
pub(crate) fn set_int_opt(fd: BorrowedFd<'_>, opt: IntOpt, value: libc::c_int) -> io::Result<()> {
    let (level, name) = opt.level_name();
    set(fd, level, name, value)
}

/// `SO_LINGER`: `None` if off, else how long a close waits for unsent data.
pub(crate) fn linger(fd: BorrowedFd<'_>) -> io::Result<Option<Duration>> {
    let l: libc::linger = get(fd, libc::SOL_SOCKET, libc::SO_LINGER)?;
    Ok((l.l_onoff != 0).then(|| Duration::from_secs(l.l_linger.max(0) as u64)))
}

/// Sets `SO_LINGER`. The kernel counts whole seconds: a fraction rounds up (so only
/// `Duration::ZERO` asks for the abortive close, a reset), and more than `i32::MAX` seconds is
/// `InvalidInput`.
pub(crate) fn set_linger(fd: BorrowedFd<'_>, linger: Option<Duration>) -> io::Result<()> {
    let l_linger = match linger {
        None => 0,
        Some(d) => {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            libc::c_int::try_from(secs).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "geode: SO_LINGER takes at most i32::MAX seconds",
                )
            })?
        }
    };
    let value = libc::linger {
        l_onoff: linger.is_some().into(),
        l_linger,
    };
    set(fd, libc::SOL_SOCKET, libc::SO_LINGER, value)
}

/// `IP_TOS` (the IPv4 type-of-service byte).
pub(crate) fn tos(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let v: libc::c_int = get(fd, libc::IPPROTO_IP, libc::IP_TOS)?;
    Ok(v as u32)
}

/// Sets `IP_TOS`. The kernel takes an `int`: a value past `i32::MAX` is `EINVAL` here.
pub(crate) fn set_tos(fd: BorrowedFd<'_>, tos: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(tos).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    set(fd, libc::IPPROTO_IP, libc::IP_TOS, v)
}

/// `SO_PEERCRED`: the peer's `(uid, gid, pid)` as of `connect`/`socketpair`.
pub(crate) fn peer_cred(fd: BorrowedFd<'_>) -> io::Result<(u32, u32, i32)> {
    let c: libc::ucred = get(fd, libc::SOL_SOCKET, libc::SO_PEERCRED)?;
    Ok((c.uid, c.gid, c.pid))
}
