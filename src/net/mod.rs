//! TCP, UDP and Unix sockets, with the names and shapes of `std::net` and
//! `std::os::unix::net`: async where std blocks.
//!
//! Every socket is created non-blocking and close-on-exec in one syscall, and registered with
//! the reactor of the thread that created it (the types are neither `Send` nor `Sync`; give
//! each thread its own socket, e.g. a `try_clone` of a std listener, as in
//! `examples/thread_per_core.rs`).
//!
//! A short read or write on a stream socket tells the reactor the socket is drained, so the next
//! operation waits for an edge instead of paying for an `EAGAIN`: a ping-pong round trip costs
//! one `read`, one `write` and one `epoll_wait`. (Once the peer has hung up, or sent urgent
//! data, a short read no longer proves anything and the next read tries the syscall.)
//!
//! Host names never block the thread: [`TcpStream::connect`] and [`UdpSocket::send_to`] take
//! geode's [`ToSocketAddrs`], which parses IP literals at once and resolves names with
//! `getaddrinfo` on the blocking pool ([`lookup_host`]). `bind` and `UdpSocket::connect` are
//! not async and take std's `ToSocketAddrs` (a name there is resolved on the calling thread).
//!
//! ```
//! use geode::net::{TcpListener, TcpStream};
//!
//! geode::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = geode::spawn(async move {
//!         let (stream, _) = listener.accept().await?;
//!         let mut buf = [0; 4];
//!         stream.read_exact(&mut buf).await?;
//!         stream.write_all(&buf).await
//!     });
//!     let client = TcpStream::connect(addr).await?;
//!     client.write_all(b"ping").await?;
//!     let mut buf = [0; 4];
//!     client.read_exact(&mut buf).await?;
//!     assert_eq!(&buf, b"ping");
//!     server.await??;
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod accept;
mod addrs;
mod datagram;
mod fd_traits;
mod readiness;
mod socket;
mod stream;
mod stream_methods;
mod tcp;
mod udp;
pub mod unix;
mod unix_socket;

pub use accept::{Incoming, UnixIncoming};
pub use addrs::{SocketAddrs, ToSocketAddrs, lookup_host};
pub use socket::TcpSocket;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
pub use unix_socket::UnixSocket;

use std::io;
use std::net::SocketAddr;

/// Runs `f` on each address `addrs` yields, in order, until one succeeds; else the last error.
fn each_addr<A: std::net::ToSocketAddrs, T>(
    addrs: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addrs.to_socket_addrs()? {
        match f(&addr) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "geode: the address resolved to no socket address",
    )
}
