//! The single-threaded executor: `block_on`, `run`, `spawn`, `yield_now`.
//!
//! A runtime lives for one `block_on`/`run` call on one thread. It keeps its tasks in a slab and
//! a FIFO run queue of ids; it never touches an fd, only [`reactor::park`]
//! and the reactor's unparker. Each turn of its loop polls the main future and queued tasks
//! (each poll with a coop budget) until none is runnable or `BATCH` polls are spent, then
//! parks: without blocking if work is left, else until the next event or timer.

mod join;
mod task;
mod waker;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

pub use join::{JoinError, JoinHandle, SpawnError};

use crate::reactor::{self, coop};
use crate::slab::Slab;
use task::{Task, TaskRef};
use waker::{Shared, TaskId, TaskWaker};

/// Tasks run between two looks at the reactor while tasks stay runnable (tokio's
/// `event_interval`): keeps timers and I/O from starving behind a busy run queue.
const BATCH: usize = 61;

static NEXT_RUNTIME: AtomicU64 = AtomicU64::new(1);

struct Runtime {
    shared: Arc<Shared>,
    tasks: RefCell<Slab<TaskRef>>,
    queue: RefCell<VecDeque<TaskId>>,
    main_woken: Cell<bool>,
    /// Reused buffer for draining the injection queue.
    inject_buf: RefCell<Vec<TaskId>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Runtime>>> = const { RefCell::new(None) };
}

/// Queues `id` if `runtime_id` is the runtime running on this thread. Called by wakers.
pub(crate) fn push_local(runtime_id: u64, id: TaskId) -> bool {
    CURRENT
        .try_with(|c| match c.try_borrow().ok().as_deref() {
            Some(Some(rt)) if rt.shared.runtime_id == runtime_id => {
                match id {
                    TaskId::Main => rt.main_woken.set(true),
                    TaskId::Task(_) => rt.queue.borrow_mut().push_back(id),
                }
                true
            }
            _ => false,
        })
        .unwrap_or(false)
}

impl Runtime {
    fn run_task(&self, id: TaskId) {
        let TaskId::Task(key) = id else {
            self.main_woken.set(true);
            return;
        };
        let task = self.tasks.borrow().get(key).cloned();
        if let Some(task) = task {
            if task.run() {
                self.tasks.borrow_mut().remove(key);
            }
        }
    }

    fn drain_inject(&self) {
        if !self.shared.injected.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut buf = self.inject_buf.borrow_mut();
        {
            let mut q = self.shared.inject.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::swap(&mut *q, &mut *buf);
        }
        for id in buf.drain(..) {
            match id {
                TaskId::Main => self.main_woken.set(true),
                TaskId::Task(_) => self.queue.borrow_mut().push_back(id),
            }
        }
    }

    fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let mut tasks = self.tasks.borrow_mut();
        let key = tasks.next_key();
        let header = Arc::new(TaskWaker {
            id: TaskId::Task(key),
            shared: self.shared.clone(),
            scheduled: AtomicBool::new(true),
        });
        let task = Rc::new(Task::new(future, header));
        let inserted = tasks.insert(task.clone() as TaskRef);
        debug_assert_eq!(inserted, key);
        self.queue.borrow_mut().push_back(TaskId::Task(key));
        JoinHandle { task }
    }
}

/// Leaves the runtime when `block_on` returns or unwinds: cancels the tasks still alive and
/// makes every outstanding waker a no-op.
struct Enter {
    rt: Rc<Runtime>,
}

impl Enter {
    #[track_caller]
    fn new() -> Enter {
        let already = CURRENT.with(|c| c.borrow().is_some());
        if already {
            panic!(
                "geode: block_on/run called inside a running geode runtime on the same thread. \
                 The inner call would block the task that is running the outer one; `.await` \
                 the future instead, or `geode::spawn` it"
            );
        }
        let rt = Rc::new(Runtime {
            shared: Arc::new(Shared {
                runtime_id: NEXT_RUNTIME.fetch_add(1, Ordering::Relaxed),
                inject: Mutex::new(Vec::new()),
                injected: AtomicBool::new(false),
                unparker: reactor::unparker(),
                closed: AtomicBool::new(false),
            }),
            tasks: RefCell::new(Slab::new()),
            queue: RefCell::new(VecDeque::new()),
            main_woken: Cell::new(true),
            inject_buf: RefCell::new(Vec::new()),
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(rt.clone()));
        Enter { rt }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        self.rt.shared.closed.store(true, Ordering::Release);
        // Dropping a task's future may spawn or wake others; repeat until nothing is left.
        loop {
            let tasks: Vec<TaskRef> = {
                let mut slab = self.rt.tasks.borrow_mut();
                slab.keys()
                    .into_iter()
                    .filter_map(|k| slab.remove(k))
                    .collect()
            };
            if tasks.is_empty() {
                break;
            }
            for t in tasks {
                t.cancel();
            }
        }
        self.rt.queue.borrow_mut().clear();
        let _ = CURRENT.try_with(|c| c.borrow_mut().take());
    }
}

fn block_on_inner<F: Future>(future: F, wait_for_tasks: bool) -> F::Output {
    let enter = Enter::new();
    let rt = &enter.rt;
    let main = Arc::new(TaskWaker {
        id: TaskId::Main,
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
            if output.is_none() && rt.main_woken.replace(false) {
                batch -= 1;
                main.scheduled.swap(false, Ordering::AcqRel);
                let budget = coop::set(Some(coop::BUDGET));
                let poll = future.as_mut().poll(&mut cx);
                coop::set(budget);
                if let Poll::Ready(out) = poll {
                    if !wait_for_tasks {
                        return out;
                    }
                    output = Some(out);
                }
            }
            let round = rt.queue.borrow().len().min(batch);
            for _ in 0..round {
                let next = rt.queue.borrow_mut().pop_front();
                if let Some(id) = next {
                    rt.run_task(id);
                }
            }
            batch -= round;
            let main_ready = output.is_none() && rt.main_woken.get();
            if batch == 0 || (!main_ready && rt.queue.borrow().is_empty()) {
                break;
            }
        }
        rt.drain_inject();
        // `run` ends when the main future, every task *and* every timer are done. Checked
        // right before parking: parking with nothing left would sleep forever.
        if output.is_some() && rt.tasks.borrow().is_empty() && reactor::timers_pending() == 0 {
            if let Some(out) = output.take() {
                return out;
            }
        }
        let busy = !rt.queue.borrow().is_empty() || (rt.main_woken.get() && output.is_none());
        if let Err(e) = reactor::park(if busy { Some(Duration::ZERO) } else { None }) {
            panic!("geode: the reactor failed and the runtime cannot go on: {e}");
        }
        rt.drain_inject();
    }
}

/// Runs a future to completion on this thread, polling the tasks it spawns meanwhile.
///
/// Returns as soon as `future` completes; tasks still running are cancelled (their futures are
/// dropped). Use [`run`] to wait for them too.
///
/// # Panics
/// If called while a geode runtime is already running on this thread (from inside a task or
/// the future of an outer `block_on`): the inner call would block the outer runtime. Panics of
/// `future` itself propagate; panics of spawned tasks do not (see [`JoinError::is_panic`]).
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
    let rt = CURRENT.with(|c| c.borrow().clone());
    match rt {
        Some(rt) => Ok(rt.spawn(future)),
        None => Err(SpawnError::new()),
    }
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
        Poll::Pending
    }
}
