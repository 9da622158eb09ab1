//! Child processes: std's [`Command`](std::process::Command) made async, in tokio's shape.
//!
//! ```
//! use geode::process::Command;
//!
//! geode::block_on(async {
//!     let output = Command::new("echo").arg("hello").output().await?;
//!     assert_eq!(output.stdout, b"hello\n");
//!     assert!(output.status.success());
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How an exit is seen
//!
//! A child is spawned by std (so every `Command` option std has works the same), then
//! `pidfd_open` (Linux 5.3+) gives an fd that becomes readable when the child exits. The pidfd
//! is registered with the spawning thread's reactor like any other fd: no thread is parked in
//! `waitpid`, and [`Child::wait`] costs nothing while the child runs. When it is readable,
//! `waitpid(pid, WNOHANG)` reaps that one child. geode never calls `waitpid(-1)`, so it never
//! takes the exit status of a child that other code in the process spawned.
//!
//! **Fallback.** If the kernel has no `pidfd_open` (`ENOSYS`, before 5.3; `EPERM` from a
//! seccomp filter), or if the environment variable `GEODE_NO_PIDFD=1` is set when the process
//! first spawns a child, exits are seen through `SIGCHLD` instead: each `Child` holds a
//! [`geode::signal`](crate::signal) listener for `SIGCHLD`, created before its first
//! `waitpid(pid, WNOHANG)`, and asks again, for its own pid only, after each delivery. That
//! installs geode's `SIGCHLD` handler (which chains any handler installed before it and
//! leaves the signal's default, "ignore", in place otherwise). Every `SIGCHLD` wakes every
//! waiting `Child`, so this path costs more with many children at once.
//!
//! # Dropped children
//!
//! Dropping a [`Child`] does not kill it unless [`Command::kill_on_drop`] was set; either way
//! it is reaped once it exits, by a helper thread that exists only while such orphans do (it
//! waits for them through their pidfds, or `SIGCHLD`). A child that had exited already is
//! reaped by the drop itself. So geode leaves no zombies, even when the runtime that spawned a
//! child has ended.
//!
//! # Caveats
//! - Spawning (fork and exec) is std's blocking call; it takes tens of microseconds and does
//!   not wait for the child.
//! - If other code sets `SIGCHLD` to `SIG_IGN` or reaps with `waitpid(-1)`, the kernel or that
//!   code reaps geode's children: then `wait` reports `ECHILD`.

mod child;
mod reaper;
mod stdio;

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

pub use child::Child;
pub use stdio::{ChildStderr, ChildStdin, ChildStdout};

/// A process builder: std's [`Command`](std::process::Command) with async `status`, `output`
/// and [`Child`], and [`kill_on_drop`](Self::kill_on_drop).
///
/// # Examples
/// ```
/// use geode::process::Command;
///
/// geode::block_on(async {
///     let status = Command::new("sh")
///         .args(["-c", "test \"$GREETING\" = hello"])
///         .env("GREETING", "hello")
///         .status()
///         .await?;
///     assert!(status.success());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    stdin_set: bool,
}

impl Command {
    /// A command for `program`, looked up in `PATH` if it has no `/` (as in std).
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds afterwards).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory. A directory that does not exist makes `spawn` fail
    /// (`NotFound`).
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin: inherited by default (`Stdio::null()` for [`output`](Self::output));
    /// `Stdio::piped()` gives [`Child::stdin`].
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's stdout: inherited by default (piped for [`output`](Self::output));
    /// `Stdio::piped()` gives [`Child::stdout`].
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdout(cfg);
        self
    }

    /// The child's stderr: inherited by default (piped for [`output`](Self::output));
    /// `Stdio::piped()` gives [`Child::stderr`].
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stderr(cfg);
        self
    }

    /// Puts the child in process group `pgroup` (0: a new group with the child's pid), so
    /// that `kill(-pgid, sig)` reaches it and its own children.
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.std.process_group(pgroup);
        self
    }

    /// Whether dropping the [`Child`] before it was reaped sends it `SIGKILL` (default:
    /// `false`, as in std and tokio). Either way geode reaps it once it exits.
    ///
    /// # Examples
    /// ```
    /// use geode::process::Command;
    ///
    /// geode::block_on(async {
    ///     let child = Command::new("sleep").arg("60").kill_on_drop(true).spawn()?;
    ///     drop(child); // killed now, and reaped in the background
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// Whether [`kill_on_drop`](Self::kill_on_drop) is set.
    pub fn get_kill_on_drop(&self) -> bool {
        self.kill_on_drop
    }

    /// The std command inside, for the options this type does not repeat (`uid`, `gid`,
    /// `pre_exec`, `arg0`, ...).
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The std command inside, mutably. Calling `stdin` through it is not seen by
    /// [`output`](Self::output), which then keeps std's choice.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child, registering its pipes and exit with this thread's reactor.
    ///
    /// # Errors
    /// std's: `NotFound` for a program or `current_dir` that does not exist,
    /// `PermissionDenied` for a file that is not executable, with the errno intact; then no fd
    /// and no process is left behind. If registering the child fails after it started (out of
    /// fds), it is killed and reaped before the error is returned.
    ///
    /// # Examples
    /// ```
    /// use geode::process::Command;
    ///
    /// geode::block_on(async {
    ///     let err = Command::new("/no/such/program").spawn().unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    ///     let mut child = Command::new("true").spawn()?;
    ///     assert!(child.wait().await?.success());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        let child = self.std.spawn()?;
        Child::from_std(child, self.kill_on_drop)
    }

    /// Runs the child to completion and returns its exit status. Its stdio is inherited
    /// unless configured otherwise; pipes configured are closed at once.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::wait`].
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        drop(child.stdin.take());
        drop(child.stdout.take());
        drop(child.stderr.take());
        child.wait().await
    }

    /// Runs the child to completion, collecting its stdout and stderr (always piped, as in
    /// tokio). Its stdin is `Stdio::null()` unless configured (as in std, so a child that
    /// reads stdin sees end-of-file instead of taking the terminal).
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::wait_with_output`].
    pub async fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        self.std.stdout(Stdio::piped());
        self.std.stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            stdin_set: false,
        }
    }
}
