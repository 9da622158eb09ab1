//! `geode::net::unix::pipe`: anonymous pipes, FIFOs through `OpenOptions`, `from_file`, the
//! readiness surface, EOF and `EPIPE`, and the errors for what is not a pipe.

mod util;
use util::poll_once;

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::pin;

use geode::io::Interest;
use geode::net::unix::pipe::{self, OpenOptions, Receiver, Sender};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("geode-pipe-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// mkfifo(3), in-process: a `mkfifo` child process would hold copies of this process's fds
/// between its fork and exec, and another test's "the reader is gone" would see a reader.
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {path:?}: {}",
        std::io::Error::last_os_error()
    );
}

/// Whether `O_NONBLOCK` is set on `fd`, from /proc/self/fdinfo (octal `flags:`).
fn nonblocking(fd: &OwnedFd) -> bool {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .map(|f| i64::from_str_radix(f.trim(), 8).unwrap())
        .unwrap();
    flags & 0o4000 != 0
}

fn link_of(fd: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

/// This process's fds whose target satisfies `pred`.
fn fds_where(pred: impl Fn(&Path) -> bool) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| pred(target))
        .count()
}

fn fds_into(dir: &Path) -> usize {
    fds_where(|t| t.starts_with(dir))
}

fn fds_to(target: &Path) -> usize {
    fds_where(|t| t == target)
}

#[test]
fn an_anonymous_pipe_reads_writes_and_reports_eof() {
    geode::block_on(util::bounded(10, "pipe", async {
        let (tx, rx) = pipe::pipe().unwrap();
        let mut buf = [0; 16];
        assert_eq!(
            rx.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert!(poll_once(pin!(rx.readable())).is_pending());
        tx.writable().await.unwrap();
        assert_eq!(tx.try_write(b"abc").unwrap(), 3);
        assert_eq!(
            tx.try_write_vectored(&[IoSlice::new(b"de"), IoSlice::new(b"f")])
                .unwrap(),
            3
        );
        let r = rx.ready(Interest::READABLE).await.unwrap();
        assert!(r.is_readable() && !r.is_read_closed());
        let (mut x, mut y) = ([0; 2], [0; 4]);
        let n = rx
            .try_read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .unwrap();
        assert_eq!((n, &x, &y), (6, b"ab", b"cdef"));
        tx.write_all(b"tail").await.unwrap();
        drop(tx);
        let r = rx.ready(Interest::READABLE).await.unwrap();
        assert!(r.is_read_closed(), "{r:?}");
        rx.read_exact(&mut buf[..4]).await.unwrap();
        assert_eq!(&buf[..4], b"tail");
        assert_eq!(rx.read(&mut buf).await.unwrap(), 0);
        assert_eq!(rx.try_read(&mut buf).unwrap(), 0);
        let err = rx.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    }));
}

#[test]
fn a_full_pipe_would_block_and_a_gone_reader_is_epipe() {
    geode::block_on(util::bounded(20, "full pipe", async {
        let (tx, rx) = pipe::pipe().unwrap();
        let mut wrote = 0;
        loop {
            match tx.try_write(&[9; 65536]) {
                Ok(n) => wrote += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let mut writable = pin!(tx.writable());
        assert!(
            poll_once(writable.as_mut()).is_pending(),
            "full, yet writable"
        );
        let mut buf = vec![0; 65536];
        let mut read = 0;
        while read < wrote {
            read += rx.read(&mut buf).await.unwrap();
        }
        writable.await.unwrap();
        drop(rx);
        let r = tx.ready(Interest::WRITABLE).await.unwrap();
        assert!(r.is_write_closed() || r.is_error(), "{r:?}");
        let err = tx.try_write(b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
        let err = tx.write(b"x").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    }));
}

#[test]
fn fifos_open_through_open_options() {
    let dir = temp_dir("fifo");
    let path = dir.join("fifo");
    mkfifo(&path);
    geode::block_on(util::bounded(10, "fifo", async {
        let err = OpenOptions::new().open_sender(&path).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENXIO), "no reader yet");
        // Read-write opens without a reader; the receiver then sees its data.
        let tx = OpenOptions::new()
            .read_write(true)
            .open_sender(&path)
            .unwrap();
        let rx = OpenOptions::new().open_receiver(&path).unwrap();
        tx.write_all(b"fifo").await.unwrap();
        let mut buf = [0; 4];
        rx.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"fifo");
        let tx2 = OpenOptions::new().open_sender(&path).unwrap();
        tx2.write_all(b"2").await.unwrap();
        rx.read_exact(&mut buf[..1]).await.unwrap();
        assert_eq!(buf[0], b'2');
    }));
    let err = OpenOptions::new()
        .open_receiver(dir.join("missing"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn what_is_not_a_pipe_is_refused_with_a_message() {
    let dir = temp_dir("file");
    let file = dir.join("regular");
    std::fs::write(&file, b"not a pipe").unwrap();
    for unchecked in [false, true] {
        let err = OpenOptions::new()
            .unchecked(unchecked)
            .open_receiver(&file)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("geode"), "{err}");
        let err = OpenOptions::new()
            .unchecked(unchecked)
            .open_sender(&file)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    }
    let err = Sender::from_file(std::fs::File::open(&file).unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let err = Receiver::from_file_unchecked(std::fs::File::open(&file).unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    // Every refused file was closed. (Counted by what the fds point at: other tests of this
    // binary, and valgrind, open and close fds of their own meanwhile.)
    assert_eq!(fds_into(&dir), 0, "an error path leaked an fd");
    // A pipe end opened the wrong way round.
    let (r, w) = std::io::pipe().unwrap();
    let pipe_link = link_of(r.as_raw_fd()).unwrap();
    let err = Sender::from_owned_fd(OwnedFd::from(r)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = Receiver::from_owned_fd(OwnedFd::from(w)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(fds_to(&pipe_link), 0, "a refused pipe end stayed open");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn from_file_and_back_to_a_blocking_or_nonblocking_fd() {
    geode::block_on(util::bounded(10, "from_file", async {
        let (r, w) = std::io::pipe().unwrap();
        let tx = Sender::from_owned_fd(OwnedFd::from(w)).unwrap();
        let rx = Receiver::from_owned_fd(OwnedFd::from(r)).unwrap();
        tx.write_all(b"x").await.unwrap();
        let mut b = [0];
        rx.read_exact(&mut b).await.unwrap();
        let fd = tx.into_blocking_fd().unwrap();
        assert!(!nonblocking(&fd));
        let fd = rx.into_nonblocking_fd().unwrap();
        assert!(nonblocking(&fd));
        // Wrapped again, it works again.
        let rx = Receiver::from_owned_fd(fd).unwrap();
        assert_eq!(
            rx.try_read(&mut b).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
    }));
}

#[cfg(feature = "futures-io")]
#[test]
fn the_futures_io_traits() {
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    geode::block_on(util::bounded(10, "futures-io", async {
        let (mut tx, mut rx) = pipe::pipe().unwrap();
        AsyncWriteExt::write_all(&mut tx, b"trait").await.unwrap();
        drop(tx);
        let mut s = String::new();
        rx.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "trait");
    }));
}

#[cfg(feature = "tokio-io")]
#[test]
fn the_tokio_io_traits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    geode::block_on(util::bounded(10, "tokio-io", async {
        let (mut tx, mut rx) = pipe::pipe().unwrap();
        AsyncWriteExt::write_all(&mut tx, b"tokio").await.unwrap();
        drop(tx);
        let mut v = Vec::new();
        AsyncReadExt::read_to_end(&mut rx, &mut v).await.unwrap();
        assert_eq!(v, b"tokio");
    }));
}
