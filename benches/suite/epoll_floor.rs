//! The floor: a hand-written, single-threaded, edge-triggered epoll loop over libc. As lean as
//! it gets: one `epoll_wait` per batch of events, nonblocking `accept4`, every connection added
//! once (`IN|OUT|RDHUP|ET`, never modified), a per-connection buffer indexed by fd, and a short
//! read taken to mean "drained" (no extra read to collect `EAGAIN`), so a ping-pong round trip
//! costs one `read`, one `write` and one `epoll_wait`.

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;

use crate::http;
use crate::servers::ECHO_BUF;

const LISTENER: u64 = u64::MAX;
const MAX_EVENTS: usize = 256;

struct EchoConn {
    buf: Box<[u8]>,
    /// Unwritten bytes `buf[start..end]` (a write came up short: wait for `EPOLLOUT`).
    start: usize,
    end: usize,
}

struct HttpConn {
    c: http::Conn,
    /// Bytes of `c.out` already written while the socket was full.
    sent: usize,
}

enum Conn {
    Echo(EchoConn),
    Http(HttpConn),
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn sys_read(fd: i32, buf: &mut [u8]) -> isize {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
}

fn sys_write(fd: i32, buf: &[u8]) -> isize {
    // SAFETY: buf is valid for reads of buf.len() bytes.
    unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }
}

fn add(ep: i32, fd: i32, events: u32, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: valid epoll fd and event pointer.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn serve(listener: TcpListener, http: bool) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let lfd = listener.as_raw_fd();
    // SAFETY: plain syscall.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    add(ep, lfd, (libc::EPOLLIN | libc::EPOLLET) as u32, LISTENER)?;
    let conn_events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
    loop {
        // SAFETY: events has MAX_EVENTS entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), MAX_EVENTS as i32, -1) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        for ev in &events[..n as usize] {
            let (bits, data) = (ev.events, ev.u64);
            if data == LISTENER {
                loop {
                    // SAFETY: plain syscall; no address wanted.
                    let fd = unsafe {
                        libc::accept4(
                            lfd,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        )
                    };
                    if fd < 0 {
                        if errno() == libc::EINTR {
                            continue;
                        }
                        break; // EAGAIN (drained), or out of fds: wait for the next edge
                    }
                    let one: libc::c_int = 1;
                    // SAFETY: valid fd, option pointer and length.
                    unsafe {
                        libc::setsockopt(
                            fd,
                            libc::IPPROTO_TCP,
                            libc::TCP_NODELAY,
                            (&one as *const libc::c_int).cast(),
                            size_of::<libc::c_int>() as u32,
                        )
                    };
                    if add(ep, fd, conn_events, fd as u64).is_err() {
                        // SAFETY: we own fd.
                        unsafe { libc::close(fd) };
                        continue;
                    }
                    let i = fd as usize;
                    if conns.len() <= i {
                        conns.resize_with(i + 1, || None);
                    }
                    conns[i] = Some(if http {
                        Conn::Http(HttpConn {
                            c: http::Conn::new(),
                            sent: 0,
                        })
                    } else {
                        Conn::Echo(EchoConn {
                            buf: vec![0u8; ECHO_BUF].into_boxed_slice(),
                            start: 0,
                            end: 0,
                        })
                    });
                }
                continue;
            }
            let fd = data as i32;
            let keep = match conns.get_mut(fd as usize) {
                Some(Some(Conn::Echo(c))) => echo(fd, c, bits),
                Some(Some(Conn::Http(c))) => serve_http(fd, c, bits),
                _ => true,
            };
            if !keep {
                conns[fd as usize] = None;
                // SAFETY: we own fd; closing removes it from the epoll set (no dups exist).
                unsafe { libc::close(fd) };
            }
        }
    }
}

const IN_ISH: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
const OUT_ISH: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// `false`: close the connection.
fn echo(fd: i32, c: &mut EchoConn, bits: u32) -> bool {
    if c.start < c.end {
        if bits & OUT_ISH == 0 {
            return true;
        }
        let w = sys_write(fd, &c.buf[c.start..c.end]);
        if w < 0 {
            return errno() == libc::EAGAIN;
        }
        c.start += w as usize;
        if c.start < c.end {
            return true;
        }
    } else if bits & IN_ISH == 0 {
        return true;
    }
    loop {
        let n = sys_read(fd, &mut c.buf);
        if n > 0 {
            let n = n as usize;
            let w = sys_write(fd, &c.buf[..n]);
            let w = if w < 0 {
                if errno() != libc::EAGAIN {
                    return false;
                }
                0
            } else {
                w as usize
            };
            if w < n {
                (c.start, c.end) = (w, n);
                return true;
            }
            if n < c.buf.len() {
                return true; // short read: drained, wait for the next edge
            }
        } else if n == 0 {
            return false;
        } else {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return e == libc::EAGAIN;
        }
    }
}

fn serve_http(fd: i32, h: &mut HttpConn, bits: u32) -> bool {
    if h.sent < h.c.out.len() {
        if bits & OUT_ISH == 0 {
            return true;
        }
        if !flush(fd, h) {
            return false;
        }
        if h.sent < h.c.out.len() {
            return true;
        }
    } else if bits & IN_ISH == 0 {
        return true;
    }
    loop {
        let space = h.c.buf.len() - h.c.filled;
        let filled = h.c.filled;
        let n = sys_read(fd, &mut h.c.buf[filled..]);
        if n > 0 {
            let Ok(close) = h.c.absorb(n as usize) else {
                return false;
            };
            if !h.c.out.is_empty() {
                if !flush(fd, h) {
                    return false;
                }
                if h.sent < h.c.out.len() {
                    return true;
                }
            }
            if close {
                return false;
            }
            if (n as usize) < space {
                return true;
            }
        } else if n == 0 {
            return false;
        } else {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return e == libc::EAGAIN;
        }
    }
}

/// Writes what is left of `out`; `false` on a hard error. Clears `out` once all is written.
fn flush(fd: i32, h: &mut HttpConn) -> bool {
    while h.sent < h.c.out.len() {
        let w = sys_write(fd, &h.c.out[h.sent..]);
        if w < 0 {
            return errno() == libc::EAGAIN;
        }
        h.sent += w as usize;
    }
    h.c.out.clear();
    h.sent = 0;
    true
}
