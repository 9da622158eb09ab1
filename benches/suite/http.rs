//! The HTTP "Hello, World!" logic of `examples/http_hello.rs`, copied (request framing, the
//! version and `Connection` token parse, the keep-alive response bytes) so every peer's server
//! does the same user-space work per request and only the runtime differs. The benchmark's
//! clients send HTTP/1.1 keep-alive requests only, so the example's HTTP/1.0 and closing
//! responses are not copied, nor its idle and request timeouts (geode's row runs the example
//! itself, timeouts included).

use std::io;

pub(crate) const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

pub(crate) const BUF: usize = 4096;

/// The length of the first request head (through the blank line), if it is complete.
pub(crate) fn find_headers_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Whether the connection closes after this request: `Connection: close`, or HTTP/1.0
/// without `Connection: keep-alive` (the example's `persistence`).
pub(crate) fn has_connection_close(head: &[u8]) -> bool {
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
    close || (http10 && !keep_alive)
}

/// One connection's parse state, shared by the async servers and the epoll loop.
pub(crate) struct Conn {
    pub(crate) buf: Vec<u8>,
    pub(crate) filled: usize,
    pub(crate) out: Vec<u8>,
}

impl Conn {
    pub(crate) fn new() -> Conn {
        Conn {
            buf: vec![0u8; BUF],
            filled: 0,
            out: Vec::with_capacity(RESPONSE.len() * 4),
        }
    }

    /// After `n` more bytes landed in `buf[filled..]`: queues a response for every complete
    /// request in `out`. Returns `Ok(true)` if the client asked to close.
    pub(crate) fn absorb(&mut self, n: usize) -> io::Result<bool> {
        self.filled += n;
        let mut start = 0;
        let mut close = false;
        while let Some(end) = find_headers_end(&self.buf[start..self.filled]) {
            let head = &self.buf[start..start + end];
            close |= has_connection_close(head);
            self.out.extend_from_slice(RESPONSE);
            start += end;
        }
        self.buf.copy_within(start..self.filled, 0);
        self.filled -= start;
        if self.filled == self.buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request headers too large",
            ));
        }
        Ok(close)
    }
}
