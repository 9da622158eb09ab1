//! A task's one allocation across threads: wakers woken and dropped on other threads (last
//! reference included), outputs nobody reads, tasks that hold or drop their own `JoinHandle`,
//! tasks spawned while the runtime ends, and a model of the task state machine.
//!
//! Every future and output here is a `!Send` [`Tracked`] that records whether it was dropped
//! on the thread that made it: the runtime must drop them there, whichever thread releases the
//! task's last reference. Run under valgrind by `.ci/valgrind.sh`, which checks that each task is
//! freed exactly once and nothing leaks.

mod util;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once, mpsc};
use std::task::{Poll, Waker};
use std::thread::{self, ThreadId};

use geode::{JoinHandle, block_on, spawn, yield_now};
use proptest::prelude::*;
use proptest::test_runner::Config;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Counts [`Tracked`] values: made, dropped on their own thread, dropped elsewhere.
#[derive(Debug, Default)]
struct Drops {
    made: AtomicUsize,
    home: AtomicUsize,
    away: AtomicUsize,
}

impl Drops {
    /// Every value made so far was dropped, each on the thread that made it.
    fn assert_all_dropped_at_home(&self) {
        let made = self.made.load(Ordering::SeqCst);
        assert_eq!(
            self.away.load(Ordering::SeqCst),
            0,
            "dropped on another thread"
        );
        assert_eq!(
            self.home.load(Ordering::SeqCst),
            made,
            "not dropped (or twice)"
        );
    }
}

/// A `!Send` value that records where it is dropped.
#[derive(Debug)]
struct Tracked {
    home: ThreadId,
    drops: Arc<Drops>,
    _not_send: PhantomData<*const ()>,
}

impl Tracked {
    fn new(drops: &Arc<Drops>) -> Tracked {
        drops.made.fetch_add(1, Ordering::SeqCst);
        Tracked {
            home: thread::current().id(),
            drops: drops.clone(),
            _not_send: PhantomData,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let at = if thread::current().id() == self.home {
            &self.drops.home
        } else {
            &self.drops.away
        };
        at.fetch_add(1, Ordering::SeqCst);
    }
}

/// Another thread that runs closures on request, one at a time, each to completion before
/// `run` returns: a deterministic "elsewhere" for wakes and drops.
struct Remote {
    jobs: Option<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    done: mpsc::Receiver<()>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Remote {
    fn new() -> Remote {
        let (jobs, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let (tx, done) = mpsc::channel();
        let thread = thread::spawn(move || {
            for job in rx {
                job();
                let _ = tx.send(());
            }
        });
        Remote {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        }
    }

    fn run(&self, job: impl FnOnce() + Send + 'static) {
        self.jobs.as_ref().unwrap().send(Box::new(job)).unwrap();
        self.done.recv().expect("the remote thread panicked");
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let r = t.join();
            if !thread::panicking() {
                r.unwrap();
            }
        }
    }
}

/// A future that is pending until `go` is set, keeping its latest waker in `waker`, then
/// returns a fresh [`Tracked`]; it holds one itself.
fn gated(
    drops: &Arc<Drops>,
    go: Rc<Cell<bool>>,
    waker: Rc<RefCell<Option<Waker>>>,
) -> impl Future<Output = Tracked> + 'static {
    let drops = drops.clone();
    let guard = Tracked::new(&drops);
    poll_fn(move |cx| {
        let _ = &guard;
        if go.get() {
            return Poll::Ready(Tracked::new(&drops));
        }
        *waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    })
}

/// Yields until `cond` holds (tasks here make progress at every turn).
async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        yield_now().await;
    }
    panic!("condition not reached in 1000 turns");
}

// ---------------------------------------------------------------------------------------------
// Last references on other threads
// ---------------------------------------------------------------------------------------------

#[test]
fn a_waker_dropped_last_on_another_thread_only_frees_the_task() {
    let drops = Arc::new(Drops::default());
    let remote = Remote::new();
    let waker = block_on(async {
        let (go, slot) = (Rc::new(Cell::new(false)), Rc::new(RefCell::new(None)));
        // Detached: the runtime drops the output itself when the task finishes.
        drop(spawn(gated(&drops, go.clone(), slot.clone())));
        until(|| slot.borrow().is_some()).await;
        let waker: Waker = slot.borrow().clone().unwrap();
        go.set(true);
        waker.wake_by_ref();
        until(|| drops.home.load(Ordering::SeqCst) == 2).await;
        drop(slot.borrow_mut().take());
        waker
    });
    drops.assert_all_dropped_at_home();
    // The task is complete; its runtime is gone. This waker is its last reference.
    remote.run(move || {
        waker.wake_by_ref();
        let clone = waker.clone();
        clone.wake(); // by value
        drop(waker);
    });
    drops.assert_all_dropped_at_home();
}

#[test]
fn an_unread_output_is_dropped_by_its_handle_whoever_frees_the_task() {
    for handle_last in [false, true] {
        let drops = Arc::new(Drops::default());
        let remote = Remote::new();
        let (handle, waker) = block_on(async {
            let (go, slot) = (Rc::new(Cell::new(false)), Rc::new(RefCell::new(None)));
            let h = spawn(gated(&drops, go.clone(), slot.clone()));
            until(|| slot.borrow().is_some()).await;
            go.set(true);
            let waker = slot.borrow_mut().take().unwrap();
            waker.wake_by_ref();
            until(|| h.is_finished()).await;
            (h, waker)
        });
        // The future is gone; the output waits in the task for the handle.
        assert_eq!(drops.home.load(Ordering::SeqCst), 1);
        assert_eq!(drops.made.load(Ordering::SeqCst), 2);
        if handle_last {
            remote.run(move || drop(waker));
            assert_eq!(
                drops.home.load(Ordering::SeqCst),
                1,
                "the output is the handle's"
            );
            drop(handle);
        } else {
            drop(handle);
            remote.run(move || drop(waker));
        }
        drops.assert_all_dropped_at_home();
    }
}

#[test]
fn a_cancelled_tasks_wakers_are_released_on_other_threads() {
    let drops = Arc::new(Drops::default());
    let remote = Remote::new();
    let (handle, wakers) = block_on(async {
        let slot = Rc::new(RefCell::new(None));
        let h = spawn(gated(&drops, Rc::new(Cell::new(false)), slot.clone()));
        until(|| slot.borrow().is_some()).await;
        let w: Waker = slot.borrow().clone().unwrap();
        (h, vec![w.clone(), w])
        // block_on returns: the pending task is cancelled, its future dropped here.
    });
    assert_eq!(drops.home.load(Ordering::SeqCst), 1);
    assert!(handle.is_finished());
    remote.run(move || {
        for w in wakers {
            w.wake_by_ref();
            w.wake();
        }
    });
    assert!(block_on(handle).unwrap_err().is_cancelled());
    drops.assert_all_dropped_at_home();
}

#[test]
fn remote_wakes_racing_the_end_of_the_runtime() {
    // A thread keeps waking (by reference and by value, through clones) a task whose runtime
    // ends meanwhile; some wakes land while it runs, some while it is cancelled, some after.
    // Nothing may be polled, dropped or freed on that thread, and nothing may leak.
    for _ in 0..50 {
        let drops = Arc::new(Drops::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Waker>();
        let s = stop.clone();
        let waker_thread = thread::spawn(move || {
            let w = rx.recv().unwrap();
            let mut n = 0u32;
            while !s.load(Ordering::SeqCst) || n < 100 {
                w.wake_by_ref();
                let clone = w.clone();
                clone.wake(); // by value
                n = n.saturating_add(1);
            }
            w
        });
        block_on(async {
            let slot = Rc::new(RefCell::new(None));
            spawn(gated(&drops, Rc::new(Cell::new(false)), slot.clone()));
            until(|| slot.borrow().is_some()).await;
            tx.send(slot.borrow().clone().unwrap()).unwrap();
            for _ in 0..3 {
                yield_now().await;
            }
        });
        stop.store(true, Ordering::SeqCst);
        let last = waker_thread.join().unwrap();
        drops.assert_all_dropped_at_home();
        thread::spawn(move || drop(last)).join().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Wakes during a poll, own handles, spawning while the runtime ends
// ---------------------------------------------------------------------------------------------

#[test]
fn a_task_woken_from_another_thread_while_it_runs_is_polled_again() {
    let remote = Remote::new();
    block_on(async {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let h = spawn(poll_fn(move |cx| {
            p.set(p.get() + 1);
            if p.get() == 1 {
                // Woken (and the wake finished) before this poll returns Pending.
                let w = cx.waker().clone();
                remote.run(move || w.wake());
                Poll::Pending
            } else {
                Poll::Ready(p.get())
            }
        }));
        assert_eq!(h.await.unwrap(), 2);
        assert_eq!(polls.get(), 2);
    });
}

#[test]
fn a_task_that_holds_its_own_join_handle_is_freed_when_cancelled() {
    let drops = Arc::new(Drops::default());
    block_on(async {
        let own: Rc<RefCell<Option<JoinHandle<Tracked>>>> = Rc::new(RefCell::new(None));
        let slot = Rc::new(RefCell::new(None));
        let mine = own.clone();
        let inner = gated(&drops, Rc::new(Cell::new(false)), slot.clone());
        let h = spawn(async move {
            let _own = mine; // the cycle: the future holds its task's handle
            inner.await
        });
        *own.borrow_mut() = Some(h);
        drop(own);
        until(|| slot.borrow().is_some()).await;
        drop(slot.borrow_mut().take());
        // The runtime ends with the task pending: cancelling it drops the future, which drops
        // the handle, which breaks the cycle.
    });
    drops.assert_all_dropped_at_home();
}

#[test]
fn a_task_that_drops_its_own_join_handle_while_running_finishes_detached() {
    let drops = Arc::new(Drops::default());
    block_on(async {
        let own: Rc<RefCell<Option<JoinHandle<Tracked>>>> = Rc::new(RefCell::new(None));
        let mine = own.clone();
        let d = drops.clone();
        let h = spawn(async move {
            yield_now().await;
            drop(mine.borrow_mut().take());
            yield_now().await;
            Tracked::new(&d)
        });
        *own.borrow_mut() = Some(h);
        until(|| own.borrow().is_none() && drops.home.load(Ordering::SeqCst) == 1).await;
    });
    drops.assert_all_dropped_at_home();
}

struct SpawnOnDrop {
    drops: Arc<Drops>,
    ran: Rc<Cell<bool>>,
}

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let ran = self.ran.clone();
        let guard = Tracked::new(&self.drops);
        // The runtime is ending: the task is accepted, never polled, and its future dropped.
        drop(spawn(async move {
            let _guard = guard;
            ran.set(true);
        }));
    }
}

#[test]
fn tasks_spawned_while_the_runtime_ends_are_dropped_unpolled() {
    let drops = Arc::new(Drops::default());
    let ran = Rc::new(Cell::new(false));
    block_on(async {
        let on_drop = SpawnOnDrop {
            drops: drops.clone(),
            ran: ran.clone(),
        };
        spawn(async move {
            let _on_drop = on_drop;
            std::future::pending::<()>().await;
        });
        yield_now().await;
    });
    assert!(!ran.get());
    assert_eq!(drops.made.load(Ordering::SeqCst), 1);
    drops.assert_all_dropped_at_home();
}

// ---------------------------------------------------------------------------------------------
// A model of the task state machine
// ---------------------------------------------------------------------------------------------

/// The payload of the panics the model asks for, silenced in the panic hook.
struct ModelPanic;

fn silence_model_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<ModelPanic>() {
                default(info);
            }
        }));
    });
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmd {
    Wait,
    Finish,
    Panic,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Done,
    Panicked,
    Cancelled,
}

#[derive(Clone, Debug)]
enum Op {
    Spawn,
    /// Tell task `i` to finish (or panic) at its next poll, and wake it if it has a waker.
    Finish(usize),
    Panic(usize),
    Abort(usize),
    /// Wakes with the waker task `i` left at its last poll: by value (taking it) or by
    /// reference, here or on another thread.
    WakeLocal(usize),
    WakeLocalByRef(usize),
    WakeRemote(usize),
    WakeRemoteByRef(usize),
    /// Takes that waker away and drops it on another thread.
    DropWakerRemote(usize),
    DropHandle(usize),
    /// Awaits the handle if the model says the task is over; else checks it is not finished.
    Join(usize),
    /// Lets every queued task run once.
    Settle,
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0..8usize;
    prop_oneof![
        3 => Just(Op::Spawn),
        2 => i.clone().prop_map(Op::Finish),
        1 => i.clone().prop_map(Op::Panic),
        1 => i.clone().prop_map(Op::Abort),
        1 => i.clone().prop_map(Op::WakeLocal),
        1 => i.clone().prop_map(Op::WakeLocalByRef),
        1 => i.clone().prop_map(Op::WakeRemote),
        1 => i.clone().prop_map(Op::WakeRemoteByRef),
        1 => i.clone().prop_map(Op::DropWakerRemote),
        1 => i.clone().prop_map(Op::DropHandle),
        1 => i.prop_map(Op::Join),
        3 => Just(Op::Settle),
    ]
}

/// What the test shares with a task's future.
struct Ctl {
    cmd: Cell<Cmd>,
    waker: RefCell<Option<Waker>>,
    polls: Cell<u32>,
}

/// The model's view of one task, beside the real handle.
struct ModelTask {
    ctl: Rc<Ctl>,
    handle: Option<JoinHandle<Tracked>>,
    /// Will be polled (or cancelled, if aborted) at the next settle.
    queued: bool,
    aborted: bool,
    outcome: Option<Outcome>,
    polls: u32,
}

fn model_future(ctl: Rc<Ctl>, drops: Arc<Drops>) -> impl Future<Output = Tracked> + 'static {
    let guard = Tracked::new(&drops);
    poll_fn(move |cx| {
        let _ = &guard;
        ctl.polls.set(ctl.polls.get() + 1);
        match ctl.cmd.get() {
            Cmd::Wait => {
                let old = ctl.waker.replace(Some(cx.waker().clone()));
                drop(old);
                Poll::Pending
            }
            Cmd::Finish => Poll::Ready(Tracked::new(&drops)),
            Cmd::Panic => std::panic::panic_any(ModelPanic),
        }
    })
}

fn check_outcome(
    got: Result<Tracked, geode::JoinError>,
    want: Outcome,
) -> Result<(), TestCaseError> {
    let got = match got {
        Ok(_) => Outcome::Done,
        Err(e) if e.is_panic() => Outcome::Panicked,
        Err(e) => {
            prop_assert!(e.is_cancelled());
            Outcome::Cancelled
        }
    };
    prop_assert_eq!(got, want);
    Ok(())
}

async fn apply(
    ops: &[Op],
    tasks: &mut Vec<ModelTask>,
    drops: &Arc<Drops>,
    remote: &Remote,
) -> Result<(), TestCaseError> {
    for op in ops {
        let pick = |i: usize| (!tasks.is_empty()).then(|| i % tasks.len());
        match *op {
            Op::Spawn => {
                let ctl = Rc::new(Ctl {
                    cmd: Cell::new(Cmd::Wait),
                    waker: RefCell::new(None),
                    polls: Cell::new(0),
                });
                let handle = spawn(model_future(ctl.clone(), drops.clone()));
                tasks.push(ModelTask {
                    ctl,
                    handle: Some(handle),
                    queued: true,
                    aborted: false,
                    outcome: None,
                    polls: 0,
                });
            }
            Op::Finish(i) | Op::Panic(i) => {
                let Some(i) = pick(i) else { continue };
                let t = &mut tasks[i];
                let cmd = if matches!(op, Op::Finish(_)) {
                    Cmd::Finish
                } else {
                    Cmd::Panic
                };
                t.ctl.cmd.set(cmd);
                let waker = t.ctl.waker.borrow_mut().take();
                if let Some(w) = waker {
                    w.wake();
                    t.queued |= t.outcome.is_none();
                }
            }
            Op::Abort(i) => {
                let Some(i) = pick(i) else { continue };
                let t = &mut tasks[i];
                if let Some(h) = &t.handle {
                    h.abort();
                    if t.outcome.is_none() && !t.aborted {
                        t.aborted = true;
                        t.queued = true;
                    }
                }
            }
            Op::WakeLocal(i)
            | Op::WakeLocalByRef(i)
            | Op::WakeRemote(i)
            | Op::WakeRemoteByRef(i)
            | Op::DropWakerRemote(i) => {
                let Some(i) = pick(i) else { continue };
                let t = &mut tasks[i];
                let by_ref = matches!(op, Op::WakeLocalByRef(_) | Op::WakeRemoteByRef(_));
                let waker = if by_ref {
                    t.ctl.waker.borrow().clone()
                } else {
                    t.ctl.waker.borrow_mut().take()
                };
                let Some(w) = waker else { continue };
                match op {
                    Op::WakeLocal(_) => w.wake(),
                    Op::WakeLocalByRef(_) => w.wake_by_ref(),
                    Op::WakeRemote(_) => remote.run(move || w.wake()),
                    Op::WakeRemoteByRef(_) => remote.run(move || {
                        w.wake_by_ref();
                        drop(w);
                    }),
                    _ => remote.run(move || drop(w)),
                }
                if !matches!(op, Op::DropWakerRemote(_)) {
                    t.queued |= t.outcome.is_none();
                }
            }
            Op::DropHandle(i) => {
                let Some(i) = pick(i) else { continue };
                drop(tasks[i].handle.take());
            }
            Op::Join(i) => {
                let Some(i) = pick(i) else { continue };
                let t = &mut tasks[i];
                match (t.outcome, t.handle.take()) {
                    (Some(want), Some(h)) => check_outcome(h.await, want)?,
                    (None, Some(h)) => {
                        prop_assert!(!h.is_finished(), "finished before the model says so");
                        t.handle = Some(h);
                    }
                    (_, None) => {}
                }
            }
            Op::Settle => {
                for _ in 0..3 {
                    yield_now().await;
                }
                for t in tasks.iter_mut() {
                    if !std::mem::take(&mut t.queued) || t.outcome.is_some() {
                        continue;
                    }
                    if t.aborted {
                        t.outcome = Some(Outcome::Cancelled);
                        continue;
                    }
                    t.polls += 1;
                    t.outcome = match t.ctl.cmd.get() {
                        Cmd::Wait => None,
                        Cmd::Finish => Some(Outcome::Done),
                        Cmd::Panic => Some(Outcome::Panicked),
                    };
                }
                for t in tasks.iter() {
                    prop_assert_eq!(t.ctl.polls.get(), t.polls);
                    if let Some(h) = &t.handle {
                        prop_assert_eq!(h.is_finished(), t.outcome.is_some());
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
    silence_model_panics();
    let drops = Arc::new(Drops::default());
    let remote = Remote::new();
    let mut tasks = Vec::new();
    block_on(apply(&ops, &mut tasks, &drops, &remote))?;
    // The runtime has ended: every task is over, the unfinished ones cancelled, unpolled.
    for t in tasks.iter_mut() {
        prop_assert_eq!(t.ctl.polls.get(), t.polls);
        let want = t.outcome.unwrap_or(Outcome::Cancelled);
        if let Some(h) = t.handle.take() {
            prop_assert!(h.is_finished());
            check_outcome(block_on(h), want)?;
        }
    }
    // Wakes after the end do nothing; the wakers left are dropped on the other thread, some
    // of them the last reference to their task.
    let wakers: Vec<Waker> = tasks
        .iter()
        .filter_map(|t| t.ctl.waker.borrow_mut().take())
        .collect();
    remote.run(move || {
        for w in wakers {
            w.wake_by_ref();
            w.wake();
        }
    });
    drop(tasks);
    drops.assert_all_dropped_at_home();
    Ok(())
}

proptest! {
    #![proptest_config(Config { failure_persistence: None, ..Config::default() })]

    #[test]
    fn tasks_follow_the_model_across_threads(ops in proptest::collection::vec(op(), 0..60)) {
        check_model(ops)?;
    }
}
