//! `thread_per_core`: one pinned thread, with its own runtime, per core.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::sync::mpsc;

use super::Builder;
use crate::sys::affinity;

thread_local! {
    /// On a `thread_per_core` thread: the CPU it was pinned to, or the errno of the failure.
    static AFFINITY: Cell<Option<Result<usize, i32>>> = const { Cell::new(None) };
}

/// Runs `f(core)` on `threads` threads at once, each pinned to a CPU and running its own
/// [`Runtime`](super::Runtime), and returns their outputs in core order once every one has
/// returned. `threads` 0 means one per CPU this process may use. The runtimes have the default
/// settings; [`Builder::thread_per_core`] takes a builder's.
///
/// This is how a per-thread reactor scales: nothing is shared between the threads but what
/// `f` shares. The usual server shares one listening port, in one of two ways (both in the
/// example below, and compared in `docs/ARCHITECTURE.md`, "Thread per core"):
///
/// - **One listener, a `try_clone` per thread.** geode registers listening sockets with
///   `EPOLLEXCLUSIVE`, so a connection wakes one idle thread, not all. There is one accept
///   queue: a busy thread's share is taken by the others, and connections waiting in it
///   survive any one thread stopping. Threads that are all idle take connections unevenly:
///   the kernel offers each to the registrations in the order they were made and stops at
///   the first whose thread is waiting (measured: 124 and 876 of 1,000).
/// - **`SO_REUSEPORT`, a listener per thread**
///   ([`TcpSocket::set_reuseport`](crate::net::TcpSocket::set_reuseport)). The kernel
///   spreads connections by a hash of the 4-tuple, evenly on average whatever the threads do
///   (measured: 477 and 523 of 1,000); but each listener has its own queue, so a slow
///   thread's connections wait for it, and those queued on a listener when it is closed are
///   reset (measured: 37 and 55 of 100 in two runs).
///
/// Thread `i` (named `geode-core-<i>`) is pinned to the `i`-th CPU of the calling thread's
/// affinity mask (cycling if there are more threads than CPUs). A failed pin is not fatal:
/// the thread runs unpinned, and [`core_affinity`] tells it why. Every runtime is built (and
/// the pins made) before any `f` runs: if one cannot be built, no `f` runs and the error is
/// returned.
///
/// # Errors
/// - A thread's runtime could not be built, or a thread could not be started: that
///   `io::Error`, errno intact (the threads already started exit without running `f`).
/// - `f` or its future panicked on a core: an `io::Error` of kind `Other` whose message names
///   the core and quotes the panic ("geode: thread_per_core: core 1 panicked: ..."), returned
///   once every thread has ended (the others run on until their futures return). With
///   several, the lowest core's.
///
/// # Examples
/// ```
/// use geode::net::{TcpListener, TcpSocket, TcpStream};
/// use geode::runtime::thread_per_core;
///
/// // One listener shared by every thread (a try_clone each; EPOLLEXCLUSIVE).
/// let shared = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = shared.local_addr()?;
/// let served = thread_per_core(2, |core| {
///     let listener = shared.try_clone();
///     async move {
///         let listener = TcpListener::from_std(listener?)?;
///         if core == 0 {
///             // Core 0 also plays the client: two connections, one byte each way.
///             for _ in 0..2 {
///                 let client = TcpStream::connect(addr).await?;
///                 client.write_all(b"?").await?;
///                 let mut byte = [0];
///                 client.read_exact(&mut byte).await?;
///             }
///             return Ok::<_, std::io::Error>(());
///         }
///         for _ in 0..2 {
///             let (conn, _) = listener.accept().await?;
///             let mut byte = [0];
///             conn.read_exact(&mut byte).await?;
///             conn.write_all(b"!").await?;
///         }
///         Ok(())
///     }
/// })?;
/// assert_eq!(served.len(), 2);
/// served.into_iter().collect::<std::io::Result<()>>()?;
///
/// // SO_REUSEPORT: a listener of its own per thread, on one port.
/// let reserve = TcpSocket::new_v4()?;
/// reserve.set_reuseport(true)?;
/// reserve.bind("127.0.0.1:0".parse().unwrap())?; // holds the port; never listens
/// let addr = reserve.local_addr()?;
/// let ports = thread_per_core(2, |_core| async move {
///     let socket = TcpSocket::new_v4()?;
///     socket.set_reuseport(true)?;
///     socket.bind(addr)?;
///     let listener = socket.listen(1024)?;
///     listener.local_addr().map(|a| a.port())
/// })?;
/// assert!(ports.iter().all(|p| *p.as_ref().unwrap() == addr.port()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn thread_per_core<F, Fut, T>(threads: usize, f: F) -> io::Result<Vec<T>>
where
    F: Fn(usize) -> Fut + Sync,
    Fut: Future<Output = T>,
    T: Send,
{
    Builder::new().thread_per_core(threads, f)
}

/// On a thread started by [`thread_per_core`]: `Some(Ok(cpu))`, the CPU it is pinned to, or
/// `Some(Err(e))`, why `sched_setaffinity` failed (the thread then runs on any CPU the process
/// may use). `None` on other threads.
///
/// # Examples
/// ```
/// assert!(geode::runtime::core_affinity().is_none()); // not a thread_per_core thread
/// let pins = geode::runtime::thread_per_core(1, |_| async {
///     geode::runtime::core_affinity().map(|pinned| pinned.is_ok())
/// })?;
/// assert_eq!(pins, [Some(true)]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn core_affinity() -> Option<io::Result<usize>> {
    AFFINITY
        .with(Cell::get)
        .map(|pin| pin.map_err(io::Error::from_raw_os_error))
}

impl Builder {
    /// [`thread_per_core`], each thread's runtime built from this builder.
    ///
    /// # Errors
    /// As [`thread_per_core`]; an invalid setting is the first thread's build error.
    ///
    /// # Examples
    /// ```
    /// let rt = geode::runtime::Builder::new().event_capacity(64);
    /// let cores = rt.thread_per_core(2, |core| async move { core * 10 })?;
    /// assert_eq!(cores, [0, 10]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_per_core<F, Fut, T>(&self, threads: usize, f: F) -> io::Result<Vec<T>>
    where
        F: Fn(usize) -> Fut + Sync,
        Fut: Future<Output = T>,
        T: Send,
    {
        self.validate()?;
        // Read on the calling thread, before anything is pinned.
        let cpus = affinity::allowed_cpus();
        let threads = match (threads, &cpus) {
            (0, Ok(cpus)) => cpus.len().min(available_parallelism()),
            (0, Err(_)) => available_parallelism(),
            (n, _) => n,
        };
        let pin_for = |core: usize| -> Result<usize, i32> {
            match &cpus {
                Ok(cpus) if !cpus.is_empty() => Ok(cpus[core % cpus.len()]),
                Ok(_) => Err(libc_einval()),
                Err(e) => Err(e.raw_os_error().unwrap_or(libc_einval())),
            }
        };
        let f = &f;
        std::thread::scope(|scope| {
            let mut workers = Vec::with_capacity(threads);
            let mut failed = None;
            for core in 0..threads {
                let (ready_tx, ready_rx) = mpsc::sync_channel(1);
                let (go_tx, go_rx) = mpsc::sync_channel::<()>(1);
                let builder = self.clone();
                let cpu = pin_for(core);
                let spawned = std::thread::Builder::new()
                    .name(format!("geode-core-{core}"))
                    .spawn_scoped(scope, move || {
                        let pinned = cpu.and_then(|cpu| {
                            affinity::pin_to(cpu)
                                .map(|()| cpu)
                                .map_err(|e| e.raw_os_error().unwrap_or(libc_einval()))
                        });
                        AFFINITY.with(|a| a.set(Some(pinned)));
                        let rt = match builder.build() {
                            Ok(rt) => rt,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return None;
                            }
                        };
                        let _ = ready_tx.send(Ok(()));
                        // Told to go only once every runtime is built.
                        go_rx.recv().ok()?;
                        Some(rt.block_on(f(core)))
                    });
                match spawned {
                    Ok(handle) => workers.push((handle, ready_rx, go_tx)),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let mut all_ready = failed.is_none();
            for (_, ready, _) in &workers {
                match ready.recv() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        all_ready = false;
                        failed.get_or_insert(e);
                    }
                    // The thread ended without a word: it panicked, which its join reports.
                    Err(_) => all_ready = false,
                }
            }
            let mut handles = Vec::with_capacity(workers.len());
            for (handle, _, go_tx) in workers {
                if all_ready {
                    let _ = go_tx.send(());
                }
                // Dropped unsent, it tells a waiting thread to exit without running `f`.
                drop(go_tx);
                handles.push(handle);
            }
            let mut outputs = Vec::with_capacity(handles.len());
            let mut panicked = None;
            for (core, handle) in handles.into_iter().enumerate() {
                match handle.join() {
                    Ok(Some(out)) => outputs.push(out),
                    Ok(None) => {}
                    Err(payload) => {
                        panicked.get_or_insert_with(|| {
                            io::Error::other(format!(
                                "geode: thread_per_core: core {core} panicked: {}",
                                panic_message(&*payload)
                            ))
                        });
                    }
                }
            }
            match (failed, panicked) {
                (Some(e), _) | (None, Some(e)) => Err(e),
                (None, None) => Ok(outputs),
            }
        })
    }
}

/// One per CPU the process may use, by std's count (the affinity mask, capped by a cgroup CPU
/// quota); 1 if unknown.
fn available_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn libc_einval() -> i32 {
    crate::sys::errno::EINVAL
}

/// The message of a panic payload (`&str` or `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a payload that is not a string)".to_string()
    }
}
