//! `File` and `OpenOptions`: a `std::fs::File` driven through the blocking pool, buffered.

use std::future::poll_fn;
use std::io::{self, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;
use std::sync::Arc;

use super::Metadata;
use crate::blocking::asyncify;
use crate::blocking::unblock::{self, Unblock};

/// An open file whose reads, writes and seeks run on the blocking pool.
///
/// It implements `futures_io::AsyncRead`, `AsyncWrite` and `AsyncSeek` (and tokio's
/// `AsyncRead`, `AsyncWrite` and `AsyncSeek` with the `tokio-io` feature), so
/// `futures_util::io::AsyncReadExt` and friends work on it.
///
/// # Buffering
///
/// A pool hop costs some 10-30 us, as much as copying 100-300 KiB from the page cache, so one
/// hop per small read or write would be ruinous. A read fetches at least 64 KiB, then, while
/// reads stay sequential, twice as much per refill up to 2 MiB (tokio's chunk size), and later
/// reads are served from that buffer; a seek or a write starts again at 64 KiB. The position
/// reported by seeks is the caller's, not the read-ahead's. Writes are gathered until 64 KiB
/// are buffered, then written by a pool job while the caller goes on ("write-behind", as
/// tokio's `File` does); a single write takes at most 2 MiB.
///
/// # Flush, errors and drop
///
/// After [`flush`](Self::flush) (or the trait's `poll_flush`) returns `Ok`, every byte written so far
/// is in the file (in the kernel's page cache; [`sync_all`](Self::sync_all) gets it to the
/// disk). A write that fails is reported by the next write or flush, and the bytes it could not
/// write stay buffered: the next flush tries them again (nothing is dropped silently).
///
/// Dropping a `File` without flushing does not lose the buffered bytes either, but writes them
/// from a detached pool job: they reach the file shortly *after* the drop, an error in that
/// write is lost, and a process that exits first loses them. Flush (or
/// [`into_std`](Self::into_std)) before drop when it matters.
///
/// # Examples
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt, AsyncSeekExt};
/// use std::io::SeekFrom;
///
/// geode::block_on(async {
///     let path = std::env::temp_dir().join(format!("geode-file-doc-{}", std::process::id()));
///     let mut file = geode::fs::File::options()
///         .read(true)
///         .write(true)
///         .create(true)
///         .truncate(true)
///         .open(&path)
///         .await?;
///     file.write_all(b"hello, file").await?;
///     file.flush().await?;
///     file.seek(SeekFrom::Start(7)).await?;
///     let mut tail = String::new();
///     file.read_to_string(&mut tail).await?;
///     assert_eq!(tail, "file");
///     geode::fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct File {
    io: Unblock<std::fs::File>,
    /// tokio's `start_seek` / `poll_complete` protocol.
    #[cfg(feature = "tokio-io")]
    seek_request: Option<SeekFrom>,
}

impl File {
    /// Opens `path` read-only, on the blocking pool.
    ///
    /// # Errors
    /// std's: `NotFound`, `PermissionDenied`, `InvalidInput` for a path with a NUL byte.
    ///
    /// # Examples
    /// ```
    /// geode::block_on(async {
    ///     let err = geode::fs::File::open("/no/such/file").await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// });
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        File::options().read(true).open(path).await
    }

    /// Opens `path` write-only, creating it if needed and truncating it if not, on the blocking
    /// pool.
    ///
    /// # Examples
    /// ```
    /// use futures_util::AsyncWriteExt;
    ///
    /// geode::block_on(async {
    ///     let path = std::env::temp_dir().join(format!("geode-create-doc-{}", std::process::id()));
    ///     let mut file = geode::fs::File::create(&path).await?;
    ///     file.write_all(b"data").await?;
    ///     file.flush().await?;
    ///     assert_eq!(std::fs::read(&path)?, b"data");
    ///     geode::fs::remove_file(&path).await
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Options to open a file with, as [`std::fs::OpenOptions`] (nothing set).
    ///
    /// # Examples
    /// ```
    /// # geode::block_on(async {
    /// let path = std::env::temp_dir().join(format!("geode-options-doc-{}", std::process::id()));
    /// let _file = geode::fs::File::options().append(true).create(true).open(&path).await?;
    /// geode::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps an open std file. The file's cursor is used as it is.
    ///
    /// # Examples
    /// ```
    /// let std_file = std::fs::File::open("/proc/self/stat")?;
    /// let file = geode::fs::File::from_std(std_file);
    /// # drop(file);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File {
            io: Unblock::new(file),
            #[cfg(feature = "tokio-io")]
            seek_request: None,
        }
    }

    /// The std file back, once buffered writes are written and the cursor is moved back over
    /// read-ahead (so the std file is exactly where this one's reads and writes left it).
    ///
    /// # Errors
    /// A buffered write's error (then the `File` is gone; its unwritten bytes too).
    ///
    /// # Examples
    /// ```
    /// use futures_util::AsyncReadExt;
    /// use std::io::Read;
    ///
    /// geode::block_on(async {
    ///     let mut file = geode::fs::File::open("/proc/self/cmdline").await?;
    ///     let mut first = [0; 1];
    ///     file.read_exact(&mut first).await?; // read ahead up to 64 KiB
    ///     let mut rest = Vec::new();
    ///     file.into_std().await?.read_to_end(&mut rest)?; // but the cursor is at byte 1
    ///     assert_eq!([&first[..], &rest].concat(), std::fs::read("/proc/self/cmdline")?);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn into_std(mut self) -> io::Result<std::fs::File> {
        poll_fn(|cx| self.io.poll_settle(cx)).await?;
        let inner = self.io.inner().clone();
        drop(self);
        // Only a detached job (a `metadata` future dropped midway) can still hold a clone:
        // then a dup of the fd is the same open file, cursor included.
        Arc::try_unwrap(inner).or_else(|shared| shared.try_clone())
    }

    /// Metadata of the open file (`fstat`), on the blocking pool.
    ///
    /// # Examples
    /// ```
    /// # geode::block_on(async {
    /// let file = geode::fs::File::open("/").await?;
    /// assert!(file.metadata().await?.is_dir());
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let inner = self.io.inner().clone();
        asyncify(move || inner.metadata()).await
    }

    /// Truncates or extends the file to `size` bytes, after writing out buffered writes. The
    /// cursor stays where it is.
    ///
    /// Takes `&mut self` where tokio's takes `&self`: geode's `File` has no lock inside.
    ///
    /// # Examples
    /// ```
    /// # geode::block_on(async {
    /// let path = std::env::temp_dir().join(format!("geode-setlen-doc-{}", std::process::id()));
    /// let mut file = geode::fs::File::create(&path).await?;
    /// file.set_len(10).await?;
    /// assert_eq!(file.metadata().await?.len(), 10);
    /// geode::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_settle(cx)).await?;
        let inner = self.io.inner().clone();
        asyncify(move || inner.set_len(size)).await
    }

    /// Writes out buffered writes, then `fsync`s: data and metadata reach the disk.
    ///
    /// # Examples
    /// ```
    /// use futures_util::AsyncWriteExt;
    /// # geode::block_on(async {
    /// let path = std::env::temp_dir().join(format!("geode-sync-doc-{}", std::process::id()));
    /// let mut file = geode::fs::File::create(&path).await?;
    /// file.write_all(b"durable").await?;
    /// file.sync_all().await?;
    /// assert_eq!(std::fs::read(&path)?, b"durable");
    /// geode::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn sync_all(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_settle(cx)).await?;
        let inner = self.io.inner().clone();
        asyncify(move || inner.sync_all()).await
    }

    /// Writes out buffered writes, then `fdatasync`s: the data reaches the disk (metadata only
    /// as far as needed to read it back).
    ///
    /// # Examples
    /// ```
    /// use futures_util::AsyncWriteExt;
    /// # geode::block_on(async {
    /// let path = std::env::temp_dir().join(format!("geode-datasync-doc-{}", std::process::id()));
    /// let mut file = geode::fs::File::create(&path).await?;
    /// file.write_all(b"data").await?;
    /// file.sync_data().await?;
    /// geode::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn sync_data(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_settle(cx)).await?;
        let inner = self.io.inner().clone();
        asyncify(move || inner.sync_data()).await
    }

    /// Reads into `buf`, from the read-ahead buffer or with one pool job. `Ok(0)` is EOF (or
    /// an empty `buf`). The same as `AsyncReadExt::read`, without the trait.
    ///
    /// # Examples
    /// ```
    /// # geode::block_on(async {
    /// let mut file = geode::fs::File::open("/proc/self/cmdline").await?;
    /// let mut buf = [0; 64];
    /// assert!(file.read(&mut buf).await? > 0);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_read(cx, buf)).await
    }

    /// Writes some of `buf` into the write-behind buffer, returning how much it took (all of
    /// it up to 2 MiB, unless an earlier write's error is reported instead).
    ///
    /// # Examples
    /// ```
    /// # geode::block_on(async {
    /// let path = std::env::temp_dir().join(format!("geode-write-m-doc-{}", std::process::id()));
    /// let mut file = geode::fs::File::create(&path).await?;
    /// assert_eq!(file.write(b"abc").await?, 3);
    /// file.flush().await?;
    /// geode::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_write(cx, buf)).await
    }

    /// Writes all of `buf` (into the buffer: [`flush`](Self::flush) to be sure it is in the
    /// file).
    ///
    /// # Examples
    /// ```
    /// # geode::block_on(async {
    /// let path = std::env::temp_dir().join(format!("geode-writeall-doc-{}", std::process::id()));
    /// let mut file = geode::fs::File::create(&path).await?;
    /// file.write_all(b"all of it").await?;
    /// file.flush().await?;
    /// assert_eq!(std::fs::read(&path)?, b"all of it");
    /// geode::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Waits until every byte written so far is in the file (see "Flush, errors and drop").
    ///
    /// # Examples
    /// ```
    /// # geode::block_on(async {
    /// let path = std::env::temp_dir().join(format!("geode-flush-doc-{}", std::process::id()));
    /// let mut file = geode::fs::File::create(&path).await?;
    /// file.write_all(b"buffered").await?;
    /// assert_eq!(std::fs::read(&path)?, b""); // still in the write-behind buffer
    /// file.flush().await?;
    /// assert_eq!(std::fs::read(&path)?, b"buffered");
    /// geode::fs::remove_file(&path).await?;
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_flush(cx)).await
    }

    /// Moves the cursor (after writing out buffered writes); returns the new position from
    /// the start. `SeekFrom::Current` counts from what the caller has read, not from the
    /// read-ahead.
    ///
    /// # Examples
    /// ```
    /// use std::io::SeekFrom;
    /// # geode::block_on(async {
    /// let mut file = geode::fs::File::open("/proc/self/cmdline").await?;
    /// let mut one = [0; 1];
    /// file.read(&mut one).await?;
    /// assert_eq!(file.seek(SeekFrom::Current(0)).await?, 1);
    /// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
    /// ```
    pub async fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        poll_fn(|cx| self.io.poll_seek(cx, pos)).await
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File::from_std(file)
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.io.inner().as_raw_fd()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // The pool shares the fd but never closes it: it lives as long as `self.io`'s `Arc`.
        self.io.inner().as_fd()
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncSeek for File {
    fn poll_seek(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        pos: SeekFrom,
    ) -> std::task::Poll<io::Result<u64>> {
        self.get_mut().io.poll_seek(cx, pos)
    }
}

unblock::read_traits!(File);
unblock::write_traits!(File);

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncSeek for File {
    fn start_seek(self: std::pin::Pin<&mut Self>, pos: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        if this.seek_request.is_some() {
            return Err(io::Error::other(
                "geode: a seek is already in progress; call poll_complete before start_seek",
            ));
        }
        this.seek_request = Some(pos);
        Ok(())
    }

    fn poll_complete(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<u64>> {
        let this = self.get_mut();
        let pos = this.seek_request.unwrap_or(SeekFrom::Current(0));
        let done = std::task::ready!(this.io.poll_seek(cx, pos));
        this.seek_request = None;
        std::task::Poll::Ready(done)
    }
}

/// How to open a file: [`std::fs::OpenOptions`] with an async [`open`](Self::open).
///
/// # Examples
/// ```
/// use geode::fs::OpenOptions;
///
/// geode::block_on(async {
///     let path = std::env::temp_dir().join(format!("geode-openopts-doc-{}", std::process::id()));
///     let _file = OpenOptions::new().write(true).create_new(true).open(&path).await?;
///     let again = OpenOptions::new().write(true).create_new(true).open(&path).await;
///     assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
///     geode::fs::remove_file(&path).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions(std::fs::OpenOptions);

/// The `bool` options: each sets std's option of that name.
macro_rules! bool_options {
    ($($(#[$doc:meta])* $name:ident,)*) => {$(
        $(#[$doc])*
        pub fn $name(&mut self, $name: bool) -> &mut OpenOptions {
            self.0.$name($name);
            self
        }
    )*};
}

impl OpenOptions {
    /// No access, nothing created: set what you need.
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    bool_options! {
        /// Open for reading.
        read,
        /// Open for writing.
        write,
        /// Every write goes to the end of the file (implies write access).
        append,
        /// Cut the file to length 0 when opening it (needs write access).
        truncate,
        /// Create the file if it does not exist (needs write or append access).
        create,
        /// Create the file, failing with `AlreadyExists` if it exists (atomically).
        create_new,
    }

    /// The permission bits of a created file (before the umask), as
    /// `std::os::unix::fs::OpenOptionsExt::mode`.
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.0, mode);
        self
    }

    /// Extra `open(2)` flags, as `std::os::unix::fs::OpenOptionsExt::custom_flags`.
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut self.0, flags);
        self
    }

    /// Opens `path` with these options, on the blocking pool.
    ///
    /// # Errors
    /// std's: `NotFound`, `PermissionDenied`, `AlreadyExists` (`create_new`), `InvalidInput`
    /// (no access mode set, or a NUL byte in the path), `IsADirectory` for a directory opened
    /// for writing.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let options = self.0.clone();
        let path = path.as_ref().to_owned();
        let file = asyncify(move || options.open(path)).await?;
        Ok(File::from_std(file))
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl From<std::fs::OpenOptions> for OpenOptions {
    fn from(options: std::fs::OpenOptions) -> OpenOptions {
        OpenOptions(options)
    }
}
