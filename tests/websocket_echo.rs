//! `examples/websocket_echo.rs` driven by async-tungstenite clients over geode: text, binary,
//! a large message, ping/pong, the close handshake, twenty clients at once, and a client that
//! never completes its upgrade.

#[path = "../examples/websocket_echo.rs"]
mod websocket_echo;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::StreamExt;
use geode::net::{TcpListener, TcpStream};

mod util;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Fails the test instead of hanging it (generous: crypto and copies are slow under valgrind).
async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    util::bounded(120, what, fut).await
}

fn start() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    geode::spawn(websocket_echo::serve(listener));
    addr
}

async fn connect(addr: std::net::SocketAddr) -> Result<WebSocketStream<TcpStream>, BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    let (ws, response) = async_tungstenite::client_async(format!("ws://{addr}/"), tcp).await?;
    assert_eq!(response.status(), 101);
    Ok(ws)
}

/// The next message that is not a control frame.
async fn next_data(ws: &mut WebSocketStream<TcpStream>) -> Result<Message, BoxError> {
    loop {
        match ws.next().await.ok_or("the server closed")?? {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return Ok(other),
        }
    }
}

#[test]
fn text_binary_large_and_close() -> Result<(), BoxError> {
    geode::block_on(bounded("websocket echo", async {
        let mut ws = connect(start()).await?;
        let large: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        let messages = [
            Message::text("hello"),
            Message::binary(vec![0u8, 1, 2, 255]),
            Message::text(""),
            Message::binary(large),
        ];
        for msg in messages {
            ws.send(msg.clone()).await?;
            assert!(next_data(&mut ws).await? == msg, "the echo differs");
        }

        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await?;
        let pong = ws.next().await.ok_or("closed")??;
        assert_eq!(pong, Message::Pong(b"are you there".to_vec().into()));

        ws.close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        }))
        .await?;
        // The server answers the close; then the stream ends.
        match ws.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
            other => panic!("expected the close reply, got {other:?}"),
        }
        match ws.next().await {
            None | Some(Err(WsError::ConnectionClosed)) => {}
            other => panic!("expected the end of the stream, got {other:?}"),
        }
        Ok(())
    }))
}

#[test]
fn twenty_clients_a_hundred_messages_each() -> Result<(), BoxError> {
    geode::block_on(bounded("twenty clients", async {
        let addr = start();
        let clients: Vec<_> = (0..20)
            .map(|c| {
                geode::spawn(async move {
                    let mut ws = connect(addr).await?;
                    for m in 0..100 {
                        let msg = Message::text(format!("client {c} message {m}"));
                        ws.send(msg.clone()).await?;
                        assert_eq!(next_data(&mut ws).await?, msg);
                    }
                    ws.close(None).await?;
                    Ok::<_, BoxError>(())
                })
            })
            .collect();
        for client in clients {
            client.await.expect("client task")?;
        }
        Ok(())
    }))
}

/// The server's own end, as `serve_connection` reports it: a count of the echoed messages,
/// and the handshake timeout (on virtual time) for a client that never sends its upgrade.
#[test]
fn serve_connection_counts_messages_and_times_out_a_silent_client() -> Result<(), BoxError> {
    geode::block_on(async {
        geode::time::pause();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;

        let client = geode::spawn(async move {
            let mut ws = connect(addr).await?;
            for i in 0..3 {
                ws.send(Message::text(i.to_string())).await?;
                next_data(&mut ws).await?;
            }
            ws.close(None).await?;
            while ws.next().await.is_some() {}
            Ok::<_, BoxError>(())
        });
        let (stream, _) = listener.accept().await?;
        assert_eq!(websocket_echo::serve_connection(stream).await?, 3);
        client.await.expect("client task")?;

        let _silent = TcpStream::connect(addr).await?;
        let (stream, _) = listener.accept().await?;
        let start = geode::time::Instant::now();
        match websocket_echo::serve_connection(stream).await {
            Err(WsError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}"),
            other => panic!("expected a handshake timeout, got {other:?}"),
        }
        assert_eq!(start.elapsed(), websocket_echo::HANDSHAKE_TIMEOUT);
        Ok(())
    })
}
