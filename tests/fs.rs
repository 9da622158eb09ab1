//! `geode::fs`: the free functions, `File`'s buffering (read-ahead, write-behind, seeks, flush
//! and drop) and every bad input the issue lists, with fd counts before and after.
//!
//! Tests share one lock: the fd counts must not see another test's files.

mod util;
use util::{TempDir, bounded, in_child, poll_until, run_child_test, serial};

use std::io::{ErrorKind, SeekFrom};
use std::path::Path;
use std::time::Duration;

use futures_util::{AsyncReadExt, StreamExt};
use geode::fs::{self, File};

fn run<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    geode::block_on(bounded(120, what, fut))
}

/// Deterministic bytes, so misplaced chunks show.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Open fds of this process that point into `dir`: every file a test opens lives there, so a
/// leaked `File` (or an fd a failed call forgot) shows up here. (A plain count of all fds is
/// not stable under valgrind, which opens and closes fds of its own as threads come and go.)
fn fds_into(dir: &Path) -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            target
                .starts_with(dir)
                .then(|| format!("{}={}", e.file_name().to_string_lossy(), target.display()))
        })
        .collect()
}

/// `path` opened for reading and writing, created or emptied first.
async fn open_rw_truncated(path: &Path) -> File {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .await
        .unwrap()
}

/// Waits (bounded: detached jobs close their fds a little later) until no fd points into
/// `dir`.
fn no_fds_left_in(dir: &Path) {
    poll_until(
        || fds_into(dir).is_empty(),
        || format!("fds leaked: {:?}", fds_into(dir)),
    );
}

/// This process's open fd count, once this thread's reactor exists (its epoll fd and eventfd
/// stay open for the thread's life, so they belong in a "before" count).
fn fd_count_with_a_reactor() -> usize {
    run(
        "a reactor turn",
        geode::time::sleep(Duration::from_millis(1)),
    );
    util::open_fds()
}

/// Waits (bounded) until the fd count is back to `before`. Natively only: valgrind opens and
/// closes fds of its own as threads come and go; under it, [`no_fds_left_in`] still checks
/// every fd the test could have leaked.
fn fd_count_back_to(before: usize) {
    if util::under_valgrind() {
        println!("total fd count not compared: valgrind's own fds come and go");
        return;
    }
    poll_until(
        || util::open_fds() == before,
        || format!("fds leaked: {before} before, {} after", util::open_fds()),
    );
}

/// Waits (bounded) until `path` holds `want`: for writes that land after a drop.
fn eventually_contains(path: &Path, want: &[u8]) {
    poll_until(
        || std::fs::read(path).unwrap() == want,
        || "the bytes written before the drop never reached the file".to_string(),
    );
}

#[test]
fn free_functions_do_what_std_does() {
    let _g = serial();
    let dir = TempDir::new("free");
    run("free functions", async {
        let a = dir.join("a.txt");
        fs::write(&a, "alpha").await.unwrap();
        assert_eq!(fs::read(&a).await.unwrap(), b"alpha");
        assert_eq!(fs::read_to_string(&a).await.unwrap(), "alpha");
        assert_eq!(fs::metadata(&a).await.unwrap().len(), 5);
        assert!(fs::symlink_metadata(&a).await.unwrap().is_file());

        assert_eq!(fs::copy(&a, dir.join("b.txt")).await.unwrap(), 5);
        fs::rename(dir.join("b.txt"), dir.join("c.txt"))
            .await
            .unwrap();
        fs::hard_link(dir.join("c.txt"), dir.join("d.txt"))
            .await
            .unwrap();
        assert_eq!(fs::read(dir.join("d.txt")).await.unwrap(), b"alpha");
        assert_eq!(
            fs::canonicalize(dir.join("./a.txt")).await.unwrap(),
            std::fs::canonicalize(&a).unwrap()
        );

        fs::create_dir_all(dir.join("x/y/z")).await.unwrap();
        fs::create_dir(dir.join("x/w")).await.unwrap();
        let mut names = Vec::new();
        let mut entries = fs::read_dir(&dir.0).await.unwrap();
        while let Some(e) = entries.next_entry().await.unwrap() {
            assert_eq!(e.path(), dir.0.join(e.file_name()));
            names.push(e.file_name().into_string().unwrap());
        }
        assert_eq!(entries.next_entry().await.unwrap().map(|e| e.path()), None);
        names.sort();
        assert_eq!(names, ["a.txt", "c.txt", "d.txt", "x"]);

        fs::remove_dir(dir.join("x/w")).await.unwrap();
        fs::remove_dir_all(dir.join("x")).await.unwrap();
        fs::remove_file(dir.join("d.txt")).await.unwrap();
        assert_eq!(
            fs::metadata(dir.join("x")).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
}

#[test]
fn read_dir_of_many_entries_in_batches_and_as_a_stream() {
    let _g = serial();
    let dir = TempDir::new("many");
    for i in 0..100 {
        std::fs::write(dir.join(&format!("f{i:03}")), "").unwrap();
    }
    run("read_dir stream", async {
        let entries: Vec<_> = fs::read_dir(&dir.0).await.unwrap().collect().await;
        let mut names: Vec<String> = entries
            .into_iter()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let want: Vec<String> = (0..100).map(|i| format!("f{i:03}")).collect();
        assert_eq!(names, want);
        let mut entries = fs::read_dir(&dir.0).await.unwrap();
        let first = entries.next_entry().await.unwrap().unwrap();
        assert!(first.file_type().await.unwrap().is_file());
        assert_eq!(first.metadata().await.unwrap().len(), 0);
    });
}

#[test]
fn many_small_writes_then_flush_put_every_byte_in_order() {
    let _g = serial();
    let dir = TempDir::new("small-writes");
    let path = dir.join("out");
    let data = pattern(1 << 20);
    run("small writes", async {
        let mut f = File::create(&path).await.unwrap();
        // Through the futures-io trait (the inherent methods do the same).
        for chunk in data.chunks(100) {
            futures_util::AsyncWriteExt::write_all(&mut f, chunk)
                .await
                .unwrap();
        }
        futures_util::AsyncWriteExt::flush(&mut f).await.unwrap();
        // Flushed: in the file now, before the drop.
        assert_eq!(std::fs::read(&path).unwrap(), data);
    });
}

#[test]
fn small_reads_large_reads_and_read_to_end_see_the_file_exactly() {
    let _g = serial();
    let dir = TempDir::new("reads");
    let path = dir.join("in");
    let data = pattern(5 * 1024 * 1024 + 123);
    std::fs::write(&path, &data).unwrap();
    run("reads", async {
        let mut f = File::open(&path).await.unwrap();
        let mut got = Vec::new();
        let mut small = [0; 7];
        for _ in 0..1000 {
            let n = AsyncReadExt::read(&mut f, &mut small).await.unwrap();
            got.extend_from_slice(&small[..n]);
        }
        let mut big = vec![0; 3 * 1024 * 1024];
        f.read_exact(&mut big).await.unwrap();
        got.extend_from_slice(&big);
        f.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "the bytes differ");
        // EOF stays EOF.
        assert_eq!(f.read(&mut small).await.unwrap(), 0);
    });
}

#[test]
fn seeks_count_from_what_the_caller_read_not_from_the_read_ahead() {
    let _g = serial();
    let dir = TempDir::new("seek");
    let path = dir.join("f");
    let data = pattern(300_000);
    std::fs::write(&path, &data).unwrap();
    run("seeks", async {
        let mut f = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let mut buf = [0; 10];
        f.read_exact(&mut buf).await.unwrap();
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 10);
        assert_eq!(f.seek(SeekFrom::Current(5)).await.unwrap(), 15);
        f.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, &data[15..25]);
        assert_eq!(
            futures_util::AsyncSeekExt::seek(&mut f, SeekFrom::End(-4))
                .await
                .unwrap(),
            299_996
        );
        let mut tail = Vec::new();
        f.read_to_end(&mut tail).await.unwrap();
        assert_eq!(tail, &data[299_996..]);
        assert_eq!(f.seek(SeekFrom::Start(100)).await.unwrap(), 100);

        // A write after a read lands where the reader stopped, not after its read-ahead.
        f.read_exact(&mut buf).await.unwrap();
        f.write_all(b"XYZ").await.unwrap();
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 113);
        f.flush().await.unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(&on_disk[110..113], b"XYZ");
        assert_eq!(&on_disk[..110], &data[..110]);
        assert_eq!(&on_disk[113..], &data[113..]);

        // A read after a write sees the write (the write-behind goes first).
        f.seek(SeekFrom::Start(0)).await.unwrap();
        f.write_all(b"head").await.unwrap();
        f.seek(SeekFrom::Start(0)).await.unwrap();
        f.read_exact(&mut buf[..4]).await.unwrap();
        assert_eq!(&buf[..4], b"head");
        let e = f.seek(SeekFrom::Current(-1000)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    });
}

#[test]
fn into_std_leaves_the_cursor_where_the_caller_was() {
    use std::io::{Read, Seek};
    let _g = serial();
    let dir = TempDir::new("into-std");
    let path = dir.join("f");
    let data = pattern(200_000);
    std::fs::write(&path, &data).unwrap();
    run("into_std", async {
        let mut f = File::open(&path).await.unwrap();
        let mut buf = [0; 3];
        f.read_exact(&mut buf).await.unwrap();
        let mut std_file = f.into_std().await.unwrap();
        assert_eq!(std_file.stream_position().unwrap(), 3);
        let mut rest = Vec::new();
        std_file.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[3..]);

        // And writes buffered before into_std are in the file.
        let mut w = File::create(dir.join("w")).await.unwrap();
        w.write_all(b"pending").await.unwrap();
        let std_w = w.into_std().await.unwrap();
        assert_eq!(std::fs::read(dir.join("w")).unwrap(), b"pending");
        let back = File::from_std(std_w);
        assert_eq!(back.metadata().await.unwrap().len(), 7);
    });
}

#[test]
fn drop_after_flush_keeps_everything_and_drop_without_flush_writes_it_later() {
    let _g = serial();
    let dir = TempDir::new("drop");
    run("drop", async {
        let flushed = dir.join("flushed");
        let mut f = File::create(&flushed).await.unwrap();
        f.write_all(b"flushed bytes").await.unwrap();
        f.flush().await.unwrap();
        drop(f);
        assert_eq!(std::fs::read(&flushed).unwrap(), b"flushed bytes");

        let unflushed = dir.join("unflushed");
        let mut f = File::create(&unflushed).await.unwrap();
        let data = pattern(100_000); // past the 64 KiB write-behind threshold, plus a tail
        f.write_all(&data).await.unwrap();
        drop(f);
        eventually_contains(&unflushed, &data);
    });
}

#[test]
fn set_len_sync_and_metadata() {
    let _g = serial();
    let dir = TempDir::new("setlen");
    let path = dir.join("f");
    run("set_len", async {
        let mut f = open_rw_truncated(&path).await;
        f.write_all(b"0123456789").await.unwrap();
        f.set_len(4).await.unwrap(); // the buffered write goes first
        assert_eq!(f.metadata().await.unwrap().len(), 4);
        f.sync_all().await.unwrap();
        f.write_all(b"ab").await.unwrap();
        f.sync_data().await.unwrap();
        // The cursor was at 10 after the first write: the file grew back with a hole.
        assert_eq!(std::fs::read(&path).unwrap(), b"0123\0\0\0\0\0\0ab");
    });
}

#[test]
fn bad_inputs_give_the_real_errors_and_leak_nothing() {
    let _g = serial();
    let dir = TempDir::new("bad");
    let before = fd_count_with_a_reactor();
    run("bad inputs", async {
        // A missing file.
        let missing = dir.join("missing");
        for e in [
            File::open(&missing).await.unwrap_err(),
            fs::read(&missing).await.unwrap_err(),
            fs::metadata(&missing).await.unwrap_err(),
            fs::remove_file(&missing).await.unwrap_err(),
            fs::read_dir(&missing).await.unwrap_err(),
            fs::write(dir.join("no/such/dir"), "x").await.unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
        }

        // A directory opened as a file: opening to read works (as in std), reading fails.
        let mut d = File::open(&dir.0).await.unwrap();
        let mut buf = [0; 8];
        let e = d.read(&mut buf).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");
        assert_eq!(e.kind(), ErrorKind::IsADirectory, "{e}");
        drop(d);
        let e = File::create(&dir.0).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");
        let e = fs::read(&dir.0).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR), "{e}");

        // A write to a file opened read-only: the write is buffered, the flush reports EBADF,
        // and a second flush tries the bytes again (and fails again) instead of dropping them.
        let ro = dir.join("ro");
        std::fs::write(&ro, "read only").unwrap();
        let mut f = File::open(&ro).await.unwrap();
        f.write_all(b"nope").await.unwrap();
        let e = f.flush().await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
        let e = f.flush().await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "the retry: {e}");
        // A write big enough to start a job on its own reports at the next write.
        let big = vec![1; 128 * 1024];
        let first = f.write(&big).await;
        let second = f.write(&big).await;
        assert!(
            first.is_err() || second.is_err(),
            "a write to a read-only file never failed"
        );
        drop(f);
        assert_eq!(std::fs::read(&ro).unwrap(), b"read only");

        // A NUL byte in a path.
        let nul = dir.join("a\0b");
        for e in [
            File::open(&nul).await.unwrap_err(),
            File::create(&nul).await.unwrap_err(),
            fs::read(&nul).await.unwrap_err(),
            fs::write(&nul, "x").await.unwrap_err(),
            fs::metadata(&nul).await.unwrap_err(),
            fs::create_dir(&nul).await.unwrap_err(),
            fs::read_dir(&nul).await.unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        }

        // No access mode: InvalidInput, from std.
        let e = File::options().open(&ro).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let e = File::options()
            .write(true)
            .create_new(true)
            .open(&ro)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    });
    // Every file opened above is closed (a detached write of the read-only file's buffer
    // closes its fd once it gives up).
    no_fds_left_in(&dir.0);
    fd_count_back_to(before);
}

#[test]
fn permission_denied_is_eacces() {
    let _g = serial();
    let dir = TempDir::new("eacces");
    let locked = dir.join("locked");
    std::fs::write(&locked, "secret").unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        check_eacces(&locked);
        return;
    }
    // Root bypasses file permissions; an unprivileged user namespace (uid 65534 inside,
    // mapping nothing) does not.
    let probe = std::process::Command::new("unshare")
        .args(["--user", "true"])
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        println!("skipped: running as root and `unshare --user` is unavailable ({probe:?})");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new("unshare");
    cmd.arg("--user")
        .arg(exe)
        .args([
            "--exact",
            "child_eacces",
            "--nocapture",
            "--ignored",
            "--test-threads=1",
        ])
        .env("GEODE_TEST_CHILD", "1")
        .env("GEODE_TEST_LOCKED", &locked);
    run_child_test(cmd, "child_eacces", 60);
}

#[test]
#[ignore = "run by permission_denied_is_eacces in a child process, in a user namespace"]
fn child_eacces() {
    if !in_child() {
        return;
    }
    check_eacces(Path::new(&std::env::var_os("GEODE_TEST_LOCKED").unwrap()));
}

fn check_eacces(locked: &Path) {
    let before = fd_count_with_a_reactor();
    run("EACCES", async {
        for e in [
            File::open(locked).await.unwrap_err(),
            fs::read(locked).await.unwrap_err(),
            fs::write(locked, "x").await.unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
            assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
        }
    });
    no_fds_left_in(locked.parent().unwrap());
    fd_count_back_to(before);
}

#[cfg(feature = "tokio-io")]
#[test]
fn tokio_traits_read_write_and_seek() {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let _g = serial();
    let dir = TempDir::new("tokio");
    let path = dir.join("f");
    run("tokio traits", async {
        let mut f = open_rw_truncated(&path).await;
        AsyncWriteExt::write_all(&mut f, b"tokio traits")
            .await
            .unwrap();
        AsyncWriteExt::flush(&mut f).await.unwrap();
        assert_eq!(
            AsyncSeekExt::seek(&mut f, SeekFrom::Start(6))
                .await
                .unwrap(),
            6
        );
        let mut s = String::new();
        AsyncReadExt::read_to_string(&mut f, &mut s).await.unwrap();
        assert_eq!(s, "traits");
        assert_eq!(AsyncSeekExt::stream_position(&mut f).await.unwrap(), 12);
    });
}

#[test]
fn a_file_works_under_a_foreign_executor() {
    let _g = serial();
    let dir = TempDir::new("foreign");
    let path = dir.join("f");
    futures_lite::future::block_on(async {
        let mut f = File::create(&path).await.unwrap();
        f.write_all(b"no geode runtime").await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"no geode runtime");
    });
}

#[test]
fn file_and_handles_are_send_like_tokios() {
    fn send<T: Send>() {}
    send::<File>();
    send::<fs::ReadDir>();
    send::<fs::OpenOptions>();
    send::<geode::io::Stdin>();
    send::<geode::io::Stdout>();
    send::<geode::BlockingHandle<Vec<u8>>>();
}
