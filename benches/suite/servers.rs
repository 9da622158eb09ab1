//! `suite server <peer> <workload> <addr>`: the servers under test. Every server binds with std
//! (so all start from the same socket), prints `PORT <n>`, serves until its stdin closes, and
//! sets `TCP_NODELAY` on each accepted connection. Workloads:
//! - `echo`: reads up to 4 KiB into a per-connection buffer and writes it back;
//! - `http`: the keep-alive "Hello, World!" server of `examples/http_hello.rs` (see `http.rs`).
//!
//! Peers `geode-tpc1`/`geode-tpc2` run geode on 1 or 2 pinned threads
//! (`geode::runtime::thread_per_core`, one listener shared), `tokio-mt1`/`tokio-mt2` tokio's
//! multi-thread runtime with 1 or 2 workers: the threads row.

use std::io::{self, Write};
use std::net::TcpListener;

use crate::http;

pub(crate) const ECHO_BUF: usize = 4096;

// What a server does with a connection is the same code for every peer: these macros expand
// it in place, where the peer's `read`/`write_all` (inherent for geode, its runtime's I/O
// traits for the others) are in scope.

/// The task of one `echo` connection on `$stream`.
macro_rules! echo_conn {
    ($stream:ident) => {
        async move {
            let mut buf = vec![0u8; ECHO_BUF];
            while let Ok(n @ 1..) = $stream.read(&mut buf).await {
                if $stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    };
}

/// The task of one `http` connection on `$stream`.
macro_rules! http_conn {
    ($stream:ident) => {
        async move {
            let mut c = http::Conn::new();
            loop {
                let Ok(n @ 1..) = $stream.read(&mut c.buf[c.filled..]).await else {
                    return;
                };
                let Ok(close) = c.absorb(n) else { return };
                if !c.out.is_empty() {
                    if $stream.write_all(&c.out).await.is_err() {
                        return;
                    }
                    c.out.clear();
                }
                if close {
                    return;
                }
            }
        }
    };
}

pub(crate) fn main(args: &[String]) -> io::Result<()> {
    let [peer, workload, addr, ..] = args else {
        return Err(io::Error::other(
            "usage: suite server <geode|geode-tpc1|geode-tpc2|tokio|tokio-mt1|tokio-mt2|smol|\
             epoll|geode-local|geode-fallback> <echo|http> <addr>",
        ));
    };
    crate::common::raise_nofile();
    let listener = TcpListener::bind(addr.as_str())?;
    println!("PORT {}", listener.local_addr()?.port());
    io::stdout().flush()?;
    crate::common::exit_on_stdin_eof();
    let http = match workload.as_str() {
        "echo" => false,
        "http" => true,
        w => return Err(io::Error::other(format!("unknown workload {w}"))),
    };
    match peer.as_str() {
        "geode" => geode_server(listener, http),
        "geode-tpc1" => geode_tpc_server(listener, http, 1),
        "geode-tpc2" => geode_tpc_server(listener, http, 2),
        "tokio-mt1" => tokio_mt_server(listener, http, 1),
        "tokio-mt2" => tokio_mt_server(listener, http, 2),
        "tokio" => tokio_server(listener, http),
        "smol" => smol_server(listener, http),
        "epoll" => crate::epoll_floor::serve(listener, http),
        "geode-local" if !http => {
            let ex = async_executor::LocalExecutor::new();
            crate::local_executor::block_on(ex.run(local_echo(&ex, listener)))
        }
        "geode-fallback" if !http => {
            let ex = async_executor::LocalExecutor::new();
            futures_lite::future::block_on(ex.run(local_echo(&ex, listener)))
        }
        p => Err(io::Error::other(format!("unknown peer {p}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// geode

fn geode_server(listener: TcpListener, http: bool) -> io::Result<()> {
    geode::block_on(geode_serve(listener, http))
}

/// `threads` pinned threads (`geode::runtime::thread_per_core`), each accepting on its clone
/// of the listener (`EPOLLEXCLUSIVE`).
fn geode_tpc_server(listener: TcpListener, http: bool, threads: usize) -> io::Result<()> {
    let served = geode::runtime::thread_per_core(threads, |_core| {
        let clone = listener.try_clone();
        async move { geode_serve(clone?, http).await }
    })?;
    served.into_iter().collect()
}

async fn geode_serve(listener: TcpListener, http: bool) -> io::Result<()> {
    {
        let listener = geode::net::TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(_) => continue,
            };
            let _ = stream.set_nodelay(true);
            if http {
                geode::spawn(http_conn!(stream));
            } else {
                geode::spawn(echo_conn!(stream));
            }
        }
    }
}

/// geode's echo server with its tasks on async-executor's `LocalExecutor`: the same code as
/// `geode_server`'s, under another executor (which drives geode's reactor with `park`, or not
/// at all: then geode's fallback helper wakes it).
async fn local_echo(
    ex: &async_executor::LocalExecutor<'_>,
    listener: TcpListener,
) -> io::Result<()> {
    let listener = geode::net::TcpListener::from_std(listener)?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        ex.spawn(echo_conn!(stream)).detach();
    }
}

// ---------------------------------------------------------------------------------------------
// tokio (current-thread runtime, tokio::spawn)

fn tokio_server(listener: TcpListener, http: bool) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(tokio_serve(listener, http))
}

/// tokio's multi-thread (work-stealing) runtime with `workers` worker threads.
fn tokio_mt_server(listener: TcpListener, http: bool, workers: usize) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_io()
        .build()?;
    rt.block_on(tokio_serve(listener, http))
}

async fn tokio_serve(listener: TcpListener, http: bool) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (mut stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(_) => continue,
            };
            let _ = stream.set_nodelay(true);
            if http {
                tokio::spawn(http_conn!(stream));
            } else {
                tokio::spawn(echo_conn!(stream));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// smol (async-io's Async<TcpListener> + async-executor's LocalExecutor)

fn smol_server(listener: TcpListener, http: bool) -> io::Result<()> {
    use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
    let ex = async_executor::LocalExecutor::new();
    let listener = async_io::Async::new(listener)?;
    async_io::block_on(ex.run(async {
        loop {
            let (mut stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(_) => continue,
            };
            let _ = stream.get_ref().set_nodelay(true);
            if http {
                ex.spawn(http_conn!(stream)).detach();
            } else {
                ex.spawn(echo_conn!(stream)).detach();
            }
        }
    }))
}
