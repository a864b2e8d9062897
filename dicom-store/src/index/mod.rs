//! The study/series/instance index (tables of `migrations/*/0009_dicom_index.sql`).
//!
//! The server opens one sqlx `AnyPool` for SQLite or PostgreSQL and hands it to
//! [`Index::new`]; every query here is runtime-checked text that is the same on
//! both engines, with `$1` placeholders, `BIGINT` ids and instants as Unix
//! milliseconds. [`store`] holds the SQL; [`commit`] batches the ingest
//! transactions of concurrent senders into one commit (group commit).

mod batch;
pub mod commit;
pub mod journal;
pub mod store;

use sqlx::{Any, AnyConnection, AnyPool, Connection as _, Transaction};

use crate::error::StoreError;
use crate::validate::InstanceHeader;

/// The database engine behind the pool, for the few places where the two
/// differ in behaviour rather than in SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite: one writer at a time, taken up front with `BEGIN IMMEDIATE`.
    Sqlite,
    /// PostgreSQL: writers serialise on row locks.
    Postgres,
}

/// A transaction that will write, from `pool`: on SQLite with the write
/// lock taken at `BEGIN` (`BEGIN IMMEDIATE`).
///
/// Begun on a task of its own, which finishes however its caller ends. A
/// request whose client goes away is dropped at whatever await it has
/// reached; dropped after the engine ran the `BEGIN` but before sqlx made
/// the `Transaction` that would roll it back (on SQLite, a second round
/// trip to the connection's thread follows the `BEGIN`), it used to leave
/// a pooled connection inside the transaction for good, holding SQLite's
/// write lock, so that every later write failed with "database is locked".
/// The task hands the transaction over, or, its caller gone, drops it
/// itself, which rolls it back.
pub async fn begin_write(
    pool: &AnyPool,
    engine: Engine,
) -> Result<Transaction<'static, Any>, sqlx::Error> {
    let pool = pool.clone();
    let begun = tokio::spawn(async move {
        match engine {
            Engine::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => pool.begin().await,
        }
    });
    match begun.await {
        Ok(begun) => begun,
        Err(failed) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
        // Cancelled: the runtime is shutting down.
        Err(_) => Err(sqlx::Error::PoolClosed),
    }
}

/// The index: a pool and its engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Index {
    pool: AnyPool,
    engine: Engine,
}

impl Index {
    /// Wraps a pool; the engine is read from the pool's URL.
    pub fn new(pool: AnyPool) -> Result<Self, StoreError> {
        let scheme = pool.connect_options().database_url.scheme().to_owned();
        let engine = match scheme.as_str() {
            "sqlite" => Engine::Sqlite,
            "postgres" | "postgresql" => Engine::Postgres,
            _ => return Err(StoreError::UnsupportedEngine(scheme)),
        };
        Ok(Self { pool, engine })
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// `BEGIN`, so a transaction that reads before it writes waits for another
    /// writer instead of failing with `SQLITE_BUSY` at its first write.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        begin_write(&self.pool, self.engine).await
    }

    /// As [`begin_write`](Self::begin_write), on a connection the caller holds.
    pub async fn begin_write_on<'c>(
        &self,
        conn: &'c mut AnyConnection,
    ) -> Result<Transaction<'c, Any>, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => conn.begin().await,
        }
    }
}

/// Everything the index records about one new instance.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The instance's attributes.
    pub header: InstanceHeader,
    /// The facility that sent it.
    pub facility_id: i64,
    /// The consortium patient the sender linked it to, if any.
    pub patient_id: Option<i64>,
    /// Size of the stored file in bytes.
    pub size: i64,
    /// SHA-256 of the stored file, lower-case hexadecimal.
    pub sha256: String,
    /// The blob key it is stored under (a journal row holds it until the
    /// blob and this row are both durable).
    pub blob_key: String,
    /// The data set without bulk data as DICOM JSON.
    pub metadata_json: String,
    /// Who owes the instance's audit event, if it is not written yet
    /// ([`crate::IngestContext::audit_owed_by`]).
    pub audit_owed_by: Option<String>,
}

/// A stored study as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StudyRow {
    /// Row id.
    pub id: i64,
    /// Study Instance UID.
    pub study_uid: String,
    /// Sending facility.
    pub facility_id: i64,
    /// Linked consortium patient.
    pub patient_id: Option<i64>,
    /// Patient ID (0010,0020) as sent.
    pub dicom_patient_id: String,
    /// Patient's Name.
    pub patient_name: Option<String>,
    /// Patient's Birth Date, `YYYYMMDD`.
    pub patient_birth_date: Option<String>,
    /// Patient's Sex.
    pub patient_sex: Option<String>,
    /// Study Date, `YYYYMMDD`.
    pub study_date: Option<String>,
    /// Study Time.
    pub study_time: Option<String>,
    /// Accession Number.
    pub accession_number: Option<String>,
    /// Study Description.
    pub study_description: Option<String>,
    /// Referring Physician's Name.
    pub referring_physician: Option<String>,
    /// Study ID.
    pub study_id: Option<String>,
    /// Modalities in Study, `\`-separated.
    pub modalities: String,
    /// Number of series.
    pub num_series: i64,
    /// Number of instances.
    pub num_instances: i64,
}

/// A stored series, with the UID of its study.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SeriesRow {
    /// Row id.
    pub id: i64,
    /// Series Instance UID.
    pub series_uid: String,
    /// The study's UID.
    pub study_uid: String,
    /// Modality.
    pub modality: Option<String>,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Number of instances.
    pub num_instances: i64,
}

/// A stored instance, with the UIDs of its series and study.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceRow {
    /// Row id.
    pub id: i64,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// The series' UID.
    pub series_uid: String,
    /// The study's UID.
    pub study_uid: String,
    /// Transfer syntax the instance is stored in.
    pub transfer_syntax: String,
    /// Instance Number.
    pub instance_number: Option<i64>,
    /// Rows.
    pub rows: Option<i64>,
    /// Columns.
    pub columns: Option<i64>,
    /// Number of Frames.
    pub frames: Option<i64>,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256, hexadecimal.
    pub sha256: String,
    /// Blob key.
    pub blob_key: String,
}

/// Milliseconds since the Unix epoch, the instant type of every table.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A name lower-cased for case-insensitive matching (`*_search` columns).
pub(crate) fn search_form(name: &str) -> String {
    name.to_lowercase()
}
