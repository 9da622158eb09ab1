//! A WebSocket echo server on geode: async-tungstenite over geode's `TcpStream` through the
//! futures-io traits (no tokio).
//!
//! Run: `cargo run --example websocket_echo [addr]` (default `127.0.0.1:9001`), then connect
//! any WebSocket client to `ws://127.0.0.1:9001/`. Text and binary messages come back as they
//! went; pings are answered with pongs (tungstenite does that); a close is answered with a
//! close. One thread, a task per connection. A client has [`HANDSHAKE_TIMEOUT`] to complete
//! the HTTP upgrade and may then stay silent for at most [`IDLE_TIMEOUT`].

use std::io;
use std::time::Duration;

use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::StreamExt;
use geode::net::{TcpListener, TcpStream};
use geode::time::timeout;

/// How long a client may take to complete the WebSocket handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an open WebSocket may stay silent before it is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves one connection: the upgrade, then an echo of every data message until the client
/// closes. Returns how many messages it echoed.
pub(crate) async fn serve_connection(stream: TcpStream) -> Result<u64, WsError> {
    let mut ws = timeout(HANDSHAKE_TIMEOUT, async_tungstenite::accept_async(stream))
        .await
        .map_err(io::Error::from)??;
    let mut echoed = 0;
    while let Some(message) = timeout(IDLE_TIMEOUT, ws.next())
        .await
        .map_err(io::Error::from)?
    {
        match message? {
            msg @ (Message::Text(_) | Message::Binary(_)) => {
                ws.send(msg).await?;
                echoed += 1;
            }
            // tungstenite queues the pong, and the close reply, by itself; both are flushed
            // by the next read.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            Message::Close(_) => {}
        }
    }
    Ok(echoed)
}

/// Accepts connections forever, one task each.
pub(crate) async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                geode::spawn(async move {
                    match serve_connection(stream).await {
                        Ok(_) | Err(WsError::ConnectionClosed) => {}
                        Err(e) => eprintln!("{peer}: {e}"),
                    }
                });
            }
            // Out of descriptors and the like: accept backs off by itself; keep serving.
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

#[allow(dead_code)] // unused where tests/websocket_echo.rs includes this file
fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_string());
    geode::block_on(async {
        let listener = TcpListener::bind(&addr)?;
        println!("listening on ws://{}/", listener.local_addr()?);
        serve(listener).await
    })
}
