//! Readiness that never lies: `readable()`/`writable()`/`poll_readable()`/`poll_writable()`
//! report an fd ready only if it is, even after I/O made outside geode (through `get_ref`)
//! used the readiness up, so the loop "try the syscall; on `WouldBlock` await `readable()`"
//! waits instead of spinning.

mod util;
use util::poll_once;

use std::io::{ErrorKind, Read, Write};
use std::pin::pin;
use std::sync::mpsc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use geode::io::Async;
use geode::reactor::park;

/// Parks this thread's reactor until `cond` holds; fails after 5 s instead of hanging.
fn park_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        park(Some(Duration::from_millis(50))).expect("park");
    }
}

/// Writes into the pipe through `get_ref` until it is full.
fn fill(w: &Async<std::io::PipeWriter>) -> usize {
    let mut total = 0;
    loop {
        match w.get_ref().write(&[0; 4096]) {
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return total,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }
}

#[test]
fn readable_waits_again_after_a_read_made_outside_geode() {
    let (r, mut w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    w.write_all(b"x").unwrap();
    geode::block_on(util::bounded(
        5,
        "readable with a byte queued",
        r.readable(),
    ))
    .unwrap();
    // Drain the pipe behind geode's back.
    assert_eq!(r.get_ref().read(&mut [0; 8]).unwrap(), 1);

    let mut readable = pin!(r.readable());
    assert!(
        poll_once(readable.as_mut()).is_pending(),
        "readable() answered Ready for an empty pipe"
    );
    w.write_all(b"y").unwrap();
    let mut done = false;
    park_until("readable() after new data", || {
        done = done || poll_once(readable.as_mut()).is_ready();
        done
    });
    assert_eq!(r.get_ref().read(&mut [0; 8]).unwrap(), 1);
}

#[test]
fn a_readable_woken_by_an_edge_that_was_used_up_waits_for_the_next() {
    // The edge arrives while the task waits, but the data is gone before the task runs.
    let (r, mut w) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let mut readable = pin!(r.readable());
    assert!(poll_once(readable.as_mut()).is_pending());
    w.write_all(b"x").unwrap();
    park(Some(Duration::ZERO)).unwrap(); // delivers the edge: the waiter is notified
    assert_eq!(r.get_ref().read(&mut [0; 8]).unwrap(), 1);
    assert!(
        poll_once(readable.as_mut()).is_pending(),
        "readable() answered Ready for an edge whose data was read outside geode"
    );
    w.write_all(b"y").unwrap();
    let mut done = false;
    park_until("readable() after new data", || {
        done = done || poll_once(readable.as_mut()).is_ready();
        done
    });
}

#[test]
fn writable_waits_again_after_a_write_made_outside_geode() {
    let (mut r, w) = std::io::pipe().unwrap();
    let w = Async::new(w).unwrap();
    geode::block_on(util::bounded(5, "writable on an empty pipe", w.writable())).unwrap();
    let filled = fill(&w);
    assert!(filled > 0);

    let mut writable = pin!(w.writable());
    assert!(
        poll_once(writable.as_mut()).is_pending(),
        "writable() answered Ready for a full pipe"
    );
    // Make room: a pipe wakes writers once a page is free.
    let mut buf = vec![0; filled];
    r.read_exact(&mut buf).unwrap();
    let mut done = false;
    park_until("writable() after the reader made room", || {
        done = done || poll_once(writable.as_mut()).is_ready();
        done
    });
}

#[test]
fn poll_readable_and_poll_writable_under_a_park_loop_see_the_kernel_state() {
    let (r, mut w_std) = std::io::pipe().unwrap();
    let r = Async::new(r).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    w_std.write_all(b"x").unwrap();
    park_until("poll_readable with a byte queued", || {
        r.poll_readable(&mut cx).is_ready()
    });
    assert_eq!(r.get_ref().read(&mut [0; 8]).unwrap(), 1);
    assert!(
        r.poll_readable(&mut cx).is_pending(),
        "poll_readable answered Ready for an empty pipe"
    );
    park(Some(Duration::ZERO)).unwrap();
    assert!(r.poll_readable(&mut cx).is_pending());

    let (_r2, w) = std::io::pipe().unwrap();
    let w = Async::new(w).unwrap();
    park_until("poll_writable on an empty pipe", || {
        w.poll_writable(&mut cx).is_ready()
    });
    fill(&w);
    assert!(
        w.poll_writable(&mut cx).is_pending(),
        "poll_writable answered Ready for a full pipe"
    );
}

#[test]
fn a_retry_loop_on_get_ref_neither_spins_nor_loses_a_wakeup() {
    // The loop every async-io and tokio user writes. Another thread sends one byte at a time,
    // each only after the previous one was read. Each byte costs the loop at most one read
    // that finds it, one that gets WouldBlock and one spurious wake: a stale `Ready` would
    // make it spin, hundreds of thousands of reads in the same time.
    const BYTES: usize = 20;
    let (r, mut w) = std::io::pipe().unwrap();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        for i in 0..BYTES {
            w.write_all(&[i as u8]).unwrap();
            ack_rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("byte {i} was never read"));
        }
    });
    let reads = geode::block_on(util::bounded(20, "the retry loop", async move {
        let r = Async::new(r).unwrap();
        let (mut reads, mut got) = (0usize, 0usize);
        while got < BYTES {
            reads += 1;
            assert!(reads < 100 * BYTES, "the retry loop spins: {reads} reads");
            match r.get_ref().read(&mut [0; 8]) {
                Ok(n) => {
                    assert!(n > 0, "EOF before every byte arrived");
                    got += n;
                    ack_tx.send(()).unwrap();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => r.readable().await.unwrap(),
                Err(e) => panic!("read: {e}"),
            }
        }
        reads
    }));
    writer.join().unwrap();
    assert!(
        reads <= 3 * BYTES,
        "{reads} reads for {BYTES} bytes: readable() returned at once without data"
    );
}
