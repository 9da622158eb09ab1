//! The task cell: a spawned future, its output, and who is waiting for it.
//!
//! Stages: `Running` (idle, waiting to be polled) -> `Polling` (the future is out of the cell
//! while it runs, so the task may touch its own `JoinHandle` without a double borrow) ->
//! `Running` again, or `Finished` (output or error stored) -> `Consumed` (the `JoinHandle`
//! took it). `abort` only sets a flag and schedules the task; the executor drops the future.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use super::join::{JoinError, JoinTarget};
use super::waker::TaskWaker;
use crate::reactor::coop;

/// What the executor needs from a task, whatever its future's type.
pub(crate) trait Runnable {
    /// Polls the task once. `true` once it has finished.
    fn run(&self) -> bool;
    /// Drops the future of a task that will never run again (its runtime is ending).
    fn cancel(&self);
}

enum Stage<F: Future> {
    Running(Pin<Box<F>>),
    Polling,
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

pub(crate) struct Task<F: Future> {
    header: Arc<TaskWaker>,
    waker: Waker,
    stage: RefCell<Stage<F>>,
    join_waker: Cell<Option<Waker>>,
    aborted: Cell<bool>,
}

impl<F: Future> Task<F> {
    pub(crate) fn new(future: F, header: Arc<TaskWaker>) -> Task<F> {
        Task {
            waker: Waker::from(header.clone()),
            header,
            stage: RefCell::new(Stage::Running(Box::pin(future))),
            join_waker: Cell::new(None),
            aborted: Cell::new(false),
        }
    }

    fn finish(&self, result: Result<F::Output, JoinError>) {
        *self.stage.borrow_mut() = Stage::Finished(result);
        if let Some(w) = self.join_waker.take() {
            w.wake();
        }
    }
}

/// Drops a future, swallowing a panic from its destructor (the task is over either way).
fn drop_quietly<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

impl<F: Future> Runnable for Task<F> {
    fn run(&self) -> bool {
        // Acquire what a waker released before waking us, or the poll may miss it.
        self.header.scheduled.swap(false, Ordering::AcqRel);
        let mut fut = match std::mem::replace(&mut *self.stage.borrow_mut(), Stage::Polling) {
            Stage::Running(fut) => fut,
            other => {
                *self.stage.borrow_mut() = other;
                return true;
            }
        };
        if self.aborted.get() {
            drop_quietly(fut);
            self.finish(Err(JoinError::cancelled()));
            return true;
        }
        let mut cx = Context::from_waker(&self.waker);
        let budget = coop::set(Some(coop::BUDGET));
        let res = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        coop::set(budget);
        match res {
            Ok(Poll::Pending) if !self.aborted.get() => {
                *self.stage.borrow_mut() = Stage::Running(fut);
                false
            }
            Ok(Poll::Pending) => {
                drop_quietly(fut);
                self.finish(Err(JoinError::cancelled()));
                true
            }
            Ok(Poll::Ready(out)) => {
                drop_quietly(fut);
                self.finish(Ok(out));
                true
            }
            Err(payload) => {
                drop_quietly(fut);
                self.finish(Err(JoinError::panic(payload)));
                true
            }
        }
    }

    fn cancel(&self) {
        let stage = std::mem::replace(&mut *self.stage.borrow_mut(), Stage::Consumed);
        match stage {
            Stage::Running(fut) => {
                drop_quietly(fut);
                self.finish(Err(JoinError::cancelled()));
            }
            other => *self.stage.borrow_mut() = other,
        }
    }
}

impl<F: Future> JoinTarget<F::Output> for Task<F> {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
        let mut stage = self.stage.borrow_mut();
        match std::mem::replace(&mut *stage, Stage::Consumed) {
            Stage::Finished(out) => Poll::Ready(out),
            Stage::Consumed => {
                panic!("geode: JoinHandle polled again after it returned the task's output")
            }
            other => {
                *stage = other;
                drop(stage);
                self.join_waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }

    fn abort(&self) {
        if !self.is_finished() && !self.aborted.replace(true) {
            self.waker.wake_by_ref();
        }
    }

    fn is_finished(&self) -> bool {
        matches!(*self.stage.borrow(), Stage::Finished(_) | Stage::Consumed)
    }
}

/// Keeps the `Rc` type reachable for the executor's task table.
pub(crate) type TaskRef = Rc<dyn Runnable>;
