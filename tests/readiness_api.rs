//! tokio's readiness surface on the socket types and `Async<T>`: `ready(Interest)`,
//! `readable`/`writable`, `poll_*_ready`, `try_*` (plain and vectored), `try_io`. Each is
//! checked ready, would-block and in error; a `readable()` + `try_read` loop under load must
//! neither spin nor lose a wakeup (counted in reads, not time).

mod util;
use util::{geode_tcp_pair, poll_once};

use std::cell::Cell;
use std::future::poll_fn;
use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::pin::pin;
use std::rc::Rc;

use geode::io::{Async, Interest, Ready};
use geode::net::UnixStream;

/// The same checks on `TcpStream` and `UnixStream`: the methods come from one macro, and so
/// do these tests.
macro_rules! stream_tests {
    ($module:ident, $pair:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn try_read_would_block_then_reads_then_would_block_again() {
                geode::block_on(util::bounded(10, "try_read", async {
                    let (a, b) = $pair;
                    let mut buf = [0; 16];
                    let err = a.try_read(&mut buf).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::WouldBlock);
                    // Marked not ready: readable() waits.
                    assert!(poll_once(pin!(a.readable())).is_pending());
                    b.write_all(b"hello").await.unwrap();
                    a.readable().await.unwrap();
                    assert_eq!(a.try_read(&mut buf).unwrap(), 5);
                    assert_eq!(&buf[..5], b"hello");
                    // A short read drained the socket: the next readable() waits.
                    assert!(poll_once(pin!(a.readable())).is_pending());
                    let err = a.try_read(&mut buf).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::WouldBlock);
                    // The futures still see new data.
                    b.write_all(b"more").await.unwrap();
                    assert_eq!(a.read(&mut buf).await.unwrap(), 4);
                }));
            }

            #[test]
            fn try_write_fills_the_buffer_then_writable_waits_for_room() {
                geode::block_on(util::bounded(20, "try_write", async {
                    let (a, b) = $pair;
                    let chunk = [7u8; 65536];
                    let mut written = 0;
                    loop {
                        match a.try_write(&chunk) {
                            Ok(n) => written += n,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => panic!("try_write: {e}"),
                        }
                    }
                    assert!(written > 0);
                    let mut writable = pin!(a.writable());
                    assert!(
                        poll_once(writable.as_mut()).is_pending(),
                        "full, yet writable"
                    );
                    // Drain the peer, then the writer has room again.
                    let mut buf = vec![0; 65536];
                    let mut read = 0;
                    let reader = async {
                        while read < written {
                            read += b.read(&mut buf).await.unwrap();
                        }
                    };
                    futures_util::future::join(reader, writable)
                        .await
                        .1
                        .unwrap();
                    assert_eq!(read, written);
                    assert!(a.try_write(b"x").unwrap() == 1);
                }));
            }

            #[test]
            fn vectored_reads_and_writes_keep_order() {
                geode::block_on(util::bounded(10, "vectored", async {
                    let (a, b) = $pair;
                    let n = a
                        .write_vectored(&[
                            IoSlice::new(b"ab"),
                            IoSlice::new(b""),
                            IoSlice::new(b"cde"),
                        ])
                        .await
                        .unwrap();
                    assert_eq!(n, 5);
                    let (mut x, mut y) = ([0; 2], [0; 8]);
                    let n = b
                        .read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
                        .await
                        .unwrap();
                    assert_eq!(n, 5);
                    assert_eq!((&x, &y[..3]), (b"ab", &b"cde"[..]));

                    let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
                    let err = b.try_read_vectored(&mut bufs).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::WouldBlock);
                    b.writable().await.unwrap();
                    assert_eq!(
                        b.try_write_vectored(&[IoSlice::new(b"12"), IoSlice::new(b"3")])
                            .unwrap(),
                        3
                    );
                    a.readable().await.unwrap();
                    let mut z = [0; 3];
                    assert_eq!(
                        a.try_read_vectored(&mut [IoSliceMut::new(&mut z)]).unwrap(),
                        3
                    );
                    assert_eq!(&z, b"123");
                    // No buffers at all: nothing to do, no error.
                    assert_eq!(a.write_vectored(&[]).await.unwrap(), 0);
                }));
            }

            #[test]
            fn ready_reports_both_directions_and_a_closed_peer() {
                geode::block_on(util::bounded(10, "ready", async {
                    let (a, b) = $pair;
                    let both = Interest::READABLE | Interest::WRITABLE;
                    let r = a.ready(both).await.unwrap();
                    assert!(r.is_writable() && !r.is_readable() && !r.is_read_closed());
                    // Only readable asked, nothing to read: waits.
                    assert!(poll_once(pin!(a.ready(Interest::READABLE))).is_pending());
                    b.write_all(b"x").await.unwrap();
                    let r = a.ready(Interest::READABLE).await.unwrap();
                    assert!(r.is_readable() && !r.is_writable(), "{r:?}");
                    let mut buf = [0; 4];
                    assert_eq!(a.try_read(&mut buf).unwrap(), 1);
                    drop(b);
                    // Nothing left to read: ready() answers with the EOF alone.
                    let r = a.ready(Interest::READABLE).await.unwrap();
                    assert!(r.is_read_closed() && r.is_readable(), "{r:?}");
                    assert_eq!(a.try_read(&mut buf).unwrap(), 0);
                    assert_eq!(a.read(&mut buf).await.unwrap(), 0);
                }));
            }

            #[test]
            fn poll_ready_forms_and_try_io() {
                geode::block_on(util::bounded(10, "poll forms", async {
                    let (a, b) = $pair;
                    poll_fn(|cx| a.poll_write_ready(cx)).await.unwrap();
                    assert!(poll_once(pin!(poll_fn(|cx| a.poll_read_ready(cx)))).is_pending());
                    b.write_all(b"yo").await.unwrap();
                    poll_fn(|cx| a.poll_read_ready(cx)).await.unwrap();
                    // try_io runs the closure once, now, and passes its result on.
                    let calls = Cell::new(0);
                    let res: std::io::Result<u8> = a.try_io(Interest::READABLE, || {
                        calls.set(calls.get() + 1);
                        Err(ErrorKind::WouldBlock.into())
                    });
                    assert_eq!(res.unwrap_err().kind(), ErrorKind::WouldBlock);
                    assert_eq!(calls.get(), 1);
                    // The kernel still says readable: readable() does not lie either way.
                    a.readable().await.unwrap();
                    let other = a.try_io(Interest::WRITABLE, || {
                        Err::<(), _>(std::io::Error::from_raw_os_error(libc::EBADF))
                    });
                    assert_eq!(other.unwrap_err().raw_os_error(), Some(libc::EBADF));
                    assert_eq!(a.try_io(Interest::READABLE, || Ok(5)).unwrap(), 5);
                    let mut buf = [0; 2];
                    a.read_exact(&mut buf).await.unwrap();
                }));
            }

            /// A reader task loops `readable()` + `try_read`, a second does the same on the
            /// same socket, and a third only yields, while a thread writes bursts. Every byte
            /// arrives (no lost wakeup: the whole is bounded), and each `WouldBlock` follows
            /// another reader's successful read (no spin).
            #[test]
            fn readable_try_read_loop_under_load_neither_spins_nor_loses_a_wakeup() {
                const BURSTS: usize = 400;
                geode::block_on(util::bounded(60, "readable + try_read loop", async {
                    let (a, b) = $pair;
                    let b = b.into_std().unwrap();
                    b.set_nonblocking(false).unwrap();
                    let total: usize = (0..BURSTS).map(|i| 1 + (i * 7919) % 3000).sum();
                    let writer = std::thread::spawn(move || {
                        let mut b = b;
                        for i in 0..BURSTS {
                            let len = 1 + (i * 7919) % 3000;
                            b.write_all(&vec![(i % 251) as u8; len]).unwrap();
                            if i % 16 == 0 {
                                std::thread::yield_now();
                            }
                        }
                        b
                    });
                    let a = Rc::new(a);
                    let got = Rc::new(Cell::new(0usize));
                    let reads = Rc::new(Cell::new(0usize));
                    let would_blocks = Rc::new(Cell::new(0usize));
                    let done = Rc::new(Cell::new(false));
                    let mut readers = Vec::new();
                    for _ in 0..2 {
                        let (a, got, reads, would_blocks, done) = (
                            a.clone(),
                            got.clone(),
                            reads.clone(),
                            would_blocks.clone(),
                            done.clone(),
                        );
                        readers.push(geode::spawn(async move {
                            let mut buf = vec![0; 1500];
                            while got.get() < total {
                                a.readable().await.unwrap();
                                match a.try_read(&mut buf) {
                                    Ok(0) => {
                                        assert_eq!(got.get(), total, "EOF before all bytes");
                                        break;
                                    }
                                    Ok(n) => {
                                        got.set(got.get() + n);
                                        reads.set(reads.get() + 1);
                                    }
                                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                        would_blocks.set(would_blocks.get() + 1)
                                    }
                                    Err(e) => panic!("try_read: {e}"),
                                }
                            }
                            done.set(true);
                        }));
                    }
                    let noise = {
                        let done = done.clone();
                        geode::spawn(async move {
                            while !done.get() {
                                geode::yield_now().await;
                            }
                        })
                    };
                    // One reader finishes; the other may be parked in readable() with nothing
                    // left to come: close the writer's side to release it (EOF is readable).
                    let (second, first) = (readers.pop().unwrap(), readers.pop().unwrap());
                    let other = match futures_util::future::select(first, second).await {
                        futures_util::future::Either::Left((done, other))
                        | futures_util::future::Either::Right((done, other)) => {
                            done.unwrap();
                            other
                        }
                    };
                    drop(writer.join().unwrap());
                    other.await.unwrap();
                    noise.await.unwrap();
                    assert_eq!(got.get(), total);
                    assert!(
                        would_blocks.get() <= reads.get(),
                        "{} WouldBlocks for {} reads: readable() spun",
                        would_blocks.get(),
                        reads.get()
                    );
                }));
            }
        }
    };
}

stream_tests!(tcp, geode_tcp_pair().await);
stream_tests!(unix, UnixStream::pair().unwrap());

#[test]
fn try_read_on_a_reset_connection_is_econnreset() {
    geode::block_on(util::bounded(10, "reset", async {
        let (a, b) = geode_tcp_pair().await;
        b.set_zero_linger().unwrap();
        drop(b); // RST
        let r = a.ready(Interest::READABLE).await.unwrap();
        assert!(r.is_readable(), "{r:?}");
        let err = a.try_read(&mut [0; 8]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNRESET));
        // After the reset, writes fail with the real errno too, never SIGPIPE.
        let err = loop {
            match a.try_write(b"x") {
                Ok(_) => a.writable().await.unwrap(),
                Err(e) => break e,
            }
        };
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
    }));
}

#[test]
fn a_hung_up_unix_peer_closes_both_halves() {
    geode::block_on(util::bounded(10, "hangup", async {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let r = a
            .ready(Interest::READABLE | Interest::WRITABLE)
            .await
            .unwrap();
        assert!(r.is_read_closed() && r.is_write_closed(), "{r:?}");
        let err = a.try_write(b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
    }));
}

#[test]
fn async_try_io_ready_and_the_mut_forms() {
    geode::block_on(util::bounded(10, "Async", async {
        let (r, w) = std::io::pipe().unwrap();
        let mut r = Async::new(r).unwrap();
        let mut w = Async::new(w).unwrap();
        let mut buf = [0; 8];
        let err = r
            .try_io(Interest::READABLE, |mut p| p.read(&mut buf))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(poll_once(pin!(r.ready(Interest::READABLE))).is_pending());
        let ready: Ready = w.ready(Interest::WRITABLE).await.unwrap();
        assert!(ready.is_writable());
        w.write_with_mut(|p| p.write_all(b"abc")).await.unwrap();
        let ready = r.ready(Interest::READABLE).await.unwrap();
        assert!(ready.is_readable() && !ready.is_read_closed());
        let n = r.read_with_mut(|p| p.read(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"abc");
        // The writer gone: the read end hangs up, and try_io reads EOF.
        drop(w);
        let ready = r.ready(Interest::READABLE).await.unwrap();
        assert!(ready.is_read_closed(), "{ready:?}");
        assert_eq!(
            r.try_io(Interest::READABLE, |mut p| p.read(&mut buf))
                .unwrap(),
            0
        );
    }));
}

#[test]
fn a_would_block_from_try_io_makes_the_next_read_wait_for_an_edge() {
    // The write direction marked not ready by a WouldBlock: the next write waits for an edge
    // rather than paying for a syscall, and still completes when room comes.
    geode::block_on(util::bounded(20, "try_io clears", async {
        let (a, b) = UnixStream::pair().unwrap();
        let wrote = Cell::new(0usize);
        loop {
            match a.try_write(&[1; 65536]) {
                Ok(n) => wrote.set(wrote.get() + n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let calls = Cell::new(0);
        let res: std::io::Result<()> = a.try_io(Interest::WRITABLE, || {
            calls.set(calls.get() + 1);
            Err(ErrorKind::WouldBlock.into())
        });
        assert!(res.is_err());
        let mut write = pin!(a.write(b"tail"));
        assert!(poll_once(write.as_mut()).is_pending());
        let mut buf = vec![0; 65536];
        let mut read = 0;
        let reader = async {
            while read < wrote.get() + 4 {
                read += b.read(&mut buf).await.unwrap();
            }
        };
        let (_, n) = futures_util::future::join(reader, write).await;
        assert_eq!(n.unwrap(), 4);
    }));
}

#[cfg(feature = "futures-io")]
#[test]
fn futures_io_forwards_vectored_calls() {
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    geode::block_on(util::bounded(10, "futures-io vectored", async {
        let (a, b) = UnixStream::pair().unwrap();
        // Through the traits, not the inherent methods (which win a method call).
        let n =
            AsyncWriteExt::write_vectored(&mut &a, &[IoSlice::new(b"ve"), IoSlice::new(b"ctored")])
                .await
                .unwrap();
        assert_eq!(n, 8);
        let (mut x, mut y) = ([0; 2], [0; 6]);
        let n = AsyncReadExt::read_vectored(
            &mut &b,
            &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)],
        )
        .await
        .unwrap();
        assert_eq!((n, &x, &y), (8, b"ve", b"ctored"));
    }));
}

#[cfg(feature = "tokio-io")]
#[test]
fn tokio_io_forwards_vectored_writes() {
    use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
    geode::block_on(util::bounded(10, "tokio-io vectored", async {
        let (mut a, mut b) = geode_tcp_pair().await;
        assert!(AsyncWrite::is_write_vectored(&a));
        let n = AsyncWriteExt::write_vectored(&mut a, &[IoSlice::new(b"to"), IoSlice::new(b"kio")])
            .await
            .unwrap();
        assert_eq!(n, 5);
        let mut buf = [0; 5];
        AsyncReadExt::read_exact(&mut b, &mut buf).await.unwrap();
        assert_eq!(&buf, b"tokio");
    }));
}
