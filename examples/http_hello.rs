//! A minimal keep-alive HTTP/1.1 "Hello, World!" server, for load tools such as `wrk`.
//!
//! Run: `cargo run --release --example http_hello [addr]` (default `127.0.0.1:8080`), then
//! e.g. `wrk -c64 -d10s http://127.0.0.1:8080/`. One thread; every connection is a task.

use std::io;

use geode::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

/// Serves one connection: answers every complete request in the buffer (pipelining included)
/// until the client closes or asks for `Connection: close`.
pub(crate) async fn serve_connection(stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    loop {
        if filled == buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request headers too large",
            ));
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut start = 0;
        let mut close = false;
        while let Some(end) = find_headers_end(&buf[start..filled]) {
            let head = &buf[start..start + end];
            close |= has_connection_close(head);
            out.extend_from_slice(RESPONSE);
            start += end;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if close {
            return Ok(());
        }
    }
}

/// The length of the first request head (through the blank line), if it is complete.
fn find_headers_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

fn has_connection_close(head: &[u8]) -> bool {
    head.split(|&b| b == b'\n').any(|line| {
        let line = String::from_utf8_lossy(line).to_ascii_lowercase();
        line.starts_with("connection:") && line.contains("close")
    })
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
