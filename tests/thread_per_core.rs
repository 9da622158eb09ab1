//! `examples/thread_per_core.rs`: one listener shared by N threads' reactors.

mod util;

#[path = "../examples/thread_per_core.rs"]
mod thread_per_core;

#[test]
fn two_hundred_connections_are_each_accepted_once_without_a_thundering_herd() {
    const THREADS: usize = 4;
    const CONNECTIONS: usize = 200;
    let reports = thread_per_core::run(THREADS, CONNECTIONS).unwrap();
    let accepted: u64 = reports.iter().map(|r| r.accepted).sum();
    assert_eq!(
        accepted, CONNECTIONS as u64,
        "every connection accepted exactly once"
    );
    let waits: u64 = reports.iter().map(|r| r.epoll_wait_calls).sum();
    let woken: u64 = reports.iter().map(|r| r.woken).sum();
    println!("{reports:?}: woken {woken} times, {waits} epoll_wait returns");
    if util::epollexclusive_disabled() {
        // Without EPOLLEXCLUSIVE every thread is woken for every connection: the herd this
        // test exists to rule out is expected, and only "accepted once" holds.
        println!("GEODE_NO_EPOLLEXCLUSIVE is set: herd bounds not checked");
        return;
    }
    // Each connection is made while every server thread is blocked in epoll_wait, and serving
    // one never waits. With EPOLLEXCLUSIVE the kernel wakes one thread per connection ("one or
    // more", it promises; measured: 204 returns for 200); without it, all four (measured: ~810
    // wakeups, most of them swallowed inside epoll_wait, which re-polls the listener before
    // returning, so the returns alone barely show the herd).
    assert!(
        waits < 2 * CONNECTIONS as u64,
        "{waits} returns from epoll_wait for {CONNECTIONS} connections: a herd"
    );
    if util::under_valgrind() {
        // Valgrind hands its one big lock between threads with futex waits, each a voluntary
        // context switch (measured: 626 for 200 connections, with exclusive wakeups).
        println!("under valgrind: the context-switch bound is not checked");
        return;
    }
    assert!(
        woken < 2 * CONNECTIONS as u64,
        "{woken} thread wakeups for {CONNECTIONS} connections on {THREADS} threads: a herd"
    );
}

// ---------------------------------------------------------------------------------------------
// geode::runtime::thread_per_core itself
// ---------------------------------------------------------------------------------------------

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use geode::net::{TcpListener, TcpSocket};
use geode::runtime::{Builder, core_affinity, thread_per_core};

/// One core's server: answers `?` with its core number, and `q` too, then returns how many
/// `?` it answered. Bounded: a core that hears nothing for 60 s gives up with an error.
async fn answer(
    core: usize,
    listener: io::Result<TcpListener>,
    listening: std::sync::mpsc::Sender<()>,
) -> io::Result<usize> {
    let listener = listener?;
    let _ = listening.send(());
    drop(listening);
    let mut answered = 0;
    loop {
        let (conn, _) = geode::time::timeout(Duration::from_secs(60), listener.accept())
            .await
            .map_err(|_| io::Error::other(format!("core {core}: no connection for 60 s")))??;
        let mut cmd = [0];
        conn.read_exact(&mut cmd).await?;
        conn.write_all(&[core as u8]).await?;
        match cmd[0] {
            b'?' => answered += 1,
            _ => return Ok(answered),
        }
    }
}

/// Sends `cmd` on a fresh connection and returns the one byte that comes back before EOF.
fn ask(addr: SocketAddr, cmd: u8) -> io::Result<u8> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.write_all(&[cmd])?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    match reply[..] {
        [core] => Ok(core),
        _ => Err(io::Error::other(format!("reply {reply:?}: not one byte"))),
    }
}

/// `connections` questions, then `q`s until every one of `threads` cores has quit. Returns
/// how many questions each core answered, by the client's count.
fn ask_then_quit(
    addr: SocketAddr,
    threads: usize,
    connections: usize,
    listening: std::sync::mpsc::Receiver<()>,
) -> io::Result<Vec<usize>> {
    // Every core listens before the first connection (with SO_REUSEPORT, none would refuse).
    for _ in 0..threads {
        listening
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| io::Error::other("the cores did not all start listening"))?;
    }
    let mut answered = vec![0; threads];
    for i in 0..connections {
        let core = ask(addr, b'?').map_err(|e| io::Error::other(format!("connection {i}: {e}")))?;
        answered[core as usize] += 1;
    }
    let mut quit = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while quit.len() < threads {
        // A `q` may land on a listener that its core is closing (SO_REUSEPORT: reset): retry.
        if let Ok(core) = ask(addr, b'q') {
            quit.insert(core);
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!("only cores {quit:?} quit")));
        }
    }
    Ok(answered)
}

#[test]
fn so_reuseport_spreads_a_thousand_connections_over_both_threads_each_answered_once() {
    const CONNECTIONS: usize = 1000;
    // Holds the port for the cores' listeners; bound, never listening, so it takes nothing.
    let reserve = TcpSocket::new_v4().unwrap();
    reserve.set_reuseport(true).unwrap();
    reserve.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = reserve.local_addr().unwrap();
    let (served, asked) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let client = scope.spawn(move || ask_then_quit(addr, 2, CONNECTIONS, rx));
        let served = thread_per_core(2, |core| {
            let listener = TcpSocket::new_v4().and_then(|s| {
                s.set_reuseport(true)?;
                s.bind(addr)?;
                s.listen(1024)
            });
            answer(core, listener, tx.clone())
        });
        (served, client.join().unwrap())
    });
    let served: Vec<usize> = served.unwrap().into_iter().map(Result::unwrap).collect();
    let asked = asked.unwrap();
    assert_eq!(served, asked, "the servers' counts and the client's agree");
    assert_eq!(
        served.iter().sum::<usize>(),
        CONNECTIONS,
        "every one answered once"
    );
    // The kernel picks a listener by a hash of the 4-tuple: 1,000 distinct client ports all
    // landing on one listener has probability 2^-1000.
    assert!(
        served.iter().all(|&n| n > 0),
        "both threads served: {served:?}"
    );
    println!("SO_REUSEPORT spread: {served:?}");
}

#[test]
fn a_shared_listener_answers_a_thousand_connections_each_once() {
    const CONNECTIONS: usize = 1000;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (served, asked) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let client = scope.spawn(move || ask_then_quit(addr, 2, CONNECTIONS, rx));
        let served = thread_per_core(2, |core| {
            let listener = listener.try_clone().and_then(TcpListener::from_std);
            answer(core, listener, tx.clone())
        });
        (served, client.join().unwrap())
    });
    let served: Vec<usize> = served.unwrap().into_iter().map(Result::unwrap).collect();
    assert_eq!(served, asked.unwrap());
    // Which idle thread the kernel wakes is its choice: only the total is certain.
    assert_eq!(
        served.iter().sum::<usize>(),
        CONNECTIONS,
        "every one answered once"
    );
    println!("shared listener spread: {served:?}");
}

#[test]
fn a_panic_on_one_core_comes_back_as_an_error_naming_it() {
    let err = thread_per_core(2, |core| async move {
        if core == 1 {
            panic!("core one gives up");
        }
        core
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    let msg = err.to_string();
    assert!(msg.contains("core 1 panicked"), "{msg}");
    assert!(msg.contains("core one gives up"), "{msg}");
    // A panic in the closure itself (before any future) too.
    let err = thread_per_core(2, |core| {
        assert_ne!(core, 0, "no future for core zero");
        async {}
    })
    .unwrap_err();
    assert!(err.to_string().contains("core 0 panicked"), "{err}");
}

#[test]
fn every_core_runs_its_own_pinned_runtime_and_outputs_come_in_core_order() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let out = thread_per_core(0, |core| async move {
        // Each core has a runtime of its own: spawn works, and a second one is refused.
        let spawned = geode::spawn(async move { core * 2 }).await.unwrap();
        let second = geode::runtime::Runtime::new().is_err();
        let pinned = core_affinity().expect("a thread_per_core thread knows its pin");
        (core, spawned, second, pinned.map_err(|e| e.to_string()))
    })
    .unwrap();
    assert_eq!(out.len(), cpus, "threads 0 means one per CPU");
    let mut pinned_to = BTreeSet::new();
    for (i, (core, spawned, second, pinned)) in out.into_iter().enumerate() {
        assert_eq!((core, spawned, second), (i, i * 2, true));
        pinned_to.insert(pinned.unwrap());
    }
    assert_eq!(pinned_to.len(), cpus, "each thread on a CPU of its own");
    assert!(
        core_affinity().is_none(),
        "the calling thread is not a core"
    );
}

#[test]
fn a_runtime_that_cannot_be_built_runs_nothing() {
    let ran = std::sync::atomic::AtomicBool::new(false);
    let err = Builder::new()
        .budget(0)
        .thread_per_core(2, |_| {
            ran.store(true, std::sync::atomic::Ordering::Relaxed);
            async {}
        })
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(!ran.load(std::sync::atomic::Ordering::Relaxed));
    // More threads than CPUs: they share CPUs, and all run.
    let cpus = std::thread::available_parallelism().unwrap().get();
    let out = Builder::new()
        .event_capacity(8)
        .thread_per_core(cpus + 1, |core| async move { core })
        .unwrap();
    assert_eq!(out, (0..=cpus).collect::<Vec<_>>());
}

/// `n` connections to `addr`, each completed by the kernel (queued, not yet accepted).
fn queue_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect()
}

/// Accepts (and closes) connections on `listener` on a thread of its own until `stop`, or
/// until it has accepted `limit`; returns how many. Its peers see EOF. It keeps accepting
/// rather than draining once: a connection whose handshake the kernel had not finished when
/// the test moved on reaches the queue a moment later.
fn accept_until(
    listener: std::net::TcpListener,
    limit: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    use std::sync::atomic::Ordering;
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut accepted = 0;
        while accepted < limit && !stop.load(Ordering::Acquire) && Instant::now() < deadline {
            match listener.accept() {
                Ok(_) => accepted += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        accepted
    })
}

/// Each client's fate: `true` if its connection was reset, `false` if it was accepted (EOF).
fn fates(clients: &[TcpStream]) -> Vec<bool> {
    clients
        .iter()
        .map(|c| {
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut byte = [0];
            let mut c = c;
            match c.read(&mut byte) {
                Ok(0) => false,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => true,
                other => panic!("a queued client saw neither EOF nor a reset: {other:?}"),
            }
        })
        .collect()
}

#[test]
fn connections_queued_on_a_closed_reuseport_listener_are_reset_but_a_shared_queue_survives() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    const QUEUED: usize = 100;
    // SO_REUSEPORT: two listeners, two queues. Closing one resets what waits in its queue.
    let listen = |addr: SocketAddr| {
        let s = TcpSocket::new_v4().unwrap();
        s.set_reuseport(true).unwrap();
        s.bind(addr).unwrap();
        s.listen(1024).unwrap().into_std().unwrap()
    };
    let a = listen("127.0.0.1:0".parse().unwrap());
    let addr = a.local_addr().unwrap();
    let b = listen(addr);
    let clients = queue_connections(addr, QUEUED);
    drop(b);
    let stop = Arc::new(AtomicBool::new(false));
    let survivor = accept_until(a, QUEUED, stop.clone());
    let reset = fates(&clients);
    stop.store(true, Ordering::Release);
    let kept = survivor.join().unwrap();
    let lost = reset.iter().filter(|&&r| r).count();
    println!("SO_REUSEPORT: {kept} accepted by the survivor, {lost} reset with the closed one");
    assert_eq!(kept + lost, QUEUED);
    assert!(
        lost > 0,
        "the hash put some of {QUEUED} on the closed listener"
    );
    // One listener shared by two threads (a try_clone each): one queue, which outlives any
    // one clone.
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = a.try_clone().unwrap();
    let clients = queue_connections(a.local_addr().unwrap(), QUEUED);
    drop(b);
    let survivor = accept_until(a, QUEUED, Arc::new(AtomicBool::new(false)));
    assert!(fates(&clients).iter().all(|&reset| !reset), "none reset");
    assert_eq!(
        survivor.join().unwrap(),
        QUEUED,
        "a shared accept queue loses nothing"
    );
}
