//! An echo server and three clients in one process, on one thread, over loopback TCP.
//!
//! Run: `cargo run --example echo`. Prints what each side did and exits 0.

use std::io;
use std::time::Duration;

use geode::net::{TcpListener, TcpStream};

async fn serve(listener: TcpListener, connections: usize) -> io::Result<()> {
    let mut handlers = Vec::new();
    for _ in 0..connections {
        let (stream, peer) = listener.accept().await?;
        println!("server: accepted {peer}");
        handlers.push(geode::spawn(async move {
            let mut buf = [0u8; 1024];
            let mut echoed = 0;
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    println!("server: {peer} closed after {echoed} bytes");
                    return Ok::<_, io::Error>(());
                }
                stream.write_all(&buf[..n]).await?;
                echoed += n;
            }
        }));
    }
    for h in handlers {
        h.await??;
    }
    Ok(())
}

async fn client(id: usize, addr: std::net::SocketAddr) -> io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    for round in 0..3 {
        let msg = format!("client {id}, message {round}");
        stream.write_all(msg.as_bytes()).await?;
        let mut back = vec![0u8; msg.len()];
        stream.read_exact(&mut back).await?;
        assert_eq!(back, msg.as_bytes(), "echo must return what was sent");
        println!("client {id}: sent and got back {msg:?}");
        geode::time::sleep(Duration::from_millis(1)).await;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut rest = [0u8; 1];
    assert_eq!(stream.read(&mut rest).await?, 0, "server closes after EOF");
    Ok(())
}

fn main() -> io::Result<()> {
    geode::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        println!("server: listening on {addr}");
        let server = geode::spawn(serve(listener, 3));
        let clients: Vec<_> = (1..=3).map(|id| geode::spawn(client(id, addr))).collect();
        for c in clients {
            c.await??;
        }
        server.await??;
        let s = geode::reactor::stats();
        println!(
            "done: {} epoll_wait calls, {} epoll_ctl calls, {} wakeups",
            s.epoll_wait_calls, s.epoll_ctl_calls, s.wakeups
        );
        Ok(())
    })
}
