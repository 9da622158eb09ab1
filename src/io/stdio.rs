//! `stdin`, `stdout`, `stderr`: the process's standard streams through the blocking pool.
//!
//! A terminal or pipe could be watched by epoll, but the standard streams are shared with
//! the rest of the process (and with `println!`): making fd 0, 1 or 2 non-blocking would
//! change them for every other user of the same open file, the parent shell included. So geode
//! does what tokio does: blocking reads and writes on pool threads.

use std::future::poll_fn;
use std::io::{self, Read, SeekFrom, Write};

use crate::blocking::unblock::{self, Inner, Unblock};

macro_rules! std_stream {
    ($inner:ident, read: $read:expr, write: $write:expr, flush: $flush:expr) => {
        #[derive(Debug)]
        struct $inner;

        impl Inner for $inner {
            const WRITE_BEHIND: usize = 1;
            const FLUSHES: bool = true;
            fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                #[allow(clippy::redundant_closure_call)]
                ($read)(buf)
            }
            fn write(&self, buf: &[u8]) -> io::Result<usize> {
                #[allow(clippy::redundant_closure_call)]
                ($write)(buf)
            }
            fn seek(&self, _: SeekFrom) -> io::Result<u64> {
                Err(io::Error::from_raw_os_error(libc::ESPIPE))
            }
            fn flush(&self) -> io::Result<()> {
                #[allow(clippy::redundant_closure_call)]
                ($flush)()
            }
        }
    };
}

fn not_readable(_: &mut [u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "geode: this standard stream is write-only",
    ))
}

std_stream!(StdinInner,
    read: |buf: &mut [u8]| io::stdin().lock().read(buf),
    write: |_: &[u8]| Err(io::Error::new(io::ErrorKind::Unsupported, "geode: stdin is read-only")),
    flush: || Ok(()));
std_stream!(StdoutInner,
    read: not_readable,
    write: |buf: &[u8]| io::stdout().lock().write(buf),
    flush: || io::stdout().lock().flush());
std_stream!(StderrInner,
    read: not_readable,
    write: |buf: &[u8]| io::stderr().lock().write(buf),
    flush: || io::stderr().lock().flush());

/// The process's standard input, read on the blocking pool: [`stdin`].
///
/// Reads go through std's `Stdin` (so they share its buffer with other `std::io::stdin`
/// users), one `read` per pool hop of up to 64 KiB (up to 2 MiB while reads keep coming);
/// what a read fetched beyond what the caller took stays in this handle and is lost when it
/// is dropped. A read that waits on a terminal
/// or an idle pipe keeps its pool thread until input comes (or EOF): it cannot be cancelled,
/// and dropping the future does not give that thread back.
///
/// # Examples
/// ```no_run
/// use futures_util::AsyncBufReadExt;
///
/// geode::block_on(async {
///     let mut lines = futures_util::io::BufReader::new(geode::io::stdin()).lines();
///     use futures_util::StreamExt;
///     while let Some(line) = lines.next().await {
///         println!("got {}", line?);
///     }
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Stdin {
    io: Unblock<StdinInner>,
}

/// The process's standard output, written on the blocking pool: [`stdout`].
///
/// Each write starts a pool job at once (write-behind: `poll_write` returns before the bytes
/// are written; the next write waits for it), through std's `Stdout`, so output interleaves
/// with `println!` at write boundaries. `flush` waits for the writes and flushes std's line
/// buffer. Bytes still in flight when the process exits are lost: flush before exiting.
///
/// # Examples
/// ```
/// use futures_util::AsyncWriteExt;
///
/// geode::block_on(async {
///     let mut out = geode::io::stdout();
///     out.write_all(b"hello from the pool\n").await?;
///     out.flush().await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Stdout {
    io: Unblock<StdoutInner>,
}

/// The process's standard error, written on the blocking pool: [`stderr`]. As [`Stdout`].
///
/// # Examples
/// ```
/// use futures_util::AsyncWriteExt;
///
/// geode::block_on(async {
///     let mut err = geode::io::stderr();
///     err.write_all(b"a warning\n").await?;
///     err.flush().await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Stderr {
    io: Unblock<StderrInner>,
}

/// A handle to the process's standard input, read on the blocking pool. Each call gives a new
/// handle with a buffer of its own (see [`Stdin`]).
///
/// # Examples
/// ```no_run
/// use futures_util::AsyncReadExt;
///
/// geode::block_on(async {
///     let mut input = String::new();
///     geode::io::stdin().read_to_string(&mut input).await?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn stdin() -> Stdin {
    Stdin {
        io: Unblock::new(StdinInner),
    }
}

/// A handle to the process's standard output, written on the blocking pool (see [`Stdout`]).
///
/// # Examples
/// ```
/// use futures_util::AsyncWriteExt;
///
/// geode::block_on(async { geode::io::stdout().write_all(b"out\n").await })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn stdout() -> Stdout {
    Stdout {
        io: Unblock::new(StdoutInner),
    }
}

/// A handle to the process's standard error, written on the blocking pool (see [`Stderr`]).
///
/// # Examples
/// ```
/// use futures_util::AsyncWriteExt;
///
/// geode::block_on(async { geode::io::stderr().write_all(b"err\n").await })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn stderr() -> Stderr {
    Stderr {
        io: Unblock::new(StderrInner),
    }
}

impl Stdin {
    /// Reads into `buf` (from this handle's buffer, or with one pool job). `Ok(0)` is EOF.
    /// The same as `AsyncReadExt::read`, without the trait.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_read(cx, buf)).await
    }
}

macro_rules! write_methods {
    ($t:ty) => {
        impl $t {
            /// Writes some of `buf` (a pool job starts at once; the next write waits for
            /// it). The same as `AsyncWriteExt::write`, without the trait.
            pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                poll_fn(|cx| self.io.poll_write(cx, buf)).await
            }

            /// Writes all of `buf`.
            pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
                while !buf.is_empty() {
                    let n = self.write(buf).await?;
                    buf = &buf[n..];
                }
                Ok(())
            }

            /// Waits for the writes, then flushes std's buffer of the stream.
            pub async fn flush(&mut self) -> io::Result<()> {
                poll_fn(|cx| self.io.poll_flush(cx)).await
            }
        }
    };
}

write_methods!(Stdout);
write_methods!(Stderr);
unblock::read_traits!(Stdin);
unblock::write_traits!(Stdout);
unblock::write_traits!(Stderr);
