//! `examples/http_hello.rs` answers keep-alive and pipelined requests.

#[path = "../examples/http_hello.rs"]
mod http_hello;

use std::io::{Read, Write};

#[test]
fn keep_alive_and_pipelined_requests_are_answered() {
    geode::block_on(async {
        let listener = geode::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        geode::spawn(http_hello::serve(listener));
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
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
            responses.push(read_response(&mut s));
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty(), "the server closes after Connection: close");
            responses
        });
        while !client.is_finished() {
            geode::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let responses = client.join().unwrap();
        assert_eq!(responses.len(), 6);
        for r in responses {
            assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r:?}");
            assert!(r.ends_with("Hello, World!"), "{r:?}");
        }
    });
}

fn read_response(s: &mut std::net::TcpStream) -> String {
    let want =
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
            .len();
    let mut buf = vec![0u8; want];
    s.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}
