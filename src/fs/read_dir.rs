//! `read_dir`: a directory's entries, fetched from the pool in batches.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::future::{Future, poll_fn};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use super::{FileType, Metadata};
use crate::blocking::{BlockingHandle, asyncify, spawn_blocking};

/// Entries fetched per pool job (each is one `getdents` worth at most, usually less).
const BATCH: usize = 32;

/// Opens the directory `path` to list its entries: [`std::fs::read_dir`] on the blocking pool.
///
/// # Errors
/// `NotFound`, `NotADirectory`, `PermissionDenied`: std's errors.
///
/// # Examples
/// ```
/// geode::block_on(async {
///     let mut names = Vec::new();
///     let mut entries = geode::fs::read_dir("/proc/self").await?;
///     while let Some(entry) = entries.next_entry().await? {
///         names.push(entry.file_name());
///     }
///     assert!(names.iter().any(|n| n == "status"));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let inner = asyncify(move || std::fs::read_dir(path)).await?;
    Ok(ReadDir {
        state: State::Idle(Some(inner)),
        ready: VecDeque::new(),
    })
}

/// The entries of a directory, from [`read_dir`]: [`next_entry`](Self::next_entry), or a
/// `futures_core::Stream` of `io::Result<DirEntry>`.
///
/// Entries come from the pool in batches of 32, so a large directory costs
/// one pool hop per 32 entries. Like std's, the order is the file system's, and `.` and `..`
/// are not listed.
///
/// # Examples
/// ```
/// use futures_util::StreamExt;
///
/// geode::block_on(async {
///     let entries: Vec<_> = geode::fs::read_dir("/proc/self/fd").await?.collect().await;
///     assert!(entries.len() >= 3); // stdin, stdout, stderr at least
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ReadDir {
    state: State,
    ready: VecDeque<io::Result<DirEntry>>,
}

#[derive(Debug)]
enum State {
    /// `None` once the listing has ended.
    Idle(Option<std::fs::ReadDir>),
    Busy(BlockingHandle<Batch>),
}

type Batch = (VecDeque<io::Result<DirEntry>>, Option<std::fs::ReadDir>);

impl ReadDir {
    /// The next entry, or `None` once every entry has been returned.
    ///
    /// # Errors
    /// An error reading the directory (std's `ReadDir` yields it as an item; here it is the
    /// `Err` of this call, and the listing may go on after it).
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// The poll form of [`next_entry`](Self::next_entry).
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Poll::Ready(item.map(Some));
            }
            match &mut self.state {
                State::Idle(None) => return Poll::Ready(Ok(None)),
                State::Idle(inner) => {
                    let mut inner = inner.take().expect("checked just above");
                    self.state = State::Busy(spawn_blocking(move || {
                        let batch: VecDeque<_> = inner
                            .by_ref()
                            .take(BATCH)
                            .map(|e| e.map(|e| DirEntry(Arc::new(e))))
                            .collect();
                        let more = batch.len() == BATCH;
                        (batch, more.then_some(inner))
                    }));
                }
                State::Busy(handle) => {
                    let done = ready!(Pin::new(handle).poll(cx));
                    let (batch, inner) = match done {
                        Ok(done) => done,
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        Err(e) => (VecDeque::from([Err(io::Error::other(e))]), None),
                    };
                    self.ready = batch;
                    self.state = State::Idle(inner);
                }
            }
        }
    }
}

impl futures_core::Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_entry(cx).map(Result::transpose)
    }
}

/// One entry of a directory listed by [`read_dir`].
///
/// # Examples
/// ```
/// geode::block_on(async {
///     let mut entries = geode::fs::read_dir("/").await?;
///     let entry = entries.next_entry().await?.expect("/ is not empty");
///     assert_eq!(entry.path(), std::path::Path::new("/").join(entry.file_name()));
///     let _kind = entry.file_type().await?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DirEntry(Arc<std::fs::DirEntry>);

impl DirEntry {
    /// The full path: the directory given to [`read_dir`] joined with the entry's name.
    pub fn path(&self) -> PathBuf {
        self.0.path()
    }

    /// The entry's name, without the directory.
    pub fn file_name(&self) -> OsString {
        self.0.file_name()
    }

    /// The entry's inode number (no syscall).
    pub fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&*self.0)
    }

    /// Metadata of the entry, not following a symlink, on the blocking pool.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let entry = self.0.clone();
        asyncify(move || entry.metadata()).await
    }

    /// The entry's type, not following a symlink, on the blocking pool (usually known from
    /// the listing; some file systems need an `lstat`).
    pub async fn file_type(&self) -> io::Result<FileType> {
        let entry = self.0.clone();
        asyncify(move || entry.file_type()).await
    }
}
