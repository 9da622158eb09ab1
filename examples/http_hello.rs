//! A minimal HTTP/1.x "Hello, World!" server, for load tools such as `wrk`, `ab` and `h2load`
//! (it is also the server of the benchmark suite's http row).
//!
//! Run: `cargo run --release --example http_hello [addr]` (default `127.0.0.1:8080`), then
//! e.g. `wrk -c64 -d10s http://127.0.0.1:8080/` or `ab -k -n 20000 -c 50 http://127.0.0.1:8080/`.
//! One thread; every connection is a task.
//!
//! Every request gets the same answer, whatever its method and path. Connections follow
//! HTTP/1.x's keep-alive rules: an HTTP/1.1 connection stays open unless the request says
//! `Connection: close`; an HTTP/1.0 one closes after its response unless the request says
//! `Connection: keep-alive` (answered with `Connection: keep-alive`). Pipelined requests are
//! answered in order, in one write. A connection is closed when it stays idle between requests
//! for [`IDLE_TIMEOUT`], or when a request's head has not fully arrived [`REQUEST_TIMEOUT`]
//! after its first byte (a stalled or trickling client cannot hold a descriptor for ever).

use std::io;
use std::time::Duration;

use geode::net::{TcpListener, TcpStream};
use geode::time::{Instant, timeout, timeout_at};

/// How long a connection may sit with no request in progress before it is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request's head (request line and headers) may take to arrive, from its first
/// byte to its blank line, before the connection is closed.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a request's head may take; a longer one closes the connection.
const MAX_HEAD: usize = 4096;

/// The answer on a connection that stays open: HTTP/1.1's default, no `Connection` header.
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

/// The answer to an HTTP/1.0 request that asked to keep the connection open.
const RESPONSE_KEEP_ALIVE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\nHello, World!";

/// The last answer on a connection.
const RESPONSE_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello, World!";

/// What a request's head says about its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// HTTP/1.1 without `Connection: close`: open after the response, no header needed.
    KeepAlive,
    /// HTTP/1.0 with `Connection: keep-alive`: open, and the response must say so.
    KeepAlive10,
    /// `Connection: close`, or HTTP/1.0 without `keep-alive`: close after the response.
    Close,
}

/// Serves one connection: answers every complete request in the buffer (pipelining included)
/// until the client closes, a request asks to close, or a timeout passes.
///
/// Returns `Ok` when the client or a request ended the connection, a `TimedOut` error when
/// a timeout did, `InvalidData` when a request's head exceeds 4 KiB.
pub(crate) async fn serve_connection(stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    // When the request in progress (its first bytes are in `buf`) must be complete by.
    let mut head_deadline = None;
    loop {
        if filled == buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let read = stream.read(&mut buf[filled..]);
        // Between requests the timeout is staged (no clock reading; cancelled cheaply when the
        // next request comes); only a request split across reads reads the clock.
        let n = match head_deadline {
            None => timeout(IDLE_TIMEOUT, read).await,
            Some(deadline) => timeout_at(deadline, read).await,
        }??;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut start = 0;
        let mut close = false;
        while let Some(end) = find_head_end(&buf[start..filled]) {
            let persistence = persistence(&buf[start..start + end]);
            out.extend_from_slice(match persistence {
                Persistence::KeepAlive => RESPONSE,
                Persistence::KeepAlive10 => RESPONSE_KEEP_ALIVE,
                Persistence::Close => RESPONSE_CLOSE,
            });
            start += end;
            if persistence == Persistence::Close {
                // Requests pipelined behind it are not answered.
                close = true;
                break;
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        head_deadline = match (filled, head_deadline) {
            (0, _) => None,
            // A request in progress keeps the deadline of its first byte.
            (_, Some(deadline)) if start == 0 => Some(deadline),
            _ => Some(Instant::now() + REQUEST_TIMEOUT),
        };
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if close {
            // A FIN after the response; the socket closes when `stream` drops.
            return stream.shutdown(std::net::Shutdown::Write);
        }
    }
}

/// The length of the first request head (through the blank line), if it is complete.
fn find_head_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Reads the version of the request line and the `Connection` header's tokens.
pub(crate) fn persistence(head: &[u8]) -> Persistence {
    let mut lines = head.split(|&b| b == b'\n');
    let request_line = lines.next().unwrap_or_default().trim_ascii_end();
    let http10 = request_line.ends_with(b" HTTP/1.0");
    let (mut close, mut keep_alive) = (false, false);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if !line[..colon]
            .trim_ascii()
            .eq_ignore_ascii_case(b"connection")
        {
            continue;
        }
        for token in line[colon + 1..].split(|&b| b == b',') {
            let token = token.trim_ascii();
            close |= token.eq_ignore_ascii_case(b"close");
            keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    match (close, http10, keep_alive) {
        (true, _, _) | (false, true, false) => Persistence::Close,
        (false, true, true) => Persistence::KeepAlive10,
        (false, false, _) => Persistence::KeepAlive,
    }
}

/// Accepts connections forever, one task each.
pub(crate) async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                geode::spawn(serve_connection(stream));
            }
            // Out of descriptors and the like: accept backs off by itself; keep serving.
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

#[allow(dead_code)] // unused where tests/http_hello.rs includes this file
fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    geode::block_on(async {
        let listener = TcpListener::bind(&addr)?;
        println!("listening on http://{}/", listener.local_addr()?);
        serve(listener).await
    })
}
