//! The local run queue: tasks woken on the runtime's thread, polled in the order they woke.
//!
//! A round trip's runtime has one task queued at a time, so the oldest entry sits in a `Cell`
//! by itself and the `VecDeque` behind it (in a `RefCell`) is touched only when a second task
//! is queued. The order stays FIFO: the slot is filled only when the line is empty, so
//! whatever it holds is older than everything in the deque, and it is taken first.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use super::raw::Notified;

#[derive(Default)]
pub(super) struct RunQueue {
    /// The oldest queued task, if the line is not empty.
    first: Cell<Option<Notified>>,
    /// The rest, in arrival order.
    rest: RefCell<VecDeque<Notified>>,
    /// Queued in all (`first` and `rest`).
    len: Cell<usize>,
}

impl RunQueue {
    pub(super) fn len(&self) -> usize {
        self.len.get()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len.get() == 0
    }

    /// Queues `task` at the tail. `Err(task)` only if a queue operation itself woke a task
    /// (which none does): the caller queues it elsewhere.
    #[inline]
    pub(super) fn push(&self, task: Notified) -> Result<(), Notified> {
        if self.len.get() == 0 {
            // An empty line: the slot is empty too, nothing is dropped here.
            self.first.set(Some(task));
        } else {
            match self.rest.try_borrow_mut() {
                Ok(mut rest) => rest.push_back(task),
                Err(_) => return Err(task),
            }
        }
        self.len.set(self.len.get() + 1);
        Ok(())
    }

    /// The oldest queued task. Nothing is borrowed once it returns (running the task may
    /// queue others).
    #[inline]
    pub(super) fn pop(&self) -> Option<Notified> {
        let task = match self.first.take() {
            Some(t) => t,
            None => self.rest.borrow_mut().pop_front()?,
        };
        self.len.set(self.len.get() - 1);
        Some(task)
    }

    /// Queues every task of `tasks` in order.
    pub(super) fn extend(&self, tasks: impl Iterator<Item = Notified>) {
        for task in tasks {
            // `push` fails only while `rest` is borrowed, which only `push` and `pop` do, and
            // neither is running while the caller drains its buffer into the queue.
            if self.push(task).is_err() {
                unreachable!("geode: the run queue was borrowed while tasks were added to it");
            }
        }
    }
}
