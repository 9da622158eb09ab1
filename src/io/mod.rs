//! Asynchronous I/O on any pollable file descriptor: [`Async`], and the readiness types
//! [`Interest`] and [`Ready`] that `ready(Interest)` and `try_io` speak.
//!
//! With the `futures-io` feature (on by default), `Async<T>` and `&Async<T>` implement
//! `futures_io::AsyncRead`/`AsyncWrite`, so `futures_util::io::{AsyncReadExt, AsyncWriteExt}`
//! and friends work on them.
//!
//! [`stdin`], [`stdout`] and [`stderr`] are the standard streams, read and written on the
//! blocking pool (see [`crate::spawn_blocking`]).

mod async_fd;
#[cfg(feature = "futures-io")]
mod compat;
mod readiness;
mod ready;
mod stdio;
pub(crate) mod stream;

pub use async_fd::Async;
pub(crate) use async_fd::never;
// The reactor's vocabulary, as the layers above `io` speak it.
pub(crate) use crate::reactor::{Direction, Waiter};
pub use ready::{Interest, Ready};
pub use stdio::{Stderr, Stdin, Stdout, stderr, stdin, stdout};
