//! Cooperative budget: how many ready I/O operations a task may complete in one poll.
//!
//! A task whose socket is always ready (a peer that never stops writing) would otherwise never
//! return `Pending`, starving every other task and the timers. The geode executor sets a budget
//! before each poll; when it runs out, the next operation returns `Pending` and has its task woken
//! after the reactor's next turn (as `yield_now`), so the task goes behind every task that
//! yielded or was woken before it. Outside the executor (a custom one, or none) there is no
//! budget and nothing yields.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations per poll by default, as tokio's coop budget (`runtime::Builder::budget` sets
/// another).
pub(crate) const BUDGET: u32 = 128;

thread_local! {
    static BUDGET_LEFT: Cell<Option<u32>> = const { Cell::new(None) };
}

/// A fresh budget of `budget` operations for the poll about to start. The executor calls it
/// before every poll rather than saving and restoring around each one: nothing between two
/// polls checks the budget.
#[inline]
pub(crate) fn start(budget: u32) {
    BUDGET_LEFT.with(|b| b.set(Some(budget)));
}

/// No budget: the executor is leaving, and code polled on this thread afterwards (a custom
/// executor, say) must not yield on geode's behalf.
pub(crate) fn stop() {
    BUDGET_LEFT.with(|b| b.set(None));
}

/// `Pending` if the budget is spent, with the task woken after the reactor's next turn, as
/// `yield_now` does: a task that ran out of budget goes behind every task that yielded or was
/// woken before it. (Woken at once, it would go straight back into the run queue and take turn
/// after turn while a yielding task waits for the reactor.)
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    if BUDGET_LEFT.with(Cell::get) == Some(0) {
        exhausted(cx)
    } else {
        Poll::Ready(())
    }
}

/// Out of line: it runs once per 128 operations, and every operation checks the budget.
#[cold]
#[inline(never)]
fn exhausted(cx: &mut Context<'_>) -> Poll<()> {
    if super::defer(cx.waker()).is_none() {
        cx.waker().wake_by_ref();
    }
    Poll::Pending
}

/// Charges one completed operation.
pub(crate) fn consume() {
    BUDGET_LEFT.with(|b| {
        if let Some(n) = b.get() {
            b.set(Some(n.saturating_sub(1)));
        }
    });
}
