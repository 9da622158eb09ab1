//! hyper 1.x on geode: `examples/hyper_server.rs` and `examples/hyper_client.rs` talk to each
//! other, and `geode::hyper`'s adapters keep hyper's contracts.

#[path = "../examples/hyper_client.rs"]
mod hyper_client;
#[path = "../examples/hyper_server.rs"]
mod hyper_server;

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use geode::net::{TcpListener, UnixStream};
use geode::time::{Instant, timeout};
use hyper::rt::{Executor, Timer};
use hyper::{Method, StatusCode};

use geode::hyper::{GeodeExecutor, GeodeIo, GeodeTimer};
use hyper_client::{BoxError, Client};

/// Fails the test instead of hanging it. Generous: the 4 MiB echo takes about 0.5 s natively
/// in a debug build and 30 s under valgrind beside the other tests.
async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    match timeout(Duration::from_secs(120), fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: still not done after 120 s"),
    }
}

/// Starts `hyper_server::serve` on a port of its own; returns the base URL.
fn start_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    geode::spawn(hyper_server::serve(listener));
    format!("http://{addr}")
}

fn request_count(response: &hyper::Response<hyper::body::Bytes>) -> u64 {
    response.headers()["x-request-count"]
        .to_str()
        .expect("ascii header")
        .parse()
        .expect("a number")
}

#[test]
fn client_fetches_from_server() -> Result<(), BoxError> {
    geode::block_on(bounded("fetch", async {
        let url = format!("{}/", start_server()).parse()?;
        let response = hyper_client::fetch(&url).await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body().as_ref(), hyper_server::HELLO.as_bytes());
        assert_eq!(request_count(&response), 1);
        Ok(())
    }))
}

#[test]
fn second_request_reuses_the_connection() -> Result<(), BoxError> {
    geode::block_on(bounded("keep-alive", async {
        let url = start_server().parse()?;
        let mut client = Client::connect(&url).await?;
        for n in 1..=3 {
            let response = client.get("/").await?;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.body().as_ref(), hyper_server::HELLO.as_bytes());
            // The server counts requests per connection: the same connection served them all.
            assert_eq!(request_count(&response), n);
        }
        let missing = client.get("/missing").await?;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(request_count(&missing), 4);
        Ok(())
    }))
}

#[test]
fn large_bodies_go_both_ways() -> Result<(), BoxError> {
    geode::block_on(bounded("echo", async {
        let url = start_server().parse()?;
        let mut client = Client::connect(&url).await?;
        let body: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        let response = client.request(Method::POST, "/echo", body.clone()).await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.body().as_ref() == body, "the echo differs");
        // And the connection is still good afterwards.
        let response = client.get("/").await?;
        assert_eq!(request_count(&response), 2);
        Ok(())
    }))
}

#[test]
fn concurrent_clients_on_one_thread() -> Result<(), BoxError> {
    geode::block_on(bounded("concurrent clients", async {
        let url: hyper::Uri = start_server().parse()?;
        let clients: Vec<_> = (0..16)
            .map(|i| {
                let url = url.clone();
                geode::spawn(async move {
                    let mut client = Client::connect(&url).await?;
                    let path = format!("/echo?client={i}");
                    let body = format!("client {i}");
                    let r = client.request(Method::POST, &path, body.clone()).await?;
                    assert_eq!(r.body().as_ref(), body.as_bytes());
                    Ok::<_, BoxError>(())
                })
            })
            .collect();
        for client in clients {
            client.await??;
        }
        Ok(())
    }))
}

/// `GeodeTimer` runs hyper's header read timeout on geode's clock: paused, the server gives up
/// on a half-sent request after exactly `HEADER_READ_TIMEOUT` of virtual time, in no wall time.
#[test]
fn header_read_timeout_runs_on_virtual_time() {
    geode::block_on(async {
        geode::time::pause();
        let wall = std::time::Instant::now();
        let (client, server) = UnixStream::pair().expect("pair");
        let conn = geode::spawn(hyper_server::serve_connection(server));

        // A whole request first: answered, and the connection stays open.
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut response = Vec::new();
        while !response.ends_with(hyper_server::HELLO.as_bytes()) {
            let mut buf = [0; 1024];
            let n = client.read(&mut buf).await.expect("read");
            assert_ne!(
                n,
                0,
                "closed early: {:?}",
                String::from_utf8_lossy(&response)
            );
            response.extend_from_slice(&buf[..n]);
        }
        assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));

        // Then half a request, and silence.
        let start = Instant::now();
        client
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        let mut buf = [0; 1024];
        let n = timeout(Duration::from_secs(3600), client.read(&mut buf))
            .await
            .expect("the server should have timed out the request")
            .expect("read");
        assert_eq!(
            n,
            0,
            "expected EOF, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        assert_eq!(start.elapsed(), hyper_server::HEADER_READ_TIMEOUT);
        let err = conn.await.expect("task").expect_err("a header timeout");
        assert!(err.is_timeout(), "{err}");
        assert!(
            wall.elapsed() < Duration::from_secs(5),
            "virtual time, not real"
        );
    });
}

/// `Timer::reset` moves the armed geode timer (hyper downcasts to `GeodeSleep`).
#[test]
fn timer_reset_moves_the_deadline() {
    geode::block_on(async {
        geode::time::pause();
        let timer = GeodeTimer;
        let start = timer.now();
        assert_eq!(
            start,
            Instant::now().into_std(),
            "hyper's now() is geode's clock"
        );
        let mut sleep = timer.sleep(Duration::from_secs(3600));
        std::future::poll_fn(|cx| {
            assert!(sleep.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        let before = geode::reactor::stats().timers_pending;
        timer.reset(&mut sleep, start + Duration::from_secs(2));
        // The same timer entry, moved (a replacement sleep would not be armed yet).
        assert_eq!(geode::reactor::stats().timers_pending, before);
        sleep.as_mut().await;
        assert_eq!(timer.now() - start, Duration::from_secs(2));
    });
}

/// `GeodeExecutor` spawns `!Send` futures on the running geode runtime.
#[test]
fn executor_spawns_local_futures() {
    geode::block_on(async {
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        GeodeExecutor.execute(async move { flag.set(true) });
        while !ran.get() {
            geode::yield_now().await;
        }
    });
}

/// A peer that reset the connection leaves the socket unconnected: `shutdown` says `ENOTCONN`,
/// which `GeodeIo::poll_shutdown` reports as the success it is (hyper would log an error for
/// every client that left first otherwise).
#[test]
fn shutdown_after_the_peer_reset_is_a_success() {
    use hyper::rt::Write;
    use std::io::Read;
    use std::net::Shutdown;
    use std::pin::Pin;

    geode::block_on(bounded("shutdown after reset", async {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let client = std::net::TcpStream::connect(addr).expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        // Closing a socket with unread data sends a reset, not a FIN: the client reads one of
        // the two bytes (so both have arrived) and drops the other with the socket.
        server.write_all(b"xy").await.expect("write");
        let mut one = [0; 1];
        (&client).read_exact(&mut one).expect("read");
        drop(client);
        let mut buf = [0; 16];
        let err = server.read(&mut buf).await.expect_err("a reset");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");

        let again = server.shutdown(Shutdown::Write).expect_err("ENOTCONN");
        assert_eq!(again.raw_os_error(), Some(libc::ENOTCONN), "{again}");
        let mut io = GeodeIo::new(server);
        std::future::poll_fn(|cx| Pin::new(&mut io).poll_shutdown(cx))
            .await
            .expect("a shutdown of a reset connection is a success");
    }));
}

/// hyper serves a Unix socket through `GeodeIo` as it serves TCP.
#[test]
fn serves_over_a_unix_stream() {
    geode::block_on(bounded("unix", async {
        let (client, server) = UnixStream::pair().expect("pair");
        geode::spawn(hyper_server::serve_connection(server));
        client
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            .await
            .expect("write");
        let mut response = Vec::new();
        let mut buf = [0; 1024];
        while let n @ 1.. = client.read(&mut buf).await.expect("read") {
            response.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nhello"), "{text}");
    }));
}
