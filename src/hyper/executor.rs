//! `GeodeExecutor`: hyper's executor on `geode::spawn`.

use std::future::Future;

/// hyper's executor: spawns on the geode runtime of the calling thread.
///
/// HTTP/1 connections do not need one (they are futures you spawn yourself); hyper's HTTP/2
/// builders and hyper-util's pools take one. `geode::spawn` has no `Send` bound, and neither
/// has this: a connection's futures may hold `Rc`s and `RefCell`s.
///
/// # Panics
///
/// [`execute`](hyper::rt::Executor::execute) panics as [`spawn`](crate::spawn) does: outside a
/// geode runtime, or while one is shutting down.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
///
/// use geode::hyper::GeodeExecutor;
/// use hyper::rt::Executor;
///
/// geode::block_on(async {
///     let ran = Rc::new(Cell::new(false)); // not Send
///     let flag = ran.clone();
///     GeodeExecutor.execute(async move { flag.set(true) });
///     while !ran.get() {
///         geode::yield_now().await;
///     }
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct GeodeExecutor;

impl<F> hyper::rt::Executor<F> for GeodeExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        // Detached: hyper never joins what it executes.
        drop(crate::spawn(fut));
    }
}
