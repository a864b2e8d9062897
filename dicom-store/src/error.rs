//! The errors of this crate: [`IngestError`] for an instance the store refuses
//! or fails to keep, [`StoreError`] for everything else.
//!
//! Every [`IngestError`] carries the PS3.18 / PS3.4 failure reason that STOW-RS
//! puts in *Failure Reason* (0008,1197) and C-STORE in its status, so the three
//! doors into the store report a refusal the same way.

use crate::validate::ValidationError;

/// Why an instance was not stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The instance could not be read or lacks a required attribute.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The request was for one study (`POST /studies/{study}`) and the instance
    /// belongs to another.
    #[error("the instance belongs to study {found}, not to {expected}")]
    WrongStudy {
        /// The study the request named.
        expected: String,
        /// The study the instance names.
        found: String,
    },
    /// Another instance with this SOP Instance UID and different bytes is
    /// already stored. The store never replaces an instance (see the crate docs).
    #[error("SOP instance {sop_instance_uid} is already stored with different content")]
    DuplicateConflict {
        /// The SOP Instance UID both share.
        sop_instance_uid: String,
    },
    /// The study is already stored under another Patient ID or from another
    /// facility; the instance is refused rather than merged (see the crate docs).
    #[error("study {study_uid} is already stored {reason}")]
    StudyConflict {
        /// The study's UID.
        study_uid: String,
        /// What differs, for the log and the failure comment.
        reason: &'static str,
    },
    /// The instance is larger than the configured limit.
    #[error("the instance is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Reading the source, writing the blob or syncing it failed.
    #[error("storage failed: {0}")]
    Io(#[from] std::io::Error),
    /// The index could not be read or written.
    #[error("the index failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The store is shutting down and no longer accepts instances.
    #[error("the store is shutting down")]
    ShuttingDown,
}

impl IngestError {
    /// The failure reason for STOW-RS (0008,1197) and the C-STORE status:
    ///
    /// | code | meaning | when |
    /// |---|---|---|
    /// | 0xC000 | cannot understand | not DICOM, truncated, unreadable |
    /// | 0xA900 | data set does not match SOP class | a required attribute missing or invalid, wrong study for the request |
    /// | 0x0111 | duplicate SOP instance | same SOP Instance UID, different bytes; or a study already held for another patient or facility |
    /// | 0xA700 | out of resources | over the size limit, disk full |
    /// | 0x0110 | processing failure | any other I/O or database failure |
    pub fn failure_reason(&self) -> u16 {
        match self {
            Self::Invalid(e) => e.failure_reason(),
            Self::WrongStudy { .. } => 0xA900,
            Self::DuplicateConflict { .. } | Self::StudyConflict { .. } => 0x0111,
            Self::TooLarge { .. } => 0xA700,
            Self::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => 0xA700,
            Self::Io(_) | Self::Database(_) | Self::ShuttingDown => 0x0110,
        }
    }

    /// Whether the sender is at fault (so a retry of the same bytes cannot help)
    /// rather than the store.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Io(_) | Self::Database(_) | Self::ShuttingDown)
    }
}

/// A failure of the store outside ingest: reading the index or a blob.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The index could not be read or written.
    #[error("the index failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A blob could not be read, written or deleted.
    #[error("blob storage failed: {0}")]
    Io(#[from] std::io::Error),
    /// The database URL names an engine this crate does not support.
    #[error("unsupported database engine {0:?} (expected sqlite or postgres)")]
    UnsupportedEngine(String),
}
