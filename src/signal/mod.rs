//! Unix signals as async events: [`ctrl_c`], [`signal`] and [`Signal`].
//!
//! ```no_run
//! use geode::signal::{SignalKind, signal};
//!
//! #[geode::main]
//! async fn main() -> std::io::Result<()> {
//!     // Create listeners up front: a delivery is seen only by listeners that exist then.
//!     let mut hangup = signal(SignalKind::hangup())?;
//!     let mut terminate = signal(SignalKind::terminate())?;
//!     geode::spawn(async move {
//!         while hangup.recv().await.is_some() {
//!             println!("reloading the configuration");
//!         }
//!     });
//!     terminate.recv().await;
//!     println!("shutting down");
//!     Ok(())
//! }
//! ```
//!
//! # How it works, and what you can rely on
//!
//! The first listener of a signal installs one process-wide handler for it (through
//! `signal-hook-registry`, which chains any handler that was installed before: that one keeps
//! running, first). The handler counts the delivery and writes a process-wide eventfd that
//! every [`Signal`] watches through its own thread's reactor, so:
//!
//! - any number of `Signal`s for one signal, on any threads, each see every delivery made after
//!   they were created; several deliveries between two [`recv`](Signal::recv)s coalesce into
//!   one, never into none;
//! - no thread's signal mask needs changing (unlike a `signalfd`, which misses a signal as soon
//!   as any thread has it unblocked), and children spawned meanwhile inherit no blocked mask;
//! - in a `fork` child, `Signal`s made before the fork and after it work (the child shares the
//!   eventfd with its parent: a signal in one only costs the other's listeners a spurious
//!   wakeup, after which they compare their own counts and wait again).
//!
//! While no `Signal` for a signal exists, a delivery does what it did before geode took the
//! signal over, if that was the default action: `SIGINT`, `SIGTERM` and the like terminate the
//! process again once the last listener is dropped (`SIGCHLD`, `SIGWINCH`, `SIGURG` and
//! `SIGCONT` do nothing; `SIGTSTP`, `SIGTTIN`, `SIGTTOU` stop it). If the signal was ignored,
//! or had a handler of its own, that stays so. Caveat: if other code in the process registers
//! its own action for the same signal through `signal-hook-registry` after geode did, that
//! action runs too, but geode cannot know it is there and still applies the default when geode
//! has no listener.
//!
//! `SIGKILL`, `SIGSTOP` (which cannot be caught), `SIGILL`, `SIGFPE`, `SIGSEGV` (faults, which
//! a handler that returns would re-trigger) and numbers that are not signals are refused with
//! an `io::Error` of kind `InvalidInput`.

mod kind;

use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::io::Async;
use crate::io::Direction;
use crate::sys;

pub use kind::SignalKind;

/// Resolves at the next `SIGINT` (Ctrl-C) delivered after its first poll.
///
/// Each call makes a new listener when first polled; deliveries before that are not seen. A
/// loop that must not miss a Ctrl-C while it does other work should keep one
/// [`signal`]`(SignalKind::interrupt())` instead. While no listener for `SIGINT` exists, a
/// Ctrl-C terminates the process as usual (see the [module docs](self)).
///
/// # Errors
/// Those of [`signal`], and of the registration with this thread's reactor.
///
/// # Examples
/// ```no_run
/// #[geode::main]
/// async fn main() -> std::io::Result<()> {
///     println!("press Ctrl-C to stop");
///     geode::signal::ctrl_c().await?;
///     println!("stopping cleanly");
///     Ok(())
/// }
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    let mut listener = signal(SignalKind::interrupt())?;
    poll_fn(|cx| listener.poll_next_delivery(cx)).await
}

/// A listener for `kind`: it sees every delivery of that signal from now on.
///
/// # Errors
/// `ErrorKind::InvalidInput` for `SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE`, `SIGSEGV` and numbers
/// that are not signals; otherwise the error of `sigaction`, `eventfd` or `fcntl` (errno
/// intact), e.g. `EINVAL` for the real-time signals glibc keeps for itself.
///
/// # Examples
/// ```
/// use geode::signal::{SignalKind, signal};
/// use std::time::Duration;
///
/// geode::block_on(async {
///     let mut usr1 = signal(SignalKind::user_defined1())?;
///     // Any thread, any process may send it; here `kill(1)` sends it to us.
///     let pid = std::process::id().to_string();
///     geode::process::Command::new("kill").args(["-USR1", &pid]).status().await?;
///     geode::time::timeout(Duration::from_secs(10), usr1.recv()).await?;
///
///     assert!(signal(SignalKind::from_raw(libc::SIGKILL)).is_err());
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let sig = kind.as_raw_value();
    let fd = Async::new(sys::signal::listen(sig)?)?;
    // Counted before the generation is read: a delivery in between is seen (by the first
    // `recv`) rather than handled by the default action.
    sys::signal::add_listener(sig);
    let seen = sys::signal::generation(sig);
    Ok(Signal { kind, seen, fd })
}

/// A listener for one signal; see the [module docs](self).
///
/// `Signal` belongs to the thread that created it (it is registered with that thread's
/// reactor, so it is neither `Send` nor `Sync`); create one per thread that wants to listen.
/// Dropping it stops listening.
#[derive(Debug)]
pub struct Signal {
    kind: SignalKind,
    /// The handler's delivery count for `kind` as of the last `recv` (or creation).
    seen: u64,
    /// A dup of the handler's eventfd, never read: each write is an edge in our epoll.
    fd: Async<OwnedFd>,
}

impl Signal {
    /// Waits for the next delivery of the signal (or returns at once if there was one since
    /// the last `recv` or since this listener was created).
    ///
    /// Several deliveries since the last call count as one. `None` only if this listener can
    /// no longer wait: its registration with this thread's reactor failed (e.g. `ENOMEM` from
    /// `epoll_ctl`).
    ///
    /// # Cancel safety
    /// Cancel-safe: a delivery is consumed only by a `recv` that returns it.
    ///
    /// # Examples
    /// ```
    /// use geode::signal::{SignalKind, signal};
    ///
    /// geode::block_on(async {
    ///     let mut hup = signal(SignalKind::hangup())?;
    ///     let pid = std::process::id().to_string();
    ///     for _ in 0..3 {
    ///         geode::process::Command::new("kill").args(["-HUP", &pid]).status().await?;
    ///     }
    ///     // Three deliveries, at least one wakeup.
    ///     assert_eq!(hup.recv().await, Some(()));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery: the `poll` form of [`recv`](Self::recv), for hand-written
    /// futures. The last task that polled is woken.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.poll_next_delivery(cx).map(Result::ok)
    }

    /// Which signal this listener listens to.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }

    fn poll_next_delivery(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let sig = self.kind.as_raw_value();
        let seen = self.seen;
        // Nothing is read from the eventfd: "no new delivery" is reported as WouldBlock, which
        // makes the registration wait for the next edge (the next write by the handler).
        let res = self.fd.poll_io(
            Direction::Read,
            cx,
            || {
                let now = sys::signal::generation(sig);
                if now != seen {
                    Ok(now)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                }
            },
            |_| false,
        );
        match res {
            Poll::Ready(Ok(now)) => {
                self.seen = now;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        sys::signal::remove_listener(self.kind.as_raw_value());
    }
}

/// One item per [`recv`](Signal::recv); the stream ends only where `recv` returns `None`.
impl futures_core::Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}
