//! The epoll "close quirk": an epoll interest is keyed by (open file, fd number) and is removed
//! automatically only when the *open file* is closed for good, not when one fd of it is. So:
//!
//! - closing an fd that has a dup, without `EPOLL_CTL_DEL` first, leaves the old interest in
//!   place, still delivering events (with the old `data`) for a file nobody watches;
//! - a new file opened on the same fd number is a different interest, but stray events of the
//!   old one can still arrive.
//!
//! geode must DEL before it closes, and must ignore events of dropped registrations (its epoll
//! data is a slot index plus a generation). These tests check both, from the outside: the
//! reactor's wakeup counts and the kernel's own list of interests (`/proc/self/fdinfo/<epfd>`).

mod util;
use util::inode;
use util::{exclusive, park_until_woken, register_by_blocking_read, shared};

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use geode::io::Async;
use geode::reactor::{park, stats};
use tokio_test::{assert_pending, assert_ready};

/// The fd numbers under which epoll instances of this process watch the file `ino`.
fn epoll_interests(ino: u64) -> Vec<RawFd> {
    util::epoll_interests(ino)
        .into_iter()
        .map(|(fd, _)| fd)
        .collect()
}

#[test]
fn dup_keeps_working_after_original_is_dropped() {
    // Original and dup both registered in one reactor (two interests on one open file). The
    // original is dropped: its interest must go (DEL before close, although the dup keeps the
    // file open), and the reader on the dup must get exactly its one wakeup per message.
    let _g = shared();
    util::drive_with_park();
    let (r, mut w) = std::io::pipe().unwrap();
    let dup = r.try_clone().unwrap();
    let ino = inode(r.as_raw_fd());
    let orig = Async::new(r).unwrap();
    let dup = Async::new(dup).unwrap();
    let (orig_fd, dup_fd) = (orig.as_raw_fd(), dup.as_raw_fd());
    register_by_blocking_read(&orig);
    register_by_blocking_read(&dup);
    let mut both = epoll_interests(ino);
    both.sort();
    assert_eq!(both, [orig_fd.min(dup_fd), orig_fd.max(dup_fd)]);

    let mut buf = [0; 16];
    let mut reader = tokio_test::task::spawn(dup.read_with(|mut r| r.read(&mut buf)));
    assert_pending!(reader.poll());

    let ctl = stats().epoll_ctl_calls;
    drop(orig);
    assert_eq!(
        stats().epoll_ctl_calls,
        ctl + 1,
        "drop does one EPOLL_CTL_DEL"
    );
    assert_eq!(
        epoll_interests(ino),
        [dup_fd],
        "the dropped original's interest outlived its fd"
    );

    w.write_all(b"one").unwrap();
    let wakeups = park_until_woken(&reader, "reader on the dup");
    assert_eq!(wakeups, 1, "one message, one reader: exactly one wakeup");
    assert_eq!(assert_ready!(reader.poll()).unwrap(), 3);
    drop(reader);
    assert_eq!(&buf[..3], b"one");

    // Nothing left to report.
    let before = stats().wakeups;
    assert_eq!(park(Some(Duration::ZERO)).unwrap(), 0);
    assert_eq!(stats().wakeups, before);

    // A second round trip through the dup alone.
    w.write_all(b"two").unwrap();
    let n = geode::block_on(util::bounded(
        5,
        "second read on the dup",
        dup.read_with(|mut r| r.read(&mut buf)),
    ))
    .unwrap();
    assert_eq!(&buf[..n], b"two");
}

#[test]
fn only_the_dup_registered_original_closed() {
    // The plain original is closed while a reader waits on the registered dup: the dup's
    // interest is keyed by its own fd number, so nothing changes for it.
    let _g = shared();
    util::drive_with_park();
    let (r, mut w) = std::io::pipe().unwrap();
    let dup = Async::new(r.try_clone().unwrap()).unwrap();
    let mut buf = [0; 16];
    let mut reader = tokio_test::task::spawn(dup.read_with(|mut r| r.read(&mut buf)));
    assert_pending!(reader.poll());
    drop(r);
    w.write_all(b"hi").unwrap();
    let wakeups = park_until_woken(&reader, "reader on the dup");
    assert_eq!(wakeups, 1);
    assert_eq!(assert_ready!(reader.poll()).unwrap(), 2);
}

#[test]
fn drop_with_dup_open_removes_the_interest() {
    // The core of the quirk: with a dup holding the file open, close() alone would leave the
    // interest registered. After dropping the Async, writes to the pipe must wake nothing and
    // the kernel must list no interest for it.
    let _g = shared();
    util::drive_with_park();
    let (r, mut w) = std::io::pipe().unwrap();
    let mut keep = r.try_clone().unwrap();
    let ino = inode(r.as_raw_fd());
    let a = Async::new(r).unwrap();
    let fd = a.as_raw_fd();
    register_by_blocking_read(&a);
    assert_eq!(epoll_interests(ino), [fd], "registered once");

    let before = stats();
    drop(a);
    let after_drop = stats();
    assert_eq!(
        after_drop.epoll_ctl_calls,
        before.epoll_ctl_calls + 1,
        "one DEL"
    );
    assert_eq!(after_drop.registered_fds, before.registered_fds - 1);
    assert!(
        epoll_interests(ino).is_empty(),
        "the interest survived the drop: {:?}",
        epoll_interests(ino)
    );

    w.write_all(b"late").unwrap();
    assert_eq!(park(Some(Duration::ZERO)).unwrap(), 0, "nobody to wake");
    assert_eq!(stats().wakeups, after_drop.wakeups);
    // The data is there for the dup.
    let mut buf = [0; 8];
    let n = keep.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"late");
}

/// Puts `fd` on fd number `n` (which must be closed), closing `fd`'s original number.
fn move_to_number(fd: OwnedFd, n: RawFd) -> OwnedFd {
    if fd.as_raw_fd() == n {
        return fd;
    }
    // SAFETY: F_GETFD takes no pointer argument; it only asks whether `n` is open.
    let rc = unsafe { libc::fcntl(n, libc::F_GETFD) };
    assert_eq!(rc, -1, "fd {n} was taken by someone else");
    // SAFETY: dup3 takes no pointers; `n` is closed (checked above, and no other test of this
    // file runs while we hold the exclusive lock), so nothing else owns it.
    let rc = unsafe { libc::dup3(fd.as_raw_fd(), n, libc::O_CLOEXEC) };
    assert_eq!(rc, n, "dup3: {}", std::io::Error::last_os_error());
    drop(fd);
    // SAFETY: dup3 just opened `n` for us; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(n) }
}

#[test]
fn reused_fd_number_gets_no_events_of_the_old_file() {
    // An Async is dropped while a dup keeps its file open; a new pipe lands on the same fd
    // number and is registered. Events of the old file must not reach the new registration
    // (they must not exist at all: the old interest was deleted).
    let _g = exclusive();
    util::drive_with_park();
    // This thread's reactor (epoll fd + doorbell) exists before counting.
    park(Some(Duration::ZERO)).unwrap();
    let fds_before = util::open_fds();
    reuse_scenario();
    let fds_after = util::open_fds();
    assert!(
        fds_after <= fds_before,
        "fds leaked: {fds_before} open before, {fds_after} after"
    );
}

fn reuse_scenario() {
    let (r1, mut w1) = std::io::pipe().unwrap();
    let mut keep = r1.try_clone().unwrap();
    let old_ino = inode(r1.as_raw_fd());
    let old = Async::new(r1).unwrap();
    let n = old.as_raw_fd();
    register_by_blocking_read(&old);
    drop(old);
    assert!(epoll_interests(old_ino).is_empty(), "old interest survived");

    // Open a new pipe right away: the lowest free number is usually `n` again. If a lower
    // number happened to be free, move the new read end onto `n` explicitly.
    let (r2, mut w2) = std::io::pipe().unwrap();
    let r2 = std::io::PipeReader::from(move_to_number(OwnedFd::from(r2), n));
    assert_eq!(r2.as_raw_fd(), n, "the new pipe reuses the fd number");
    let new_ino = inode(n);
    let new = Async::new(r2).unwrap();

    let mut buf = [0; 16];
    let mut reader = tokio_test::task::spawn(new.read_with(|mut r| r.read(&mut buf)));
    assert_pending!(reader.poll());
    assert_eq!(epoll_interests(new_ino), [n]);

    // The old file becomes readable: nothing may fire.
    w1.write_all(b"old").unwrap();
    let before = stats().wakeups;
    assert_eq!(park(Some(Duration::ZERO)).unwrap(), 0);
    assert_eq!(
        stats().wakeups,
        before,
        "an event of the old file woke someone"
    );
    assert!(
        !reader.is_woken(),
        "the old file's event reached the new registration"
    );
    assert_pending!(reader.poll());

    // The new file: exactly one wakeup, and the new data.
    w2.write_all(b"new").unwrap();
    let wakeups = park_until_woken(&reader, "reader on the reused fd number");
    assert_eq!(wakeups, 1);
    let got = assert_ready!(reader.poll()).unwrap();
    drop(reader);
    assert_eq!(&buf[..got], b"new");
    let n_old = keep.read(&mut buf).unwrap();
    assert_eq!(&buf[..n_old], b"old");
}
