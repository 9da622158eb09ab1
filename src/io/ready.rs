//! `Interest` (what a caller waits for) and `Ready` (what the kernel reports), tokio's names.

use std::fmt;
use std::ops;

/// What to wait for: [`READABLE`](Interest::READABLE), [`WRITABLE`](Interest::WRITABLE), or
/// both (`Interest::READABLE | Interest::WRITABLE`).
///
/// # Examples
/// ```
/// use geode::io::Interest;
///
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// assert!(!Interest::READABLE.is_writable());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

const READ: u8 = 1;
const WRITE: u8 = 2;

impl Interest {
    /// Readable: data (or end of stream, or an error) to read, a connection to accept.
    pub const READABLE: Interest = Interest(READ);
    /// Writable: room in the send buffer (or an error).
    pub const WRITABLE: Interest = Interest(WRITE);

    /// Whether this includes [`READABLE`](Interest::READABLE).
    pub const fn is_readable(self) -> bool {
        self.0 & READ != 0
    }

    /// Whether this includes [`WRITABLE`](Interest::WRITABLE).
    pub const fn is_writable(self) -> bool {
        self.0 & WRITE != 0
    }

    /// Both interests (`|` in a `const`).
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl ops::BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl ops::BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        *self = self.add(other);
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            _ => f.write_str("WRITABLE"),
        }
    }
}

/// The readiness an fd was found in by `ready(Interest)`: a set of flags.
///
/// `is_readable` is also true when the read half is closed (a read returns at once, with EOF),
/// and `is_writable` when the write half is (a write fails at once), as in tokio.
///
/// # Examples
/// ```
/// use geode::io::{Interest, Ready};
/// use geode::net::UnixStream;
///
/// geode::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     drop(b);
///     let ready: Ready = a.ready(Interest::READABLE).await?;
///     assert!(ready.is_readable() && ready.is_read_closed());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ready(u8);

const READABLE: u8 = 1;
const WRITABLE: u8 = 2;
const READ_CLOSED: u8 = 4;
const WRITE_CLOSED: u8 = 8;
const ERROR: u8 = 16;

impl Ready {
    /// No readiness.
    pub const EMPTY: Ready = Ready(0);
    /// Readable.
    pub const READABLE: Ready = Ready(READABLE);
    /// Writable.
    pub const WRITABLE: Ready = Ready(WRITABLE);
    /// The read half is closed: the peer shut down its writing, or hung up.
    pub const READ_CLOSED: Ready = Ready(READ_CLOSED);
    /// The write half is closed: the peer hung up, or the socket is in error.
    pub const WRITE_CLOSED: Ready = Ready(WRITE_CLOSED);
    /// The socket has a pending error (`SO_ERROR`; a UDP socket's ICMP error, for one).
    pub const ERROR: Ready = Ready(ERROR);
    /// Every flag.
    pub const ALL: Ready = Ready(READABLE | WRITABLE | READ_CLOSED | WRITE_CLOSED | ERROR);

    /// From `poll(2)`'s `revents`, limited to what `interest` asks about (an error always
    /// shows).
    pub(crate) fn from_revents(revents: i16, interest: Interest) -> Ready {
        let has = |bits: i16| revents & bits != 0;
        let mut r = 0;
        if interest.is_readable() {
            if has(libc::POLLIN | libc::POLLPRI) {
                r |= READABLE;
            }
            if has(libc::POLLRDHUP | libc::POLLHUP) {
                r |= READ_CLOSED;
            }
        }
        if interest.is_writable() {
            if has(libc::POLLOUT) {
                r |= WRITABLE;
            }
            if has(libc::POLLHUP) || (has(libc::POLLERR) && has(libc::POLLOUT)) {
                r |= WRITE_CLOSED;
            }
        }
        if has(libc::POLLERR | libc::POLLNVAL) {
            r |= ERROR;
        }
        Ready(r)
    }

    /// No flag set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Readable, or the read half is closed.
    pub const fn is_readable(self) -> bool {
        self.0 & (READABLE | READ_CLOSED) != 0
    }

    /// Writable, or the write half is closed.
    pub const fn is_writable(self) -> bool {
        self.0 & (WRITABLE | WRITE_CLOSED) != 0
    }

    /// The read half is closed (a read returns end of stream at once).
    pub const fn is_read_closed(self) -> bool {
        self.0 & READ_CLOSED != 0
    }

    /// The write half is closed (a write fails at once).
    pub const fn is_write_closed(self) -> bool {
        self.0 & WRITE_CLOSED != 0
    }

    /// The socket has a pending error.
    pub const fn is_error(self) -> bool {
        self.0 & ERROR != 0
    }
}

impl ops::BitOr for Ready {
    type Output = Ready;

    fn bitor(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }
}

impl ops::BitOrAssign for Ready {
    fn bitor_assign(&mut self, other: Ready) {
        self.0 |= other.0;
    }
}

impl ops::Sub for Ready {
    type Output = Ready;

    fn sub(self, other: Ready) -> Ready {
        Ready(self.0 & !other.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready")
            .field("is_readable", &self.is_readable())
            .field("is_writable", &self.is_writable())
            .field("is_read_closed", &self.is_read_closed())
            .field("is_write_closed", &self.is_write_closed())
            .field("is_error", &self.is_error())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revents_map_to_tokio_s_flags() {
        let both = Interest::READABLE | Interest::WRITABLE;
        assert_eq!(Ready::from_revents(0, both), Ready::EMPTY);
        let r = Ready::from_revents(libc::POLLIN | libc::POLLOUT, both);
        assert!(r.is_readable() && r.is_writable() && !r.is_read_closed());
        // Hangup: both halves closed, and both count as ready.
        let r = Ready::from_revents(libc::POLLHUP, both);
        assert!(r.is_read_closed() && r.is_write_closed() && r.is_readable() && r.is_writable());
        // Only what was asked about shows, except an error.
        let r = Ready::from_revents(libc::POLLOUT | libc::POLLERR, Interest::READABLE);
        assert!(!r.is_writable() && r.is_error() && !r.is_empty());
        let r = Ready::from_revents(libc::POLLRDHUP | libc::POLLIN, Interest::READABLE);
        assert!(r.is_read_closed() && !r.is_write_closed());
        assert_eq!(Ready::ALL - Ready::ERROR - Ready::ALL, Ready::EMPTY);
    }
}
