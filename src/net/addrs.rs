//! `ToSocketAddrs` and `lookup_host`: socket addresses from IP literals at once, from names on
//! the blocking pool.
//!
//! std's `ToSocketAddrs::to_socket_addrs` may call `getaddrinfo`, which blocks the thread (and
//! so the reactor and every task on it) for as long as the resolver takes. geode's trait has
//! the same implementors as std's (and as tokio's `ToSocketAddrs`) and is sealed: it parses IP
//! literals inline, with no allocation, and hands names to `getaddrinfo` on the pool.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::blocking::asyncify;

/// Values that name one or more socket addresses: what [`TcpStream::connect`],
/// [`UdpSocket::send_to`] and [`lookup_host`] take.
///
/// Implemented for the types std's `ToSocketAddrs` is implemented for: `SocketAddr` and its
/// V4/V6 forms, `(IpAddr, u16)` and friends, `&[SocketAddr]`, `"host:port"` strings (`&str`,
/// `String`), `(&str, u16)` and `(String, u16)`, and references to any of these. An IP literal
/// resolves at once; a host name is looked up by `getaddrinfo` on the blocking pool
/// ([`spawn_blocking`](crate::spawn_blocking)), so the thread's other tasks keep running. The
/// trait is sealed (as tokio's is): resolve other types yourself and pass a `SocketAddr`.
///
/// Calls that are not async (`TcpListener::bind`, `UdpSocket::bind`, `UdpSocket::connect`)
/// take std's `ToSocketAddrs`, which resolves names on the calling thread.
///
/// [`TcpStream::connect`]: crate::net::TcpStream::connect
/// [`UdpSocket::send_to`]: crate::net::UdpSocket::send_to
///
/// # Examples
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
///
/// geode::block_on(async {
///     let literal: Vec<SocketAddr> = geode::net::lookup_host("127.0.0.1:80").await?.collect();
///     assert_eq!(literal, ["127.0.0.1:80".parse().unwrap()]);
///     let pair: Vec<SocketAddr> = geode::net::lookup_host((Ipv4Addr::LOCALHOST, 80)).await?.collect();
///     assert_eq!(pair, literal);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddrs: sealed::Resolve {}

pub(crate) mod sealed {
    use super::*;

    /// How a [`ToSocketAddrs`](super::ToSocketAddrs) value resolves. Not public API.
    pub trait Resolve {
        #[doc(hidden)]
        fn resolve(&self) -> Resolved<'_>;
    }

    /// Addresses at once, or a name to look up.
    #[doc(hidden)]
    #[derive(Debug)]
    pub enum Resolved<'a> {
        One(SocketAddr),
        Slice(&'a [SocketAddr]),
        /// `"host:port"` as given (std parses and resolves it).
        HostPort(String),
        Pair(String, u16),
    }
}

use sealed::{Resolve, Resolved};

impl<T: Resolve + ?Sized> ToSocketAddrs for T {}

macro_rules! literal {
    ($($t:ty),*) => {$(
        impl Resolve for $t {
            fn resolve(&self) -> Resolved<'_> {
                Resolved::One(SocketAddr::from(*self))
            }
        }
    )*};
}
literal!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl Resolve for [SocketAddr] {
    fn resolve(&self) -> Resolved<'_> {
        Resolved::Slice(self)
    }
}

impl Resolve for str {
    fn resolve(&self) -> Resolved<'_> {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Resolved::One(addr),
            Err(_) => Resolved::HostPort(self.to_owned()),
        }
    }
}

impl Resolve for String {
    fn resolve(&self) -> Resolved<'_> {
        self.as_str().resolve()
    }
}

fn host_port(host: &str, port: u16) -> Resolved<'static> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Resolved::One(SocketAddr::new(ip, port)),
        Err(_) => Resolved::Pair(host.to_owned(), port),
    }
}

impl Resolve for (&str, u16) {
    fn resolve(&self) -> Resolved<'_> {
        host_port(self.0, self.1)
    }
}

impl Resolve for (String, u16) {
    fn resolve(&self) -> Resolved<'_> {
        host_port(&self.0, self.1)
    }
}

impl<T: Resolve + ?Sized> Resolve for &T {
    fn resolve(&self) -> Resolved<'_> {
        (**self).resolve()
    }
}

/// The addresses of a [`ToSocketAddrs`] value, in the order the resolver gave them.
///
/// Returned by [`lookup_host`].
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let mut addrs = geode::net::lookup_host("[::1]:53").await?;
/// assert_eq!(addrs.size_hint(), (1, Some(1)));
/// assert_eq!(addrs.next(), Some("[::1]:53".parse().unwrap()));
/// assert_eq!(addrs.next(), None);
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SocketAddrs<'a> {
    repr: Repr<'a>,
}

#[derive(Debug, Clone)]
enum Repr<'a> {
    One(Option<SocketAddr>),
    Slice(std::slice::Iter<'a, SocketAddr>),
    Many(std::vec::IntoIter<SocketAddr>),
}

impl Iterator for SocketAddrs<'_> {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        match &mut self.repr {
            Repr::One(one) => one.take(),
            Repr::Slice(it) => it.next().copied(),
            Repr::Many(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.repr {
            Repr::One(one) => (one.is_some() as usize, Some(one.is_some() as usize)),
            Repr::Slice(it) => it.size_hint(),
            Repr::Many(it) => it.size_hint(),
        }
    }
}

/// Resolves `addr` to socket addresses, like std's `ToSocketAddrs` but without blocking the
/// thread: an IP literal (`"127.0.0.1:80"`, `("::1", 80)`, a `SocketAddr`) resolves at once,
/// a host name through `getaddrinfo` on the blocking pool
/// ([`spawn_blocking`](crate::spawn_blocking)).
///
/// A lookup cannot be cancelled: dropping the future (e.g. under a
/// [`timeout`](crate::time::timeout)) returns at once, but the `getaddrinfo` call keeps a pool
/// thread until the resolver answers or gives up (its `timeout`/`attempts` in
/// `/etc/resolv.conf`).
///
/// # Errors
/// std's error for the same input, with its kind; a failed lookup's message names the host:
/// `lookup example.invalid: failed to lookup address information: Name or service not known`.
/// An error that carries an errno (`EAI_SYSTEM`) is returned as it is, so `raw_os_error()`
/// works. A `"host"` string without a port is `InvalidInput`.
///
/// # Examples
/// ```
/// geode::block_on(async {
///     let addrs: Vec<_> = geode::net::lookup_host(("localhost", 8080)).await?.collect();
///     assert!(addrs.iter().all(|a| a.port() == 8080 && a.ip().is_loopback()));
///
///     let err = geode::net::lookup_host("name.invalid:80").await.unwrap_err();
///     assert!(err.to_string().starts_with("lookup name.invalid: "), "{err}");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn lookup_host<A: ToSocketAddrs>(addr: A) -> io::Result<SocketAddrs<'static>> {
    let owned = match addr.resolve() {
        Resolved::One(a) => Resolved::One(a),
        Resolved::Slice(s) => {
            return Ok(SocketAddrs {
                repr: Repr::Many(Vec::from(s).into_iter()),
            });
        }
        Resolved::HostPort(s) => Resolved::HostPort(s),
        Resolved::Pair(h, p) => Resolved::Pair(h, p),
    };
    resolve_owned(owned).await
}

/// Resolves `addr` for a call that uses the addresses at once (connect, send_to): a literal
/// or a slice costs nothing, a name one pool job.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<SocketAddrs<'_>> {
    match addr.resolve() {
        Resolved::Slice(s) => Ok(SocketAddrs {
            repr: Repr::Slice(s.iter()),
        }),
        other => resolve_owned(other).await,
    }
}

async fn resolve_owned(addr: Resolved<'_>) -> io::Result<SocketAddrs<'static>> {
    let (host, job): (String, Box<dyn FnOnce() -> io::Result<_> + Send>) = match addr {
        Resolved::One(a) => {
            return Ok(SocketAddrs {
                repr: Repr::One(Some(a)),
            });
        }
        Resolved::Slice(s) => {
            return Ok(SocketAddrs {
                repr: Repr::Many(Vec::from(s).into_iter()),
            });
        }
        Resolved::HostPort(s) => {
            let host = match s.rsplit_once(':') {
                Some((h, _)) => h.to_owned(),
                None => s.clone(),
            };
            (
                host,
                Box::new(move || std::net::ToSocketAddrs::to_socket_addrs(&s)),
            )
        }
        Resolved::Pair(h, p) => (
            h.clone(),
            Box::new(move || std::net::ToSocketAddrs::to_socket_addrs(&(h.as_str(), p))),
        ),
    };
    match asyncify(job).await {
        Ok(addrs) => Ok(SocketAddrs {
            repr: Repr::Many(addrs),
        }),
        Err(e) if e.raw_os_error().is_some() => Err(e),
        Err(e) => Err(io::Error::new(e.kind(), format!("lookup {host}: {e}"))),
    }
}
