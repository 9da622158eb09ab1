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

/// The budget outside geode's executor: no limit in practice, and [`exhausted`] renews it
/// should anything ever use it up.
const UNLIMITED: u32 = u32::MAX;

thread_local! {
    /// Operations left in this poll. One plain word, so the check and the charge that every
    /// operation pays are an instruction or two each.
    static BUDGET_LEFT: Cell<u32> = const { Cell::new(UNLIMITED) };
    /// Whether geode's executor set the budget (only then does running out yield).
    static LIMITED: Cell<bool> = const { Cell::new(false) };
}

/// A fresh budget of `budget` operations for the poll about to start. The executor calls it
/// before every poll rather than saving and restoring around each one: nothing between two
/// polls checks the budget.
#[inline]
pub(crate) fn start(budget: u32) {
    BUDGET_LEFT.with(|b| b.set(budget));
    LIMITED.with(|l| l.set(true));
}

/// No budget: the executor is leaving, and code polled on this thread afterwards (a custom
/// executor, say) must not yield on geode's behalf.
pub(crate) fn stop() {
    BUDGET_LEFT.with(|b| b.set(UNLIMITED));
    LIMITED.with(|l| l.set(false));
}

/// `Pending` if the budget is spent, with the task woken after the reactor's next turn, as
/// `yield_now` does: a task that ran out of budget goes behind every task that yielded or was
/// woken before it. (Woken at once, it would go straight back into the run queue and take turn
/// after turn while a yielding task waits for the reactor.)
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    if BUDGET_LEFT.with(Cell::get) == 0 {
        exhausted(cx)
    } else {
        Poll::Ready(())
    }
}

/// Out of line: it runs once per 128 operations, and every operation checks the budget.
#[cold]
#[inline(never)]
fn exhausted(cx: &mut Context<'_>) -> Poll<()> {
    if !LIMITED.with(Cell::get) {
        // Four billion operations outside the executor: renew, never yield there.
        BUDGET_LEFT.with(|b| b.set(UNLIMITED));
        return Poll::Ready(());
    }
    if super::defer(cx.waker()).is_none() {
        cx.waker().wake_by_ref();
    }
    Poll::Pending
}

/// Charges one completed operation.
#[inline]
pub(crate) fn consume() {
    BUDGET_LEFT.with(|b| b.set(b.get().saturating_sub(1)));
}
