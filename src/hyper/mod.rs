//! hyper 1.x on geode (feature `hyper`): the three pieces hyper leaves to its runtime.
//!
//! - [`GeodeIo`]: `hyper::rt::Read` and `Write` over a geode [`TcpStream`](crate::net::TcpStream),
//!   [`UnixStream`](crate::net::UnixStream), or any `futures-io` stream (a TLS stream, a
//!   compressed one...);
//! - [`GeodeExecutor`]: `hyper::rt::Executor`, spawning on the current thread's geode runtime,
//!   so the futures it runs need not be `Send`;
//! - [`GeodeTimer`]: `hyper::rt::Timer` on geode's timers and clock, so hyper's timeouts (the
//!   HTTP/1 header read timeout, HTTP/2 keep-alive pings) follow virtual time under
//!   [`time::pause`](crate::time::pause).
//!
//! They are what `hyper-util`'s `TokioIo`, `TokioExecutor` and `TokioTimer` are to tokio.
//! hyper's own protocol features (`server`, `client`, `http1`, `http2`) are yours to pick in
//! your `Cargo.toml`; this module needs none of them.
//!
//! # A server
//!
//! With `geode = { version = "0.1", features = ["hyper"] }` and
//! `hyper = { version = "1", features = ["server", "http1"] }`:
//!
//! ```
//! use std::convert::Infallible;
//!
//! use geode::hyper::GeodeIo;
//! use geode::net::TcpListener;
//! use hyper::{Response, server::conn::http1, service::service_fn};
//!
//! /// Answers every request with "Hello, World!", one task per connection.
//! async fn serve(listener: TcpListener) -> std::io::Result<()> {
//!     loop {
//!         let (stream, _peer) = listener.accept().await?;
//!         let hello = service_fn(|_req| async {
//!             Ok::<_, Infallible>(Response::new("Hello, World!".to_string()))
//!         });
//!         geode::spawn(http1::Builder::new().serve_connection(GeodeIo::new(stream), hello));
//!     }
//! }
//!
//! #[geode::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = TcpListener::bind("127.0.0.1:0")?; // a fixed port, e.g. 3000, in real life
//! #   geode::spawn(check(listener.local_addr()?));
//!     serve(listener).await
//! }
//! # /// One request from a plain socket; the doctest ends (the server never does) with it.
//! # async fn check(addr: std::net::SocketAddr) {
//! #     let response = geode::time::timeout(std::time::Duration::from_secs(10), async {
//! #         let client = geode::net::TcpStream::connect(addr).await?;
//! #         client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
//! #         let (mut response, mut buf) = (Vec::new(), [0; 1024]);
//! #         while let n @ 1.. = client.read(&mut buf).await? {
//! #             response.extend_from_slice(&buf[..n]);
//! #         }
//! #         Ok::<_, std::io::Error>(response)
//! #     }).await;
//! #     let ok = matches!(&response, Ok(Ok(r)) if r.starts_with(b"HTTP/1.1 200 OK\r\n")
//! #         && r.ends_with(b"Hello, World!"));
//! #     if !ok {
//! #         eprintln!("unexpected response: {response:?}");
//! #     }
//! #     std::process::exit(if ok { 0 } else { 1 });
//! # }
//! ```
//!
//! One limit comes from hyper, not geode: its HTTP upgrades (`with_upgrades`,
//! `hyper::upgrade::on`) box the connection as `Send`, and geode's sockets are not `Send`
//! (each belongs to its thread's reactor), so an upgrade does not compile over them. A
//! WebSocket server on geode takes the socket directly instead (async-tungstenite over
//! futures-io: `examples/websocket_echo.rs`).
//!
//! `examples/hyper_server.rs` and `examples/hyper_client.rs` are fuller: request routing, a
//! body echo, the header read timeout on [`GeodeTimer`], a client with keep-alive.

mod executor;
mod io;
mod timer;

pub use executor::GeodeExecutor;
pub use io::GeodeIo;
pub use timer::GeodeTimer;
