//! The HTTP "Hello, World!" logic of `examples/http_hello.rs`, copied verbatim (request
//! framing, `Connection: close` detection, response bytes) so every peer's server does the same
//! user-space work per request and only the runtime differs.

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

pub(crate) fn has_connection_close(head: &[u8]) -> bool {
    head.split(|&b| b == b'\n').any(|line| {
        let line = String::from_utf8_lossy(line).to_ascii_lowercase();
        line.starts_with("connection:") && line.contains("close")
    })
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
