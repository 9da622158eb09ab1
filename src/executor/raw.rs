//! The executor's unsafe core, all in this file: the task cell (one allocation per task: a
//! header, then the future and later its output), the `RawWakerVTable` whose data is that
//! header, the table of a runtime's live tasks, and the pointer to the runtime running on this
//! thread.
//!
//! Why unsafe outside `src/sys` (docs/ARCHITECTURE.md, "Invariants"): a waker must be
//! `Send + Sync`, the task it points at holds a `!Send` future, and a single allocation shared
//! by both is not expressible with `Rc`/`Arc`. What keeps it sound:
//!
//! - **Which thread touches what.** From any thread, through a `Waker` or a [`Notified`]: the
//!   header's state word (atomic), its vtable pointer (immutable) and its `Arc<Shared>`
//!   (`Sync`). Only on the thread of the task's runtime: the future, the output and the slot
//!   index (the join waker is not in the task at all: the runtime keeps it, see
//!   `join_wakers.rs`). The code that touches those is reached only through a `&Core`
//!   (`!Send + !Sync`, so proof of being on its thread) whose `Shared` is the task's
//!   ([`Notified::run`], [`cancel_all`]), or through the task's [`RawJoin`] (`!Send`, created
//!   by [`spawn`] on that thread).
//! - **Freeing drops only `Send` parts.** Whoever drops the last reference, on any thread,
//!   drops the header's `Arc<Shared>` and frees the memory; the stage (future or output) is in
//!   a `ManuallyDrop` and never dropped there. It is empty by then: the
//!   runtime drops the future when a task finishes, is aborted or is cancelled at the end of
//!   the runtime (all on its thread), and an output is kept only for a live `JoinHandle`,
//!   whose reference keeps the task alive until it takes or drops that output on its thread.
//!   Were that ever not so, the value would leak rather than be dropped on the wrong thread.
//! - **References** (`state.rs`): the task table's, the `JoinHandle`'s and each `Waker`'s are
//!   counted; a queue entry is the `SCHEDULED` bit. Every pointer dereferenced below is backed
//!   by one of them, held by the code doing the dereference.
//! - **Wakes after the runtime ended** find the task `COMPLETE` (the runtime cancels every
//!   task before it ends) and do nothing but release what they took.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::Core;
use super::join::JoinError;
use super::state::{
    ABORTED, COMPLETE, INITIAL, JOIN_HANDLE, JOIN_WAKER, OUTPUT, REF_LIMIT, REF_ONE, SCHEDULED,
    last_entry, last_ref,
};
use super::waker::Shared;
use crate::reactor::coop;

// ---------------------------------------------------------------------------------------------
// The runtime running on this thread
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// The runtime of the innermost `enter` on this thread, or null. A raw pointer so that a
    /// wake reads it with one thread-local load, no borrow flag and no destructor check.
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// Whether a runtime started by this process is running on this thread (not one a fork
/// child inherited from its parent's call stack).
pub(super) fn is_entered_in_this_process() -> bool {
    with_current(|rt| !crate::sys::process::forked_since(&rt.fork)) == Some(true)
}

/// Runs `f` with `rt` as this thread's runtime: [`with_current`] finds it until `f` returns or
/// unwinds, and then the runtime it replaced again (only ever a fork child's copy of its
/// parent's).
///
/// # Panics
/// If a runtime of this process is already running on this thread (callers check
/// [`is_entered_in_this_process`] first, to panic with a message that says what to do
/// instead).
pub(super) fn enter<R>(rt: &Core, f: impl FnOnce() -> R) -> R {
    assert!(
        !is_entered_in_this_process(),
        "geode: nested runtime on one thread"
    );
    enter_to_end(rt, f)
}

/// As [`enter`], for ending a runtime (`runtime::Runtime`'s drop), which may happen while
/// another runtime runs on this thread (the `Runtime` was moved into its future): the tasks'
/// destructors must find their own runtime, and the running one is current again afterwards.
pub(super) fn enter_to_end<R>(rt: &Core, f: impl FnOnce() -> R) -> R {
    struct Leave(*const Core);
    impl Drop for Leave {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _leave = Leave(CURRENT.with(|c| c.replace(rt)));
    f()
}

/// Calls `f` with this thread's runtime, if one is running.
#[inline]
pub(super) fn with_current<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    with_current_or_none(|rt| rt.map(f))
}

/// Calls `f` with this thread's runtime if that is the runtime whose cross-thread half is
/// `shared` (a task's or a main future's runtime): the one test of "on its runtime's thread,
/// with that runtime current" that local wakes, join-waker bookkeeping and polls rely on.
#[inline]
pub(super) fn with_own_runtime<R>(shared: &Shared, f: impl FnOnce(&Core) -> R) -> Option<R> {
    with_current_or_none(|rt| match rt {
        Some(rt) if rt.owns(shared) => Some(f(rt)),
        _ => None,
    })
}

/// Calls `f` with this thread's runtime, or with `None` if none is running: one look at the
/// thread-local, for callers that need the `None` case to take what `f` owns (`spawn`).
#[inline]
pub(super) fn with_current_or_none<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    let rt = CURRENT.with(Cell::get);
    if rt.is_null() {
        return f(None);
    }
    // CURRENT is non-null only while `enter_to_end(rt, ..)` (which `enter` calls) runs on this
    // thread: set on entry, put back by `Leave` on return and on unwind to what it was before
    // (null, or the runtime of an enclosing `enter_to_end`, further up the same stack: a fork
    // child's copy of its parent's, or the one whose future is dropping a `runtime::Runtime`).
    // `enter_to_end` borrows `*rt` for that whole call, and this call is nested inside it.
    // SAFETY: so `*rt` is alive and borrowed for longer than `f` runs (same thread, later on
    // the stack).
    f(Some(unsafe { &*rt }))
}

// ---------------------------------------------------------------------------------------------
// The task cell
// ---------------------------------------------------------------------------------------------

/// What the runtime and a `JoinHandle` need from a task, whatever its future's type.
struct Vtable {
    /// Takes a queue entry's reference and polls the task (or frees it if it is complete).
    run: unsafe fn(NonNull<Header>, &Core),
    /// Drops the future of a live task and completes it as cancelled.
    cancel: unsafe fn(NonNull<Header>, &Core),
    /// Writes `Poll::Ready(output)` through the `*mut Poll<Result<Output, JoinError>>` once the
    /// task is complete; registers the waker otherwise.
    poll_join: unsafe fn(NonNull<Header>, *mut (), &mut Context<'_>),
    /// The `JoinHandle` is gone: drops a stored output and releases its reference.
    drop_join: unsafe fn(NonNull<Header>),
    /// Frees the allocation (the last reference is gone).
    dealloc: unsafe fn(NonNull<Header>),
}

/// The part of a task that does not depend on its future's type; a waker's data pointer.
/// 24 bytes: every word is needed by a wake from another thread or by the runtime's table.
#[repr(C)]
struct Header {
    /// Flags and reference count (`state.rs`). Any thread.
    state: AtomicU32,
    /// Where the task sits in its runtime's [`TaskTable`]. Runtime thread only.
    slot: Cell<u32>,
    vtable: &'static Vtable,
    /// The runtime's cross-thread half: identity for local wakes, injection queue for remote
    /// ones. Any thread (`Arc<Shared>` is `Send + Sync`).
    shared: Arc<Shared>,
}

/// The future until the task completes, then the output for its `JoinHandle`. A union, not an
/// enum: the state word already says which (`COMPLETE`, `OUTPUT`), and a tag would cost a word
/// per task.
union Stage<F: Future> {
    /// Present while `COMPLETE` is clear.
    future: ManuallyDrop<F>,
    /// Present while `OUTPUT` is set.
    output: ManuallyDrop<Result<F::Output, JoinError>>,
}

/// The allocation: header first, so a `*mut Task<F>` is a valid `*mut Header`.
#[repr(C)]
struct Task<F: Future> {
    header: Header,
    /// Runtime thread only. Never dropped with the allocation (see the module docs).
    stage: UnsafeCell<Stage<F>>,
}

/// The stage of the `Task<F>` at `ptr`.
///
/// # Safety
/// `ptr` is a live `Task<F>`.
unsafe fn stage<F: Future>(ptr: NonNull<Header>) -> *mut Stage<F> {
    // SAFETY: caller; `UnsafeCell::get` only computes the address.
    unsafe { (*ptr.cast::<Task<F>>().as_ptr()).stage.get() }
}

fn vtable<F: Future>() -> &'static Vtable {
    &Vtable {
        run: run::<F>,
        cancel: cancel::<F>,
        poll_join: poll_join::<F>,
        drop_join: drop_join::<F>,
        dealloc: dealloc::<F>,
    }
}

/// Spawns `future` on `rt`: allocates its task, enters it in the task table and queues it.
pub(super) fn spawn<F>(rt: &Core, future: F) -> RawJoin<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let task = Box::new(Task {
        header: Header {
            state: AtomicU32::new(INITIAL),
            slot: Cell::new(0),
            vtable: vtable::<F>(),
            shared: rt.shared.clone(),
        },
        stage: UnsafeCell::new(Stage {
            future: ManuallyDrop::new(future),
        }),
    });
    let ptr = NonNull::from(Box::leak(task)).cast::<Header>();
    // SAFETY: the task is new (in no table), alive (INITIAL counts the table's reference) and
    // `rt`'s.
    unsafe { rt.tasks.insert(ptr) };
    // INITIAL's SCHEDULED bit is this entry; its other counted reference is the RawJoin's.
    rt.push_local(Notified(ptr));
    RawJoin {
        ptr,
        _owner_thread: PhantomData,
    }
}

/// # Safety
/// `ptr` is a `Task<F>` of `rt`, and the caller hands over the reference of a queue entry
/// (its `SCHEDULED` bit). On `rt`'s thread (implied by `&Core`).
unsafe fn run<F: Future>(ptr: NonNull<Header>, rt: &Core) {
    // SAFETY: the entry's reference keeps the task alive until the `fetch_and` below gives it
    // up; after that, if the task is not complete, the table's reference does (only this
    // thread completes tasks and drops that reference).
    let header = unsafe { ptr.as_ref() };
    // Acquire: see what the waker wrote before it set SCHEDULED, or the poll may miss it.
    // The entry is the SCHEDULED bit, so the bit is set: subtracting it clears it in one
    // `lock xadd` (a `fetch_and` whose result is used is a compare-exchange loop on x86).
    let prev = header.state.fetch_sub(SCHEDULED, Ordering::AcqRel);
    debug_assert!(
        prev & SCHEDULED != 0,
        "geode: a queue entry without its SCHEDULED bit"
    );
    if prev & COMPLETE != 0 {
        if last_entry(prev) {
            // SAFETY: no reference is left; `ptr` is a `Task<F>`.
            unsafe { dealloc::<F>(ptr) };
        }
        return;
    }
    if prev & ABORTED != 0 {
        // SAFETY: a live `Task<F>` of `rt`, on its thread.
        unsafe { complete::<F>(ptr, rt, Err(JoinError::cancelled())) };
        return;
    }
    // Not complete, so the stage holds the future. It is touched only on this thread and
    // nothing else holds a reference to it now: `run` is not reentrant (a poll cannot reach the
    // executor loop: nested `block_on` panics), and while the task is not complete neither its
    // `JoinHandle` nor anything else reads the stage. The future stays in place until
    // `complete` drops it there.
    // SAFETY: so this is the only reference to a live future that never moves: pinned.
    let future = unsafe { Pin::new_unchecked(&mut *(*stage::<F>(ptr)).future) };
    // SAFETY: the data pointer is this task's header and the vtable is `WAKER`'s; the waker is
    // never dropped (`ManuallyDrop`), so it borrows the table's reference instead of counting
    // one; a clone counts its own.
    let waker = ManuallyDrop::new(unsafe { Waker::new(ptr.as_ptr().cast(), &WAKER) });
    let mut cx = Context::from_waker(&waker);
    coop::start(rt.budget);
    let result = match catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx))) {
        // Only this thread sets ABORTED (the JoinHandle's thread): Relaxed.
        Ok(Poll::Pending) if header.state.load(Ordering::Relaxed) & ABORTED == 0 => return,
        Ok(Poll::Pending) => Err(JoinError::cancelled()),
        Ok(Poll::Ready(out)) => Ok(out),
        Err(payload) => Err(JoinError::panic(payload)),
    };
    // SAFETY: a live `Task<F>` of `rt`, on its thread; the `future` borrow has ended.
    unsafe { complete::<F>(ptr, rt, result) };
}

/// # Safety
/// As [`complete`].
unsafe fn cancel<F: Future>(ptr: NonNull<Header>, rt: &Core) {
    // SAFETY: the caller's guarantees are `complete`'s.
    unsafe { complete::<F>(ptr, rt, Err(JoinError::cancelled())) }
}

/// Drops the future in place, stores `result` for the `JoinHandle` (or drops it if there is
/// none), marks the task complete, takes it out of the task table and wakes the `JoinHandle`'s
/// waiter.
///
/// # Safety
/// `ptr` is a live, not yet complete `Task<F>` in `rt`'s table; on `rt`'s thread; nothing
/// borrows its stage.
unsafe fn complete<F: Future>(
    ptr: NonNull<Header>,
    rt: &Core,
    result: Result<F::Output, JoinError>,
) {
    // SAFETY: the table's reference keeps the task alive until `release_ref` below.
    let header = unsafe { ptr.as_ref() };
    // SAFETY: live (above).
    let stage = unsafe { stage::<F>(ptr) };
    // Dropped in place (it is pinned) and first: its destructor may drop this task's
    // JoinHandle, which decides below whether the output is kept. That destructor sees the task
    // not complete, so it does not read the stage.
    // SAFETY: not complete, so the stage holds the future; runtime thread, no other borrow
    // (caller).
    unsafe {
        let future: *mut F = &mut *(*stage).future;
        drop_quietly(|| ptr::drop_in_place(future));
    }
    // Only this thread changes JOIN_HANDLE: Relaxed.
    let keep = header.state.load(Ordering::Relaxed) & JOIN_HANDLE != 0;
    let unwanted = if keep {
        // SAFETY: the future is gone; writing a union field drops nothing.
        unsafe { (*stage).output = ManuallyDrop::new(result) };
        header.state.fetch_or(COMPLETE | OUTPUT, Ordering::Release);
        None
    } else {
        header.state.fetch_or(COMPLETE, Ordering::Release);
        Some(result)
    };
    // SAFETY: a task that is not complete is in its runtime's table, which is `rt`'s, at the
    // slot it was given.
    unsafe { rt.tasks.remove(header.slot.get(), ptr) };
    // Only this thread changes JOIN_WAKER: Relaxed. The slot is still the task's (it is reused
    // only by a later spawn).
    let join = if header.state.fetch_and(!JOIN_WAKER, Ordering::Relaxed) & JOIN_WAKER != 0 {
        rt.join_wakers.take(header.slot.get())
    } else {
        None
    };
    // SAFETY: the table's reference, no longer used.
    unsafe { release_ref(ptr) };
    // User code last, with the task consistent (and perhaps freed).
    if let Some(unwanted) = unwanted {
        drop_quietly(move || drop(unwanted));
    }
    if let Some(waker) = join {
        waker.wake();
    }
}

/// Runs a destructor, swallowing a panic from it (the task is over either way).
fn drop_quietly(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

/// # Safety
/// `ptr` is a `Task<F>` whose `JoinHandle` (which holds a reference) is calling, on the thread
/// it was spawned on; `out` points to a `Poll<Result<F::Output, JoinError>>`.
unsafe fn poll_join<F: Future>(ptr: NonNull<Header>, out: *mut (), cx: &mut Context<'_>) {
    // SAFETY: the JoinHandle's reference keeps the task alive.
    let header = unsafe { ptr.as_ref() };
    if header.state.load(Ordering::Acquire) & COMPLETE == 0 {
        // Not complete, so its runtime is running, on this thread (the JoinHandle's): the
        // current one. Were it not found (a handle polled by a destructor while the runtime
        // ends), waking at once makes the caller poll again instead of waiting for nothing.
        let registered = with_own_runtime(&header.shared, |rt| {
            rt.join_wakers.set(header.slot.get(), cx.waker());
            // Only this thread changes JOIN_WAKER.
            header.state.fetch_or(JOIN_WAKER, Ordering::Relaxed);
        });
        if registered.is_none() {
            cx.waker().wake_by_ref();
        }
        return;
    }
    // Only this thread changes OUTPUT.
    let prev = header.state.fetch_and(!OUTPUT, Ordering::AcqRel);
    if prev & OUTPUT == 0 {
        panic!("geode: JoinHandle polled again after it returned the task's output");
    }
    // SAFETY: OUTPUT was set, so the stage holds the output, and clearing the bit made it
    // ours; runtime thread, no other borrow.
    let result = unsafe { ManuallyDrop::take(&mut (*stage::<F>(ptr)).output) };
    // SAFETY: the caller's `out` has this type (`RawJoin<F::Output>` passes it).
    unsafe { *out.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(result) };
}

/// # Safety
/// `ptr` is a `Task<F>`; its `JoinHandle` is being dropped, on the thread it was spawned on,
/// and hands over its reference.
unsafe fn drop_join<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the JoinHandle's reference keeps the task alive until `release_ref`.
    let header = unsafe { ptr.as_ref() };
    let prev = header
        .state
        .fetch_and(!(JOIN_HANDLE | OUTPUT), Ordering::AcqRel);
    let output = if prev & OUTPUT != 0 {
        // SAFETY: OUTPUT was set, so the stage holds the output, and clearing the bit made it
        // ours; runtime thread, no other borrow.
        Some(unsafe { ManuallyDrop::take(&mut (*stage::<F>(ptr)).output) })
    } else {
        None
    };
    // Nobody will await the task now. (Should the runtime not be found, the entry stays: a
    // later completion in that slot wakes it for nothing, which is harmless.)
    let waker = if prev & JOIN_WAKER != 0 {
        with_own_runtime(&header.shared, |rt| {
            header.state.fetch_and(!JOIN_WAKER, Ordering::Relaxed);
            rt.join_wakers.take(header.slot.get())
        })
        .flatten()
    } else {
        None
    };
    // SAFETY: the JoinHandle's reference, no longer used.
    unsafe { release_ref(ptr) };
    drop(waker);
    // The output's destructor is the task's code: a panic in it is contained, as everywhere
    // else a task's code runs, and does not come out of `drop(JoinHandle)`.
    if let Some(output) = output {
        drop_quietly(move || drop(output));
    }
}

/// # Safety
/// `ptr` is a `Task<F>` with no reference left (count zero, `SCHEDULED` clear), and every
/// write to it by other threads happens-before this call (an Acquire after the last release).
unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: allocated by `spawn` as a `Box<Task<F>>`, and no one else refers to it.
    let task = unsafe { Box::from_raw(ptr.cast::<Task<F>>().as_ptr()) };
    debug_assert!(
        task.header.state.load(Ordering::Relaxed) & (COMPLETE | OUTPUT) == COMPLETE,
        "geode: a task was freed with its future or output still in it"
    );
    // Drops the header's `Arc<Shared>` (`Send`); the stage's fields are `ManuallyDrop`, never
    // dropped here.
    drop(task);
}

/// Drops one counted reference, freeing the task if it was the last.
///
/// # Safety
/// The caller owns a counted reference to the live task at `ptr` and gives it up.
unsafe fn release_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive up to the `fetch_sub`.
    let header = unsafe { ptr.as_ref() };
    // Release: what this thread did to the task happens-before its freeing (or, if a wake is
    // pending, before the poll that takes it: this is that wake's release).
    let prev = header.state.fetch_sub(REF_ONE, Ordering::Release);
    if last_ref(prev) {
        fence(Ordering::Acquire);
        // SAFETY: no reference is left and the fence orders every other release before this.
        unsafe { (header.vtable.dealloc)(ptr) };
    }
}

/// Drops a queue entry's reference (clears `SCHEDULED`), freeing the task if it was the last.
///
/// # Safety
/// The caller owns the entry of the live task at `ptr` and gives it up.
unsafe fn release_entry(ptr: NonNull<Header>) {
    // SAFETY: the entry keeps the header alive up to the `fetch_and`.
    let header = unsafe { ptr.as_ref() };
    let prev = header.state.fetch_and(!SCHEDULED, Ordering::AcqRel);
    if last_entry(prev) {
        // SAFETY: no reference is left; AcqRel ordered every other release before this.
        unsafe { (header.vtable.dealloc)(ptr) };
    }
}

// ---------------------------------------------------------------------------------------------
// Queue entries, the task table, the JoinHandle's side
// ---------------------------------------------------------------------------------------------

/// A task in a run queue: the reference its `SCHEDULED` bit stands for.
pub(super) struct Notified(NonNull<Header>);

// SAFETY: an entry may sit in the injection queue of another thread's runtime and be dropped
// there. Dropping it is atomic and at worst frees the task, which drops only `Send` parts (see
// the module docs). Running it needs a `&Core` whose `Shared` is the task's, i.e. being on
// the task's own thread.
unsafe impl Send for Notified {}

impl Notified {
    /// Polls the task, if it is `rt`'s and not complete.
    pub(super) fn run(self, rt: &Core) {
        let this = ManuallyDrop::new(self);
        let ptr = this.0;
        // SAFETY: the entry's reference keeps the task alive.
        let header = unsafe { ptr.as_ref() };
        if !rt.owns(&header.shared) {
            // Never happens (entries only reach their own runtime's queues); if it did,
            // polling here could be on the wrong thread.
            drop(ManuallyDrop::into_inner(this));
            return;
        }
        // SAFETY: the task is `rt`'s, so this is its thread; the entry's reference is handed
        // over (`this` is not dropped).
        unsafe { (header.vtable.run)(ptr, rt) };
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        // SAFETY: the entry owns its reference and gives it up.
        unsafe { release_entry(self.0) };
    }
}

/// A runtime's live (not complete) tasks, so that it can drop their futures when it ends.
/// Each task knows its slot (4 bytes of header), so removal is O(1); a slot is 8 bytes. The
/// table holds a counted reference to each task in it. A free slot holds the index of the next
/// free one, tagged with the low bit (a header is 8-aligned: a task pointer's low bit is clear).
pub(super) struct TaskTable {
    slots: RefCell<Vec<*mut Header>>,
    /// First free slot, or `NO_SLOT`.
    free: Cell<u32>,
    len: Cell<usize>,
}

const NO_SLOT: u32 = u32::MAX;

fn free_slot(next: u32) -> *mut Header {
    ptr::without_provenance_mut(((next as usize) << 1) | 1)
}

/// The next free slot, if `slot` is a free one.
fn next_free(slot: *mut Header) -> Option<u32> {
    (slot.addr() & 1 == 1).then_some((slot.addr() >> 1) as u32)
}

impl TaskTable {
    pub(super) const fn new() -> TaskTable {
        TaskTable {
            slots: RefCell::new(Vec::new()),
            free: Cell::new(NO_SLOT),
            len: Cell::new(0),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len.get() == 0
    }

    /// # Safety
    /// `task` is live, in no table, and this table's runtime's (on its thread).
    #[inline]
    unsafe fn insert(&self, task: NonNull<Header>) {
        let mut slots = self.slots.borrow_mut();
        let slot = match self.free.get() {
            NO_SLOT => {
                let slot = u32::try_from(slots.len())
                    .ok()
                    .filter(|&s| s != NO_SLOT)
                    .expect("geode: more than 4 billion live tasks");
                slots.push(task.as_ptr());
                slot
            }
            slot => {
                let next = next_free(slots[slot as usize]);
                self.free
                    .set(next.expect("geode: task table free list corrupt"));
                slots[slot as usize] = task.as_ptr();
                slot
            }
        };
        // SAFETY: live (caller); the slot is touched only on this thread.
        unsafe { task.as_ref() }.slot.set(slot);
        self.len.set(self.len.get() + 1);
    }

    /// # Safety
    /// `task` is in this table at `slot` (on its runtime's thread).
    unsafe fn remove(&self, slot: u32, task: NonNull<Header>) {
        let mut slots = self.slots.borrow_mut();
        debug_assert_eq!(slots[slot as usize], task.as_ptr());
        slots[slot as usize] = free_slot(self.free.get());
        self.free.set(slot);
        self.len.set(self.len.get() - 1);
    }

    /// The first task at slot `from` or later, and its slot.
    fn next_live(&self, from: usize) -> Option<(usize, NonNull<Header>)> {
        let slots = self.slots.borrow();
        let (at, &task) = slots
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, s)| next_free(**s).is_none())?;
        Some((at, NonNull::new(task)?))
    }
}

/// Cancels (drops the futures of) `rt`'s live tasks. Tasks that dropping a future spawns may
/// take slots already passed: the caller repeats until the table is empty.
pub(super) fn cancel_all(rt: &Core) {
    let mut from = 0;
    while let Some((at, task)) = rt.tasks.next_live(from) {
        from = at + 1;
        // SAFETY: a task in `rt`'s table is live, not complete and `rt`'s; `&Core` means
        // this is its thread; tasks are not polled while the runtime ends, so nothing borrows
        // its stage.
        unsafe { (task.as_ref().vtable.cancel)(task, rt) };
    }
}

/// The `JoinHandle`'s reference to its task, typed by the output.
pub(super) struct RawJoin<T> {
    ptr: NonNull<Header>,
    /// `!Send + !Sync`: the handle reads the output, which is `!Send`, and registers its waker
    /// with the runtime of the thread that spawned the task. `Rc<T>`, not `T`, keeps the handle `Unpin`.
    _owner_thread: PhantomData<Rc<T>>,
}

impl<T> RawJoin<T> {
    fn header(&self) -> &Header {
        // SAFETY: the handle's reference keeps the task alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(super) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        let mut out = Poll::Pending;
        // SAFETY: the handle holds a reference and is on the spawning thread (`!Send`); it was
        // created by `spawn::<F>` with `F::Output = T`, so `out` has the type the vtable's
        // `poll_join::<F>` writes.
        unsafe { (self.header().vtable.poll_join)(self.ptr, (&raw mut out).cast(), cx) };
        out
    }

    pub(super) fn abort(&self) {
        let prev = self.header().state.fetch_or(ABORTED, Ordering::AcqRel);
        if prev & (COMPLETE | ABORTED) == 0 {
            // SAFETY: the handle's reference keeps the task alive for the call.
            unsafe { schedule(self.ptr) };
        }
    }

    pub(super) fn is_finished(&self) -> bool {
        self.header().state.load(Ordering::Acquire) & COMPLETE != 0
    }
}

impl<T> Drop for RawJoin<T> {
    fn drop(&mut self) {
        // SAFETY: the handle's reference, handed over, on the spawning thread (`!Send`).
        unsafe { (self.header().vtable.drop_join)(self.ptr) };
    }
}

// ---------------------------------------------------------------------------------------------
// The waker
// ---------------------------------------------------------------------------------------------

/// One vtable for every task: a waker needs only the header.
static WAKER: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

/// # Safety
/// `data` is the header of a live task and the caller (a `Waker`) holds a reference to it.
unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: caller.
    let header = unsafe { &*data.cast::<Header>() };
    // Relaxed, as `Arc::clone`: a new reference is made from one the caller already holds.
    if header.state.fetch_add(REF_ONE, Ordering::Relaxed) >= REF_LIMIT {
        std::process::abort();
    }
    RawWaker::new(data, &WAKER)
}

/// # Safety
/// As [`clone_waker`].
unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: caller: a live header, kept alive by the caller's reference.
    unsafe { schedule(NonNull::new_unchecked(data.cast_mut().cast())) }
}

/// # Safety
/// As [`clone_waker`]; the caller's reference is handed over.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: caller.
    unsafe { release_ref(NonNull::new_unchecked(data.cast_mut().cast())) }
}

/// Wake by value. On the task's own thread the waker's reference becomes the queue entry in
/// one atomic operation; elsewhere it is kept until the remote wake is done with the header.
///
/// # Safety
/// As [`clone_waker`]; the caller's reference is handed over.
unsafe fn wake(data: *const ()) {
    // SAFETY: caller.
    let ptr: NonNull<Header> = unsafe { NonNull::new_unchecked(data.cast_mut().cast()) };
    // SAFETY: the waker's reference keeps the task alive until it is released or handed over.
    let header = unsafe { ptr.as_ref() };
    let local = with_own_runtime(&header.shared, |rt| {
        let mut s = header.state.load(Ordering::Relaxed);
        loop {
            if s & (SCHEDULED | COMPLETE) != 0 {
                // Queued already (the release below publishes this wake to its poll), or over.
                // SAFETY: the waker's reference, given up.
                unsafe { release_ref(ptr) };
                return;
            }
            match header.state.compare_exchange_weak(
                s,
                s - REF_ONE + SCHEDULED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        rt.push_local(Notified(ptr));
    });
    if local.is_none() {
        // SAFETY: the waker's reference keeps the task alive through `schedule`, then is given
        // up.
        unsafe {
            schedule(ptr);
            release_ref(ptr);
        }
    }
}

/// Queues the task unless it is queued already or complete.
///
/// # Safety
/// The caller holds a reference to the live task at `ptr` for the whole call.
unsafe fn schedule(ptr: NonNull<Header>) {
    // SAFETY: caller.
    let header = unsafe { ptr.as_ref() };
    // Even when the bit is already set this is a release on the state word, so what the waker
    // wrote before is visible to the poll that clears it.
    let prev = header.state.fetch_or(SCHEDULED, Ordering::AcqRel);
    if prev & SCHEDULED != 0 {
        return;
    }
    // The bit just set is this entry's reference.
    let entry = Notified(ptr);
    if prev & COMPLETE != 0 {
        // Not last: the caller holds a reference.
        drop(entry);
        return;
    }
    let shared: &Shared = &header.shared;
    let mut entry = Some(entry);
    with_own_runtime(shared, |rt| {
        if let Some(entry) = entry.take() {
            rt.push_local(entry);
        }
    });
    if let Some(entry) = entry {
        // `shared` outlives the call: the caller's reference keeps the header, and so its
        // `Arc<Shared>`, alive.
        shared.inject(entry);
    }
}
