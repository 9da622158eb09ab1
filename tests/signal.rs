//! `geode::signal` through the public API.
//!
//! Signals sent to this test process are only `SIGUSR1`, `SIGUSR2`, `SIGHUP`, `SIGWINCH` and
//! a real-time signal, and [`keep_listeners`] holds a listener for the first three for the
//! whole run: a delivery still pending when a test's own listener is gone would otherwise get
//! the default action back, which terminates the process. Ctrl-C (`SIGINT`) is tested in child
//! processes (this binary re-run with `GEODE_SIGNAL_CHILD` naming what to do). Every test runs
//! in `util::isolated` (one at a time), so deliveries of one test do not land in another's counts, and fd counts
//! are exact.

mod util;
use util::{isolated, poll_once};

use std::future::{Future, poll_fn};
use std::io::{self, ErrorKind};
use std::pin::pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Once};
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt;
use geode::process::Command;
use geode::signal::{SignalKind, ctrl_c, signal};
use geode::time::timeout;
use util::{bounded, open_fds};

/// Starts (once) a thread that holds a listener for SIGUSR1, SIGUSR2 and SIGHUP until the
/// process exits (see the file's header).
fn keep_listeners() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let kinds = [
                SignalKind::user_defined1(),
                SignalKind::user_defined2(),
                SignalKind::hangup(),
            ];
            let _listeners: Vec<_> = kinds.iter().map(|k| signal(*k).unwrap()).collect();
            tx.send(()).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv().unwrap();
    });
}

/// `kill(getpid(), sig)`: a process-directed signal, handled by whichever thread has it
/// unblocked.
fn raise(sig: i32) {
    // SAFETY: kill and getpid take no pointers.
    let rc = unsafe { libc::kill(libc::getpid(), sig) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
}

#[test]
fn two_signals_on_two_threads_both_see_one_delivery() {
    isolated(|| {
        keep_listeners();
        let ready = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let ready = ready.clone();
                std::thread::spawn(move || {
                    geode::block_on(async {
                        let mut sig = signal(SignalKind::user_defined2()).unwrap();
                        ready.wait();
                        bounded(20, "recv on a second thread", sig.recv()).await
                    })
                })
            })
            .collect();
        ready.wait();
        raise(libc::SIGUSR2);
        for t in threads {
            assert_eq!(t.join().unwrap(), Some(()));
        }
    });
}

#[test]
fn no_signal_mask_matters_and_thread_directed_signals_arrive() {
    isolated(|| {
        keep_listeners();
        let (tx, rx) = std::sync::mpsc::channel();
        // The listening thread blocks SIGUSR2 itself: the handler must run elsewhere and still
        // wake it.
        let listener = std::thread::spawn(move || {
            // SAFETY: a sigset_t is plain data; sigemptyset/sigaddset initialise it and
            // pthread_sigmask changes only this thread's mask.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR2);
                assert_eq!(
                    libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
                    0
                );
            }
            geode::block_on(async {
                let mut sig = signal(SignalKind::user_defined2()).unwrap();
                tx.send(()).unwrap();
                bounded(20, "recv with the signal blocked here", sig.recv()).await
            })
        });
        rx.recv().unwrap();
        // A thread-directed signal, aimed at a plain thread that runs no runtime (a signalfd
        // could only be read from that very thread).
        let (ptx, prx) = std::sync::mpsc::channel::<()>();
        let target = std::thread::spawn(move || {
            let _ = prx.recv();
        });
        use std::os::unix::thread::JoinHandleExt;
        // SAFETY: the target thread is alive (it waits on `prx` until we send).
        let rc = unsafe { libc::pthread_kill(target.as_pthread_t(), libc::SIGUSR2) };
        assert_eq!(rc, 0);
        assert_eq!(listener.join().unwrap(), Some(()));
        ptx.send(()).unwrap();
        target.join().unwrap();
    });
}

#[test]
fn ten_thousand_rapid_sigusr1s_never_leave_a_recv_hanging() {
    isolated(|| {
        keep_listeners();
        geode::block_on(async {
            let mut sig = signal(SignalKind::user_defined1()).unwrap();
            let done = Arc::new(AtomicBool::new(false));
            let sender = std::thread::spawn({
                let done = done.clone();
                move || {
                    for _ in 0..10_000 {
                        raise(libc::SIGUSR1);
                    }
                    done.store(true, Ordering::SeqCst);
                }
            });
            let mut wakeups = 0u32;
            // While the storm lasts, take deliveries; the timeout only lets us look at `done`.
            while !done.load(Ordering::SeqCst) {
                if timeout(Duration::from_millis(50), sig.recv()).await.is_ok() {
                    wakeups += 1;
                }
            }
            sender.join().unwrap();
            // The storm is over: one more delivery must still wake a recv.
            raise(libc::SIGUSR1);
            assert_eq!(
                bounded(20, "recv after the storm", sig.recv()).await,
                Some(())
            );
            wakeups += 1;
            assert!(
                (1..=10_001).contains(&wakeups),
                "{wakeups} wakeups for 10,001 deliveries"
            );
        });
    });
}

#[test]
fn every_delivery_wakes_a_waiting_recv() {
    isolated(|| {
        keep_listeners();
        geode::block_on(async {
            let mut sig = signal(SignalKind::user_defined1()).unwrap();
            for round in 0..1000 {
                let mut recv = pin!(sig.recv());
                // Waiting first (registered in epoll), then the delivery.
                if poll_fn(|cx| Poll::Ready(recv.as_mut().poll(cx)))
                    .await
                    .is_ready()
                {
                    continue; // a delivery of an earlier round, still in flight
                }
                raise(libc::SIGUSR1);
                let got = timeout(Duration::from_secs(20), recv).await;
                assert_eq!(got, Ok(Some(())), "round {round}: recv did not return");
            }
        });
    });
}

#[test]
fn a_listener_sees_only_deliveries_after_its_creation() {
    isolated(|| {
        keep_listeners();
        geode::block_on(async {
            let mut early = signal(SignalKind::hangup()).unwrap();
            raise(libc::SIGHUP);
            bounded(20, "recv of the first SIGHUP", early.recv()).await;
            let mut late = signal(SignalKind::hangup()).unwrap();
            assert!(
                poll_once(pin!(late.recv())).is_pending(),
                "a listener saw a delivery from before it existed"
            );
            assert!(
                poll_once(pin!(early.recv())).is_pending(),
                "coalesced: one wakeup"
            );
            raise(libc::SIGHUP);
            bounded(20, "late recv", late.recv()).await;
            bounded(20, "early recv", early.recv()).await;
        });
    });
}

#[test]
fn signal_is_a_stream_of_deliveries() {
    isolated(|| {
        keep_listeners();
        geode::block_on(async {
            let mut winch = signal(SignalKind::window_change()).unwrap();
            assert_eq!(winch.kind(), SignalKind::window_change());
            raise(libc::SIGWINCH);
            assert_eq!(bounded(20, "stream item", winch.next()).await, Some(()));
            let mut poll_form = signal(SignalKind::window_change()).unwrap();
            raise(libc::SIGWINCH);
            let got = bounded(20, "poll_recv", poll_fn(|cx| poll_form.poll_recv(cx))).await;
            assert_eq!(got, Some(()));
        });
    });
}

static RAW_HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn raw_handler(_: libc::c_int) {
    RAW_HANDLER_RUNS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_handler_installed_before_geode_still_runs() {
    isolated(|| {
        // A real-time signal nothing else in this process uses; its handler is ours to set.
        let sig = libc::SIGRTMIN() + 4;
        // SAFETY: all-zero is a valid sigaction; we set a handler that only bumps an atomic (async-
        // signal-safe) and keep the default flags.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = raw_handler as extern "C" fn(libc::c_int) as usize;
            assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
        }
        geode::block_on(async {
            let mut ours = signal(SignalKind::from_raw(sig)).unwrap();
            raise(sig);
            bounded(20, "recv of a chained signal", ours.recv()).await;
        });
        assert!(
            RAW_HANDLER_RUNS.load(Ordering::SeqCst) >= 1,
            "the earlier handler did not run"
        );
    });
}

#[test]
fn uncatchable_and_invalid_signals_are_errors_and_leak_nothing() {
    isolated(|| {
        keep_listeners();
        let before = open_fds();
        for sig in [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
            libc::SIGILL,
            libc::SIGFPE,
            0,
            -1,
            65,
            1000,
            i32::MIN,
        ] {
            let err = signal(SignalKind::from_raw(sig)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "signal {sig}: {err}");
            assert!(!err.to_string().is_empty());
        }
        // A number glibc keeps for itself (its thread cancellation signal): sigaction's EINVAL.
        let err = signal(SignalKind::from_raw(libc::SIGRTMIN() - 1)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        assert_eq!(open_fds(), before, "a refused signal() left an fd behind");
        // A listener's fd goes with it.
        let sig = signal(SignalKind::user_defined1()).unwrap();
        assert_eq!(open_fds(), before + 1);
        drop(sig);
        assert_eq!(open_fds(), before);
    });
}

// ---- Ctrl-C in child processes ----

/// The environment variable that makes this binary a child doing one thing.
const CHILD_ENV: &str = "GEODE_SIGNAL_CHILD";

/// Runs this test binary again as a child that runs only `test` with `CHILD_ENV=mode`, sends it
/// SIGINT once it has printed "ready", and returns its exit status and stdout.
async fn sigint_child(test: &str, mode: &str) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut out = Vec::new();
    while !String::from_utf8_lossy(&out).contains("ready\n") {
        let mut buf = [0; 256];
        let n = bounded(60, "the child's ready line", stdout.read(&mut buf))
            .await
            .unwrap();
        assert!(
            n > 0,
            "the child ended before it was ready: {}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
    }
    let pid = child.id().unwrap() as i32;
    // SAFETY: kill takes no pointers; `pid` is our unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    bounded(60, "the child's output", stdout.read_to_end(&mut out))
        .await
        .unwrap();
    let status = bounded(60, "the child's exit", child.wait()).await.unwrap();
    (status, String::from_utf8_lossy(&out).into_owned())
}

/// In a child: `ctrl_c()` resolves at SIGINT, and the program exits cleanly.
fn ctrl_c_child() -> ! {
    geode::block_on(async {
        let mut ctrl_c = pin!(ctrl_c());
        // The listener exists from the first poll on.
        assert!(poll_once(ctrl_c.as_mut()).is_pending());
        println!("ready");
        match timeout(Duration::from_secs(60), ctrl_c).await {
            Ok(Ok(())) => println!("caught SIGINT, shutting down"),
            Ok(Err(e)) => println!("ctrl_c failed: {e}"),
            Err(_) => println!("no SIGINT within 60 s"),
        }
    });
    std::process::exit(0)
}

/// In a child: a dropped listener gives SIGINT its default action back.
fn default_child() -> ! {
    // A child inherits ignored dispositions across exec: started from a shell's background job,
    // SIGINT is SIG_IGN here, and then there is no default action to give back. This test is
    // about the default one, so the child (our own process) puts it in place first.
    // SAFETY: signal() with SIG_DFL installs no handler; nothing else in this process has
    // touched SIGINT yet.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    geode::block_on(async {
        drop(signal(SignalKind::interrupt()).unwrap());
        let mut ctrl_c = Box::pin(ctrl_c());
        assert!(poll_once(ctrl_c.as_mut()).is_pending());
        drop(ctrl_c); // the future, and the listener it made
        println!("ready");
        geode::time::sleep(Duration::from_secs(60)).await;
        println!("still alive after 60 s");
    });
    std::process::exit(0)
}

#[test]
fn ctrl_c_in_a_child_process_exits_cleanly() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("ctrl_c") {
        ctrl_c_child();
    }
    isolated(|| {
        let (status, out) = geode::block_on(sigint_child(
            "ctrl_c_in_a_child_process_exits_cleanly",
            "ctrl_c",
        ));
        assert!(
            out.contains("caught SIGINT, shutting down"),
            "child said: {out}"
        );
        assert!(status.success(), "{status}; child said: {out}");
    });
}

#[test]
fn sigint_terminates_again_once_the_last_listener_is_dropped() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("default") {
        default_child();
    }
    isolated(|| {
        let (status, out) = geode::block_on(sigint_child(
            "sigint_terminates_again_once_the_last_listener_is_dropped",
            "default",
        ));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(libc::SIGINT),
            "{status}; child said: {out}"
        );
        assert!(!out.contains("still alive"), "child said: {out}");
    });
}
