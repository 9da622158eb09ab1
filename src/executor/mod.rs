//! The single-threaded executor: `block_on`, `run`, `spawn`, `yield_now`.
//!
//! A runtime (`Core`) lives for one `block_on`/`run` call on one thread, or for the life of a
//! [`runtime::Runtime`](crate::runtime::Runtime), which keeps its tasks from one call to the
//! next and cancels them when dropped. Each task is one allocation
//! whose header is also its waker's data (`raw.rs`); the runtime keeps a table of its live tasks
//! and a FIFO run queue of task references. It never touches an fd, only [`reactor::park`] and
//! the reactor's unparker. Each turn of its loop polls the main future and queued tasks
//! (each poll with a coop budget) until none is runnable or `BATCH` polls are spent, then
//! parks: without blocking if work is left, else until the next event or timer.

mod join;
mod join_wakers;
mod raw;
mod run_queue;
mod state;
mod waker;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

pub use join::{JoinError, JoinHandle, SpawnError};

use crate::reactor::{self, coop};
use join_wakers::JoinWakers;
use raw::{Notified, TaskTable};
use run_queue::RunQueue;
use waker::{MainWaker, Shared};

/// Tasks run between two looks at the reactor while tasks stay runnable (tokio's
/// `event_interval`): keeps timers and I/O from starving behind a busy run queue.
const BATCH: usize = 61;

/// A runtime's executor: for one `block_on`/`run` call (on that call's stack), or for the life
/// of a [`runtime::Runtime`](crate::runtime::Runtime), across its calls. `!Send` (its task
/// table holds raw pointers): a `&Core` means "on the runtime's thread", which `raw.rs` relies
/// on.
pub(crate) struct Core {
    shared: Arc<Shared>,
    /// Live tasks, so that the runtime can drop their futures when it ends.
    tasks: TaskTable,
    /// Wakers of `JoinHandle`s awaiting running tasks.
    join_wakers: JoinWakers,
    queue: RunQueue,
    /// Reused buffer for draining the injection queue.
    inject_buf: RefCell<Vec<Notified>>,
    /// When it started: in a fork child it is the parent's copy, and a new runtime may start
    /// on top of it.
    fork: crate::sys::process::ForkStamp,
    /// Ready operations per task poll (the coop budget).
    budget: u32,
    /// Ended: nothing may be spawned on it any more.
    ended: Cell<bool>,
}

impl Core {
    pub(crate) fn new(budget: u32) -> Core {
        Core {
            shared: Arc::new(Shared::new()),
            tasks: TaskTable::new(),
            join_wakers: JoinWakers::default(),
            queue: RunQueue::default(),
            inject_buf: RefCell::new(Vec::new()),
            fork: crate::sys::process::fork_stamp(),
            budget,
            ended: Cell::new(false),
        }
    }

    /// Whether `shared` is this runtime's cross-thread half (a task's or main waker's runtime
    /// is this one).
    #[inline]
    fn owns(&self, shared: &Shared) -> bool {
        std::ptr::eq(&*self.shared, shared)
    }

    /// Queues a task woken on this thread.
    #[inline]
    fn push_local(&self, task: Notified) {
        match self.queue.push(task) {
            Ok(()) => {}
            // Only if a queue operation itself woke a task, which none does; the wake still
            // counts.
            Err(task) => self.shared.inject(task),
        }
    }

    /// Twice per turn of the loop, almost always with nothing injected: one relaxed load,
    /// inlined, with the rest out of line.
    #[inline]
    fn drain_inject(&self) {
        if self.shared.maybe_injected() {
            self.drain_inject_slow();
        }
    }

    #[inline(never)]
    fn drain_inject_slow(&self) {
        let mut buf = self.inject_buf.borrow_mut();
        self.shared.drain(&mut buf);
        if !buf.is_empty() {
            self.queue.extend(buf.drain(..));
        }
    }

    /// Runs up to `n` queued tasks (those queued before the call, as `n` is their count).
    fn run_tasks(&self, n: usize) {
        for _ in 0..n {
            let next = self.queue.pop();
            match next {
                Some(task) => task.run(self),
                None => break,
            }
        }
    }

    /// Spawns a task on this runtime, running or not (it starts at the next turn of the loop).
    #[inline]
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        JoinHandle::new(raw::spawn(self, future))
    }

    /// Runs `future` on this thread with this core as its runtime, and leaves the tasks alive
    /// when it returns (for a later call, or for [`end`](Self::end)).
    ///
    /// # Panics
    /// As [`block_on`]: if a runtime of this process already runs on this thread.
    #[track_caller]
    pub(crate) fn block_on<F: Future>(&self, future: F, wait_for_tasks: bool) -> F::Output {
        check_not_nested();
        /// No budget once the loop is left, even by a panic.
        struct StopBudget;
        impl Drop for StopBudget {
            fn drop(&mut self) {
                coop::stop();
            }
        }
        let _driven = reactor::fallback::executor_running();
        raw::enter(self, || {
            let _stop = StopBudget;
            drive(self, future, wait_for_tasks)
        })
    }

    /// Ends the runtime (a `runtime::Runtime` is dropped): closes the injection queue and
    /// drops the futures of its tasks, with this core current while they drop, even if another
    /// runtime is running on this thread.
    pub(crate) fn end(&self) {
        // The budget is left alone: it is the running runtime's, if any (none runs otherwise).
        raw::enter_to_end(self, || drop(Teardown(self, false)));
    }
}

/// Ends the runtime when `block_on` returns or unwinds, while it is still this thread's
/// runtime: closes the injection queue (later wakes do nothing), then drops the futures of the
/// tasks still alive, including those that dropping others spawns; then, if `.1`, clears the
/// coop budget.
struct Teardown<'a>(&'a Core, bool);

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        let rt = self.0;
        rt.ended.set(true);
        drop(rt.shared.close());
        loop {
            raw::cancel_all(rt);
            // Released one at a time, outside the queue's borrow (a release may free a task).
            let next = rt.queue.pop();
            match next {
                Some(entry) => drop(entry),
                None if rt.tasks.is_empty() => break,
                None => {}
            }
        }
        if self.1 {
            coop::stop();
        }
    }
}

/// Panics, with a message that says what to do instead, if a runtime of this process is
/// running on this thread. A fork child may start over inside the copied call stack of its
/// parent's runtime: that runtime is a copy nobody else drives, and it resumes when the new
/// one returns.
#[track_caller]
fn check_not_nested() {
    if raw::is_entered_in_this_process() {
        panic!(
            "geode: block_on/run called inside a running geode runtime on the same thread. \
             The inner call would block the task that is running the outer one; `.await` \
             the future instead, or `geode::spawn` it"
        );
    }
}

#[track_caller]
fn block_on_inner<F: Future>(future: F, wait_for_tasks: bool) -> F::Output {
    check_not_nested();
    let rt = Core::new(coop::BUDGET);
    let _driven = reactor::fallback::executor_running();
    raw::enter(&rt, || {
        // Declared first, so dropped last: after the main future, which `drive` drops when it
        // returns, and whose destructor may still spawn or wake tasks.
        let _teardown = Teardown(&rt, true);
        drive(&rt, future, wait_for_tasks)
    })
}

/// The loop: polls the main future and the tasks, parks the reactor when none is runnable.
/// Called with `rt` current.
#[inline(always)]
fn drive<F: Future>(rt: &Core, future: F, wait_for_tasks: bool) -> F::Output {
    // Due for its first poll. Read Relaxed below: the swap before each poll is the Acquire
    // that sees what the waking side wrote.
    let main = Arc::new(MainWaker {
        shared: rt.shared.clone(),
        scheduled: AtomicBool::new(true),
    });
    let waker = Waker::from(main.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let mut output = None;
    loop {
        // Alternate the main future (if woken) and one round of the tasks queued at that
        // point, until nothing is runnable or `BATCH` polls are spent. A future that wakes
        // itself (`yield_now`) goes behind what is already queued, main future included.
        let mut batch = BATCH;
        loop {
            if output.is_none() && main.scheduled.load(Ordering::Relaxed) {
                batch -= 1;
                main.scheduled.swap(false, Ordering::AcqRel);
                coop::start(rt.budget);
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    if !wait_for_tasks {
                        return out;
                    }
                    output = Some(out);
                }
            }
            let round = rt.queue.len().min(batch);
            rt.run_tasks(round);
            batch -= round;
            let main_ready = output.is_none() && main.scheduled.load(Ordering::Relaxed);
            if batch == 0 || (!main_ready && rt.queue.is_empty()) {
                break;
            }
        }
        rt.drain_inject();
        // `run` ends when the main future, every task *and* every timer are done. Checked
        // right before parking: parking with nothing left would sleep forever.
        if output.is_some() && rt.tasks.is_empty() && reactor::timers_pending() == 0 {
            if let Some(out) = output.take() {
                return out;
            }
        }
        let busy =
            !rt.queue.is_empty() || (main.scheduled.load(Ordering::Relaxed) && output.is_none());
        if let Err(e) = reactor::run_once(if busy { Some(Duration::ZERO) } else { None }) {
            panic!("geode: the reactor failed and the runtime cannot go on: {e}");
        }
        rt.drain_inject();
    }
}

/// Runs a future to completion on this thread, polling the tasks it spawns meanwhile.
///
/// Returns as soon as `future` completes; tasks still running are cancelled (their futures are
/// dropped). Use [`run`] to wait for them too, or a [`Runtime`](crate::runtime::Runtime) to
/// keep them for a later call.
///
/// # Panics
/// If called while a geode runtime is already running on this thread (from inside a task or
/// the future of an outer `block_on`): the inner call would block the outer runtime. Panics of
/// `future` itself propagate; panics of spawned tasks do not (see [`JoinError::is_panic`]).
///
/// A fork child is not nesting: forked inside `block_on`, it may call `block_on` there and
/// gets a fresh runtime of its own (the thread's reactor gives the child its own epoll
/// instance); the copied runtime of its parent resumes, in the child, once it returns.
///
/// # Examples
/// ```
/// let answer = geode::block_on(async {
///     geode::time::sleep(std::time::Duration::from_millis(1)).await;
///     42
/// });
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    block_on_inner(future, false)
}

/// Like [`block_on`], but after `future` completes keeps running until every spawned task has
/// finished and every pending timer has fired.
///
/// # Panics
/// As [`block_on`].
///
/// # Examples
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let done = Rc::new(Cell::new(false));
/// let flag = done.clone();
/// geode::run(async move {
///     geode::spawn(async move {
///         geode::time::sleep(Duration::from_millis(5)).await;
///         flag.set(true);
///     });
/// });
/// assert!(done.get(), "run waited for the spawned task");
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    block_on_inner(future, true)
}

/// Spawns a task on the runtime running on this thread.
///
/// The future needs no `Send` bound: it never leaves this thread. The task starts at the next
/// turn of the executor, not inside `spawn`.
///
/// # Panics
/// If no geode runtime runs on this thread (outside [`block_on`]/[`run`]); see [`try_spawn`].
///
/// # Examples
/// ```
/// geode::block_on(async {
///     let local = std::rc::Rc::new(5); // not Send: fine
///     let h = geode::spawn(async move { *local + 1 });
///     assert_eq!(h.await.unwrap(), 6);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match try_spawn(future) {
        Ok(handle) => handle,
        Err(e) => panic!("geode::spawn: {e}"),
    }
}

/// Spawns a task, or returns [`SpawnError`] if no geode runtime runs on this thread.
///
/// # Examples
/// ```
/// assert!(geode::try_spawn(async {}).is_err()); // not inside block_on
/// geode::block_on(async { assert!(geode::try_spawn(async {}).is_ok()) });
/// ```
pub fn try_spawn<F>(future: F) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + 'static,
    F::Output: 'static,
{
    raw::with_current_or_none(|rt| match rt {
        Some(rt) => Ok(rt.spawn(future)),
        None => spawn_entered(future),
    })
}

/// Spawns on the runtime of the innermost live `Runtime::enter` guard, if it has not ended.
#[inline(never)]
fn spawn_entered<F>(future: F) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let core = ENTERED.with(Cell::take);
    let handle = match &core {
        Some(core) if !core.ended.get() => Ok(core.spawn(future)),
        _ => Err(SpawnError::new()),
    };
    ENTERED.with(|e| e.set(core));
    handle
}

thread_local! {
    /// The runtime of the innermost live `Runtime::enter` guard on this thread, for `spawn`
    /// outside a running runtime. Counted (`Rc`): a guard that is forgotten keeps the core
    /// allocated (ended, so nothing is spawned on it) rather than leaving a dangling pointer.
    static ENTERED: Cell<Option<Rc<Core>>> = const { Cell::new(None) };
}

/// Makes `core` the runtime `spawn` uses on this thread while no runtime is running, until
/// the returned guard is dropped (then the previous one is again).
pub(crate) fn enter_spawner(core: Rc<Core>) -> Entered {
    Entered {
        prev: ENTERED.with(|e| e.replace(Some(core))),
    }
}

/// Undoes an [`enter_spawner`] when dropped. `!Send` (it holds an `Rc`).
pub(crate) struct Entered {
    prev: Option<Rc<Core>>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        // The replaced core is dropped outside the cell (dropping it frees only the core).
        let replaced = ENTERED.try_with(|e| e.replace(self.prev.take()));
        drop(replaced);
    }
}

/// Whether a runtime of this process is running (in `block_on`/`run`) on this thread.
pub(crate) fn is_running() -> bool {
    raw::is_entered_in_this_process()
}

/// Yields to the executor: the current task runs again after the tasks already queued and
/// after the reactor has looked for I/O and due timers once (without blocking), as tokio's
/// `yield_now` does.
///
/// # Examples
/// ```
/// geode::block_on(async {
///     geode::yield_now().await;
/// });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Woken at the end of the reactor's next turn, so that timers and I/O that came due
        // meanwhile (after `time::advance`, say) are seen before this task runs again.
        if reactor::defer(cx.waker()).is_none() {
            cx.waker().wake_by_ref();
        }
        // Where nothing runs the reactor, a turn now wakes us (and the helper takes note).
        let mut turned = false;
        while reactor::fallback::retry_after_turn(cx.waker(), &mut turned) {}
        Poll::Pending
    }
}
