//! `geode::process` through the public API.
//!
//! Every test runs in `util::isolated` (one at a time, on a fresh thread) and ends by checking
//! that it left no zombie child and (where it counts them) no fd: orphans are reaped by geode's
//! `geode-reaper` thread, so the checks first wait (bounded) until that thread is gone.
//! `pidfd_fallback_*` re-runs this binary as a child with `GEODE_NO_PIDFD=1` (read at the first
//! spawn, so it needs a fresh process), where the same scenarios run over SIGCHLD.

mod util;
use util::isolated;

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use geode::process::{Child, Command};
use geode::time::sleep;
use util::{TempDir, bounded, open_fds};

/// Our children that are zombies (state `Z` with us as parent), from `/proc/*/stat`.
fn zombies() -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after it.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if state == Some("Z") && ppid == Some(me) {
            found.push(pid);
        }
    }
    found
}

/// Whether geode's reaper thread runs in this process.
fn reaper_running() -> bool {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .any(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "geode-reaper")
        })
}

/// Whether process `pid` still exists (running, or a zombie nobody reaped).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits (bounded) until `cond` holds, looking every 10 ms.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    bounded(30, what, async {
        while !cond() {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Waits until the reaper has finished, then checks that no child of ours is a zombie.
async fn no_zombies_left() {
    eventually("the reaper thread to finish", || !reaper_running()).await;
    assert_eq!(zombies(), Vec::<u32>::new(), "zombie children left behind");
}

/// This process's fds and what they are, for messages.
fn fd_list() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .map(|e| {
            let link = std::fs::read_link(e.path()).unwrap_or_default();
            format!("{} -> {}", e.file_name().to_string_lossy(), link.display())
        })
        .collect();
    fds.sort();
    fds
}

/// How many fds of this process are pidfds.
fn pidfds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("[pidfd]"))
        })
        .count()
}

#[test]
fn status_output_and_exit_codes() {
    isolated(|| {
        geode::block_on(async {
            let status = bounded(30, "true", Command::new("true").status())
                .await
                .unwrap();
            assert!(status.success());
            let status = bounded(
                30,
                "exit 7",
                Command::new("sh").args(["-c", "exit 7"]).status(),
            )
            .await
            .unwrap();
            assert_eq!(status.code(), Some(7));
            let out = bounded(
                30,
                "output",
                Command::new("sh")
                    .args(["-c", "echo out; echo err >&2; read x; echo \"[$x]\""])
                    .output(),
            )
            .await
            .unwrap();
            assert!(out.status.success());
            // stdin is null for output(): `read` sees end-of-file at once.
            assert_eq!(out.stdout, b"out\n[]\n");
            assert_eq!(out.stderr, b"err\n");
            let from_std: Command = std::process::Command::new("false").into();
            let mut from_std = from_std;
            assert_eq!(from_std.status().await.unwrap().code(), Some(1));
            no_zombies_left().await;
        });
    });
}

#[test]
fn piped_stdin_stdout_and_stderr_are_async_streams() {
    isolated(|| {
        geode::block_on(async {
            let mut child = Command::new("sh")
                .args(["-c", "cat; echo bye >&2"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            // futures-io traits: a line through cat and back, while cat runs.
            AsyncWriteExt::write_all(&mut stdin, b"ping\n")
                .await
                .unwrap();
            let mut line = [0; 5];
            bounded(30, "cat's echo", stdout.read_exact(&mut line))
                .await
                .unwrap();
            assert_eq!(&line, b"ping\n");
            drop(stdin);
            let mut rest = Vec::new();
            bounded(
                30,
                "cat's end",
                AsyncReadExt::read_to_end(&mut stdout, &mut rest),
            )
            .await
            .unwrap();
            assert!(rest.is_empty());
            let mut err = String::new();
            let mut stderr = child.stderr.take().unwrap();
            bounded(30, "stderr", stderr.read_to_string(&mut err))
                .await
                .unwrap();
            assert_eq!(err, "bye\n");
            assert!(bounded(30, "wait", child.wait()).await.unwrap().success());
            no_zombies_left().await;
        });
    });
}

#[test]
fn wait_with_output_drains_both_pipes_at_once() {
    isolated(|| {
        geode::block_on(async {
            // 1 MiB on each: either pipe fills (64 KiB) unless both are read while the child runs.
            let child = Command::new("sh")
                .args([
                    "-c",
                    "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let out = bounded(60, "wait_with_output", child.wait_with_output())
                .await
                .unwrap();
            assert!(out.status.success());
            assert_eq!(out.stdout.len(), 1 << 20);
            assert_eq!(out.stderr.len(), 1 << 20);
            no_zombies_left().await;
        });
    });
}

#[test]
fn try_wait_id_kill_and_start_kill() {
    isolated(|| {
        geode::block_on(async {
            let mut child = Command::new("sleep").arg("30").spawn().unwrap();
            let pid = child.id().unwrap();
            assert!(child.try_wait().unwrap().is_none());
            // (None where the SIGCHLD fallback is forced, as under valgrind, which lacks
            // pidfd_open.)
            let forced_fallback = std::env::var("GEODE_NO_PIDFD").as_deref() == Ok("1");
            assert_eq!(
                pidfds(),
                usize::from(!forced_fallback),
                "one pidfd watches the child"
            );
            bounded(30, "kill", child.kill()).await.unwrap();
            let status = child.wait().await.unwrap();
            assert_eq!(status.signal(), Some(libc::SIGKILL));
            assert_eq!(child.try_wait().unwrap(), Some(status));
            assert_eq!(child.id(), None);
            assert!(!exists(pid) || !zombies().contains(&pid));
            let err = child.start_kill().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            // start_kill, then wait.
            let mut child = Command::new("sleep").arg("30").spawn().unwrap();
            child.start_kill().unwrap();
            let status = bounded(30, "wait after start_kill", child.wait())
                .await
                .unwrap();
            assert_eq!(status.signal(), Some(libc::SIGKILL));
            assert_eq!(pidfds(), 0);
            // A child that exited before anyone waited is reaped at once.
            let mut quick = Command::new("true").spawn().unwrap();
            let pid = quick.id().unwrap();
            eventually("true to exit", || zombies().contains(&pid)).await;
            assert!(bounded(30, "wait", quick.wait()).await.unwrap().success());
            no_zombies_left().await;
        });
    });
}

/// 200 children at once, each awaited by its own task: all exit codes right, none left.
fn two_hundred_children() {
    geode::block_on(async {
        // Warm up: this thread's reactor (and, in the fallback, the signal eventfd) stay.
        Command::new("true").status().await.unwrap();
        // (`true` may have exited before `status` waited: make sure the reactor parked once.)
        sleep(Duration::from_millis(1)).await;
        let (before, listed) = (open_fds(), fd_list());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let mut child = Command::new("sh")
                    .args(["-c", &format!("exit {}", i % 100)])
                    .spawn()
                    .unwrap();
                geode::spawn(async move { (i, child.wait().await) })
            })
            .collect();
        for task in tasks {
            let (i, status) = bounded(60, "a child's exit", task).await.unwrap();
            assert_eq!(status.unwrap().code(), Some(i % 100));
        }
        no_zombies_left().await;
        assert_eq!(
            open_fds(),
            before,
            "fds left after 200 children: {:?}, before: {listed:?}",
            fd_list()
        );
    });
}

#[test]
fn two_hundred_concurrent_children_are_all_reaped() {
    isolated(|| {
        two_hundred_children();
    });
}

/// A dropped child: with `kill_on_drop` it is killed and reaped, without it it runs to its end
/// and is still reaped; spawned from a runtime that ends right away, so only the reaper can.
fn dropped_children() {
    let dir = TempDir::new(&format!("process-drop-{}", std::process::id()));
    let marker = dir.join("finished");
    let (killed, survivor) = geode::block_on(async {
        let killed = Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let survivor = Command::new("sh")
            .arg("-c")
            .arg(format!("sleep 0.2; touch {}", marker.display()))
            .spawn()
            .unwrap();
        let pids = (killed.id().unwrap(), survivor.id().unwrap());
        drop(killed);
        drop(survivor);
        pids
    });
    // The runtime is gone; the reaper does the rest.
    geode::block_on(async {
        eventually("the kill_on_drop child to be reaped", || !exists(killed)).await;
        eventually("the dropped child to be reaped", || !exists(survivor)).await;
        assert!(marker.exists(), "the child without kill_on_drop was killed");
        no_zombies_left().await;
    });
}

#[test]
fn kill_on_drop_kills_and_reaps_and_a_dropped_child_is_still_reaped() {
    isolated(|| {
        dropped_children();
    });
}

/// Nonexistent program, file not executable, a directory as program, nonexistent
/// `current_dir`: the right error kind, errno intact, nothing left behind.
fn bad_input() {
    geode::block_on(async {
        let dir = TempDir::new(&format!("process-bad-{}", std::process::id()));
        let not_exec = dir.join("not-executable");
        std::fs::write(&not_exec, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).unwrap();
        // Warm up: the first spawn sets up what stays (the SIGCHLD listener's eventfd in the
        // fallback).
        Command::new("true").status().await.unwrap();
        sleep(Duration::from_millis(1)).await;
        let before = open_fds();
        let cases: [(&str, Command, ErrorKind, i32); 5] = [
            (
                "no such program",
                Command::new("/no/such/program"),
                ErrorKind::NotFound,
                libc::ENOENT,
            ),
            (
                "not in PATH",
                Command::new("geode-no-such-program"),
                ErrorKind::NotFound,
                libc::ENOENT,
            ),
            (
                "not executable",
                Command::new(&not_exec),
                ErrorKind::PermissionDenied,
                libc::EACCES,
            ),
            (
                "a directory",
                Command::new(&dir.0),
                ErrorKind::PermissionDenied,
                libc::EACCES,
            ),
            (
                "no such current_dir",
                {
                    let mut c = Command::new("true");
                    c.current_dir("/no/such/dir");
                    c
                },
                ErrorKind::NotFound,
                libc::ENOENT,
            ),
        ];
        for (what, mut cmd, kind, errno) in cases {
            let spawned = cmd.stdout(Stdio::piped()).stdin(Stdio::piped()).spawn();
            let Err(err) = spawned.map(|_: Child| ()) else {
                panic!("{what}: spawned");
            };
            assert_eq!(err.kind(), kind, "{what}: {err}");
            assert_eq!(err.raw_os_error(), Some(errno), "{what}: {err}");
            let err = cmd.output().await.unwrap_err();
            assert_eq!(err.kind(), kind, "{what} (output): {err}");
            let err = cmd.status().await.unwrap_err();
            assert_eq!(err.kind(), kind, "{what} (status): {err}");
        }
        assert_eq!(open_fds(), before, "fds leaked by failed spawns");
        no_zombies_left().await;
    });
}

#[test]
fn bad_input_gives_clear_errors_and_leaks_nothing() {
    isolated(|| {
        bad_input();
    });
}

/// A child of other code (std's) beside one of ours: geode reaps only its own, so std's child
/// keeps its status for std's wait.
async fn children_of_other_code() {
    let mut theirs = std::process::Command::new("sh")
        .args(["-c", "exit 5"])
        .spawn()
        .unwrap();
    let mut ours = Command::new("sh")
        .args(["-c", "sleep 0.1"])
        .spawn()
        .unwrap();
    assert!(
        bounded(30, "our child", ours.wait())
            .await
            .unwrap()
            .success()
    );
    assert_eq!(theirs.wait().unwrap().code(), Some(5));
}

#[test]
fn children_of_other_code_are_not_reaped() {
    isolated(|| {
        geode::block_on(async {
            children_of_other_code().await;
            no_zombies_left().await;
        });
    });
}

#[test]
fn children_on_several_threads() {
    isolated(|| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    geode::block_on(async {
                        for _ in 0..25 {
                            let out = bounded(30, "echo", Command::new("echo").arg("x").output())
                                .await
                                .unwrap();
                            assert_eq!(out.stdout, b"x\n");
                        }
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        geode::block_on(no_zombies_left());
    });
}

#[cfg(feature = "tokio-io")]
#[test]
fn tokio_io_traits() {
    use tokio::io::AsyncWriteExt as _;
    isolated(|| {
        geode::block_on(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut stdin, b"tokio")
                .await
                .unwrap();
            stdin.shutdown().await.unwrap();
            drop(stdin);
            let mut out = Vec::new();
            let mut stdout = child.stdout.take().unwrap();
            bounded(
                30,
                "read",
                tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut out),
            )
            .await
            .unwrap();
            assert_eq!(out, b"tokio");
            child.wait().await.unwrap();
        });
    });
}

// ---- The SIGCHLD fallback, in a child process with GEODE_NO_PIDFD=1 ----

const CHILD_ENV: &str = "GEODE_PROCESS_CHILD";

/// The fallback's run of the scenarios above, plus a check that no pidfd is used.
fn fallback_child() -> ! {
    assert_eq!(std::env::var("GEODE_NO_PIDFD").as_deref(), Ok("1"));
    geode::block_on(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(pidfds(), 0, "a pidfd in the SIGCHLD fallback");
        child.kill().await.unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    });
    two_hundred_children();
    dropped_children();
    bad_input();
    // A child of other code is left alone here too (SIGCHLD wakes us for it, we do not reap it).
    geode::block_on(children_of_other_code());
    println!("fallback: all passed");
    std::process::exit(0)
}

#[test]
fn pidfd_fallback_over_sigchld() {
    if std::env::var(CHILD_ENV).is_ok() {
        fallback_child();
    }
    isolated(|| {
        geode::block_on(async {
            let out = bounded(
                300,
                "the fallback run",
                Command::new(std::env::current_exe().unwrap())
                    .args([
                        "pidfd_fallback_over_sigchld",
                        "--exact",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(CHILD_ENV, "1")
                    .env("GEODE_NO_PIDFD", "1")
                    .kill_on_drop(true)
                    .output(),
            )
            .await
            .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && stdout.contains("fallback: all passed"),
                "{}\nstdout: {stdout}\nstderr: {stderr}",
                out.status
            );
            no_zombies_left().await;
        });
    });
}
