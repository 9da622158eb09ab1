//! `geode::net::{TcpListener, TcpStream}` through the public API: connect/accept, EOF, resets,
//! refused and unanswered connects, bulk transfer both ways, half-close, many connections on one
//! thread, concurrent read and write through `&TcpStream`, socket options, and the steady-state
//! cost of a ping-pong (no `epoll_ctl`, at most one `epoll_wait` per message hop).
//!
//! Loopback only (127.0.0.1 and ::1, port 0).

mod util;
use util::full_backlog_listener;
use util::{check_echoes, echo_until_eof, read_to_eof, set_linger_zero, write_until_error};

use std::cell::Cell;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join;
use geode::net::{TcpListener, TcpStream};
use geode::reactor::stats;
use geode::time::{sleep, timeout};
use geode::{block_on, spawn, yield_now};
use util::bounded;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A listener on 127.0.0.1 (ephemeral port) and its address.
fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A connected pair: (client, server side).
async fn pair() -> (TcpStream, TcpStream) {
    let (l, addr) = listener();
    let (c, s) = join(TcpStream::connect(addr), l.accept()).await;
    (c.expect("connect"), s.expect("accept").0)
}

/// A loopback address nothing listens on: bind a std listener on port 0, note its address,
/// close it. (Another process could take the port in between; the window is tiny.)
fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid `rlimit` for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid `rlimit`; raising the soft limit up to the hard one is
        // always allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    lim.rlim_cur
}

/// The byte at offset `i` of the test streams: varies with every byte and every 64 KiB block,
/// so a lost, duplicated or reordered chunk shows.
fn pattern(i: usize) -> u8 {
    ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8 ^ (i >> 16) as u8
}

fn fill_pattern(start: usize, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern(start + k);
    }
}

/// Writes `total` pattern bytes in 64 KiB chunks.
async fn write_pattern(s: &TcpStream, total: usize) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    let mut off = 0;
    while off < total {
        let n = buf.len().min(total - off);
        fill_pattern(off, &mut buf[..n]);
        s.write_all(&buf[..n]).await?;
        off += n;
    }
    Ok(())
}

/// Reads exactly `total` bytes and checks them against the pattern.
async fn read_pattern(s: &TcpStream, total: usize) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    let mut off = 0;
    while off < total {
        let want = buf.len().min(total - off);
        let n = s.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("EOF after {off} of {total} bytes"),
            ));
        }
        for (k, &b) in buf[..n].iter().enumerate() {
            if b != pattern(off + k) {
                return Err(io::Error::other(format!("byte {} corrupted", off + k)));
            }
        }
        off += n;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Connect, accept, echo
// ---------------------------------------------------------------------------------------------

#[test]
fn connect_accept_echo() {
    block_on(bounded(10, "echo", async {
        let (l, addr) = listener();
        let server = spawn(async move {
            let (s, peer) = l.accept().await?;
            assert_eq!(peer, s.peer_addr()?);
            echo_until_eof(&s, &mut [0; 1024]).await
        });
        let c = TcpStream::connect(addr).await.unwrap();
        check_echoes(&c, &[b"hello", b"geode", &[7u8; 1000]]).await;
        c.shutdown(Shutdown::Write).unwrap();
        server.await.unwrap().unwrap();
        // The server dropped its side after our EOF: we read EOF too.
        assert_eq!(c.read(&mut [0; 8]).await.unwrap(), 0);
    }));
}

/// The same over IPv6 loopback, where the host has it.
#[test]
fn connect_accept_echo_ipv6() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: no IPv6 loopback");
        return;
    };
    block_on(bounded(10, "echo over ::1", async move {
        let addr = l.local_addr().unwrap();
        assert!(addr.is_ipv6());
        let (c, s) = join(TcpStream::connect(addr), l.accept()).await;
        let (c, (s, peer)) = (c.unwrap(), s.unwrap());
        assert_eq!(peer, c.local_addr().unwrap());
        c.write_all(b"six").await.unwrap();
        let mut buf = [0; 3];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"six");
    }));
}

/// `incoming()` is a `Stream` of accepted connections, usable with `StreamExt::next`.
#[test]
fn incoming_is_a_stream() {
    block_on(bounded(10, "incoming", async {
        let (l, addr) = listener();
        let clients = spawn(async move {
            let mut v = Vec::new();
            for i in 0..3u8 {
                let c = TcpStream::connect(addr).await.unwrap();
                c.write_all(&[i]).await.unwrap();
                v.push(c);
            }
            v
        });
        let mut incoming = pin!(l.incoming());
        let mut got = Vec::new();
        for _ in 0..3 {
            let s = incoming.next().await.expect("incoming never ends").unwrap();
            let mut b = [0];
            s.read_exact(&mut b).await.unwrap();
            got.push(b[0]);
        }
        got.sort();
        assert_eq!(got, [0, 1, 2]);
        clients.await.unwrap();
    }));
}

/// Several tasks accepting on one listener each get a connection.
#[test]
fn concurrent_accepts_each_get_a_connection() {
    block_on(bounded(10, "concurrent accepts", async {
        let (l, addr) = listener();
        let l = Rc::new(l);
        let acceptors: Vec<_> = (0..3)
            .map(|_| {
                let l = l.clone();
                spawn(async move { l.accept().await.map(|(s, _)| s) })
            })
            .collect();
        // Let every acceptor start waiting before the connections arrive.
        yield_now().await;
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        for a in acceptors {
            a.await.unwrap().unwrap();
        }
    }));
}

// ---------------------------------------------------------------------------------------------
// EOF, reset, refused
// ---------------------------------------------------------------------------------------------

#[test]
fn eof_is_ok_zero() {
    block_on(bounded(10, "eof", async {
        let (c, s) = pair().await;
        s.write_all(b"last").await.unwrap();
        drop(s);
        let mut buf = [0; 16];
        let n = c.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"last");
        // EOF, and it stays EOF.
        assert_eq!(c.read(&mut buf).await.unwrap(), 0);
        assert_eq!(c.read(&mut buf).await.unwrap(), 0);
        // read_exact past EOF is UnexpectedEof.
        let e = c.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
        // An empty buffer reads Ok(0) at once, EOF or not.
        assert_eq!(c.read(&mut []).await.unwrap(), 0);
    }));
}

/// The last data and the FIN arrive together, while a read is waiting: the reactor sees one
/// event (EPOLLIN | EPOLLRDHUP) for both. The reader must get the data *and then EOF*. A short
/// read normally means "drained, wait for the next edge", but here no edge will ever come again:
/// the EOF is already queued behind the data, so waiting would hang.
#[test]
fn data_and_fin_arriving_together_give_data_then_eof() {
    block_on(bounded(5, "data + FIN in one event", async {
        let (c, s) = pair().await;
        let reader = spawn(async move { read_to_eof(&c).await });
        // The reader runs first and waits on the empty socket.
        yield_now().await;
        assert!(!reader.is_finished());
        // Data and FIN in the same executor turn: both are queued before the reactor polls.
        s.write_all(b"last words").await.unwrap();
        drop(s);
        assert_eq!(reader.await.unwrap().unwrap(), b"last words");
    }));
}

/// TCP urgent data (`MSG_OOB`, used by telnet and FTP): a read stops at the urgent mark and
/// returns a short count although more data is queued behind it. A short read therefore does
/// not always mean "drained": the data after the mark must still be read without waiting for
/// another edge (the peer sends nothing more here, but keeps the connection open).
#[test]
fn data_after_an_urgent_mark_is_read_without_a_new_edge() {
    block_on(bounded(5, "data after the urgent mark", async {
        let (c, s) = pair().await;
        let reader = spawn(async move {
            let mut all = Vec::new();
            let mut buf = [0; 4096];
            while all.len() < 6 {
                let n = c.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
            }
            Ok::<_, io::Error>((all, c))
        });
        yield_now().await;
        assert!(!reader.is_finished());
        let send = |data: &[u8], flags| {
            // SAFETY: sends `data.len()` bytes from a valid buffer.
            let n = unsafe { libc::send(s.as_raw_fd(), data.as_ptr().cast(), data.len(), flags) };
            assert_eq!(
                n,
                data.len() as isize,
                "send: {}",
                io::Error::last_os_error()
            );
        };
        // "abc", then the urgent byte "!", then "def", all before the reactor polls. Without
        // SO_OOBINLINE the urgent byte is taken out of the stream.
        send(b"abc", 0);
        send(b"!", libc::MSG_OOB);
        send(b"def", 0);
        let (all, _c) = reader.await.unwrap().unwrap();
        assert_eq!(all, b"abcdef");
        drop(s);
    }));
}

/// A reset that arrives while a read is waiting must wake it with `ConnectionReset` (the edge
/// is an EPOLLERR/EPOLLHUP, not data), not leave it hanging; writes afterwards fail too.
#[test]
fn peer_reset_wakes_a_waiting_read_with_connection_reset() {
    block_on(bounded(10, "reset while reading", async {
        let (c, s) = pair().await;
        let c = Rc::new(c);
        let reader = {
            let c = c.clone();
            spawn(async move { c.read(&mut [0; 16]).await })
        };
        // The reader runs (and blocks) before we get the CPU back: the run queue is FIFO.
        yield_now().await;
        assert!(
            !reader.is_finished(),
            "nothing was sent, the read must wait"
        );
        set_linger_zero(s.as_raw_fd());
        drop(s);
        let e = reader.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
        let e = c.write_all(&[1; 1024]).await.unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "write after reset: {e}"
        );
    }));
}

/// A reset that arrived before anyone asked: the first write reports it (or EPIPE).
#[test]
fn peer_reset_fails_a_write() {
    block_on(bounded(10, "reset then write", async {
        let (c, s) = pair().await;
        set_linger_zero(s.as_raw_fd());
        drop(s);
        let e = c.write_all(&[1; 1024]).await.unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "write after reset: {e}"
        );
        // And a read does not hang either: the error or EOF.
        match c.read(&mut [0; 8]).await {
            Ok(0) => {}
            Ok(n) => panic!("read {n} bytes from a reset connection"),
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                "{e}"
            ),
        }
    }));
}

/// A reset peer with the read issued afterwards: `ConnectionReset`.
#[test]
fn peer_reset_fails_a_later_read() {
    block_on(bounded(10, "reset then read", async {
        let (c, s) = pair().await;
        set_linger_zero(s.as_raw_fd());
        drop(s);
        let e = c.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    }));
}

/// A second listener on a port in use fails (`SO_REUSEADDR` does not allow two listeners).
#[test]
fn bind_to_a_port_in_use_is_addr_in_use() {
    let (_l, addr) = listener();
    let e = TcpListener::bind(addr).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
    // No address at all: InvalidInput.
    let none: &[SocketAddr] = &[];
    let e = TcpListener::bind(none).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

/// A connection whose client closed (or reset) before it was accepted is still accepted; the
/// server then reads EOF (or the reset).
#[test]
fn accept_of_an_already_closed_connection() {
    block_on(bounded(10, "accept closed connection", async {
        let (l, addr) = listener();
        let c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"bye").await.unwrap();
        drop(c);
        let (s, _) = l.accept().await.unwrap();
        let mut buf = [0; 3];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"bye");
        assert_eq!(s.read(&mut buf).await.unwrap(), 0);

        let c = TcpStream::connect(addr).await.unwrap();
        set_linger_zero(c.as_raw_fd());
        drop(c);
        // Linux drops a reset connection from the accept queue, so the accept may not see it:
        // follow up with a live one, which must be accepted either way.
        let live = TcpStream::connect(addr).await.unwrap();
        loop {
            let (s, peer) = l.accept().await.unwrap();
            if peer == live.local_addr().unwrap() {
                break;
            }
            let e = s.read(&mut buf).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
        }
    }));
}

/// A write waiting for room in a full send buffer must be woken with an error when the peer
/// goes away (its close, with our data unread, sends a RST), not wait forever for an EPOLLOUT.
#[test]
fn write_waiting_on_a_full_buffer_fails_when_the_peer_goes_away() {
    block_on(bounded(10, "pending write, then peer closes", async {
        let (c, s) = pair().await;
        let c = Rc::new(c);
        let chunk = vec![0x42; 256 * 1024];
        let writer = {
            let c = c.clone();
            spawn(async move { write_until_error(&*c, &chunk).await })
        };
        // Let the writer fill the socket buffers (the peer reads nothing) and block: each
        // turn it writes until the buffers are full (or its coop budget runs out).
        for _ in 0..16 {
            yield_now().await;
        }
        assert!(!writer.is_finished(), "the writer cannot finish");
        set_linger_zero(s.as_raw_fd());
        drop(s);
        let e = writer.await.unwrap();
        assert!(
            matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "{e}"
        );
    }));
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    block_on(bounded(10, "refused connect", async {
        let e = TcpStream::connect(refused_addr()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
    }));
}

/// `connect` tries each address in order and returns the last error, like std.
#[test]
fn connect_tries_every_address_in_order() {
    block_on(bounded(10, "connect to several addresses", async {
        let two_refused = [refused_addr(), refused_addr()];
        let e = TcpStream::connect(&two_refused[..]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");

        let (l, good) = listener();
        let c = TcpStream::connect(&[refused_addr(), good][..])
            .await
            .unwrap();
        assert_eq!(c.peer_addr().unwrap(), good);
        let (s, peer) = l.accept().await.unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        drop(s);

        // No address at all: InvalidInput, not a panic.
        let none: &[SocketAddr] = &[];
        let e = TcpStream::connect(none).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }));
}

/// A connect that is never answered (the listener's accept queue is full, so its SYNs are
/// dropped) stays pending, bounded by `timeout`; meanwhile the thread runs other tasks: the
/// connect is non-blocking, not a blocking `connect(2)` hidden in a future.
#[test]
fn unanswered_connect_stays_pending_and_does_not_block_the_thread() {
    let (full, _fillers) = full_backlog_listener();
    let addr = full.local_addr().unwrap();
    block_on(bounded(10, "unanswered connect", async move {
        let ticks = Rc::new(Cell::new(0u32));
        let ticker = {
            let ticks = ticks.clone();
            spawn(async move {
                loop {
                    sleep(Duration::from_millis(5)).await;
                    ticks.set(ticks.get() + 1);
                }
            })
        };
        let before = stats();
        let start = Instant::now();
        let r = timeout(Duration::from_millis(100), TcpStream::connect(addr)).await;
        assert!(r.is_err(), "the connect must not complete: {r:?}");
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert!(
            ticks.get() >= 1,
            "other tasks must run while the connect waits"
        );
        // The dropped connect's socket was deregistered.
        assert_eq!(stats().registered_fds, before.registered_fds);
        ticker.abort();
    }));
}

// ---------------------------------------------------------------------------------------------
// Bulk data, half-close
// ---------------------------------------------------------------------------------------------

/// 16 MiB each way at once: the client writes 16 MiB while reading the server's echo of it.
/// Neither side could finish writing without the other reading (the socket buffers are far
/// smaller), so this also proves reads and writes on one stream interleave.
#[test]
fn sixteen_mib_each_way_intact() {
    const TOTAL: usize = 16 << 20;
    block_on(bounded(30, "16 MiB echo", async {
        let (l, addr) = listener();
        let server = spawn(async move {
            let (s, _) = l.accept().await?;
            let mut buf = vec![0; 64 * 1024];
            let mut echoed = 0;
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, io::Error>(echoed);
                }
                s.write_all(&buf[..n]).await?;
                echoed += n;
            }
        });
        let c = TcpStream::connect(addr).await.unwrap();
        let transfer = join(
            async {
                write_pattern(&c, TOTAL).await?;
                c.shutdown(Shutdown::Write)
            },
            read_pattern(&c, TOTAL),
        );
        let (w, r) = bounded(15, "the 16 MiB transfer", transfer).await;
        w.unwrap();
        r.unwrap();
        // Everything was echoed; the server must now see our EOF (it typically arrives with
        // the last data, in the same epoll event) and finish.
        let server = bounded(3, "the server's read of the client's EOF", server);
        assert_eq!(server.await.unwrap().unwrap(), TOTAL);
        assert_eq!(c.read(&mut [0; 8]).await.unwrap(), 0, "EOF after the echo");
    }));
}

/// `shutdown(Write)` sends EOF but leaves the other direction open.
#[test]
fn half_close_peer_reads_eof_and_can_still_write() {
    block_on(bounded(10, "half-close", async {
        let (c, s) = pair().await;
        c.write_all(b"request").await.unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut req = Vec::new();
        let mut buf = [0; 64];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        assert_eq!(req, b"request");
        s.write_all(b"response").await.unwrap();
        drop(s);
        let mut resp = [0; 8];
        c.read_exact(&mut resp).await.unwrap();
        assert_eq!(&resp, b"response");
        assert_eq!(c.read(&mut buf).await.unwrap(), 0);
        // Writing after our own shutdown(Write) is EPIPE.
        let e = c.write(b"x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
    }));
}

// ---------------------------------------------------------------------------------------------
// Many connections, shared streams
// ---------------------------------------------------------------------------------------------

/// 500 connections served concurrently by one thread (1000+ fds): every client gets its own
/// bytes back.
#[test]
fn five_hundred_concurrent_connections_on_one_thread() {
    const N: usize = 500;
    let limit = raise_nofile_limit();
    assert!(
        limit >= 2 * N as u64 + 100,
        "RLIMIT_NOFILE {limit} is too low for {N} connections"
    );
    block_on(bounded(30, "500 connections", async {
        let (l, addr) = listener();
        let server = spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..N {
                let (s, _) = l.accept().await.unwrap();
                conns.push(spawn(async move {
                    let mut buf = [0; 8];
                    s.read_exact(&mut buf).await?;
                    s.write_all(&buf).await?;
                    // Wait for the client's close, so both ends stay open concurrently.
                    let n = s.read(&mut buf).await?;
                    assert_eq!(n, 0);
                    Ok::<_, io::Error>(())
                }));
            }
            for c in conns {
                c.await.unwrap().unwrap();
            }
        });
        let open = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let clients: Vec<_> = (0..N)
            .map(|i| {
                let (open, peak) = (open.clone(), peak.clone());
                spawn(async move {
                    let c = TcpStream::connect(addr).await?;
                    open.set(open.get() + 1);
                    peak.set(peak.get().max(open.get()));
                    let id = (i as u64).to_le_bytes();
                    c.write_all(&id).await?;
                    let mut back = [0; 8];
                    c.read_exact(&mut back).await?;
                    assert_eq!(back, id);
                    // Hold the connection until every client is connected.
                    while open.get() < N {
                        yield_now().await;
                    }
                    Ok::<_, io::Error>(c)
                })
            })
            .collect();
        let mut streams = Vec::new();
        for c in clients {
            streams.push(c.await.unwrap().unwrap());
        }
        assert_eq!(peak.get(), N);
        drop(streams);
        server.await.unwrap();
    }));
}

/// One task reads and another writes the same stream (through `Rc<TcpStream>` / `&TcpStream`)
/// at the same time; each side sends 4 MiB, more than the socket buffers hold, so both
/// directions must make progress concurrently. The reader goes through the `futures-io` traits
/// implemented for `&TcpStream`.
#[test]
fn shared_stream_read_and_write_from_two_tasks() {
    const TOTAL: usize = 4 << 20;
    block_on(bounded(30, "shared stream", async {
        let (c, s) = pair().await;
        let (c, s) = (Rc::new(c), Rc::new(s));
        let mut tasks = Vec::new();
        for side in [c, s] {
            let w = side.clone();
            tasks.push(spawn(async move { write_pattern(&w, TOTAL).await }));
            tasks.push(spawn(async move {
                let r: &TcpStream = &side;
                let mut buf = vec![0; 64 * 1024];
                let mut off = 0;
                while off < TOTAL {
                    let n = read_via_ref(r, &mut buf).await?;
                    if n == 0 {
                        return Err(ErrorKind::UnexpectedEof.into());
                    }
                    for (k, &b) in buf[..n].iter().enumerate() {
                        assert_eq!(b, pattern(off + k), "byte {}", off + k);
                    }
                    off += n;
                }
                Ok(())
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    }));
}

/// The public `poll_read`/`poll_write` primitives: `Pending` until data arrives, then the
/// data; two tasks polling the same stream through them are both woken.
#[test]
fn poll_read_and_poll_write_primitives() {
    block_on(bounded(10, "poll_read/poll_write", async {
        let (c, s) = pair().await;
        let c = Rc::new(c);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                spawn(async move {
                    let mut buf = [0; 1];
                    std::future::poll_fn(|cx| c.poll_read(cx, &mut buf)).await
                })
            })
            .collect();
        yield_now().await;
        assert!(readers.iter().all(|r| !r.is_finished()));
        let n = std::future::poll_fn(|cx| s.poll_write(cx, b"ab"))
            .await
            .unwrap();
        assert_eq!(n, 2);
        let mut got = 0;
        for r in readers {
            got += r.await.unwrap().unwrap();
        }
        assert_eq!(got, 2, "each reader got one byte");
    }));
}

/// A read through the `futures-io` trait impl for `&TcpStream` (the inherent `read` without the
/// feature).
async fn read_via_ref(r: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    #[cfg(feature = "futures-io")]
    {
        let mut r = r;
        futures_util::io::AsyncReadExt::read(&mut r, buf).await
    }
    #[cfg(not(feature = "futures-io"))]
    {
        r.read(buf).await
    }
}

/// The `futures-io` traits on the owned stream: `write_all`/`close`/`read_to_end`.
#[cfg(feature = "futures-io")]
#[test]
fn futures_io_traits_round_trip() {
    use futures_util::io::{AsyncReadExt, AsyncWriteExt};
    block_on(bounded(10, "futures-io", async {
        let (mut c, mut s) = pair().await;
        c.write_all(b"via futures-io").await.unwrap();
        AsyncWriteExt::flush(&mut c).await.unwrap();
        AsyncWriteExt::close(&mut c).await.unwrap();
        let mut got = Vec::new();
        AsyncReadExt::read_to_end(&mut s, &mut got).await.unwrap();
        assert_eq!(got, b"via futures-io");
    }));
}

// ---------------------------------------------------------------------------------------------
// Options and addresses
// ---------------------------------------------------------------------------------------------

#[test]
fn nodelay_addresses_and_peek() {
    block_on(bounded(10, "options", async {
        let (l, addr) = listener();
        let c = TcpStream::connect(addr).await.unwrap();
        let (s, peer) = l.accept().await.unwrap();

        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        c.set_nodelay(false).unwrap();
        assert!(!c.nodelay().unwrap());

        assert_eq!(c.peer_addr().unwrap(), addr);
        assert_eq!(c.local_addr().unwrap(), peer);
        assert_eq!(s.peer_addr().unwrap(), peer);
        assert_eq!(s.local_addr().unwrap(), addr);

        c.set_ttl(42).unwrap();
        assert_eq!(c.ttl().unwrap(), 42);
        assert!(c.take_error().unwrap().is_none());

        // peek waits for data, and leaves it in the queue.
        let peeker = async {
            let mut buf = [0; 16];
            let n = c.peek(&mut buf).await.unwrap();
            buf[..n].to_vec()
        };
        let (peeked, ()) = join(peeker, async {
            yield_now().await;
            s.write_all(b"hello").await.unwrap();
        })
        .await;
        assert!(!peeked.is_empty() && b"hello".starts_with(&peeked));
        let mut buf = [0; 5];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
    }));
}

// ---------------------------------------------------------------------------------------------
// Steady-state cost
// ---------------------------------------------------------------------------------------------

/// Runs `n` 64-byte round trips on `c` (the peer echoes).
async fn round_trips(c: &TcpStream, n: usize) {
    let msg = [0x5a; 64];
    let mut back = [0; 64];
    for _ in 0..n {
        c.write_all(&msg).await.unwrap();
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg);
    }
}

/// Ping-pong with client and server as tasks on one thread. Once warm, a round trip must cost
/// no `epoll_ctl` at all (registrations are made once and never modified) and at most one
/// `epoll_wait` per message hop: the ping reaches the server task through one wait, the pong
/// reaches the client task through another. (With both ends on one thread, each hop needs the
/// reactor to learn of the peer's write; see the std-thread variant below for the cost of one
/// side alone.)
#[test]
fn ping_pong_steady_state_cost_one_thread() {
    const WARMUP: usize = 100;
    const ROUNDS: usize = 1000;
    block_on(bounded(30, "ping-pong", async {
        let (c, s) = pair().await;
        c.set_nodelay(true).unwrap();
        s.set_nodelay(true).unwrap();
        let server = spawn(async move {
            let mut buf = [0; 64];
            while s.read_exact(&mut buf).await.is_ok() {
                s.write_all(&buf).await.unwrap();
            }
        });
        round_trips(&c, WARMUP).await;
        let before = stats();
        let start = Instant::now();
        round_trips(&c, ROUNDS).await;
        let elapsed = start.elapsed();
        let after = stats();
        let waits = after.epoll_wait_calls - before.epoll_wait_calls;
        let ctls = after.epoll_ctl_calls - before.epoll_ctl_calls;
        let wakeups = after.wakeups - before.wakeups;
        println!(
            "ping-pong, one thread, {ROUNDS} round trips of 64 bytes: epoll_wait {waits} \
             ({:.3}/round trip), epoll_ctl {ctls}, wakeups {wakeups} ({:.3}/round trip), \
             {:.1} us/round trip",
            waits as f64 / ROUNDS as f64,
            wakeups as f64 / ROUNDS as f64,
            elapsed.as_secs_f64() * 1e6 / ROUNDS as f64,
        );
        assert_eq!(ctls, 0, "no epoll_ctl in the steady state");
        assert!(
            waits <= 2 * ROUNDS as u64,
            "at most one epoll_wait per message hop: {waits} for {ROUNDS} round trips"
        );
        drop(c);
        server.await.unwrap();
    }));
}

/// The client side's cost alone: the echo server is a blocking std thread, so every wait the
/// reactor makes is the client's. A round trip costs at most one `epoll_wait` and no
/// `epoll_ctl`.
#[test]
fn ping_pong_steady_state_cost_client_side() {
    const WARMUP: usize = 100;
    const ROUNDS: usize = 1000;
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let (mut s, _) = std_listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0; 64];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    block_on(bounded(30, "ping-pong with a std echo thread", async {
        let c = TcpStream::connect(addr).await.unwrap();
        c.set_nodelay(true).unwrap();
        round_trips(&c, WARMUP).await;
        let before = stats();
        let start = Instant::now();
        round_trips(&c, ROUNDS).await;
        let elapsed = start.elapsed();
        let after = stats();
        let waits = after.epoll_wait_calls - before.epoll_wait_calls;
        let ctls = after.epoll_ctl_calls - before.epoll_ctl_calls;
        println!(
            "ping-pong, client side (std echo thread), {ROUNDS} round trips of 64 bytes: \
             epoll_wait {waits} ({:.3}/round trip), epoll_ctl {ctls}, {:.1} us/round trip",
            waits as f64 / ROUNDS as f64,
            elapsed.as_secs_f64() * 1e6 / ROUNDS as f64,
        );
        assert_eq!(ctls, 0, "no epoll_ctl in the steady state");
        assert!(
            waits <= ROUNDS as u64,
            "at most one epoll_wait per round trip: {waits} for {ROUNDS}"
        );
    }));
    echo.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// tokio-io
// ---------------------------------------------------------------------------------------------

/// With `tokio-io`, `TcpStream` and `&TcpStream` implement tokio's `AsyncRead`/`AsyncWrite`.
/// Only the traits exist (tokio without default features), so this drives their `poll_*`
/// methods through `poll_fn`.
#[cfg(feature = "tokio-io")]
mod tokio_io {
    use super::*;
    use std::future::poll_fn;
    use std::pin::Pin;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    async fn tokio_write_all<W: AsyncWrite + Unpin>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = poll_fn(|cx| AsyncWrite::poll_write(Pin::new(&mut *w), cx, buf)).await?;
            if n == 0 {
                return Err(ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        poll_fn(|cx| AsyncWrite::poll_flush(Pin::new(&mut *w), cx)).await
    }

    async fn tokio_read<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
        let mut rb = ReadBuf::new(buf);
        poll_fn(|cx| AsyncRead::poll_read(Pin::new(&mut *r), cx, &mut rb)).await?;
        Ok(rb.filled().len())
    }

    async fn tokio_read_to_end<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0; 1024];
        loop {
            match tokio_read(r, &mut buf).await? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn tokio_traits_round_trip() {
        block_on(bounded(10, "tokio-io round trip", async {
            let (mut c, s) = pair().await;
            tokio_write_all(&mut c, b"ping over tokio").await.unwrap();
            // `&TcpStream` implements the traits too.
            let mut sr: &TcpStream = &s;
            let mut got = [0; 15];
            let mut off = 0;
            while off < got.len() {
                let n = tokio_read(&mut sr, &mut got[off..]).await.unwrap();
                assert_ne!(n, 0, "unexpected EOF");
                off += n;
            }
            assert_eq!(&got, b"ping over tokio");
            let mut sw: &TcpStream = &s;
            tokio_write_all(&mut sw, b"pong").await.unwrap();
            // poll_shutdown shuts the write half: the client reads EOF after the pong.
            poll_fn(|cx| AsyncWrite::poll_shutdown(Pin::new(&mut sw), cx))
                .await
                .unwrap();
            assert_eq!(tokio_read_to_end(&mut c).await.unwrap(), b"pong");
        }));
    }
}
