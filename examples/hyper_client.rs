//! hyper 1.x fetching over HTTP/1.1 on geode.
//!
//! Run: `cargo run --features hyper --example hyper_client [url]` (default `http://127.0.0.1:3000/`, where
//! `cargo run --features hyper --example hyper_server` listens). Prints the status line and the body.

use std::error::Error;
use std::time::Duration;

use geode::hyper::GeodeIo;
use geode::net::TcpStream;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderValue};
use hyper::{Method, Request, Response, Uri};

/// Any error of the client: I/O, hyper's, a bad URL.
pub(crate) type BoxError = Box<dyn Error + Send + Sync>;

/// One HTTP/1.1 connection; requests on it are sent one after another (keep-alive).
pub(crate) struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Client {
    /// Connects to the host and port of `url` (`http://` only; the port defaults to 80).
    pub(crate) async fn connect(url: &Uri) -> Result<Client, BoxError> {
        if url.scheme_str().is_some_and(|s| s != "http") {
            return Err(format!("only http:// URLs are supported, not {url}").into());
        }
        let authority = url.authority().ok_or("the URL has no host")?;
        let port = authority.port_u16().unwrap_or(80);
        // `[::1]` in a URL is `::1` to the resolver.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(GeodeIo::new(stream)).await?;
        // The connection is a future that does the I/O: it runs as a task of its own, on this
        // thread, until the last `SendRequest` is dropped or the server closes.
        geode::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("connection: {e}");
            }
        });
        Ok(Client {
            sender,
            host: HeaderValue::from_str(authority.as_str())?,
        })
    }

    /// Sends `req` (adding a `Host` header if it has none) and reads the whole response.
    pub(crate) async fn send(
        &mut self,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Response<Bytes>, BoxError> {
        req.headers_mut()
            .entry(HOST)
            .or_insert_with(|| self.host.clone());
        self.sender.ready().await?;
        let response = self.sender.send_request(req).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response::from_parts(parts, body))
    }

    /// `GET path` (a path and query, such as `/` or `/search?q=geode`).
    pub(crate) async fn get(&mut self, path: &str) -> Result<Response<Bytes>, BoxError> {
        self.request(Method::GET, path, Bytes::new()).await
    }

    /// A request with `method`, `path` and `body`.
    pub(crate) async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: impl Into<Bytes>,
    ) -> Result<Response<Bytes>, BoxError> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Full::new(body.into()))?;
        self.send(req).await
    }
}

/// Fetches `url` on a new connection.
pub(crate) async fn fetch(url: &Uri) -> Result<Response<Bytes>, BoxError> {
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    Client::connect(url).await?.get(path).await
}

#[allow(dead_code)] // unused where tests/hyper.rs includes this file
fn main() -> Result<(), BoxError> {
    let url: Uri = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:3000/".to_string())
        .parse()?;
    let response = geode::block_on(geode::time::timeout(Duration::from_secs(10), fetch(&url)))??;
    println!("{:?} {}", response.version(), response.status());
    print!("{}", String::from_utf8_lossy(response.body()));
    Ok(())
}
