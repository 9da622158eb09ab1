//! The process-wide signal handler behind `geode::signal`.
//!
//! One action per signal, registered through `signal-hook-registry` the first time anyone asks
//! for that signal and never removed (the registry chains whatever handler was installed
//! before, and keeps its own bookkeeping consistent, which a hand-rolled `sigaction` would not
//! if another library uses the registry too). The action does three async-signal-safe things:
//!
//! 1. bumps the signal's generation counter (a static atomic);
//! 2. writes 8 bytes to one process-wide eventfd, which is never drained: every listener holds
//!    a dup of it registered edge-triggered in its own thread's epoll, and each write is a new
//!    edge in every epoll that watches it, so every listening reactor wakes and compares
//!    generations. (Draining would race: a reactor that drained before another one's
//!    `epoll_wait` collected the edge would make the kernel drop that edge.) The counter would
//!    need 2^64 signals to fill; a write that finds it full fails harmlessly;
//! 3. if nobody listens to this signal and its disposition was the default before geode took
//!    it over, does what the default does (terminate or stop), so dropping the last `Signal`
//!    gives the signal back its usual effect.
//!
//! No thread's signal mask matters: the kernel runs the handler on any thread that has the
//! signal unblocked, and the handler reaches all reactors through the eventfd.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};

use super::eventfd::EventFd;

/// Linux numbers signals 1..=64 (`SIGRTMAX`); one slot each, index 0 unused.
const SLOTS: usize = 65;

struct SigState {
    generation: AtomicU64,
    listeners: AtomicUsize,
    /// The action is registered.
    installed: AtomicBool,
    /// What to do when a delivery finds no listener: 0 nothing, 1 terminate, 2 stop.
    default: AtomicI32,
}

#[allow(clippy::declare_interior_mutable_const)] // only used to initialise the array below
const SIG_STATE: SigState = SigState {
    generation: AtomicU64::new(0),
    listeners: AtomicUsize::new(0),
    installed: AtomicBool::new(false),
    default: AtomicI32::new(0),
};

static STATES: [SigState; SLOTS] = [SIG_STATE; SLOTS];

/// The eventfd the handler writes, -1 until the first registration.
static EVENTFD: AtomicI32 = AtomicI32::new(-1);

/// Serialises registrations and owns the eventfd.
///
/// A fork child keeps sharing the eventfd with its parent (and with listeners made before the
/// fork, whose dups refer to it): a signal in one process then also wakes the other's
/// listeners, which compare their own generations, find nothing new and wait again. Giving the
/// child a fresh eventfd would strand every listener made before the fork.
static REGISTRY: Mutex<Option<EventFd>> = Mutex::new(None);

const DEFAULT_NOTHING: i32 = 0;
const DEFAULT_TERMINATE: i32 = 1;
const DEFAULT_STOP: i32 = 2;

/// What the default disposition of `sig` does (signal(7)).
fn default_action(sig: i32) -> i32 {
    match sig {
        libc::SIGCHLD | libc::SIGCONT | libc::SIGURG | libc::SIGWINCH => DEFAULT_NOTHING,
        libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => DEFAULT_STOP,
        _ => DEFAULT_TERMINATE,
    }
}

/// The signal handler's part (see the module docs). Runs in signal context: atomics and
/// async-signal-safe syscalls only, no allocation, no lock.
fn on_signal(sig: i32) {
    let state = &STATES[sig as usize];
    // Read before the bump: once a listener sees the bump it may return and drop itself, and
    // that must not make this very delivery take the default action.
    let nobody_listens = state.listeners.load(Ordering::SeqCst) == 0;
    // Bump first, then write: a reactor woken by the write sees the new generation.
    state.generation.fetch_add(1, Ordering::SeqCst);
    let fd = EVENTFD.load(Ordering::SeqCst);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: `one` is 8 initialised bytes that live across the call; `fd` is the
        // registry's eventfd, which is never closed once published. The result is ignored: EAGAIN means the counter is full, so the
        // fd is readable anyway, and nothing else can fail on an eventfd.
        let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }
    if nobody_listens {
        match state.default.load(Ordering::Relaxed) {
            DEFAULT_TERMINATE => {
                // The raised signal is blocked while this handler runs, so it is delivered,
                // with the default action, as the handler returns.
                // SAFETY: sigaction and raise are async-signal-safe (signal-safety(7)); the
                // sigaction struct is zeroed (SIG_DFL, empty mask) and lives across the call.
                unsafe {
                    let mut dfl: libc::sigaction = std::mem::zeroed();
                    dfl.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(sig, &dfl, std::ptr::null_mut());
                    libc::raise(sig);
                }
            }
            DEFAULT_STOP => {
                // SAFETY: raise is async-signal-safe; SIGSTOP cannot be caught or blocked.
                unsafe {
                    libc::raise(libc::SIGSTOP);
                }
            }
            _ => {}
        }
    }
}

/// Checks that `sig` can be listened to: a real signal number that may be caught.
pub(crate) fn check(sig: i32) -> io::Result<()> {
    let max = libc::SIGRTMAX();
    if sig < 1 || sig > max || sig as usize >= SLOTS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{sig} is not a signal number (Linux has 1..={max})"),
        ));
    }
    if signal_hook_registry::FORBIDDEN.contains(&sig) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "signal {sig} cannot be listened to (SIGKILL and SIGSTOP cannot be caught; \
                 SIGILL, SIGFPE and SIGSEGV are faults, not events)"
            ),
        ));
    }
    Ok(())
}

/// A listener's handle on `sig`'s deliveries: the generation counter, and a dup of the shared
/// eventfd for the listener's reactor to watch. Registers the action on first use.
pub(crate) fn listen(sig: i32) -> io::Result<OwnedFd> {
    check(sig)?;
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let fd = match &*registry {
        Some(efd) => efd.as_raw_fd(),
        None => {
            let efd = EventFd::new()?;
            let fd = efd.as_raw_fd();
            EVENTFD.store(fd, Ordering::SeqCst);
            *registry = Some(efd);
            fd
        }
    };
    let state = &STATES[sig as usize];
    if !state.installed.load(Ordering::SeqCst) {
        install(sig)?;
        state.installed.store(true, Ordering::SeqCst);
    }
    super::fd::dup_cloexec(fd)
}

/// Records what the disposition was, then registers the action. Called under the registry
/// lock, once per signal.
fn install(sig: i32) -> io::Result<()> {
    // SAFETY: all-zero is a valid sigaction to be filled in; a null new action only queries.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `old` is valid for writes; the new-action pointer is null (query only).
    super::cvt(unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) })?;
    let default = if old.sa_sigaction == libc::SIG_DFL {
        default_action(sig)
    } else {
        // Ignored, or someone's handler (chained by the registry): leave it at that.
        DEFAULT_NOTHING
    };
    STATES[sig as usize]
        .default
        .store(default, Ordering::Relaxed);
    // SAFETY: `on_signal` does only async-signal-safe work (atomics, write, sigaction,
    // raise), allocates nothing and takes no lock, as a signal handler must. `sig` was checked
    // against FORBIDDEN (the registry would panic on those).
    unsafe { signal_hook_registry::register(sig, move || on_signal(sig)) }?;
    Ok(())
}

/// How many deliveries of `sig` the handler has seen.
pub(crate) fn generation(sig: i32) -> u64 {
    STATES[sig as usize].generation.load(Ordering::SeqCst)
}

/// Counts a listener of `sig` (deliveries with none may do the default action).
pub(crate) fn add_listener(sig: i32) {
    STATES[sig as usize]
        .listeners
        .fetch_add(1, Ordering::SeqCst);
}

/// Un-counts a listener of `sig`.
pub(crate) fn remove_listener(sig: i32) {
    STATES[sig as usize]
        .listeners
        .fetch_sub(1, Ordering::SeqCst);
}

/// Sends `sig` to this process (`kill(getpid(), sig)`), for tests and examples.
#[cfg(test)]
pub(crate) fn raise_process(sig: i32) -> io::Result<()> {
    // SAFETY: kill and getpid take no pointers.
    super::cvt(unsafe { libc::kill(libc::getpid(), sig) })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_and_out_of_range_are_errors() {
        for sig in [0, -1, 65, 1000, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
            let e = check(sig).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{sig}");
        }
        check(libc::SIGUSR1).unwrap();
    }

    #[test]
    fn default_actions_follow_signal_7() {
        for sig in [libc::SIGCHLD, libc::SIGWINCH, libc::SIGURG, libc::SIGCONT] {
            assert_eq!(default_action(sig), DEFAULT_NOTHING, "{sig}");
        }
        for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
            assert_eq!(default_action(sig), DEFAULT_STOP, "{sig}");
        }
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGRTMIN(),
        ] {
            assert_eq!(default_action(sig), DEFAULT_TERMINATE, "{sig}");
        }
    }

    #[test]
    fn a_delivery_bumps_the_generation_and_rings_the_eventfd() {
        let sig = libc::SIGUSR2;
        let fd = listen(sig).unwrap();
        add_listener(sig);
        let before = generation(sig);
        raise_process(sig).unwrap();
        // The process-directed signal is handled by some thread with it unblocked; wait for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while generation(sig) == before {
            assert!(std::time::Instant::now() < deadline, "signal not handled");
            std::thread::yield_now();
        }
        remove_listener(sig);
        // The handler bumps the generation, then writes: the write may not have landed yet.
        let mut buf = [0u8; 8];
        let n = std::fs::File::from(fd);
        use std::io::Read;
        let got = loop {
            match (&n).read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "eventfd not written");
                    std::thread::yield_now();
                }
                other => break other,
            }
        };
        assert_eq!(got.unwrap(), 8);
    }
}
