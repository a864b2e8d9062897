//! Ingest: the one code path by which an instance enters the store, whether it
//! comes through STOW-RS, C-STORE or a folder import.
//!
//! # Steps, and what a crash at each leaves behind
//!
//! 1. [`Store::stage`]: the source is streamed to a file in the staging
//!    directory while its SHA-256 and size are computed; never held whole in
//!    memory. *Crash*: a staged file, removed by [`Store::recover`].
//! 2. [`Store::prepare`]: the staged file is fsynced and parsed
//!    ([`crate::validate`]). *Crash*: as above.
//! 3. [`Store::commit`]: the instance is checked against the index (duplicate
//!    and conflict rules below), given a blob key that is **already in the
//!    ingest journal**, and handed to the blob store, which makes it durable
//!    under that key (rename + directory fsync). *Crash*: a blob no index row
//!    points to, but its key is in the journal: recovery deletes it.
//! 4. The index rows are written in **one transaction**, shared with
//!    concurrent ingests (group commit, see [`crate::index::commit`]). Only
//!    once the rows and the blob are both durable is the instance
//!    acknowledged; its journal row is cleared by a later group commit.
//!
//! Journal rows are written ahead in batches of [`KEY_BATCH`] keys, so the
//! journal costs one commit per batch rather than one per instance; a key that
//! is never used is deleted at the next recovery. On local files a batch's
//! keys are also *reserved*: created empty, with one directory fsync for the
//! batch. The next batch is made in the background once half of one is used,
//! so a steady stream of instances never waits for it.
//!
//! A C-STORE data set of up to 256 KiB arrives in memory
//! ([`Store::ingest_bytes`]). On local blob storage it is written straight
//! into its reserved file, parsed and handed to the committer, and that
//! file's `fdatasync` runs on the same thread while its index rows commit:
//! per instance, one data flush and a share of one write transaction, at the
//! same time. The checks of step 3 are
//! left to the transaction, which makes them anyway: a refused instance's blob
//! is discarded after the fact. *Crash*: the row may be committed while the
//! blob is not whole on disk. The key is still journalled, so recovery checks
//! every journalled blob an index row names against the row's size and
//! SHA-256, and takes back the row of one that does not match (it was never
//! acknowledged). On a remote blob store (S3) such a data set is parsed and
//! hashed in memory and uploaded from there, and the upload is what makes
//! it durable: no staging file is written, flushed or read back. A larger
//! C-STORE data set was streamed to a staging file
//! ([`Store::ingest_staged`]) and takes steps 1 to 3 in one blocking call.
//!
//! # Duplicates and conflicts
//!
//! - **Same SOP Instance UID, same bytes** (SHA-256): the instance is already
//!   stored; nothing is written and the outcome is [`Outcome::AlreadyStored`],
//!   so a sender that retries after a lost acknowledgement succeeds.
//! - **Same SOP Instance UID, different bytes**: refused with
//!   [`IngestError::DuplicateConflict`] (failure reason 0x0111; STOW-RS 409
//!   when every instance of a request fails). A stored instance is never
//!   replaced in place: another member may already have read or reported it. A
//!   corrected instance must carry a new SOP Instance UID.
//! - **A known Study Instance UID under another Patient ID, or from another
//!   facility**: refused with [`IngestError::StudyConflict`] (0x0111). Merging
//!   would file one patient's images under another's, or let one facility add
//!   to (and so be granted reads by the scope of) another's study.
//! - **A known Series Instance UID in another study**: refused the same way.

mod keys;
mod staging;
pub mod tally;

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;
use tokio::sync::oneshot;

use crate::error::IngestError;
use crate::index::commit::{CommitJob, Job};
use crate::index::journal;
use crate::index::store::{self as sql, IndexOutcome};
use crate::index::NewInstance;
use crate::store::Store;
use crate::validate::{read_instance_bytes, InstanceHeader, ParsedInstance};

pub use keys::KEY_BATCH;
use staging::prepare_in_place;
pub use staging::{PreparedInstance, StagedInstance};

/// Who is storing an instance, and where it is filed.
#[derive(Debug, Clone, Default)]
pub struct IngestContext {
    /// The sending facility: the study is filed under it and its scope decides
    /// who may read it.
    pub facility_id: i64,
    /// The consortium patient to link a new study to, when the sender knows it.
    pub patient_id: Option<i64>,
    /// When set (STOW-RS `POST /studies/{study}`), an instance of any other
    /// study is refused with [`IngestError::WrongStudy`].
    pub expected_study: Option<String>,
    /// When set, the sender audits the instance later (a DIMSE association,
    /// when it ends) and names itself here: the index row records the debt
    /// in the same transaction, so a crash before the audit cannot lose it
    /// ([`Store::audit_owed`](crate::Store) finds it again).
    pub audit_owed_by: Option<String>,
}

/// Whether an acknowledged instance was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored now.
    Created,
    /// The identical instance was already stored; nothing changed.
    AlreadyStored,
}

/// An acknowledged instance: durable in the blob store and in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The instance's attributes.
    pub header: InstanceHeader,
    /// Whether it was new.
    pub outcome: Outcome,
    /// The consortium patient its study was linked to when the instance was
    /// indexed; `None` when it was not, or is not known (an instance that was
    /// already stored).
    pub patient_id: Option<i64>,
}

/// An instance handed to the committer from a blocking thread: its
/// attributes, the committer's answer, and whether its blob was flushed.
struct Handed {
    header: InstanceHeader,
    committed: Result<IndexOutcome, IngestError>,
    flushed: std::io::Result<()>,
}

/// The size and SHA-256 of an instance's stored bytes.
#[derive(Debug)]
struct Written {
    size: u64,
    sha256: String,
}

impl Store {
    /// Stages, checks and stores one instance, and returns once it is durable
    /// and indexed. `source` is the DICOM file (with or without the 128-byte
    /// preamble), streamed to disk and never held whole in memory.
    pub async fn ingest<R>(&self, source: R, ctx: &IngestContext) -> Result<Stored, IngestError>
    where
        R: AsyncRead + Unpin,
    {
        let staged = self.stage(source).await?;
        let prepared = self.prepare(staged).await?;
        self.commit(prepared, ctx).await
    }

    /// As [`ingest`](Self::ingest), for a Part 10 file that is already in the
    /// staging directory (a C-STORE data set the DIMSE listener wrote as it
    /// arrived): the file is hashed in place and taken over, not copied. It is
    /// removed whatever the outcome, unless it became the stored blob.
    pub async fn ingest_staged(
        &self,
        path: &Path,
        ctx: &IngestContext,
    ) -> Result<Stored, IngestError> {
        let limit = self.0.config.max_instance_bytes;
        let path = path.to_path_buf();
        if !self.0.blobs.puts_blocking() {
            let prepared =
                tokio::task::spawn_blocking(move || prepare_in_place(path, limit, false))
                    .await
                    .map_err(std::io::Error::other)??;
            return self.commit(prepared, ctx).await;
        }
        // Local blobs: steps 1 to 3 in one blocking call (hash, fsync, parse,
        // rename under a journalled key, fsync the directory), then step 4.
        // The duplicate and conflict rules are judged by the index
        // transaction alone: a refused instance's blob is discarded after
        // the fact, which costs less than asking the index twice for every
        // instance that is not refused.
        let key = self.take_key().await?;
        let blobs = Arc::clone(&self.0.blobs);
        let expected = ctx.expected_study.clone();
        let put_key = key.clone();
        let done = tokio::task::spawn_blocking(move || {
            // The flag says whether the key may now name a blob.
            let prepared = prepare_in_place(path, limit, true)
                .and_then(|prepared| {
                    check_study(expected.as_deref(), prepared.header())?;
                    Ok(prepared)
                })
                .map_err(|e| (e, false))?;
            blobs
                .put_file_blocking(&put_key, &prepared.staged.path)
                .map_err(|e| (e.into(), true))?;
            Ok(prepared)
        })
        .await
        .map_err(std::io::Error::other)?;
        match done {
            Ok(prepared) => {
                let (parsed, written) = prepared.into_parts();
                self.file_in_index(parsed, written, key, ctx).await
            }
            Err((error, used)) => self.give_back(key, used, error).await,
        }
    }

    /// As [`ingest`](Self::ingest), for a whole Part 10 file in memory (a
    /// C-STORE data set small enough never to have been staged on disk). On
    /// local blobs it is written into its reserved blob file, and that file's
    /// `fdatasync` runs while its index rows commit. No staging file is
    /// created, read back or renamed.
    pub async fn ingest_bytes(
        &self,
        bytes: Vec<u8>,
        ctx: &IngestContext,
    ) -> Result<Stored, IngestError> {
        let limit = self.0.config.max_instance_bytes;
        if bytes.len() as u64 > limit {
            return Err(IngestError::TooLarge { limit });
        }
        let bytes = match crate::inflate::inflate_bytes(&bytes, limit)? {
            Some(inflated) => inflated,
            None => bytes,
        };
        if !self.0.blobs.puts_blocking() {
            return self.put_and_file(bytes, ctx).await;
        }
        let key = self.take_key().await?;
        let store = self.clone();
        let context = ctx.clone();
        let put_key = key.clone();
        let done =
            tokio::task::spawn_blocking(move || store.write_and_commit(&bytes, put_key, &context))
                .await
                .map_err(std::io::Error::other)?;
        match done {
            Ok(handed) => {
                self.conclude(handed.header, key, handed.committed, handed.flushed)
                    .await
            }
            Err((error, used)) => self.give_back(key, used, error).await,
        }
    }

    /// [`ingest_bytes`](Self::ingest_bytes) on a remote blob store: parsed
    /// and hashed in memory, uploaded from memory, then filed in the index.
    /// Nothing touches the local disk. As on local files, the duplicate and
    /// conflict rules are left to the index transaction, which judges them
    /// anyway, and a refused instance's blob is discarded after the fact:
    /// asking the index first would add a round trip to every instance to
    /// save an upload for the few a sender sends twice.
    async fn put_and_file(
        &self,
        bytes: Vec<u8>,
        ctx: &IngestContext,
    ) -> Result<Stored, IngestError> {
        let bytes = bytes::Bytes::from(bytes);
        let read = bytes.clone();
        let (parsed, written) = tokio::task::spawn_blocking(move || {
            let parsed = read_instance_bytes(&read)?;
            let written = Written {
                size: read.len() as u64,
                sha256: hex::encode(Sha256::digest(&read)),
            };
            Ok::<_, IngestError>((parsed, written))
        })
        .await
        .map_err(std::io::Error::other)??;
        check_study(ctx.expected_study.as_deref(), &parsed.header)?;
        let key = self.take_key().await?;
        if let Err(e) = self.0.blobs.put_bytes(&key, bytes).await {
            self.discard_key(&key).await;
            return Err(e.into());
        }
        self.file_in_index(parsed, written, key, ctx).await
    }

    /// The blocking part of [`ingest_bytes`](Self::ingest_bytes), on one
    /// thread so that an instance crosses threads as few times as possible
    /// on its way to its acknowledgement: writes the blob, parses and hashes
    /// the instance, hands its rows to the committer, flushes the blob while
    /// they commit, and waits for the commit. An error before the hand-over
    /// comes with whether the key names a blob now (it always does once
    /// written).
    fn write_and_commit(
        &self,
        bytes: &[u8],
        key: String,
        ctx: &IngestContext,
    ) -> Result<Handed, (IngestError, bool)> {
        let flush = self
            .0
            .blobs
            .write_bytes_blocking(&key, bytes)
            .map_err(|e| (e.into(), true))?;
        let parsed = read_instance_bytes(bytes).map_err(|e| (e.into(), true))?;
        check_study(ctx.expected_study.as_deref(), &parsed.header).map_err(|e| (e, true))?;
        let written = Written {
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        };
        let (job, answer, header) = self.commit_job(parsed, written, key, ctx);
        let sent = self.0.committer.blocking_send(job).is_ok();
        let flushed = flush.finish();
        let committed = if sent {
            answered(answer.blocking_recv())
        } else {
            Err(IngestError::ShuttingDown)
        };
        Ok(Handed {
            header,
            committed,
            flushed,
        })
    }

    /// After a failed put: a key that may name a (partial) blob is
    /// discarded, one that names nothing goes back to the pool.
    async fn give_back(
        &self,
        key: String,
        used: bool,
        error: IngestError,
    ) -> Result<Stored, IngestError> {
        if used {
            self.discard_key(&key).await;
        } else {
            self.return_key(key);
        }
        Err(error)
    }

    /// Steps 3 and 4: applies the duplicate and conflict rules, makes the blob
    /// durable and commits the index rows. Returns once both are durable.
    pub async fn commit(
        &self,
        prepared: PreparedInstance,
        ctx: &IngestContext,
    ) -> Result<Stored, IngestError> {
        let header = prepared.header();
        check_study(ctx.expected_study.as_deref(), header)?;
        // Settle the common cases before writing anything; the transaction
        // checks again, for senders racing each other.
        let known = {
            let mut conn = self.0.index.pool().acquire().await?;
            sql::known(&mut conn, header).await?
        };
        if let Some(sha256) = known.sha256 {
            return self.settle(header.clone(), sha256 == prepared.staged.sha256);
        }
        if let Some((_, facility_id, patient_id)) = known.study {
            let owner = (facility_id, patient_id);
            if let Some(reason) = sql::study_conflict(&owner, ctx.facility_id, &header.patient_id) {
                return Err(IngestError::StudyConflict {
                    study_uid: header.study_uid.clone(),
                    reason,
                });
            }
        }

        let key = self.take_key().await?;
        if let Err(e) = self.0.blobs.put_file(&key, &prepared.staged.path).await {
            self.discard_key(&key).await;
            return Err(e.into());
        }
        let (parsed, written) = prepared.into_parts();
        self.file_in_index(parsed, written, key, ctx).await
    }

    /// Step 4 for an instance whose blob is durable under `key`: commits its
    /// index rows and acknowledges once they are committed.
    #[tracing::instrument(skip_all, fields(facility_id = ctx.facility_id))]
    async fn file_in_index(
        &self,
        parsed: ParsedInstance,
        bytes: Written,
        key: String,
        ctx: &IngestContext,
    ) -> Result<Stored, IngestError> {
        let (job, answer, header) = self.commit_job(parsed, bytes, key.clone(), ctx);
        let committed = match self.0.committer.send(job).await {
            Ok(()) => answered(answer.await),
            Err(_) => Err(IngestError::ShuttingDown),
        };
        self.conclude(header, key, committed, Ok(())).await
    }

    /// The committer's job for an instance whose blob is written under
    /// `key`, with the journal keys settled since the last job; the answer
    /// comes once its transaction committed.
    fn commit_job(
        &self,
        parsed: ParsedInstance,
        bytes: Written,
        key: String,
        ctx: &IngestContext,
    ) -> (Job, Answer, InstanceHeader) {
        let header = parsed.header.clone();
        let entry = NewInstance {
            header: parsed.header,
            facility_id: ctx.facility_id,
            patient_id: ctx.patient_id,
            size: i64::try_from(bytes.size).unwrap_or(i64::MAX),
            sha256: bytes.sha256,
            blob_key: key,
            metadata_json: parsed.metadata_json,
            audit_owed_by: ctx.audit_owed_by.clone(),
        };
        let settled = std::mem::take(
            &mut *self
                .0
                .settled
                .lock()
                .expect("the settled keys' lock is never held across a panic"),
        );
        let (reply, answer) = oneshot::channel();
        let job = CommitJob {
            entry,
            settled,
            reply,
        };
        (Job::Instance(Box::new(job)), answer, header)
    }

    /// Acknowledges an instance whose index rows the committer judged, once
    /// `flushed` says whether its blob is durable. Discards the blob when the
    /// index refused it, and takes the row back when the flush failed.
    async fn conclude(
        &self,
        header: InstanceHeader,
        key: String,
        committed: Result<IndexOutcome, IngestError>,
        flushed: std::io::Result<()>,
    ) -> Result<Stored, IngestError> {
        let outcome = match committed {
            Ok(outcome) => outcome,
            Err(e) => {
                self.discard_key(&key).await;
                return Err(e);
            }
        };
        match outcome {
            IndexOutcome::Created(patient_id) => {
                if let Err(e) = flushed {
                    // Committed, but the blob is not on disk: the row goes
                    // before anyone is told the instance is stored.
                    self.unindex(&key).await;
                    return Err(e.into());
                }
                tracing::debug!(blob_key = %key, "instance stored");
                self.0
                    .settled
                    .lock()
                    .expect("the settled keys' lock is never held across a panic")
                    .push(key);
                Ok(Stored {
                    header,
                    outcome: Outcome::Created,
                    patient_id,
                })
            }
            // A racing sender committed first: our copy goes.
            IndexOutcome::AlreadyStored => {
                self.discard_key(&key).await;
                self.settle(header, true)
            }
            IndexOutcome::DuplicateConflict => {
                self.discard_key(&key).await;
                self.settle(header, false)
            }
            IndexOutcome::StudyConflict(reason) => {
                self.discard_key(&key).await;
                Err(IngestError::StudyConflict {
                    study_uid: header.study_uid,
                    reason,
                })
            }
        }
    }

    /// Takes back the index rows of an instance whose blob could not be made
    /// durable, then discards the blob. If that fails, the journal row stays
    /// and recovery finds the blob is not what the row says.
    async fn unindex(&self, key: &str) {
        let result = async {
            let mut tx = self.0.index.begin_write().await?;
            journal::remove_instance(&mut tx, key).await?;
            tx.commit().await?;
            Ok::<_, IngestError>(())
        }
        .await;
        match result {
            Ok(()) => self.discard_key(key).await,
            Err(error) => {
                tracing::warn!(%error, blob_key = key, "could not take back an instance; recovery will");
            }
        }
    }

    fn settle(&self, header: InstanceHeader, same_bytes: bool) -> Result<Stored, IngestError> {
        if same_bytes {
            Ok(Stored {
                header,
                outcome: Outcome::AlreadyStored,
                patient_id: None,
            })
        } else {
            Err(IngestError::DuplicateConflict {
                sop_instance_uid: header.sop_instance_uid,
            })
        }
    }
}

/// Where the committer's answer for one instance comes.
type Answer = oneshot::Receiver<Result<IndexOutcome, sqlx::Error>>;

/// The committer's answer, or why there is none.
fn answered(
    answer: Result<Result<IndexOutcome, sqlx::Error>, oneshot::error::RecvError>,
) -> Result<IndexOutcome, IngestError> {
    match answer {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(IngestError::ShuttingDown),
    }
}

/// Refuses an instance of another study than the one a request is for.
fn check_study(expected: Option<&str>, header: &InstanceHeader) -> Result<(), IngestError> {
    match expected {
        Some(expected) if expected != header.study_uid => Err(IngestError::WrongStudy {
            expected: expected.to_owned(),
            found: header.study_uid.clone(),
        }),
        _ => Ok(()),
    }
}
