//! hyper 1.x serving HTTP/1.1 on geode, one thread, one task per connection.
//!
//! Run: `cargo run --features hyper --example hyper_server [addr]` (default `127.0.0.1:3000`), then
//! `cargo run --features hyper --example hyper_client` or `curl http://127.0.0.1:3000/`.
//!
//! - `GET /` answers `Hello from hyper on geode!`;
//! - `POST /echo` answers with the request's body;
//! - anything else is a 404.
//!
//! Every response carries `x-request-count`: the number of requests served so far on its
//! connection, kept in an `Rc<Cell<u64>>`. Nothing here needs `Send`: the connection, its
//! service and its state never leave the thread.

use std::cell::Cell;
use std::convert::Infallible;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use geode::hyper::{GeodeExecutor, GeodeIo, GeodeTimer};
use geode::net::TcpListener;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::Executor;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};

/// The body of `GET /`.
pub(crate) const HELLO: &str = "Hello from hyper on geode!\n";

/// How long a client may take to send a request's headers (hyper's default, made explicit; it
/// runs on [`GeodeTimer`], so on geode's clock).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers one request. `served` counts the requests of this connection.
async fn handle(
    req: Request<Incoming>,
    served: Rc<Cell<u64>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    served.set(served.get() + 1);
    let (status, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => (StatusCode::OK, Bytes::from_static(HELLO.as_bytes())),
        (&Method::POST, "/echo") => (StatusCode::OK, req.into_body().collect().await?.to_bytes()),
        _ => (StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .header("x-request-count", served.get())
        .body(Full::new(body));
    Ok(response.unwrap_or_else(|_| unreachable!("static status and headers are valid")))
}

/// Serves HTTP/1.1 on one connection (keep-alive included) until the client closes it: any
/// futures-io stream, a geode `TcpStream` or `UnixStream`, or a TLS stream over one.
pub(crate) async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin + 'static>(
    stream: S,
) -> Result<(), hyper::Error> {
    let served = Rc::new(Cell::new(0));
    let service = service_fn(move |req| handle(req, served.clone()));
    http1::Builder::new()
        .timer(GeodeTimer)
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(GeodeIo::new(stream), service)
        .await
}

/// Accepts connections forever, each served by its own task.
pub(crate) async fn serve(listener: TcpListener) -> io::Result<Infallible> {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                // `geode::spawn` would do; this is the executor an HTTP/2 builder would take.
                GeodeExecutor.execute(async move {
                    if let Err(e) = serve_connection(stream).await {
                        eprintln!("connection: {e}");
                    }
                });
            }
            // Out of descriptors and the like: accept backs off by itself; keep serving.
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

#[allow(dead_code)] // unused where tests/hyper.rs includes this file
fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_string());
    geode::block_on(async {
        let listener = TcpListener::bind(&addr)?;
        println!("listening on http://{}/", listener.local_addr()?);
        match serve(listener).await? {}
    })
}
