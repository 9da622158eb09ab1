//! Files and directories without blocking the thread: `std::fs` with each call run on the
//! blocking pool ([`spawn_blocking`](crate::spawn_blocking)).
//!
//! epoll cannot watch a regular file (it is always "ready", and a read of a cold page blocks
//! anyway), so geode does file I/O on pool threads, as tokio and smol do. Each free function
//! here is one pool job; [`File`] buffers so that small reads and writes do not each pay for
//! one (see its docs for the sizes and what `flush` and drop do).
//!
//! Errors are std's, unchanged: `NotFound`, `PermissionDenied`, `IsADirectory`, the raw errno
//! intact; a path with a NUL byte is `InvalidInput`.
//!
//! # Examples
//! ```
//! geode::block_on(async {
//!     let dir = std::env::temp_dir().join(format!("geode-fs-doc-{}", std::process::id()));
//!     geode::fs::create_dir_all(&dir).await?;
//!     let path = dir.join("greeting.txt");
//!     geode::fs::write(&path, "hello").await?;
//!     assert_eq!(geode::fs::read_to_string(&path).await?, "hello");
//!     let err = geode::fs::read(dir.join("missing")).await.unwrap_err();
//!     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
//!     geode::fs::remove_dir_all(&dir).await
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod file;
mod read_dir;

pub use file::{File, OpenOptions};
pub use read_dir::{DirEntry, ReadDir, read_dir};
pub use std::fs::{FileType, Metadata, Permissions};

use std::io;
use std::path::{Path, PathBuf};

use crate::blocking::asyncify;

/// Reads the whole file at `path`: [`std::fs::read`] on the blocking pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let bytes = geode::fs::read("/proc/self/stat").await?;
/// assert!(!bytes.is_empty());
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read(path)).await
}

/// Reads the whole file at `path` as UTF-8: [`std::fs::read_to_string`] on the blocking pool.
///
/// # Errors
/// `InvalidData` if the file is not UTF-8, and the errors of [`read`].
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let status = geode::fs::read_to_string("/proc/self/status").await?;
/// assert!(status.contains("Pid:"));
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_to_string(path)).await
}

/// Creates or truncates the file at `path` and writes `contents` to it: [`std::fs::write`] on
/// the blocking pool. When it returns `Ok`, the bytes are in the file (not necessarily on the
/// disk: see [`File::sync_all`]).
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let path = std::env::temp_dir().join(format!("geode-write-doc-{}", std::process::id()));
/// geode::fs::write(&path, b"42").await?;
/// assert_eq!(std::fs::read(&path)?, b"42");
/// geode::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_owned();
    asyncify(move || std::fs::write(path, contents)).await
}

/// Metadata of `path`, following symlinks: [`std::fs::metadata`] on the blocking pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// assert!(geode::fs::metadata("/").await?.is_dir());
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::metadata(path)).await
}

/// Metadata of `path` itself, not following a symlink: [`std::fs::symlink_metadata`] on the
/// blocking pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// assert!(geode::fs::symlink_metadata("/proc/self").await?.file_type().is_symlink());
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::symlink_metadata(path)).await
}

/// Creates the directory `path`: [`std::fs::create_dir`] on the blocking pool.
///
/// # Errors
/// `AlreadyExists` if it exists, `NotFound` if its parent does not.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let dir = std::env::temp_dir().join(format!("geode-mkdir-doc-{}", std::process::id()));
/// geode::fs::create_dir(&dir).await?;
/// let again = geode::fs::create_dir(&dir).await.unwrap_err();
/// assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
/// geode::fs::remove_dir(&dir).await?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir(path)).await
}

/// Creates `path` and any missing parents: [`std::fs::create_dir_all`] on the blocking pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let top = std::env::temp_dir().join(format!("geode-mkdirs-doc-{}", std::process::id()));
/// geode::fs::create_dir_all(top.join("a/b")).await?;
/// assert!(geode::fs::metadata(top.join("a/b")).await?.is_dir());
/// geode::fs::remove_dir_all(&top).await?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir_all(path)).await
}

/// Removes the file (or symlink) at `path`: [`std::fs::remove_file`] on the blocking pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let err = geode::fs::remove_file("/nonexistent/geode").await.unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_file(path)).await
}

/// Removes the empty directory `path`: [`std::fs::remove_dir`] on the blocking pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let dir = std::env::temp_dir().join(format!("geode-rmdir-doc-{}", std::process::id()));
/// geode::fs::create_dir(&dir).await?;
/// geode::fs::remove_dir(&dir).await?;
/// assert!(geode::fs::metadata(&dir).await.is_err());
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_dir(path)).await
}

/// Removes `path` and everything under it: [`std::fs::remove_dir_all`] on the blocking pool
/// (one job for the whole tree).
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let top = std::env::temp_dir().join(format!("geode-rmtree-doc-{}", std::process::id()));
/// geode::fs::create_dir_all(top.join("x")).await?;
/// geode::fs::write(top.join("x/f"), "f").await?;
/// geode::fs::remove_dir_all(&top).await?;
/// assert!(geode::fs::metadata(&top).await.is_err());
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_dir_all(path)).await
}

/// Renames `from` to `to`, replacing `to` if it is a file: [`std::fs::rename`] on the blocking
/// pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join(format!("geode-mv-a-{}", std::process::id())), dir.join(format!("geode-mv-b-{}", std::process::id())));
/// geode::fs::write(&a, "x").await?;
/// geode::fs::rename(&a, &b).await?;
/// assert_eq!(geode::fs::read(&b).await?, b"x");
/// geode::fs::remove_file(&b).await?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    asyncify(move || std::fs::rename(from, to)).await
}

/// Copies the contents and permissions of the file `from` to `to`, returning the bytes
/// copied: [`std::fs::copy`] on the blocking pool (one job for the whole file).
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join(format!("geode-cp-a-{}", std::process::id())), dir.join(format!("geode-cp-b-{}", std::process::id())));
/// geode::fs::write(&a, "copy me").await?;
/// assert_eq!(geode::fs::copy(&a, &b).await?, 7);
/// assert_eq!(geode::fs::read(&b).await?, b"copy me");
/// geode::fs::remove_file(&a).await?;
/// geode::fs::remove_file(&b).await?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    asyncify(move || std::fs::copy(from, to)).await
}

/// Makes `link` a new name (hard link) for the file `original`: [`std::fs::hard_link`] on the
/// blocking pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join(format!("geode-ln-a-{}", std::process::id())), dir.join(format!("geode-ln-b-{}", std::process::id())));
/// geode::fs::write(&a, "same").await?;
/// geode::fs::hard_link(&a, &b).await?;
/// assert_eq!(geode::fs::read(&b).await?, b"same");
/// geode::fs::remove_file(&a).await?;
/// geode::fs::remove_file(&b).await?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (original.as_ref().to_owned(), link.as_ref().to_owned());
    asyncify(move || std::fs::hard_link(original, link)).await
}

/// The absolute path of `path` with every symlink, `.` and `..` resolved:
/// [`std::fs::canonicalize`] on the blocking pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// assert_eq!(geode::fs::canonicalize("/proc/../proc/self/..").await?, std::path::Path::new("/proc"));
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::canonicalize(path)).await
}

/// The target of the symlink `path`: [`std::fs::read_link`] on the blocking pool.
///
/// # Examples
/// ```
/// # geode::block_on(async {
/// let me = geode::fs::read_link("/proc/self").await?;
/// assert_eq!(me, std::path::Path::new(&std::process::id().to_string()));
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_link(path)).await
}

/// Sets the permissions of `path`: [`std::fs::set_permissions`] on the blocking pool.
///
/// # Examples
/// ```
/// use std::os::unix::fs::PermissionsExt;
/// # geode::block_on(async {
/// let path = std::env::temp_dir().join(format!("geode-chmod-doc-{}", std::process::id()));
/// geode::fs::write(&path, "").await?;
/// geode::fs::set_permissions(&path, geode::fs::Permissions::from_mode(0o600)).await?;
/// assert_eq!(geode::fs::metadata(&path).await?.permissions().mode() & 0o777, 0o600);
/// geode::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(()) })?; Ok::<(), std::io::Error>(())
/// ```
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::set_permissions(path, perm)).await
}
