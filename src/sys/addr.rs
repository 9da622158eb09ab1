//! `SocketAddr` and Unix paths to and from the kernel's `sockaddr` structures. All pointer and
//! length reasoning for addresses lives here.

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A socket address in the kernel's layout.
pub(crate) struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    pub(crate) fn len(&self) -> libc::socklen_t {
        self.len
    }

    fn zeroed() -> RawAddr {
        // SAFETY: sockaddr_storage is plain old data; all-zero bytes are a valid value.
        let storage = unsafe { MaybeUninit::<libc::sockaddr_storage>::zeroed().assume_init() };
        RawAddr { storage, len: 0 }
    }

    /// An IPv4 or IPv6 address.
    pub(crate) fn from_inet(addr: &SocketAddr) -> RawAddr {
        let mut raw = RawAddr::zeroed();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and suitably aligned for
                // sockaddr_in (that is its purpose); we write one whole value.
                unsafe {
                    (&mut raw.storage as *mut libc::sockaddr_storage)
                        .cast::<libc::sockaddr_in>()
                        .write(sin)
                };
                raw.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe {
                    (&mut raw.storage as *mut libc::sockaddr_storage)
                        .cast::<libc::sockaddr_in6>()
                        .write(sin6)
                };
                raw.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }

    /// A Unix socket path (a leading NUL byte means an abstract name).
    pub(crate) fn from_unix_path(path: &Path) -> io::Result<RawAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut sun = libc::sockaddr_un {
            sun_family: libc::AF_UNIX as libc::sa_family_t,
            sun_path: [0; 108],
        };
        // Leave room for the terminating NUL of a pathname.
        if bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "geode: Unix socket path must be shorter than 108 bytes",
            ));
        }
        if bytes.first() != Some(&0) && bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "geode: Unix socket path must not contain NUL bytes",
            ));
        }
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = if bytes.first() == Some(&0) {
            base + bytes.len()
        } else {
            base + bytes.len() + 1
        };
        let mut raw = RawAddr::zeroed();
        // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_un.
        unsafe {
            (&mut raw.storage as *mut libc::sockaddr_storage)
                .cast::<libc::sockaddr_un>()
                .write(sun)
        };
        raw.len = len as libc::socklen_t;
        Ok(raw)
    }
}

/// Storage for the kernel to write an address into (`accept4`, `getsockname`).
pub(crate) struct AddrBuf {
    pub(crate) storage: MaybeUninit<libc::sockaddr_storage>,
    pub(crate) len: libc::socklen_t,
}

impl AddrBuf {
    pub(crate) fn new() -> AddrBuf {
        AddrBuf {
            storage: MaybeUninit::zeroed(),
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// Decodes an IPv4/IPv6 address the kernel wrote.
    pub(crate) fn to_inet(&self) -> io::Result<SocketAddr> {
        // SAFETY: the buffer was zero-initialised, and the kernel wrote at most its size, so
        // every byte is initialised.
        let storage = unsafe { self.storage.assume_init_ref() };
        let len = self.len as usize;
        match libc::c_int::from(storage.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in, which fits.
                let sin = unsafe {
                    &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family says the storage holds a sockaddr_in6, which fits.
                let sin6 = unsafe {
                    &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "geode: the kernel returned an address that is not IPv4 or IPv6",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_round_trip() {
        for a in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%2]:1"] {
            let addr: SocketAddr = a.parse().unwrap();
            let raw = RawAddr::from_inet(&addr);
            let mut buf = AddrBuf::new();
            // SAFETY: both buffers are sockaddr_storage; copying `len` bytes stays in bounds.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    raw.as_ptr().cast::<u8>(),
                    buf.storage.as_mut_ptr().cast::<u8>(),
                    raw.len() as usize,
                )
            };
            buf.len = raw.len();
            assert_eq!(buf.to_inet().unwrap(), addr);
        }
    }

    #[test]
    fn unix_paths() {
        assert!(RawAddr::from_unix_path(Path::new("/tmp/x.sock")).is_ok());
        let long = "x".repeat(200);
        assert_eq!(
            RawAddr::from_unix_path(Path::new(&long))
                .err()
                .map(|e| e.kind()),
            Some(io::ErrorKind::InvalidInput)
        );
    }
}
