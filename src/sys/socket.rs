//! Socket system calls: every socket geode creates is non-blocking and close-on-exec from its
//! first instant (`SOCK_NONBLOCK | SOCK_CLOEXEC`, `accept4`), in one syscall.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::addr::{AddrBuf, RawAddr};
use super::{cvt, cvt_retry};

/// Which kind of socket to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Stream,
    Datagram,
}

/// `socket(family, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)`.
pub(crate) fn socket(family: libc::c_int, kind: Kind) -> io::Result<OwnedFd> {
    let ty = match kind {
        Kind::Stream => libc::SOCK_STREAM,
        Kind::Datagram => libc::SOCK_DGRAM,
    } | libc::SOCK_NONBLOCK
        | libc::SOCK_CLOEXEC;
    // SAFETY: socket takes no pointers; a non-negative return is a new fd we own.
    let fd = cvt(unsafe { libc::socket(family, ty, 0) })?;
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `recv(fd, buf, 0)` on a stream socket, as a raw syscall.
///
/// glibc's `recv` is a thread-cancellation point, which costs two calls around every
/// syscall (about a third of a hand-written loop's user-space work per round trip); geode never
/// uses `pthread_cancel`, so it calls the kernel directly. `EINTR` is returned, not retried.
#[inline]
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let args = [
        fd.as_raw_fd() as usize,
        buf.as_mut_ptr() as usize,
        buf.len(),
        0,
        0,
        0,
    ];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call; the two zero
    // (null) pointers ask for no source address (recvfrom's address and length arguments).
    unsafe { super::raw::syscall6(libc::SYS_recvfrom, args) }
}

/// `send(fd, buf, MSG_NOSIGNAL)` on a stream socket, as a raw syscall (see [`recv`]). A write
/// to a closed peer is `EPIPE`, never `SIGPIPE`.
#[inline]
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let flags = libc::MSG_NOSIGNAL as usize;
    let args = [
        fd.as_raw_fd() as usize,
        buf.as_ptr() as usize,
        buf.len(),
        flags,
        0,
        0,
    ];
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call; a null
    // destination address with length 0 is how sendto means send.
    unsafe { super::raw::syscall6(libc::SYS_sendto, args) }
}

/// The most buffers one vectored call passes (the kernel refuses more than `IOV_MAX` with
/// `EINVAL`; std caps the same way).
const MAX_IOV: usize = 1024;

/// `recvmsg(fd, bufs, 0)`: a vectored read of a socket, into at most 1024 buffers.
pub(crate) fn recv_vectored(fd: BorrowedFd<'_>, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    let n = bufs.len().min(MAX_IOV);
    let bufs = &mut bufs[..n];
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSliceMut` is ABI-compatible with `iovec` on Unix (std guarantees it).
    msg.msg_iov = bufs.as_mut_ptr().cast();
    msg.msg_iovlen = bufs.len() as _;
    // SAFETY: `msg` points at `bufs.len()` iovecs, each valid for writes of its length for
    // the whole call.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
    Ok(cvt(n)? as usize)
}

/// `sendmsg(fd, bufs, MSG_NOSIGNAL)`: a vectored write to a socket, from at most 1024
/// buffers; a closed peer is `EPIPE`, never `SIGPIPE`.
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let bufs = &bufs[..bufs.len().min(MAX_IOV)];
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec`; sendmsg only reads through the pointer.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len() as _;
    // SAFETY: `msg` points at `bufs.len()` iovecs, each valid for reads of its length for the
    // whole call.
    let n = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    Ok(cvt(n)? as usize)
}

/// `socketpair(AF_UNIX, kind | SOCK_NONBLOCK | SOCK_CLOEXEC)`.
pub(crate) fn socketpair(kind: Kind) -> io::Result<(OwnedFd, OwnedFd)> {
    let ty = match kind {
        Kind::Stream => libc::SOCK_STREAM,
        Kind::Datagram => libc::SOCK_DGRAM,
    } | libc::SOCK_NONBLOCK
        | libc::SOCK_CLOEXEC;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) })?;
    // SAFETY: both fds were just returned by the kernel and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The address family of an IP socket address.
pub(crate) fn family_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

pub(crate) const AF_UNIX: libc::c_int = libc::AF_UNIX;

/// `SO_REUSEADDR`, so a restarted server can bind while old connections linger in TIME_WAIT.
pub(crate) fn set_reuseaddr(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: we pass a pointer to an int and its size, as SO_REUSEADDR expects.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Sets a boolean `SOL_SOCKET` option (`SO_REUSEADDR`, `SO_REUSEPORT`).
pub(crate) fn set_socket_flag(fd: BorrowedFd<'_>, flag: SocketFlag, on: bool) -> io::Result<()> {
    let name = match flag {
        SocketFlag::ReuseAddr => libc::SO_REUSEADDR,
        SocketFlag::ReusePort => libc::SO_REUSEPORT,
    };
    let value: libc::c_int = on.into();
    // SAFETY: we pass a pointer to an int and its size, as these options expect.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// The boolean socket options [`set_socket_flag`] sets.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SocketFlag {
    ReuseAddr,
    ReusePort,
}

pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &RawAddr) -> io::Result<()> {
    // SAFETY: `addr` points to `addr.len()` valid bytes of a sockaddr.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len()) })?;
    Ok(())
}

pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: listen takes no pointers.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// Starts a connect. A non-blocking stream connect that is under way gives `EINPROGRESS`
/// (inet) or `EAGAIN` (a Unix listener's backlog is full); the caller decides what to do.
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &RawAddr) -> io::Result<()> {
    // SAFETY: `addr` points to `addr.len()` valid bytes of a sockaddr. EINTR is not retried:
    // the connect goes on in the background, and a second call would report EALREADY.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len()) })?;
    Ok(())
}

/// Whether an error is "connect in progress".
pub(crate) fn is_in_progress(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINPROGRESS) | Some(libc::EINTR) | Some(libc::EALREADY)
    )
}

/// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`, with the peer's address if it is IPv4 or IPv6.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, AddrBuf)> {
    let mut buf = AddrBuf::new();
    // SAFETY: `buf.storage` has room for `buf.len` bytes, which accept4 updates to the size
    // it wrote.
    let new = cvt_retry(|| unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            buf.storage.as_mut_ptr().cast(),
            &mut buf.len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: `new` was just returned by the kernel and nothing else owns it.
    Ok((unsafe { OwnedFd::from_raw_fd(new) }, buf))
}

/// `SO_ERROR`: the pending error of a socket (how a non-blocking connect reports failure).
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let mut val: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `val` and `len` are valid for writes and `len` holds the size of `val`.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut val as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok((val != 0).then(|| io::Error::from_raw_os_error(val)))
}

/// Whether accept failed for lack of descriptors (`EMFILE`, `ENFILE`), or of memory for one.
pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}
