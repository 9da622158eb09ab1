//! A blocking reader/writer (a file, stdin, stdout) driven from async code through the pool:
//! the machinery behind `geode::fs::File` and `geode::io::{stdin, stdout, stderr}`.
//!
//! One buffer and at most one job in flight. The buffer either holds read-ahead (bytes read
//! from the inner object, not yet returned) or write-behind (bytes accepted by `poll_write`,
//! not yet written). A job takes the buffer with it and hands it back with its result.
//!
//! Sizes, and why: a pool hop (queue, condvar wake, the waker's cross-thread wake) costs some
//! 10-30 us, as much as copying 100-300 KiB from the page cache. Reads therefore fetch at
//! least [`MIN_CHUNK`] (64 KiB) per hop, doubling on each sequential refill up to [`MAX_CHUNK`]
//! (2 MiB, tokio's `max_buf_size`), so a small read costs one hop per 64 KiB and a long
//! sequential read one per 2 MiB (hop cost under 1% of the copy), while a file read a few
//! bytes at a time never reads more than 64 KiB ahead. Writes to a file are gathered until
//! 64 KiB are buffered (one hop per 64 KiB of small writes), then written by a job while the
//! caller goes on (write-behind, as tokio does); a single `poll_write` takes at most 2 MiB.
//! stdout and stderr start a job at every write instead, so output shows without a flush.
//!
//! Errors: a failed write keeps the bytes it did not write and its error, which the next
//! `poll_write`/`poll_flush` returns; the flush after that tries those bytes again (as
//! `std::io::BufWriter` does: nothing is silently dropped, unlike tokio#6325).

use std::future::Future;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use super::{BlockingHandle, spawn_blocking};

/// The least a read job fetches, and the write-behind threshold of files.
pub(crate) const MIN_CHUNK: usize = 64 * 1024;
/// The most one job reads or writes.
pub(crate) const MAX_CHUNK: usize = 2 * 1024 * 1024;

/// The blocking object behind an [`Unblock`]; each call runs on a pool thread.
pub(crate) trait Inner: Send + Sync + 'static {
    /// Buffered bytes that start a write job (1: every write starts one).
    const WRITE_BEHIND: usize;
    /// Whether `flush` does anything (stdout's line buffer), so `poll_flush` must run it.
    const FLUSHES: bool;
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write(&self, buf: &[u8]) -> io::Result<usize>;
    fn seek(&self, pos: SeekFrom) -> io::Result<u64>;
    fn flush(&self) -> io::Result<()>;
}

impl Inner for std::fs::File {
    const WRITE_BEHIND: usize = MIN_CHUNK;
    const FLUSHES: bool = false;
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &*self, buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut &*self, buf)
    }
    fn seek(&self, pos: SeekFrom) -> io::Result<u64> {
        io::Seek::seek(&mut &*self, pos)
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
}

struct Buf {
    /// Zero-initialised once (`vec![0; n]`, which for large sizes is lazily zeroed memory from
    /// the kernel), then reused: `data.len()` is the capacity in use.
    data: Vec<u8>,
    pos: usize,
    end: usize,
    /// `data[pos..end]` is write-behind (else read-ahead).
    writing: bool,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            data: Vec::new(),
            pos: 0,
            end: 0,
            writing: false,
        }
    }

    fn len(&self) -> usize {
        self.end - self.pos
    }

    fn clear(&mut self) {
        self.pos = 0;
        self.end = 0;
        self.writing = false;
    }

    /// Makes room for `n` bytes from `end` on.
    fn room(&mut self, n: usize) {
        let need = self.end + n;
        if self.data.len() >= need {
            return;
        }
        let size = need
            .next_power_of_two()
            .clamp(MIN_CHUNK, MAX_CHUNK)
            .max(need);
        if self.len() == 0 {
            self.data = vec![0; size];
        } else {
            self.data.resize(size, 0);
        }
    }
}

/// What a job did; the buffer it hands back is already updated.
enum Op {
    Read(io::Result<usize>),
    Write(io::Result<()>),
    Seek(io::Result<u64>),
    Flush(io::Result<()>),
}

pub(crate) struct Unblock<T: Inner> {
    inner: Arc<T>,
    /// `None` while a job has it.
    buf: Option<Buf>,
    busy: Option<BlockingHandle<(Buf, Op)>>,
    /// The result of the job completed last, for the caller that started it.
    last: Option<Op>,
    /// A write that failed, for the next `poll_write`/`poll_flush` to return.
    write_err: Option<io::Error>,
    /// The seek in flight for `poll_seek` (a result is taken only by a call for the same seek).
    seeking: Option<SeekFrom>,
    /// Bytes the next read job fetches at least.
    window: usize,
    /// The last job was a read: the next one doubles `window`.
    streak: bool,
    /// Written since the last inner flush.
    unflushed: bool,
}

impl<T: Inner> Unblock<T> {
    pub(crate) fn new(inner: T) -> Unblock<T> {
        Unblock {
            inner: Arc::new(inner),
            buf: Some(Buf::new()),
            busy: None,
            last: None,
            write_err: None,
            seeking: None,
            window: MIN_CHUNK,
            streak: false,
            unflushed: false,
        }
    }

    pub(crate) fn inner(&self) -> &Arc<T> {
        &self.inner
    }

    /// Waits for the job in flight, if any, and takes its buffer and result back.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(busy) = self.busy.as_mut() else {
            return Poll::Ready(());
        };
        let done = ready!(Pin::new(busy).poll(cx));
        self.busy = None;
        match done {
            Ok((buf, op)) => {
                self.buf = Some(buf);
                match op {
                    Op::Write(Err(e)) => self.write_err = Some(e),
                    Op::Write(Ok(())) => self.unflushed = true,
                    Op::Flush(Ok(())) => {
                        self.unflushed = false;
                        self.last = Some(op);
                    }
                    op => self.last = Some(op),
                }
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {
                // The pool could not start a thread, so the job (and any write-behind in its
                // buffer) never ran: say so at the next write or flush.
                self.buf = Some(Buf::new());
                self.write_err = Some(io::Error::other(
                    "geode: the blocking pool could not start a thread; buffered data was lost",
                ));
            }
        }
        Poll::Ready(())
    }

    fn buf(&mut self) -> &mut Buf {
        self.buf
            .as_mut()
            .expect("geode: no job in flight, so the buffer is home")
    }

    fn start(&mut self, job: impl FnOnce(&T, &mut Buf) -> Op + Send + 'static) {
        let mut buf = self.buf.take().expect("geode: one job at a time");
        let inner = self.inner.clone();
        self.busy = Some(spawn_blocking(move || {
            let op = job(&inner, &mut buf);
            (buf, op)
        }));
    }

    fn start_read(&mut self, want: usize) {
        if self.streak {
            self.window = (self.window * 2).min(MAX_CHUNK);
        }
        self.streak = true;
        let want = want.clamp(self.window, MAX_CHUNK);
        self.start(move |inner, buf| {
            buf.clear();
            buf.room(want);
            loop {
                match inner.read(&mut buf.data[..want]) {
                    Ok(n) => {
                        buf.end = n;
                        return Op::Read(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Op::Read(Err(e)),
                }
            }
        });
    }

    fn start_write(&mut self) {
        self.streak = false;
        self.window = MIN_CHUNK;
        self.start(|inner, buf| {
            while buf.pos < buf.end {
                match inner.write(&buf.data[buf.pos..buf.end]) {
                    Ok(0) => {
                        return Op::Write(Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "failed to write the buffered data",
                        )));
                    }
                    Ok(n) => buf.pos += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Op::Write(Err(e)),
                }
            }
            buf.clear();
            Op::Write(Ok(()))
        });
    }

    fn start_seek(&mut self, pos: SeekFrom) {
        self.streak = false;
        self.window = MIN_CHUNK;
        self.start(move |inner, buf| {
            buf.clear();
            Op::Seek(inner.seek(pos))
        });
    }

    fn start_flush(&mut self) {
        self.start(|inner, _| Op::Flush(inner.flush()));
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.poll_idle(cx));
            self.seeking = None;
            match self.last.take() {
                Some(Op::Read(Err(e))) => return Poll::Ready(Err(e)),
                Some(Op::Read(Ok(0))) => return Poll::Ready(Ok(0)),
                _ => {}
            }
            let buf = self.buf();
            if !buf.writing && buf.len() > 0 {
                let n = buf.len().min(dst.len());
                dst[..n].copy_from_slice(&buf.data[buf.pos..buf.pos + n]);
                buf.pos += n;
                return Poll::Ready(Ok(n));
            }
            if dst.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if buf.writing && buf.len() > 0 {
                self.start_write();
                continue;
            }
            if let Some(e) = self.write_err.take() {
                return Poll::Ready(Err(e));
            }
            self.start_read(dst.len());
        }
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.poll_idle(cx));
            self.seeking = None;
            if let Some(Op::Seek(Err(e))) = self.last.take() {
                return Poll::Ready(Err(e));
            }
            if let Some(e) = self.write_err.take() {
                return Poll::Ready(Err(e));
            }
            let buf = self.buf();
            if !buf.writing && buf.len() > 0 {
                // Read-ahead moved the cursor past what the caller has seen: move it back.
                let back = buf.len() as i64;
                self.start_seek(SeekFrom::Current(-back));
                continue;
            }
            if src.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if !buf.writing || buf.len() == 0 {
                buf.clear();
                buf.writing = true;
            }
            if buf.end >= MAX_CHUNK {
                self.start_write();
                continue;
            }
            let n = src.len().min(MAX_CHUNK - buf.end);
            buf.room(n);
            buf.data[buf.end..buf.end + n].copy_from_slice(&src[..n]);
            buf.end += n;
            if buf.len() >= T::WRITE_BEHIND {
                self.start_write();
            }
            return Poll::Ready(Ok(n));
        }
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_idle(cx));
            self.seeking = None;
            let last = self.last.take();
            if let Some(e) = self.write_err.take() {
                return Poll::Ready(Err(e));
            }
            let buf = self.buf();
            if buf.writing && buf.len() > 0 {
                self.start_write();
                continue;
            }
            if let Some(Op::Flush(result)) = last {
                return Poll::Ready(result);
            }
            if T::FLUSHES && self.unflushed {
                self.start_flush();
                continue;
            }
            return Poll::Ready(Ok(()));
        }
    }

    pub(crate) fn poll_seek(
        &mut self,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        loop {
            ready!(self.poll_idle(cx));
            let last = self.last.take();
            if self.seeking.take() == Some(pos) {
                if let Some(Op::Seek(result)) = last {
                    return Poll::Ready(result);
                }
            }
            if let Some(e) = self.write_err.take() {
                return Poll::Ready(Err(e));
            }
            let buf = self.buf();
            if buf.writing && buf.len() > 0 {
                self.start_write();
                continue;
            }
            // The cursor is past the read-ahead; the caller's position is before it.
            let ahead = if buf.writing { 0 } else { buf.len() as i64 };
            let target = match pos {
                SeekFrom::Current(n) => SeekFrom::Current(n.saturating_sub(ahead)),
                other => other,
            };
            self.start_seek(target);
            self.seeking = Some(pos);
        }
    }

    /// Writes out the write-behind and moves the cursor back over the read-ahead, so the inner
    /// object is exactly where the caller's reads and writes left it.
    pub(crate) fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_idle(cx));
            self.seeking = None;
            if let Some(Op::Seek(Err(e)) | Op::Flush(Err(e))) = self.last.take() {
                return Poll::Ready(Err(e));
            }
            if let Some(e) = self.write_err.take() {
                return Poll::Ready(Err(e));
            }
            let buf = self.buf();
            if buf.len() > 0 {
                if buf.writing {
                    self.start_write();
                } else {
                    let back = buf.len() as i64;
                    self.start_seek(SeekFrom::Current(-back));
                }
                continue;
            }
            if T::FLUSHES && self.unflushed {
                self.start_flush();
                continue;
            }
            return Poll::Ready(Ok(()));
        }
    }
}

impl<T: Inner> Drop for Unblock<T> {
    /// A job in flight runs to the end (its handle is detached). Write-behind not yet handed to
    /// a job is written by a detached job now: the bytes reach the file a little after the
    /// drop, and an error in that write is lost. Only `flush` says they are written.
    fn drop(&mut self) {
        if let Some(mut buf) = self.buf.take() {
            if buf.writing && buf.len() > 0 {
                let inner = self.inner.clone();
                drop(spawn_blocking(move || {
                    while buf.pos < buf.end {
                        match inner.write(&buf.data[buf.pos..buf.end]) {
                            Ok(0) => break,
                            Ok(n) => buf.pos += n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                    if T::FLUSHES {
                        let _ = inner.flush();
                    }
                }));
            }
        }
    }
}

impl<T: Inner> std::fmt::Debug for Unblock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unblock")
            .field("busy", &self.busy.is_some())
            .finish_non_exhaustive()
    }
}

/// Implements `futures_io::AsyncRead` and `tokio::io::AsyncRead` (each under its feature) for
/// a type whose `io` field is an [`Unblock`], as its `poll_read`.
macro_rules! read_traits {
    ($t:ty) => {
        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().io.poll_read(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let n =
                    std::task::ready!(self.get_mut().io.poll_read(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }
    };
}
pub(crate) use read_traits;

/// Implements `futures_io::AsyncWrite` and `tokio::io::AsyncWrite` (each under its feature)
/// for a type whose `io` field is an [`Unblock`]: its `poll_write` and `poll_flush`, and
/// closing (`poll_close`, `poll_shutdown`) is a flush, as there is nothing else to shut down
/// (the fd stays open until the value is dropped).
macro_rules! write_traits {
    ($t:ty) => {
        crate::blocking::unblock::write_traits!(@impl $t, "futures-io", futures_io::AsyncWrite, poll_close);
        crate::blocking::unblock::write_traits!(@impl $t, "tokio-io", tokio::io::AsyncWrite, poll_shutdown);
    };
    (@impl $t:ty, $feature:literal, $trait:path, $close:ident) => {
        #[cfg(feature = $feature)]
        impl $trait for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().io.poll_write(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.get_mut().io.poll_flush(cx)
            }

            fn $close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.get_mut().io.poll_flush(cx)
            }
        }
    };
}
pub(crate) use write_traits;
