//! [`FsBlobStore`]: blobs as files under one root directory.
//!
//! A key `ab/cd/<hex>` is the file `<root>/ab/cd/<hex>`. Two levels of 256
//! shards keep directories small without pre-creating 65,536 directories: a
//! shard is created the first time a key falls into it, and its parents are
//! fsynced then so the new directory entry itself is durable. Ingest hands
//! out keys in batches that share a shard, so that cost is paid once a batch.
//!
//! Durability of [`put_file`](BlobStore::put_file): the staged file was fsynced
//! by the caller; the rename makes it visible under its key; an fsync of the
//! shard directory makes the rename durable. A staged file on another file
//! system is copied, fsynced, and then removed.
//!
//! Durability of [`write_bytes_blocking`](BlobStore::write_bytes_blocking): the
//! key was reserved ([`reserve_blocking`](BlobStore::reserve_blocking)), so its
//! empty file and directory entry are already durable; the bytes are written
//! into it and `fdatasync`ed, one flush instead of three (file, rename,
//! directory).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::{BlobReader, BlobStore, PendingFlush};

/// Blobs as files under a root directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// A store rooted at `root`, which is created if missing.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a key. Keys come from the store itself, never from a
    /// request, but a key that could escape the root is still refused.
    fn path_of(&self, key: &str) -> io::Result<PathBuf> {
        let safe = !key.is_empty()
            && key.split('/').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        if !safe {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a blob key: {key:?}"),
            ));
        }
        Ok(self.root.join(key))
    }
}

/// Fsyncs a directory so that entries created or renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents below `root`, fsyncing the parent of
/// each directory it creates.
fn create_dirs_durably(root: &Path, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if parent != root && parent.starts_with(root) {
            create_dirs_durably(root, parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => sync_dir(parent)?,
            // Another writer created it first; it fsynced the parent.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn put_blocking(root: &Path, target: &Path, staged: &Path) -> io::Result<()> {
    let dir = target
        .parent()
        .ok_or_else(|| io::Error::other("a blob path has a parent"))?;
    create_dirs_durably(root, dir)?;
    match fs::rename(staged, target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let partial = target.with_extension("partial");
            fs::copy(staged, &partial)?;
            File::open(&partial)?.sync_all()?;
            fs::rename(&partial, target)?;
            fs::remove_file(staged)?;
        }
        Err(e) => return Err(e),
    }
    sync_dir(dir)
}

impl BlobStore for FsBlobStore {
    fn put_file<'a>(&'a self, key: &'a str, staged: &'a Path) -> BoxFuture<'a, io::Result<()>> {
        async move {
            let target = self.path_of(key)?;
            let root = self.root.clone();
            let staged = staged.to_path_buf();
            tokio::task::spawn_blocking(move || put_blocking(&root, &target, &staged))
                .await
                .map_err(io::Error::other)?
        }
        .boxed()
    }

    fn puts_blocking(&self) -> bool {
        true
    }

    fn put_file_blocking(&self, key: &str, staged: &Path) -> io::Result<()> {
        put_blocking(&self.root, &self.path_of(key)?, staged)
    }

    fn reserve_blocking(&self, keys: &[String]) -> io::Result<()> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for key in keys {
            let path = self.path_of(key)?;
            let dir = path
                .parent()
                .ok_or_else(|| io::Error::other("a blob path has a parent"))?;
            if !dirs.iter().any(|d| d == dir) {
                create_dirs_durably(&self.root, dir)?;
                dirs.push(dir.to_path_buf());
            }
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
        }
        for dir in &dirs {
            sync_dir(dir)?;
        }
        Ok(())
    }

    fn write_bytes_blocking(&self, key: &str, bytes: &[u8]) -> io::Result<PendingFlush> {
        use std::io::Write;
        let path = self.path_of(key)?;
        match fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
        {
            // Reserved: its directory entry is durable already, so the data
            // and the file's size are all that must reach the disk.
            Ok(mut file) => {
                file.write_all(bytes)?;
                Ok(PendingFlush::data_of(file))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let dir = path
                    .parent()
                    .ok_or_else(|| io::Error::other("a blob path has a parent"))?;
                create_dirs_durably(&self.root, dir)?;
                let mut file = File::create(&path)?;
                file.write_all(bytes)?;
                file.sync_all()?;
                sync_dir(dir)?;
                Ok(PendingFlush::done())
            }
            Err(e) => Err(e),
        }
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<BlobReader>> {
        async move {
            let file = tokio::fs::File::open(self.path_of(key)?).await?;
            Ok(Box::pin(file) as BlobReader)
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        async move {
            match tokio::fs::remove_file(self.path_of(key)?).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
        .boxed()
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        async move { tokio::fs::try_exists(self.path_of(key)?).await }.boxed()
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path_of(key).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_staged_file_becomes_a_blob_that_can_be_read_and_deleted() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = FsBlobStore::new(dir.path().join("blobs")).expect("a store");
        let staged = dir.path().join("staged");
        fs::write(&staged, b"DICM bytes").expect("write the staged file");

        store
            .put_file("ab/cd/0123abcd", &staged)
            .await
            .expect("put");

        assert!(!staged.exists(), "the staged file is consumed");
        assert!(store.exists("ab/cd/0123abcd").await.expect("exists"));
        let mut bytes = Vec::new();
        store
            .get("ab/cd/0123abcd")
            .await
            .expect("get")
            .read_to_end(&mut bytes)
            .await
            .expect("read");
        assert_eq!(bytes, b"DICM bytes");
        store.delete("ab/cd/0123abcd").await.expect("delete");
        store
            .delete("ab/cd/0123abcd")
            .await
            .expect("deleting twice succeeds");
        assert!(!store.exists("ab/cd/0123abcd").await.expect("exists"));
    }

    #[tokio::test]
    async fn keys_that_could_escape_the_root_are_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = FsBlobStore::new(dir.path()).expect("a store");
        for key in ["../etc/passwd", "/abs", "a//b", "", "a/./b"] {
            assert!(store.exists(key).await.is_err(), "{key:?} is refused");
        }
    }

    #[tokio::test]
    async fn blobs_are_joined_each_after_its_own_bytes_and_a_wrong_size_is_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = FsBlobStore::new(dir.path().join("blobs")).expect("a store");
        for (key, bytes) in [("aa/one", &b"first"[..]), ("bb/two", &b"second!"[..])] {
            let staged = dir.path().join("staged");
            fs::write(&staged, bytes).expect("write the staged file");
            store.put_file(key, &staged).await.expect("put");
        }
        let parts = |sizes: [usize; 2]| {
            vec![
                (b"<1>".to_vec(), "aa/one".to_owned(), sizes[0]),
                (b"<2>".to_vec(), "bb/two".to_owned(), sizes[1]),
            ]
        };

        let joined = store
            .read_joined(parts([5, 7]), b"|")
            .await
            .expect("joined");
        assert_eq!(joined, b"<1>first|<2>second!|");

        let wrong = store
            .read_joined(parts([5, 6]), b"|")
            .await
            .expect_err("a blob of another size than recorded");
        assert_eq!(wrong.kind(), io::ErrorKind::InvalidData);
        let missing = store
            .read_joined(vec![(Vec::new(), "cc/none".to_owned(), 1)], b"")
            .await
            .expect_err("a missing blob");
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
