//! Steps 1 and 2 of ingest: an instance streamed or adopted into the
//! staging directory, hashed on the way, then fsynced and parsed.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::Written;
use crate::error::IngestError;
use crate::store::Store;
use crate::validate::{read_instance, InstanceHeader, ParsedInstance};

/// An instance written to the staging directory, not yet checked or durable.
/// Dropping it removes the file.
#[derive(Debug)]
pub struct StagedInstance {
    pub(super) path: PathBuf,
    file: Option<std::fs::File>,
    size: u64,
    pub(super) sha256: String,
}

impl StagedInstance {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// SHA-256 of the bytes, lower-case hexadecimal.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The staged file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagedInstance {
    fn drop(&mut self) {
        // After a successful put the file has been moved away: NotFound is fine.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A staged instance that is fsynced, parsed and valid; ready for [`Store::commit`].
#[derive(Debug)]
pub struct PreparedInstance {
    pub(super) staged: StagedInstance,
    parsed: ParsedInstance,
}

impl PreparedInstance {
    /// The instance's attributes.
    pub fn header(&self) -> &InstanceHeader {
        &self.parsed.header
    }

    /// The parsed instance and what was written; the staged file goes (it
    /// has been moved under its key by then).
    pub(super) fn into_parts(self) -> (ParsedInstance, Written) {
        let written = Written {
            size: self.staged.size,
            sha256: self.staged.sha256.clone(),
        };
        (self.parsed, written)
    }
}

impl Store {
    /// Step 1: streams `source` into a staged file, hashing it on the way.
    pub async fn stage<R>(&self, mut source: R) -> Result<StagedInstance, IngestError>
    where
        R: AsyncRead + Unpin,
    {
        let limit = self.0.config.max_instance_bytes;
        let path = self
            .0
            .config
            .staging_dir
            .join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&path).await?;
        // From here on, the guard removes the file on every early return.
        let mut staged = StagedInstance {
            path,
            file: None,
            size: 0,
            sha256: String::new(),
        };
        let mut file = tokio::io::BufWriter::with_capacity(64 * 1024, file);
        let mut tally = Tally::new(limit);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = source.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            tally.add(&buf[..n])?;
            file.write_all(&buf[..n]).await?;
        }
        file.flush().await?;
        staged.file = Some(file.into_inner().into_std().await);
        tally.finish(&mut staged);
        Ok(staged)
    }

    /// Step 2: fsyncs the staged file and parses and checks it. The file is
    /// fsynced only when it is to become the blob (local files): a remote
    /// store reads it for the upload, which is what makes the bytes durable.
    pub async fn prepare(&self, staged: StagedInstance) -> Result<PreparedInstance, IngestError> {
        self.prepare_named(staged).await.map_err(|(_, e)| e)
    }

    /// As [`prepare`](Self::prepare); a refused instance comes with the SOP
    /// Class and Instance UIDs its meta group names, when it names them.
    pub async fn prepare_named(
        &self,
        mut staged: StagedInstance,
    ) -> Result<PreparedInstance, (Option<(String, String)>, IngestError)> {
        let file = staged.file.take();
        let limit = self.0.config.max_instance_bytes;
        let flush = self.0.blobs.puts_blocking();
        tokio::task::spawn_blocking(move || {
            let named = |staged: &StagedInstance| crate::validate::named_in_meta(&staged.path);
            if let Some(file) = file.filter(|_| flush) {
                file.sync_all().map_err(|e| (None, e.into()))?;
            }
            match crate::inflate::inflate_file(&staged.path, limit) {
                Ok(false) => {}
                Ok(true) => {
                    // Its size and digest are the inflated file's now.
                    let path = std::mem::take(&mut staged.path);
                    staged = adopt(path, limit).map_err(|e| (None, e))?;
                }
                Err(e) => return Err((named(&staged), e)),
            }
            match read_instance(&staged.path) {
                Ok(parsed) => Ok(PreparedInstance { staged, parsed }),
                Err(e) => Err((named(&staged), e.into())),
            }
        })
        .await
        .map_err(|e| (None, std::io::Error::other(e).into()))?
    }
}

/// Steps 1 and 2 for a file already on disk, on the caller's blocking
/// thread: hash in place, fsync when `flush` says so, parse.
pub(super) fn prepare_in_place(
    path: PathBuf,
    limit: u64,
    flush: bool,
) -> Result<PreparedInstance, IngestError> {
    if let Err(e) = crate::inflate::inflate_file(&path, limit) {
        // Adopted files are the store's to remove, whatever the outcome.
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    let staged = adopt(path, limit)?;
    if let Some(file) = staged.file.as_ref().filter(|_| flush) {
        file.sync_all()?;
    }
    let parsed = read_instance(&staged.path)?;
    Ok(PreparedInstance { staged, parsed })
}

/// Step 1 for a file already on disk: hashes it and takes ownership (from
/// here on, dropping the result removes the file).
fn adopt(path: PathBuf, limit: u64) -> Result<StagedInstance, IngestError> {
    use std::io::Read;
    let mut staged = StagedInstance {
        path,
        file: None,
        size: 0,
        sha256: String::new(),
    };
    let mut file = std::fs::File::open(&staged.path)?;
    let mut tally = Tally::new(limit);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        tally.add(&buf[..n])?;
    }
    staged.file = Some(file);
    tally.finish(&mut staged);
    Ok(staged)
}

/// Size and SHA-256 of an instance's bytes as they pass, refusing an
/// instance larger than the limit as soon as it gets there.
struct Tally {
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl Tally {
    fn new(limit: u64) -> Self {
        Self {
            hasher: Sha256::new(),
            size: 0,
            limit,
        }
    }

    fn add(&mut self, bytes: &[u8]) -> Result<(), IngestError> {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            return Err(IngestError::TooLarge { limit: self.limit });
        }
        self.hasher.update(bytes);
        Ok(())
    }

    fn finish(self, staged: &mut StagedInstance) {
        staged.size = self.size;
        staged.sha256 = hex::encode(self.hasher.finalize());
    }
}
