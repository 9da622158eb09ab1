//! `Child`: a spawned process, its pipes, and how its exit is seen.

use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::OwnedFd;
use std::pin::pin;
use std::process::{ExitStatus, Output};
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Poll;

use super::reaper;
use super::stdio::{ChildStderr, ChildStdin, ChildStdout};
use crate::io::Async;
use crate::signal::{Signal, SignalKind, signal};
use crate::sys;

/// How exits are watched in this process: decided at the first spawn.
static MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);
const MODE_UNKNOWN: u8 = 0;
const MODE_PIDFD: u8 = 1;
const MODE_SIGCHLD: u8 = 2;

/// The environment variable that forces the SIGCHLD fallback (read once, at the first spawn).
pub(crate) const NO_PIDFD_ENV: &str = "GEODE_NO_PIDFD";

/// What tells us the child may have exited.
#[derive(Debug)]
enum ExitWatch {
    /// A pidfd (Linux 5.3+): readable once the process has exited.
    Pidfd(Async<OwnedFd>),
    /// The SIGCHLD fallback: any child's state change; we then ask about ours only.
    Sigchld(Signal),
}

impl ExitWatch {
    /// The watch for `pid`: its pidfd if the kernel has them (and the switch does not say
    /// otherwise), else a SIGCHLD listener. `pidfd` is one opened already (by the reaper's
    /// sender).
    pub(crate) fn new(pid: u32, pidfd: Option<OwnedFd>) -> io::Result<ExitWatch> {
        if let Some(fd) = pidfd {
            return Ok(ExitWatch::Pidfd(Async::new(fd)?));
        }
        match MODE.load(Ordering::Relaxed) {
            MODE_SIGCHLD => return Ok(ExitWatch::Sigchld(signal(SignalKind::child())?)),
            MODE_UNKNOWN if std::env::var_os(NO_PIDFD_ENV).is_some_and(|v| v == "1") => {
                MODE.store(MODE_SIGCHLD, Ordering::Relaxed);
                return Ok(ExitWatch::Sigchld(signal(SignalKind::child())?));
            }
            _ => {}
        }
        match sys::process::pidfd_open(pid) {
            Ok(fd) => {
                MODE.store(MODE_PIDFD, Ordering::Relaxed);
                Ok(ExitWatch::Pidfd(Async::new(fd)?))
            }
            // No pidfd_open (before 5.3), or a seccomp filter that refuses it.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
                MODE.store(MODE_SIGCHLD, Ordering::Relaxed);
                Ok(ExitWatch::Sigchld(signal(SignalKind::child())?))
            }
            Err(e) => Err(e),
        }
    }

    fn into_pidfd(self) -> Option<OwnedFd> {
        match self {
            ExitWatch::Pidfd(fd) => fd.into_inner().ok(),
            ExitWatch::Sigchld(_) => None,
        }
    }
}

/// A child process spawned by [`Command::spawn`](super::Command::spawn).
///
/// Its exit is seen through a pidfd registered with this thread's reactor (Linux 5.3+), or,
/// where there are none, through `SIGCHLD` (see the [module docs](super)); either way geode
/// only ever reaps its own children, by pid.
///
/// Dropping a `Child` that has not exited does not kill it, unless the command was built with
/// [`kill_on_drop(true)`](super::Command::kill_on_drop); either way geode still reaps it when
/// it exits (no zombie is left behind), on a helper thread that lives while such orphans do.
///
/// `Child` belongs to the thread that spawned it (its pipes and pidfd are registered with that
/// thread's reactor).
///
/// # Examples
/// ```
/// use geode::process::Command;
///
/// geode::block_on(async {
///     let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
///     assert!(child.id().is_some());
///     let status = child.wait().await?;
///     assert_eq!(status.code(), Some(3));
///     assert_eq!(child.id(), None); // reaped: the pid may belong to someone else now
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Child {
    /// The child's stdin, if it was [`Stdio::piped`](std::process::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was [`Stdio::piped`](std::process::Stdio::piped).
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was [`Stdio::piped`](std::process::Stdio::piped).
    pub stderr: Option<ChildStderr>,
    // `None` only while `Drop` hands it to the reaper.
    std: Option<std::process::Child>,
    watch: Option<ExitWatch>,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

impl Child {
    /// Wraps a child std just spawned. On any error the child is killed and reaped (it was
    /// never seen by the caller), so nothing is left behind.
    pub(crate) fn from_std(mut std: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let stdin = std.stdin.take();
        let stdout = std.stdout.take();
        let stderr = std.stderr.take();
        let parts = (|| {
            let watch = ExitWatch::new(std.id(), None)?;
            let stdin = stdin.map(ChildStdin::from_std).transpose()?;
            let stdout = stdout.map(ChildStdout::from_std).transpose()?;
            let stderr = stderr.map(ChildStderr::from_std).transpose()?;
            Ok::<_, io::Error>((watch, stdin, stdout, stderr))
        })();
        match parts {
            Ok((watch, stdin, stdout, stderr)) => Ok(Child {
                stdin,
                stdout,
                stderr,
                std: Some(std),
                watch: Some(watch),
                status: None,
                kill_on_drop,
            }),
            Err(e) => {
                // The pipes are closed already; SIGKILL makes the wait short.
                let _ = std.kill();
                let _ = std.wait();
                Err(e)
            }
        }
    }

    /// A child handed to the reaper: no pipes, its watch rebuilt on the reaper's thread.
    pub(crate) fn adopt(
        std: std::process::Child,
        pidfd: Option<OwnedFd>,
    ) -> Result<Child, (io::Error, std::process::Child)> {
        let watch = match ExitWatch::new(std.id(), pidfd) {
            Ok(watch) => watch,
            Err(e) => return Err((e, std)),
        };
        Ok(Child {
            stdin: None,
            stdout: None,
            stderr: None,
            std: Some(std),
            watch: Some(watch),
            status: None,
            kill_on_drop: false,
        })
    }

    /// Records the exit status and closes the pidfd (or the SIGCHLD listener) at once.
    fn reaped(&mut self, status: Option<ExitStatus>) {
        self.status = status;
        self.watch = None;
    }

    /// Forgets the child without reaping it (it was reaped elsewhere, or cannot be).
    pub(crate) fn disown(&mut self) {
        self.std = None;
    }

    /// The process id, until the child has been reaped (by [`wait`](Self::wait),
    /// [`try_wait`](Self::try_wait) or [`kill`](Self::kill)); `None` after that, because the
    /// kernel may give the number to another process then (tokio's behaviour).
    pub fn id(&self) -> Option<u32> {
        match (&self.std, self.status) {
            (Some(std), None) => Some(std.id()),
            _ => None,
        }
    }

    /// The exit status if the child has exited (reaping it), `None` if it still runs. Never
    /// blocks.
    ///
    /// # Errors
    /// The `waitpid` error, e.g. `ECHILD` if other code in this process reaped the child (a
    /// `waitpid(-1)` or `SIGCHLD` set to `SIG_IGN` elsewhere).
    ///
    /// # Examples
    /// ```
    /// use geode::process::Command;
    ///
    /// geode::block_on(async {
    ///     let mut child = Command::new("sleep").arg("10").kill_on_drop(true).spawn()?;
    ///     assert!(child.try_wait()?.is_none()); // still sleeping
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let Some(std) = &mut self.std else {
            return Err(io::Error::other(
                "geode: the child was handed to the reaper",
            ));
        };
        let status = std.try_wait()?;
        if status.is_some() {
            self.reaped(status);
        }
        Ok(status)
    }

    /// Waits for the child to exit, reaps it and returns its status. Closes the child's stdin
    /// first (if piped and still here), so a child that reads until end-of-file can finish.
    ///
    /// # Cancel safety
    /// Cancel-safe: a later call picks up where this one left off.
    ///
    /// # Errors
    /// As [`try_wait`](Self::try_wait), and the registration error of this thread's reactor.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            match (&mut self.watch, &mut self.std) {
                (Some(ExitWatch::Pidfd(fd)), Some(std)) => {
                    // Readable means exited; until then "not yet" is WouldBlock, which makes
                    // the registration wait for the pidfd's edge.
                    let status = fd
                        .read_with(|_| match std.try_wait() {
                            Ok(Some(status)) => Ok(status),
                            Ok(None) => Err(io::ErrorKind::WouldBlock.into()),
                            Err(e) => Err(e),
                        })
                        .await?;
                    self.reaped(Some(status));
                }
                (Some(ExitWatch::Sigchld(sigchld)), _) => {
                    // The listener existed before the `try_wait` above: a SIGCHLD after it is
                    // seen here.
                    if sigchld.recv().await.is_none() {
                        return Err(io::Error::other(
                            "geode: the SIGCHLD listener could not wait on this thread's reactor",
                        ));
                    }
                }
                _ => {
                    return Err(io::Error::other(
                        "geode: the child was handed to the reaper",
                    ));
                }
            }
        }
    }

    /// Sends `SIGKILL` to the child without waiting for it to exit (then [`wait`](Self::wait)
    /// reaps it).
    ///
    /// # Errors
    /// `InvalidInput` if the child has been reaped already (as in tokio: its pid may belong to
    /// another process now); otherwise the `kill` error.
    pub fn start_kill(&mut self) -> io::Result<()> {
        match (&mut self.std, self.status) {
            (Some(std), None) => std.kill(),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid argument: can't kill an exited process",
            )),
        }
    }

    /// Kills the child (`SIGKILL`) and waits until it is reaped.
    ///
    /// # Errors
    /// As [`start_kill`](Self::start_kill) and [`wait`](Self::wait).
    ///
    /// # Examples
    /// ```
    /// use geode::process::Command;
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// geode::block_on(async {
    ///     let mut child = Command::new("sleep").arg("30").spawn()?;
    ///     child.kill().await?;
    ///     assert_eq!(child.wait().await?.signal(), Some(libc::SIGKILL));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await?;
        Ok(())
    }

    /// Closes stdin, reads stdout and stderr to their ends (those that are piped) while the
    /// child runs, then waits for it.
    ///
    /// # Errors
    /// The first error of the reads or of [`wait`](Self::wait).
    ///
    /// # Examples
    /// ```
    /// use geode::process::Command;
    /// use std::process::Stdio;
    ///
    /// geode::block_on(async {
    ///     let child = Command::new("sh")
    ///         .args(["-c", "echo out; echo err >&2"])
    ///         .stdout(Stdio::piped())
    ///         .stderr(Stdio::piped())
    ///         .spawn()?;
    ///     let output = child.wait_with_output().await?;
    ///     assert_eq!(output.stdout, b"out\n");
    ///     assert_eq!(output.stderr, b"err\n");
    ///     assert!(output.status.success());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let mut out_pipe = self.stdout.take();
        let mut err_pipe = self.stderr.take();
        let (stdout, stderr) = join(read_all(out_pipe.as_mut()), read_all(err_pipe.as_mut())).await;
        let (stdout, stderr) = (stdout?, stderr?);
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

trait ReadToEnd {
    async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize>;
}

impl ReadToEnd for ChildStdout {
    async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        ChildStdout::read_to_end(self, buf).await
    }
}

impl ReadToEnd for ChildStderr {
    async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        ChildStderr::read_to_end(self, buf).await
    }
}

async fn read_all<R: ReadToEnd>(pipe: Option<&mut R>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(pipe) = pipe {
        pipe.read_to_end(&mut buf).await?;
    }
    Ok(buf)
}

/// Runs two futures concurrently on this task until both are done.
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    match (ra, rb) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("geode: join returns when both are done"),
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        let Some(mut std) = self.std.take() else {
            return;
        };
        if self.kill_on_drop {
            let _ = std.kill();
        }
        // Exited already (killed children usually are not yet): reap it here. An error is
        // ECHILD: someone else reaped it.
        if !matches!(std.try_wait(), Ok(None)) {
            return;
        }
        let pidfd = self.watch.take().and_then(ExitWatch::into_pidfd);
        reaper::adopt(std, pidfd);
    }
}
