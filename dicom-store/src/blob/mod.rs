//! Where instance bytes live: the [`BlobStore`] trait and its implementations.
//!
//! Keys are opaque strings chosen by the store (`ab/cd/<32 hex digits>`), so the
//! same key works as a relative file path and as an S3 object name. An instance
//! is written to a local *staged* file first (streamed, hashed, fsynced) and
//! then handed to [`BlobStore::put_file`], which makes it durable under its
//! key: a rename on a file system, an upload to object storage. A small C-STORE
//! instance held in memory goes to local files directly
//! ([`BlobStore::write_bytes_blocking`]), into a file reserved with its key.
//!
//! - [`fs`]: files under a root directory (the default, zero set-up).
//! - [`s3`]: objects in an S3-compatible bucket, for several nodes.

pub mod fs;
pub mod s3;

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::io::AsyncRead;

pub use fs::FsBlobStore;
pub use s3::{S3BlobStore, S3Config};

/// A stream of a blob's bytes.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// A blob written but maybe not yet on disk: it is durable once
/// [`finish`](Self::finish) returns `Ok`.
#[derive(Debug)]
#[must_use = "a blob is not durable until its flush has finished"]
pub struct PendingFlush(Option<std::fs::File>);

impl PendingFlush {
    /// Nothing left to flush.
    pub fn done() -> Self {
        Self(None)
    }

    /// The file's data (and its size) still to flush; its directory entry
    /// must be durable already.
    pub fn data_of(file: std::fs::File) -> Self {
        Self(Some(file))
    }

    /// Whether there is nothing left to flush.
    pub fn is_done(&self) -> bool {
        self.0.is_none()
    }

    /// Flushes. Blocking.
    pub fn finish(self) -> io::Result<()> {
        match self.0 {
            Some(file) => file.sync_data(),
            None => Ok(()),
        }
    }
}

/// Storage of instance bytes under string keys.
///
/// Object-safe (`Arc<dyn BlobStore>`), so the server can choose the backend
/// from configuration and tests can substitute one.
pub trait BlobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Makes the staged local file `staged` the blob `key`, durably: when the
    /// future resolves `Ok`, the blob survives a crash or power loss. The staged
    /// file is consumed (moved or deleted). On local files `staged` becomes the
    /// blob and must already be fsynced; a remote store only reads it.
    fn put_file<'a>(&'a self, key: &'a str, staged: &'a Path) -> BoxFuture<'a, io::Result<()>>;

    /// Whether [`put_file_blocking`](Self::put_file_blocking) is available:
    /// the blobs are local files and a put is a rename plus a directory fsync,
    /// cheap enough that ingest does it on the blocking thread that already
    /// checked the file, before the index has judged duplicates.
    fn puts_blocking(&self) -> bool {
        false
    }

    /// As [`put_file`](Self::put_file), as one blocking call; only called when
    /// [`puts_blocking`](Self::puts_blocking) is true.
    fn put_file_blocking(&self, key: &str, staged: &Path) -> io::Result<()> {
        let _ = (key, staged);
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Prepares fresh keys (all in one shard, not yet named by any index
    /// row) for puts to come; only called when
    /// [`puts_blocking`](Self::puts_blocking) is true. Local files create
    /// them empty and fsync their directory once for the whole batch, so
    /// that [`write_bytes_blocking`](Self::write_bytes_blocking) then costs one
    /// write and one `fdatasync` and no directory entry has to be made
    /// durable per instance.
    fn reserve_blocking(&self, keys: &[String]) -> io::Result<()> {
        let _ = keys;
        Ok(())
    }

    /// Writes `bytes` as the blob `key`, visible to readers at once and
    /// durable once the returned [`PendingFlush`] has finished, so the caller
    /// can flush while it does other work (commit the index row). Only
    /// called when [`puts_blocking`](Self::puts_blocking) is true.
    fn write_bytes_blocking(&self, key: &str, bytes: &[u8]) -> io::Result<PendingFlush> {
        let _ = (key, bytes);
        Err(io::ErrorKind::Unsupported.into())
    }

    /// Makes `bytes` the blob `key`, durably, as
    /// [`put_file`](Self::put_file) does for a staged file: a small instance
    /// held in memory goes to a remote store without a staging file written,
    /// flushed and read back. Only called when
    /// [`puts_blocking`](Self::puts_blocking) is false (local files take
    /// [`write_bytes_blocking`](Self::write_bytes_blocking)).
    fn put_bytes<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, io::Result<()>> {
        let _ = (key, bytes);
        Box::pin(std::future::ready(Err(io::ErrorKind::Unsupported.into())))
    }

    /// Opens the blob for reading. A missing blob is `ErrorKind::NotFound`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<BlobReader>>;

    /// Deletes the blob. Deleting a missing blob succeeds, so recovery can
    /// repeat a deletion that a crash interrupted.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>>;

    /// Whether the blob exists.
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<bool>>;

    /// The blob's path on a local file system, when the backend has one, so a
    /// reader that needs `Seek` (a DICOM parser, `sendfile`) can open it directly.
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        let _ = key;
        None
    }

    /// Blobs one after the other in one buffer, each after its own `before`
    /// bytes and followed by `after`, each with the size it must have: a run
    /// of small instances as one frame of a multipart answer, with no copy
    /// beyond the read. Local files are read in one blocking call for all of
    /// them, other blobs [`REMOTE_READS_AT_ONCE`] at once. A retrieval of many small instances
    /// is otherwise bound by one trip to the blocking pool per file.
    fn read_joined<'a>(
        &'a self,
        parts: Vec<(Vec<u8>, String, usize)>,
        after: &'static [u8],
    ) -> BoxFuture<'a, io::Result<Vec<u8>>> {
        use futures_util::{FutureExt, StreamExt, TryStreamExt};
        async move {
            let total = parts
                .iter()
                .map(|(before, _, size)| before.len() + size + after.len())
                .sum();
            let mut joined = Vec::with_capacity(total);
            let paths: Option<Vec<PathBuf>> = parts
                .iter()
                .map(|(_, key, _)| self.local_path(key))
                .collect();
            if let Some(paths) = paths {
                return tokio::task::spawn_blocking(move || {
                    use std::io::Read;
                    for ((before, _, size), path) in parts.iter().zip(paths) {
                        joined.extend_from_slice(before);
                        let read = std::fs::File::open(path)?.read_to_end(&mut joined)?;
                        if read != *size {
                            return Err(sized_otherwise(read, *size));
                        }
                        joined.extend_from_slice(after);
                    }
                    Ok(joined)
                })
                .await
                .map_err(io::Error::other)?;
            }
            let reads: Vec<_> = parts
                .iter()
                .map(|(_, key, size)| self.read(key, *size))
                .collect();
            let read: Vec<Vec<u8>> = futures_util::stream::iter(reads)
                .buffered(REMOTE_READS_AT_ONCE)
                .try_collect()
                .await?;
            for ((before, _, size), data) in parts.iter().zip(read) {
                if data.len() != *size {
                    return Err(sized_otherwise(data.len(), *size));
                }
                joined.extend_from_slice(before);
                joined.extend_from_slice(&data);
                joined.extend_from_slice(after);
            }
            Ok(joined)
        }
        .boxed()
    }

    /// The whole blob in memory; `size_hint` is its expected size. Local files
    /// are read in one blocking call rather than chunk by chunk through the
    /// async runtime.
    fn read<'a>(&'a self, key: &'a str, size_hint: usize) -> BoxFuture<'a, io::Result<Vec<u8>>> {
        use futures_util::FutureExt;
        use tokio::io::AsyncReadExt;
        async move {
            if let Some(path) = self.local_path(key) {
                return tokio::task::spawn_blocking(move || std::fs::read(path))
                    .await
                    .map_err(io::Error::other)?;
            }
            let mut data = Vec::with_capacity(size_hint);
            self.get(key).await?.read_to_end(&mut data).await?;
            Ok(data)
        }
        .boxed()
    }
}

/// Reads of remote blobs (object storage) one [`BlobStore::read_joined`]
/// keeps in flight. A GET from object storage waits for its first byte far
/// longer than it takes to carry a small instance: tens of milliseconds from
/// a cloud bucket, and 40 ms from a server that sends its headers and its body
/// in two writes without TCP_NODELAY (the delayed ACK of a kept-alive
/// connection). With four in flight a whole-study retrieval from a bucket ran
/// at 13 MB/s, half of Orthanc's from its local disk.
const REMOTE_READS_AT_ONCE: usize = 16;

/// A blob whose size is not the one recorded for it.
fn sized_otherwise(read: usize, expected: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a blob held {read} bytes where {expected} were recorded"),
    )
}
