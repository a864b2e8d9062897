//! [`Store`]: the handle the server keeps, holding the index, the blob store,
//! the staging directory and the group committer; and [`Store::recover`], which
//! a node runs once at startup to clean up after a crash.
//!
//! Ingest is in [`crate::ingest`]; reads for WADO-RS and the server are here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sqlx::AnyPool;
use tokio::sync::mpsc;

use crate::blob::{BlobReader, BlobStore};
use crate::error::StoreError;
use crate::index::commit::{self, Job};
use crate::index::{journal, store as sql, Index, InstanceRow, SeriesRow, StudyRow};

/// Settings of a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Where incoming instances are written before they are checked and made
    /// durable. Local to the node; for [`crate::blob::FsBlobStore`] put it on
    /// the same file system as the blobs so a put is a rename.
    pub staging_dir: PathBuf,
    /// This node's name in the ingest journal. Every node sharing a database
    /// needs its own, stable across restarts, because [`Store::recover`] cleans
    /// up the keys of its own node only.
    pub node: String,
    /// The largest instance accepted, in bytes.
    pub max_instance_bytes: u64,
}

impl StoreConfig {
    /// Defaults for a single node: node name `local`, instances up to 2 GiB.
    pub fn new(staging_dir: impl Into<PathBuf>) -> Self {
        Self {
            staging_dir: staging_dir.into(),
            node: "local".to_owned(),
            max_instance_bytes: 2 << 30,
        }
    }
}

/// What [`Store::recover`] cleaned up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Journal rows removed (each with its blob, if the blob existed).
    pub journal_rows: usize,
    /// Staged files removed.
    pub staged_files: usize,
}

/// The imaging store. Cheap to clone: an `Arc` inside.
#[derive(Debug, Clone)]
pub struct Store(pub(crate) Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) index: Index,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) config: StoreConfig,
    pub(crate) committer: mpsc::Sender<Job>,
    /// Blob keys already written to the journal and not yet used. A std mutex:
    /// it is held for a `Vec::pop` and never across an `.await`.
    pub(crate) keys: Mutex<Vec<String>>,
    /// Held while a batch of keys is journalled and reserved, so that only
    /// one batch is made at a time.
    pub(crate) refilling: tokio::sync::Mutex<()>,
    /// Journal keys whose blob and index row are both durable, waiting to be
    /// cleared by the next group commit.
    pub(crate) settled: Mutex<Vec<String>>,
    /// What ingest did, for the server's metrics.
    pub(crate) tally: crate::ingest::tally::IngestTally,
}

impl Store {
    /// Opens the store over the server's pool (migrations already applied)
    /// and a blob store, creating the staging directory. Starts the group
    /// committer, so it must be called inside a Tokio runtime.
    ///
    /// Call [`recover`](Self::recover) before the first ingest.
    pub async fn open(
        pool: AnyPool,
        blobs: Arc<dyn BlobStore>,
        config: StoreConfig,
    ) -> Result<Self, StoreError> {
        let index = Index::new(pool)?;
        tokio::fs::create_dir_all(&config.staging_dir).await?;
        let committer = commit::spawn(index.clone());
        Ok(Self(Arc::new(Inner {
            index,
            blobs,
            config,
            committer,
            keys: Mutex::new(Vec::new()),
            refilling: tokio::sync::Mutex::new(()),
            settled: Mutex::new(Vec::new()),
            tally: crate::ingest::tally::IngestTally::default(),
        })))
    }

    /// Cleans up after a crash, for every journal row of this node:
    ///
    /// - a key no index row names (an ingest that never committed its index
    ///   row): its blob, if any, is deleted;
    /// - a key an index row names: its blob is checked against the row's size
    ///   and SHA-256. The blob's flush runs while the row commits, so a crash
    ///   can leave a committed row whose blob did not reach the disk whole;
    ///   such an instance was never acknowledged, and its row is removed with
    ///   the blob.
    ///
    /// Then the journal row itself goes, and every file in the staging
    /// directory.
    ///
    /// Run it once at startup, before any ingest on this node: a journal row of
    /// an ingest under way would be taken for a leftover.
    #[tracing::instrument(skip_all, fields(node = %self.0.config.node))]
    pub async fn recover(&self) -> Result<Recovery, StoreError> {
        let inner = &self.0;
        inner
            .keys
            .lock()
            .expect("the key pool's lock is never held across a panic")
            .clear();
        inner
            .settled
            .lock()
            .expect("the settled keys' lock is never held across a panic")
            .clear();
        let pool = inner.index.pool();
        let mut report = Recovery::default();
        for key in journal::journal_keys(pool, &inner.config.node).await? {
            // Never delete a blob the index points to, unless it is not what
            // the index says it is.
            let whole = match journal::indexed_under(pool, &key).await? {
                None => false,
                Some((size, sha256)) => self.blob_matches(&key, size, &sha256).await?,
            };
            let mut tx = inner.index.begin_write().await?;
            if !whole {
                journal::remove_instance(&mut tx, &key).await?;
            }
            journal::clear_journal(&mut tx, &[&key]).await?;
            if !whole {
                // Before the commit that clears its journal row: a crash in
                // between leaves the row for the next recovery, never an
                // orphan blob.
                inner.blobs.delete(&key).await?;
            }
            tx.commit().await?;
            report.journal_rows += 1;
        }
        let mut entries = tokio::fs::read_dir(&inner.config.staging_dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_type().await?.is_file() {
                tokio::fs::remove_file(entry.path()).await?;
                report.staged_files += 1;
            }
        }
        if report != Recovery::default() {
            tracing::warn!(
                journal_rows = report.journal_rows,
                staged_files = report.staged_files,
                "cleaned up after an interrupted ingest"
            );
        }
        Ok(report)
    }

    /// Whether the blob under `key` has `size` bytes with this SHA-256.
    async fn blob_matches(&self, key: &str, size: i64, sha256: &str) -> Result<bool, StoreError> {
        use sha2::{Digest, Sha256};
        use tokio::io::AsyncReadExt;
        let mut reader = match self.0.blobs.get(key).await {
            Ok(reader) => reader,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        // Streamed: a blob can be gigabytes.
        let (mut hasher, mut read) = (Sha256::new(), 0i64);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            read += n as i64;
            hasher.update(&buf[..n]);
        }
        Ok(read == size && hex::encode(hasher.finalize()) == sha256)
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.0.index
    }

    /// The blob store.
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.0.blobs
    }

    /// What ingest did since the store opened, by the way instances came;
    /// the ways in (STOW-RS, the server's C-STORE service) record it.
    pub fn tally(&self) -> &crate::ingest::tally::IngestTally {
        &self.0.tally
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.0.config
    }

    /// One study by Study Instance UID.
    pub async fn study(&self, study_uid: &str) -> Result<Option<StudyRow>, StoreError> {
        Ok(sql::study(self.0.index.pool(), study_uid).await?)
    }

    /// One study by Study Instance UID, if `scope` lets its reader see it.
    pub async fn study_in_scope(
        &self,
        study_uid: &str,
        scope: &crate::StudyScope,
    ) -> Result<Option<StudyRow>, StoreError> {
        Ok(sql::study_in_scope(self.0.index.pool(), study_uid, scope).await?)
    }

    /// One series by Series Instance UID.
    pub async fn series(&self, series_uid: &str) -> Result<Option<SeriesRow>, StoreError> {
        Ok(sql::series(self.0.index.pool(), series_uid).await?)
    }

    /// One instance by SOP Instance UID.
    pub async fn instance(&self, sop_uid: &str) -> Result<Option<InstanceRow>, StoreError> {
        Ok(sql::instance(self.0.index.pool(), sop_uid).await?)
    }

    /// An instance's index row and a stream of its stored bytes (the file as
    /// received: preamble, file meta group, data set), for WADO-RS.
    pub async fn open_instance(
        &self,
        sop_uid: &str,
    ) -> Result<Option<(InstanceRow, BlobReader)>, StoreError> {
        let Some(row) = self.instance(sop_uid).await? else {
            return Ok(None);
        };
        let reader = self.0.blobs.get(&row.blob_key).await?;
        Ok(Some((row, reader)))
    }

    /// The metadata of a series (every instance's data set without bulk data)
    /// as a DICOM JSON array, ready to send as WADO-RS `/metadata`; `None` when
    /// the study holds no such series.
    pub async fn series_metadata(
        &self,
        study_uid: &str,
        series_uid: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sql::series_metadata(self.0.index.pool(), study_uid, series_uid).await?)
    }

    /// The instances of a study, of one of its series, or one instance (each
    /// UID narrowing the last), in series then instance order.
    pub async fn instances_in(
        &self,
        study_uid: &str,
        series_uid: Option<&str>,
        sop_uid: Option<&str>,
    ) -> Result<Vec<InstanceRow>, StoreError> {
        Ok(sql::instances_in(self.0.index.pool(), study_uid, series_uid, sop_uid).await?)
    }

    /// The stored metadata (DICOM JSON objects, serialised) of these instances.
    pub async fn metadata_of(&self, instances: &[InstanceRow]) -> Result<Vec<String>, StoreError> {
        let ids: Vec<i64> = instances.iter().map(|i| i.id).collect();
        Ok(sql::metadata_of(self.0.index.pool(), &ids).await?)
    }

    /// Links a study to a consortium patient, or unlinks it with `None`.
    /// Returns whether the study exists.
    pub async fn link_patient(
        &self,
        study_uid: &str,
        patient_id: Option<i64>,
    ) -> Result<bool, StoreError> {
        Ok(sql::link_patient(self.0.index.pool(), study_uid, patient_id).await?)
    }
}
