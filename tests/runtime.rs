//! `geode::runtime::{Runtime, Builder}`: tasks kept across calls and cancelled on drop, one
//! runtime per thread, the enter guard, and every builder option observed taking effect.

mod util;

use std::cell::Cell;
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use geode::net::{TcpListener, UnixStream};
use geode::runtime::{Builder, Runtime};
use geode::time::{Instant, sleep};
use util::{bounded, drop_flag};

/// Counts its turns until `stop`, yielding in between.
async fn count_turns(turns: Rc<Cell<u32>>, stop: u32) {
    while turns.get() < stop {
        turns.set(turns.get() + 1);
        geode::yield_now().await;
    }
}

#[test]
fn tasks_live_across_block_ons_and_are_cancelled_when_the_runtime_is_dropped() {
    let rt = Runtime::new().unwrap();
    let turns = Rc::new(Cell::new(0));
    let (dropped, guard) = drop_flag();
    let counter = turns.clone();
    let task = rt.spawn(async move {
        let _guard = guard;
        count_turns(counter, u32::MAX).await;
    });
    assert_eq!(turns.get(), 0, "nothing runs outside block_on");
    rt.block_on(async {
        for _ in 0..3 {
            geode::yield_now().await;
        }
    });
    let after_first = turns.get();
    assert!(after_first >= 1, "the task ran during the first block_on");
    assert!(!dropped.get() && !task.is_finished(), "and outlived it");
    rt.block_on(async {
        for _ in 0..3 {
            geode::yield_now().await;
        }
    });
    assert!(
        turns.get() > after_first,
        "the same task ran on in the second"
    );
    // A task spawned from inside a block_on outlives it too.
    let (inner_dropped, inner_guard) = drop_flag();
    rt.block_on(async move {
        geode::spawn(async move {
            let _guard = inner_guard;
            std::future::pending::<()>().await;
        });
    });
    assert!(!inner_dropped.get());
    drop(task); // detached: the runtime still owns the task
    assert!(!dropped.get());
    drop(rt);
    assert!(dropped.get(), "dropping the runtime cancels its tasks");
    assert!(inner_dropped.get());
}

#[test]
fn run_waits_for_tasks_spawned_before_it() {
    let rt = Runtime::new().unwrap();
    let done = Rc::new(Cell::new(false));
    let flag = done.clone();
    rt.spawn(async move {
        sleep(Duration::from_millis(1)).await;
        flag.set(true);
    });
    rt.run(async {});
    assert!(done.get());
}

#[test]
fn a_task_spawned_outside_runs_at_the_next_block_on_and_its_handle_works() {
    let rt = Runtime::new().unwrap();
    let h = rt.spawn(async { 41 + 1 });
    assert!(!h.is_finished());
    assert_eq!(rt.block_on(h).unwrap(), 42);
    // A handle awaited in a later call than the one that ran the task.
    let h = rt.spawn(async { "later" });
    rt.block_on(geode::yield_now());
    assert!(h.is_finished());
    assert_eq!(rt.block_on(h).unwrap(), "later");
}

#[test]
fn a_second_runtime_on_one_thread_is_an_error_not_a_panic() {
    let rt = Runtime::new().unwrap();
    let err = Runtime::new().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(
        err.to_string().contains("already has a geode Runtime"),
        "{err}"
    );
    let err = Builder::new().build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    // Inside its own block_on too.
    let err = rt.block_on(async { Runtime::new().unwrap_err() });
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    drop(rt);
    // Once it is gone, the thread may build another.
    let again = Runtime::new().unwrap();
    assert_eq!(again.block_on(async { 5 }), 5);
    drop(again);
    // Inside a running geode::block_on, building one is refused as well.
    let err = geode::block_on(async { Runtime::new().unwrap_err() });
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(
        err.to_string().contains("inside a running geode runtime"),
        "{err}"
    );
    // Another thread is free to have its own meanwhile.
    let rt = Runtime::new().unwrap();
    let other = std::thread::spawn(|| Runtime::new().map(|rt| rt.block_on(async { 1 })));
    assert_eq!(other.join().unwrap().unwrap(), 1);
    drop(rt);
}

#[test]
fn invalid_settings_are_invalid_input() {
    for builder in [
        Builder::new().budget(0),
        Builder::new().event_capacity(0),
        Builder::new().event_capacity(usize::MAX),
    ] {
        let err = builder.build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{builder:?}");
    }
    // A refused build leaves the thread free.
    drop(Runtime::new().unwrap());
}

#[test]
fn nesting_block_on_panics_and_the_runtime_survives_a_panicking_future() {
    let rt = Runtime::new().unwrap();
    let (dropped, guard) = drop_flag();
    rt.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let nested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { rt.block_on(async {}) })
    }));
    let msg = util::panic_message(&*nested.unwrap_err());
    assert!(msg.contains("inside a running geode runtime"), "{msg}");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { panic!("the main future panics") })
    }));
    assert!(panicked.is_err());
    assert!(!dropped.get(), "the runtime's tasks are still alive");
    assert_eq!(
        rt.block_on(async { geode::spawn(async { 3 }).await.unwrap() }),
        3
    );
    // The one-liner refuses to nest inside it, and works beside it.
    assert!(std::panic::catch_unwind(|| rt.block_on(async { geode::block_on(async {}) })).is_err());
    assert_eq!(geode::block_on(async { 9 }), 9);
    drop(rt);
    assert!(dropped.get());
}

#[test]
fn enter_lets_geode_spawn_reach_the_runtime_while_the_guard_lives() {
    let rt = Runtime::new().unwrap();
    assert!(
        geode::try_spawn(async {}).is_err(),
        "no runtime running or entered"
    );
    let (h, nested) = {
        let _outer = rt.enter();
        let h = geode::spawn(async { "entered" });
        let nested = {
            let _inner = rt.enter();
            geode::spawn(async { "nested" })
        };
        // Still entered after the inner guard is gone.
        assert!(geode::try_spawn(async {}).is_ok());
        (h, nested)
    };
    assert!(geode::try_spawn(async {}).is_err(), "the guard is gone");
    assert!(!h.is_finished(), "spawned tasks wait for the next block_on");
    assert_eq!(rt.block_on(h).unwrap(), "entered");
    assert_eq!(rt.block_on(nested).unwrap(), "nested");
    // Inside a running geode::block_on, spawn goes to the running runtime, guard or not.
    let _guard = rt.enter();
    let (ran_there, flag) = drop_flag();
    geode::block_on(async move {
        geode::spawn(async move { drop(flag) }).await.unwrap();
    });
    assert!(ran_there.get());
}

#[test]
fn a_forgotten_guard_outliving_its_runtime_makes_spawn_fail_not_dangle() {
    let rt = Runtime::new().unwrap();
    std::mem::forget(rt.enter());
    assert!(geode::try_spawn(async {}).is_ok());
    drop(rt);
    let err = geode::try_spawn(async {}).unwrap_err();
    assert!(err.to_string().contains("no geode runtime"), "{err}");
}

#[test]
fn a_runtime_dropped_inside_another_runtimes_future_cancels_its_own_tasks() {
    let rt = Runtime::new().unwrap();
    let (dropped, guard) = drop_flag();
    rt.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let seen = dropped.clone();
    let out = geode::block_on(async move {
        drop(rt);
        assert!(seen.get());
        // The running runtime is current again.
        geode::spawn(async { 4 }).await.unwrap()
    });
    assert_eq!(out, 4);
}

#[test]
fn start_paused_runs_on_virtual_time_until_the_runtime_is_dropped() {
    let rt = Builder::new().start_paused(true).build().unwrap();
    let frozen = Instant::now();
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(Instant::now(), frozen, "the clock is paused at build");
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        sleep(Duration::from_secs(3600)).await;
        start.elapsed()
    });
    assert_eq!(elapsed, Duration::from_secs(3600));
    drop(rt);
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(2));
    assert!(
        Instant::now() > t,
        "dropping the runtime lets the clock run again"
    );
}

/// `pairs` connected socket pairs: each read side waits for one byte, then the write sides
/// are written all at once, so every read side becomes ready in the same reactor turn.
/// Returns the reactor's `epoll_wait` returns taken to deliver them.
async fn all_ready_at_once(pairs: usize) -> u64 {
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let started = Rc::new(Cell::new(0));
    for _ in 0..pairs {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        writers.push(a);
        let started = started.clone();
        readers.push(geode::spawn(async move {
            let b = UnixStream::from_std(b)?;
            started.set(started.get() + 1);
            let mut byte = [0];
            b.read_exact(&mut byte).await?;
            Ok::<_, std::io::Error>(byte[0])
        }));
    }
    // Every reader runs to its first would-block (and so into epoll) before the writes (the
    // executor polls at most 61 futures between two reactor turns, so this takes two turns).
    while started.get() < pairs {
        geode::yield_now().await;
    }
    let before = geode::reactor::stats().epoll_wait_calls;
    for w in &mut writers {
        w.write_all(b"x").unwrap();
    }
    for r in readers {
        assert_eq!(bounded(10, "a reader", r).await.unwrap().unwrap(), b'x');
    }
    geode::reactor::stats().epoll_wait_calls - before
}

#[test]
fn a_one_event_buffer_still_delivers_every_event() {
    const PAIRS: usize = 64;
    let rt = Builder::new().event_capacity(1).build().unwrap();
    let waits = rt.block_on(all_ready_at_once(PAIRS));
    // One event per wait: at least one wait per ready reader. (With the default buffer all
    // of them may come back from one wait.)
    assert!(
        waits >= PAIRS as u64,
        "{waits} waits delivered {PAIRS} events"
    );
}

#[test]
fn event_capacity_applies_to_a_reactor_that_already_exists_and_is_reset_on_drop() {
    const PAIRS: usize = 64;
    // The thread's reactor exists (with the default buffer) before the runtime is built.
    geode::block_on(all_ready_at_once(4));
    let rt = Builder::new().event_capacity(2).build().unwrap();
    let waits = rt.block_on(all_ready_at_once(PAIRS));
    assert!(
        waits >= PAIRS as u64 / 2,
        "{waits} waits delivered {PAIRS} events"
    );
    drop(rt);
    // Back to the default: all 64 fit in one wait's buffer. (How many waits it takes still
    // depends on when the reactor looks, so only the bound the small buffer forces is
    // checked above; here, that the reset buffer delivers everything.)
    geode::block_on(all_ready_at_once(PAIRS));
}

/// An always-ready reader (`ops` bytes buffered, read one at a time) beside a task that
/// yields in a loop: how many turns the yielding task got meanwhile.
fn turns_beside_a_busy_reader(rt: &Runtime, ops: usize) -> u32 {
    rt.block_on(async {
        let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
        tx.write_all(&vec![7u8; ops]).unwrap();
        let rx = UnixStream::from_std(rx).unwrap();
        let turns = Rc::new(Cell::new(0));
        let yielder = geode::spawn(count_turns(turns.clone(), u32::MAX));
        let reader = geode::spawn(async move {
            let mut byte = [0];
            for _ in 0..ops {
                rx.read_exact(&mut byte).await.unwrap();
            }
        });
        bounded(60, "the reader", reader).await.unwrap();
        yielder.abort();
        turns.get()
    })
}

#[test]
fn a_small_budget_makes_an_always_ready_task_yield_more_often() {
    const OPS: usize = 1000;
    let small = Builder::new().budget(4).build().unwrap();
    let turns_small = turns_beside_a_busy_reader(&small, OPS);
    drop(small);
    let default = Runtime::new().unwrap();
    let turns_default = turns_beside_a_busy_reader(&default, OPS);
    // The reader yields after each budget's worth of reads, and the yielding task takes one
    // turn per yield: about OPS / budget turns (250 and 8).
    assert!(
        turns_small >= (OPS / 4) as u32 - 4,
        "budget 4: the yielding task ran {turns_small} times during {OPS} reads"
    );
    assert!(
        turns_default <= (OPS / 128) as u32 + 4,
        "budget 128: the yielding task ran {turns_default} times during {OPS} reads"
    );
}

/// The epoll syscall this thread is blocked in, read from another thread while this one
/// waits for a byte on a socket that the watcher writes once it has seen the wait.
fn blocked_in(rt: &Runtime) -> i64 {
    let task = std::fs::read_link("/proc/thread-self").unwrap();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let watcher = std::thread::spawn(move || {
        let path = format!("/proc/{}/syscall", task.display());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let nr = loop {
            let nr = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok());
            match nr {
                Some(nr) if is_epoll_wait(nr) => break nr,
                _ if std::time::Instant::now() > deadline => break -1,
                _ => std::thread::yield_now(),
            }
        };
        (&theirs).write_all(b"!").unwrap();
        nr
    });
    rt.block_on(async {
        let ours = UnixStream::from_std(ours).unwrap();
        let mut byte = [0];
        bounded(60, "the watcher's byte", ours.read_exact(&mut byte))
            .await
            .unwrap();
    });
    let nr = watcher.join().unwrap();
    assert_ne!(
        nr, -1,
        "the runtime's thread was never seen in an epoll wait"
    );
    nr
}

fn is_epoll_wait(nr: i64) -> bool {
    nr == libc::SYS_epoll_pwait
        || nr == libc::SYS_epoll_pwait2
        || (cfg!(target_arch = "x86_64") && nr == 232)
}

#[test]
fn no_epoll_pwait2_makes_the_reactor_wait_with_epoll_wait() {
    let default = Runtime::new().unwrap();
    let preferred = blocked_in(&default);
    drop(default);
    let rt = Builder::new().no_epoll_pwait2(true).build().unwrap();
    assert_eq!(
        blocked_in(&rt),
        libc::SYS_epoll_pwait,
        "the millisecond fallback is epoll_pwait with no signal mask"
    );
    drop(rt);
    // The default comes back with the next runtime (epoll_pwait2 where the kernel has it and
    // GEODE_NO_EPOLL_PWAIT2 is unset).
    let again = Runtime::new().unwrap();
    assert_eq!(blocked_in(&again), preferred);
}

/// The event mask the kernel holds for `fd` in any of this process's epoll instances.
fn epoll_mask_of(fd: i32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_epoll = std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy().contains("eventpoll"));
        if !is_epoll {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            entry.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        for line in info.lines() {
            let mut words = line.split_whitespace();
            if words.next() == Some("tfd:") && words.next() == Some(&fd.to_string()) {
                let mask = words.skip_while(|w| *w != "events:").nth(1)?;
                return u32::from_str_radix(mask, 16).ok();
            }
        }
    }
    None
}

/// The mask a listener is registered with once an accept on it has waited.
fn listener_mask(rt: &Runtime) -> u32 {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let waiting = geode::time::timeout(Duration::from_millis(1), listener.accept()).await;
        assert!(waiting.is_err(), "nobody connected");
        epoll_mask_of(listener.as_raw_fd()).expect("the listener is in an epoll set")
    })
}

#[test]
fn no_epollexclusive_registers_listeners_without_it() {
    let exclusive = libc::EPOLLEXCLUSIVE as u32;
    let rt = Builder::new().no_epollexclusive(true).build().unwrap();
    assert_eq!(listener_mask(&rt) & exclusive, 0);
    drop(rt);
    if util::epollexclusive_disabled() {
        println!("GEODE_NO_EPOLLEXCLUSIVE is set: the default is the fallback too");
        return;
    }
    let rt = Runtime::new().unwrap();
    assert_ne!(
        listener_mask(&rt) & exclusive,
        0,
        "the default keeps EPOLLEXCLUSIVE"
    );
}

#[test]
fn a_runtime_kept_in_a_thread_local_is_dropped_cleanly_when_its_thread_exits() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    thread_local! {
        static RT: std::cell::RefCell<Option<Runtime>> = const { std::cell::RefCell::new(None) };
    }
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = SetOnDrop(cancelled.clone());
    std::thread::spawn(move || {
        RT.with(|rt| {
            let runtime = Builder::new().event_capacity(16).build().unwrap();
            runtime.spawn(async move {
                let _flag = flag;
                sleep(Duration::from_secs(3600)).await;
            });
            runtime.block_on(geode::yield_now());
            *rt.borrow_mut() = Some(runtime);
        });
    })
    .join()
    .expect("the thread exits without a panic in a destructor");
    assert!(
        cancelled.load(Ordering::SeqCst),
        "its task was cancelled as the thread ended"
    );
}
