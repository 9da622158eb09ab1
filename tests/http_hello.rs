//! `examples/http_hello.rs`: keep-alive and pipelined requests, HTTP/1.0 and 1.1 connection
//! rules, and the idle and request timeouts (on virtual time).

#[path = "../examples/http_hello.rs"]
mod http_hello;

use std::io::{Read, Write};
use std::time::Duration;

use geode::net::{TcpListener, TcpStream};
use geode::time::{Instant, timeout};
use http_hello::Persistence;

mod util;

/// Starts the server on a port of its own.
fn start() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    geode::spawn(http_hello::serve(listener));
    addr
}

/// Runs `client` on a thread of its own (blocking std sockets, 5 s read timeout) while the
/// server runs here.
fn with_client<T: Send + 'static>(
    client: impl FnOnce(std::net::TcpStream) -> T + Send + 'static,
) -> T {
    geode::block_on(async {
        let addr = start();
        let client = std::thread::spawn(move || {
            let s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            client(s)
        });
        util::bounded(30, "client thread", async {
            while !client.is_finished() {
                geode::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        client.join().unwrap()
    })
}

/// Reads one response: its head, then `Content-Length` bytes of body.
fn read_response(s: &mut std::net::TcpStream) -> String {
    let mut response = Vec::new();
    let mut byte = [0; 1];
    while !response.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("a response head");
        response.push(byte[0]);
    }
    let head = String::from_utf8(response.clone()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    s.read_exact(&mut body).expect("the body");
    head + std::str::from_utf8(&body).unwrap()
}

/// Asserts that the server closed the connection (EOF, nothing more).
fn assert_closed(s: &mut std::net::TcpStream) {
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("EOF");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn keep_alive_and_pipelined_requests_are_answered() {
    let responses = with_client(|mut s| {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut responses = Vec::new();
        // One request at a time on a kept-alive connection, then three pipelined.
        for _ in 0..2 {
            s.write_all(req).unwrap();
            responses.push(read_response(&mut s));
        }
        s.write_all(&req.repeat(3)).unwrap();
        for _ in 0..3 {
            responses.push(read_response(&mut s));
        }
        s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let last = read_response(&mut s);
        assert_closed(&mut s);
        (responses, last)
    });
    let (responses, last) = responses;
    assert_eq!(responses.len(), 5);
    for r in responses {
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r:?}");
        assert!(!r.contains("Connection:"), "HTTP/1.1's default: {r:?}");
        assert!(r.ends_with("Hello, World!"), "{r:?}");
    }
    assert!(last.contains("\r\nConnection: close\r\n"), "{last:?}");
    assert!(last.ends_with("Hello, World!"), "{last:?}");
}

#[test]
fn http_1_0_closes_after_the_response() {
    let response = with_client(|mut s| {
        s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let response = read_response(&mut s);
        assert_closed(&mut s);
        response
    });
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response:?}");
    assert!(
        response.contains("\r\nConnection: close\r\n"),
        "{response:?}"
    );
}

#[test]
fn http_1_0_keep_alive_is_honoured_and_announced() {
    let responses = with_client(|mut s| {
        let req = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
        let mut responses = Vec::new();
        for _ in 0..3 {
            s.write_all(req).unwrap();
            responses.push(read_response(&mut s));
        }
        // Then a plain HTTP/1.0 request on the same connection ends it.
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        responses.push(read_response(&mut s));
        assert_closed(&mut s);
        responses
    });
    for r in &responses[..3] {
        assert!(r.contains("\r\nConnection: keep-alive\r\n"), "{r:?}");
    }
    assert!(responses[3].contains("\r\nConnection: close\r\n"));
}

#[test]
fn requests_pipelined_behind_a_close_are_not_answered() {
    let (first, second) = with_client(|mut s| {
        s.write_all(
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
        )
        .unwrap();
        let first = read_response(&mut s);
        let second = read_response(&mut s);
        let mut rest = Vec::new();
        // The third request may still be unread when the server closes: EOF or a reset.
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
        (first, second)
    });
    assert!(!first.contains("Connection:"), "{first:?}");
    assert!(second.contains("\r\nConnection: close\r\n"), "{second:?}");
}

#[test]
fn persistence_follows_version_and_connection_tokens() {
    let cases: &[(&[u8], Persistence)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", Persistence::KeepAlive),
        (
            b"GET / HTTP/1.1\r\nconnection: CLOSE\r\n\r\n",
            Persistence::Close,
        ),
        (
            b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n",
            Persistence::Close,
        ),
        (
            b"GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n",
            Persistence::KeepAlive,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", Persistence::Close),
        (
            b"GET / HTTP/1.0\r\nConnection:keep-alive\r\n\r\n",
            Persistence::KeepAlive10,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n",
            Persistence::Close,
        ),
        // A header merely containing the words does not count.
        (
            b"GET / HTTP/1.0\r\nX-Connection: keep-alive\r\n\r\n",
            Persistence::Close,
        ),
        (
            b"GET /close HTTP/1.1\r\nX-Note: Connection: close\r\n\r\n",
            Persistence::KeepAlive,
        ),
        // Bare LF line ends.
        (
            b"GET / HTTP/1.0\nConnection: keep-alive\n\n",
            Persistence::KeepAlive10,
        ),
    ];
    for (head, want) in cases {
        assert_eq!(
            http_hello::persistence(head),
            *want,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

/// Connects to a fresh server on a paused clock; returns the client side.
async fn paused_connection() -> TcpStream {
    geode::time::pause();
    TcpStream::connect(start()).await.expect("connect")
}

/// Waits (on virtual time, bounded at an hour of it) for the server to close `client`;
/// returns how much virtual time that took from `start`.
async fn closed_after(client: &TcpStream, start: Instant) -> Duration {
    let mut buf = [0; 256];
    let n = timeout(Duration::from_secs(3600), client.read(&mut buf))
        .await
        .expect("the server should have closed the connection")
        .expect("read");
    assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n]));
    start.elapsed()
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let wall = std::time::Instant::now();
    geode::block_on(async {
        let client = paused_connection().await;
        let start = Instant::now();
        assert_eq!(closed_after(&client, start).await, http_hello::IDLE_TIMEOUT);
    });
    assert!(wall.elapsed() < Duration::from_secs(60), "virtual time");
}

#[test]
fn a_connection_idle_after_a_response_is_closed_after_the_idle_timeout() {
    geode::block_on(async {
        let client = paused_connection().await;
        client
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        let mut response = Vec::new();
        while !response.ends_with(b"Hello, World!") {
            let mut buf = [0; 256];
            let n = client.read(&mut buf).await.expect("read");
            assert_ne!(n, 0, "closed early");
            response.extend_from_slice(&buf[..n]);
        }
        let start = Instant::now();
        assert_eq!(closed_after(&client, start).await, http_hello::IDLE_TIMEOUT);
    });
}

#[test]
fn half_a_request_and_silence_is_closed_after_the_request_timeout() {
    geode::block_on(async {
        let client = paused_connection().await;
        let start = Instant::now();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost:")
            .await
            .expect("write");
        assert_eq!(
            closed_after(&client, start).await,
            http_hello::REQUEST_TIMEOUT
        );
    });
}

/// A client trickling a byte at a time, each well within the idle timeout, still has the
/// whole head's deadline counted from its first byte.
#[test]
fn a_trickling_request_is_closed_after_the_request_timeout() {
    geode::block_on(async {
        let client = paused_connection().await;
        let start = Instant::now();
        // Not a divisor of the timeout: the server's deadline never ties with the client's.
        let step = Duration::from_secs(3);
        assert!(step < http_hello::IDLE_TIMEOUT);
        assert!(
            !http_hello::REQUEST_TIMEOUT
                .as_nanos()
                .is_multiple_of(step.as_nanos())
        );
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut sent = 0;
        let mut buf = [0; 256];
        loop {
            client
                .write_all(&head[sent..sent + 1])
                .await
                .expect("write");
            sent += 1;
            assert!(sent < head.len(), "the whole request went through");
            // The server closes at some point while we wait between bytes.
            if let Ok(read) = timeout(step, client.read(&mut buf)).await {
                assert_eq!(read.expect("read"), 0, "an answer to half a request");
                break;
            }
        }
        assert_eq!(start.elapsed(), http_hello::REQUEST_TIMEOUT);
    });
}
