//! Facts about and flags of a file descriptor.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::{cvt, cvt_retry};

/// What kind of file an fd refers to, as far as the reactor cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A regular file: always "ready", so epoll refuses it (`EPERM`).
    Regular,
    /// A directory: epoll refuses it too.
    Directory,
    /// A socket that is listening (`SO_ACCEPTCONN`): registered with `EPOLLEXCLUSIVE`.
    Listener,
    /// Any other socket.
    Socket,
    /// Pipes, FIFOs, ttys, eventfds, timerfds, signalfds, inotify, epoll, ...
    Other,
}

/// The identity of the open file behind an fd: equal for an fd and its dups.
pub(crate) type FileId = (u64, u64);

/// `fstat` (and, for a socket, `SO_ACCEPTCONN`) of `fd`.
pub(crate) fn file_kind(fd: RawFd) -> io::Result<(FileKind, FileId)> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` has room for one `struct stat`, which fstat fills on success.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    let id = (st.st_dev, st.st_ino);
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => FileKind::Regular,
        libc::S_IFDIR => FileKind::Directory,
        libc::S_IFSOCK => {
            if is_listening(fd)? {
                FileKind::Listener
            } else {
                FileKind::Socket
            }
        }
        _ => FileKind::Other,
    };
    Ok((kind, id))
}

fn is_listening(fd: RawFd) -> io::Result<bool> {
    let mut val: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `val` and `len` are valid for writes and `len` holds the size of `val`.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut val as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(val != 0)
}

/// Sets `O_NONBLOCK` on the open file description behind `fd` (shared with its dups).
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: F_SETFL takes an int argument.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// Makes `target` refer to the file of `src` (`dup3(src, target, O_CLOEXEC)`), closing what
/// `target` referred to before, atomically. `src` stays open; the caller closes it.
pub(crate) fn dup_onto(src: RawFd, target: RawFd) -> io::Result<()> {
    // SAFETY: dup3 takes no pointers. `target` is an fd the caller owns; replacing what it
    // refers to keeps it a valid, owned fd (now with the new file).
    cvt_retry(|| unsafe { libc::dup3(src, target, libc::O_CLOEXEC) })?;
    Ok(())
}

/// Which way [`poll_now`] asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PollFor {
    Read,
    Write,
}

/// Whether an operation on `fd` in direction `dir` would not block right now: a zero-timeout
/// `poll(2)` on the one fd. An error or hangup counts as ready (the operation will not block:
/// it reports it), and so does a failed `poll` (the caller's operation then finds out).
pub(crate) fn poll_now(fd: RawFd, dir: PollFor) -> bool {
    let (asked, ready) = match dir {
        PollFor::Read => (
            libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP,
            libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR,
        ),
        PollFor::Write => (libc::POLLOUT, libc::POLLOUT | libc::POLLHUP | libc::POLLERR),
    };
    match poll_revents(fd, asked) {
        Ok(revents) => revents & (ready | libc::POLLNVAL) != 0,
        Err(_) => true,
    }
}

/// `poll(2)`'s `revents` for `fd` asked about `events`, with a zero timeout (0: nothing).
pub(crate) fn poll_revents(fd: RawFd, events: i16) -> io::Result<i16> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid, writable `pollfd`, and nfds is 1; a zero timeout never
    // blocks.
    match cvt_retry(|| unsafe { libc::poll(&mut pfd, 1, 0) })? {
        0 => Ok(0),
        _ => Ok(pfd.revents),
    }
}

/// What `ready(Interest)` asks `poll(2)` about: everything it can report.
pub(crate) const POLL_ALL: i16 = libc::POLLIN | libc::POLLPRI | libc::POLLOUT | libc::POLLRDHUP;

/// Waits until one of `fds` is readable (or hung up), at most `timeout` (`None`: no limit), and
/// says which: a `ppoll(2)`, whose timeout has nanosecond precision (a deadline is never met
/// early by rounding). Interrupted waits return early with nothing readable.
pub(crate) fn wait_readable<const N: usize>(
    fds: [Option<RawFd>; N],
    timeout: Option<std::time::Duration>,
) -> io::Result<[bool; N]> {
    let mut pfds = fds.map(|fd| libc::pollfd {
        // A negative fd is skipped by the kernel.
        fd: fd.unwrap_or(-1),
        events: libc::POLLIN,
        revents: 0,
    });
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `pfds` is an array of N valid, writable pollfds; `ts_ptr` is null or points to a
    // timespec that outlives the call; a null signal mask leaves the mask as it is.
    match cvt(unsafe {
        libc::ppoll(
            pfds.as_mut_ptr(),
            N as libc::nfds_t,
            ts_ptr,
            std::ptr::null(),
        )
    }) {
        Ok(_) => Ok(pfds.map(|p| p.revents != 0)),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok([false; N]),
        Err(e) => Err(e),
    }
}

/// A new fd for the open file behind `fd`, close-on-exec, owned by the caller.
pub(crate) fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int argument (the lowest fd number to use).
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `new` was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn kinds() {
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        assert_eq!(file_kind(f.as_raw_fd()).unwrap().0, FileKind::Regular);
        let d = std::fs::File::open("/").unwrap();
        assert_eq!(file_kind(d.as_raw_fd()).unwrap().0, FileKind::Directory);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(file_kind(l.as_raw_fd()).unwrap().0, FileKind::Listener);
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(file_kind(a.as_raw_fd()).unwrap().0, FileKind::Socket);
        let (r, _w) = std::io::pipe().unwrap();
        assert_eq!(file_kind(r.as_raw_fd()).unwrap().0, FileKind::Other);
        let dup = l.try_clone().unwrap();
        assert_eq!(
            file_kind(l.as_raw_fd()).unwrap().1,
            file_kind(dup.as_raw_fd()).unwrap().1
        );
        assert_eq!(file_kind(-1).unwrap_err().raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn poll_now_sees_what_a_read_or_write_would_find() {
        use std::io::{Read, Write};
        let (mut r, mut w) = std::io::pipe().unwrap();
        assert!(!poll_now(r.as_raw_fd(), PollFor::Read), "empty pipe");
        assert!(poll_now(w.as_raw_fd(), PollFor::Write), "room in the pipe");
        w.write_all(b"x").unwrap();
        assert!(poll_now(r.as_raw_fd(), PollFor::Read), "one byte queued");
        r.read_exact(&mut [0]).unwrap();
        assert!(!poll_now(r.as_raw_fd(), PollFor::Read), "drained again");
        drop(w);
        assert!(poll_now(r.as_raw_fd(), PollFor::Read), "EOF does not block");
        // No process has this many fds open: POLLNVAL.
        assert!(
            poll_now(i32::MAX - 1, PollFor::Read),
            "a closed fd: let the operation report it"
        );
    }
}
