//! A group commit on SQLite in one or two round trips to the connection's
//! worker thread, whatever the number of instances in it.
//!
//! sqlx runs a SQLite connection on a thread of its own, and each call is a
//! hand-off to that thread and back: context switches that, on a small
//! virtual machine, cost more than the statements. Statement by statement
//! ([`super::store::index_instance`]), a batch costs two calls plus two or
//! more per instance. Here a batch is one call or two, by its size:
//!
//! - [`guarded`], up to [`FEW`] instances (one or a few senders, where each
//!   waits for its acknowledgement before sending the next): one call.
//!   Every write carries the index rules as its guard, and the outcomes are
//!   read back before the `COMMIT`. Such batches repeat the text of earlier
//!   ones, so their statements stay prepared in the connection's cache.
//! - [`judged`], larger batches (many senders at once, STOW-RS): one call
//!   takes the write lock and looks up every UID, the rules are judged in
//!   Rust, and a second call makes the writes and the `COMMIT`. Their text
//!   seldom comes again, so they are prepared afresh, and plain writes cost
//!   less to prepare than guarded ones.
//!
//! Either way new rows name their study and series by UID, so no id has to
//! come back from the database in between, and each instance sees what
//! earlier ones of the same batch wrote. PostgreSQL takes one statement per
//! call and keeps the statement-by-statement path.

mod guarded;
mod judged;

use sqlx::{AnyConnection, Executor};

use super::commit::{Job, JournalJob};
use super::store::{Arg, IndexOutcome};
use super::NewInstance;

/// The most instances a batch may hold to be committed in one call.
const FEW: usize = 4;

/// Commits `batch` in one transaction on SQLite; the outcome of each job as
/// [`super::commit`] gives it. On an error the transaction is rolled back.
pub(super) async fn commit(
    conn: &mut AnyConnection,
    batch: &[Job],
) -> Result<Vec<Option<IndexOutcome>>, sqlx::Error> {
    let result = if instances(batch).count() <= FEW {
        guarded::write(conn, batch).await
    } else {
        judged::write(conn, batch).await
    };
    if result.is_err() {
        // The transaction may still be open (a statement failed before the
        // `COMMIT`); an error here means there was none.
        let _ = conn.execute("ROLLBACK").await;
    }
    result
}

/// The instances of a batch, in job order.
fn instances(batch: &[Job]) -> impl Iterator<Item = &NewInstance> {
    batch.iter().filter_map(|job| match job {
        Job::Instance(job) => Some(&job.entry),
        Job::Journal(_) => None,
    })
}

/// A multi-statement text and its values; each statement is written with
/// placeholders from `$1` and renumbered as it is added.
#[derive(Default)]
struct Statements<'a> {
    sql: String,
    args: Vec<Arg<'a>>,
}

impl<'a> Statements<'a> {
    fn push(&mut self, sql: &str, args: Vec<Arg<'a>>) {
        let offset = self.args.len();
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            self.sql.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let n: usize = rest[..digits].parse().unwrap_or(0);
            self.sql.push_str(&(n + offset).to_string());
            rest = &rest[digits..];
        }
        self.sql.push_str(rest);
        self.sql.push_str(";\n");
        self.args.extend(args);
    }
}

/// What the index holds of one instance, read before the batch's writes
/// ([`judged`]) or after them ([`guarded`]), in job order: the instance's
/// blob key and SHA-256, its study's sending
/// facility, DICOM Patient ID and consortium patient, and the study of its
/// series.
type OutcomeRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// A new series row up to its values ([`SERIES_VALUES`]).
const SERIES_INSERT: &str = "INSERT INTO dicom_series (series_uid, study_id, modality, \
     series_number, series_description, num_instances, created_at, updated_at, body_part)";

/// The values of a new series row, as [`series_args`] binds them; its
/// study is named by UID.
const SERIES_VALUES: &str =
    "$1, (SELECT id FROM dicom_study WHERE study_uid = $2), $3, $4, $5, 0, $6, $6, $7";

fn series_args(new: &NewInstance, now: i64) -> Vec<Arg<'_>> {
    let h = &new.header;
    vec![
        Arg::Text(Some(&h.series_uid)),
        Arg::Text(Some(&h.study_uid)),
        Arg::Text(h.modality.as_deref()),
        Arg::Int(h.series_number),
        Arg::Text(h.series_description.as_deref()),
        Arg::Int(Some(now)),
        Arg::Text(h.body_part.as_deref()),
    ]
}

/// As `add_series_to_study`: a new series counted into its study, its
/// modality added to Modalities in Study unless listed, as
/// [`count_series_args`] binds them.
const COUNT_SERIES: &str = "UPDATE dicom_study SET num_series = num_series + 1, modalities = \
     CASE WHEN $2 IS NULL OR instr('\\' || modalities || '\\', '\\' || $2 || '\\') > 0 \
     THEN modalities WHEN modalities = '' THEN $2 ELSE modalities || '\\' || $2 END, \
     updated_at = $3 WHERE study_uid = $1";

fn count_series_args(new: &NewInstance, now: i64) -> Vec<Arg<'_>> {
    let h = &new.header;
    vec![
        Arg::Text(Some(&h.study_uid)),
        Arg::Text(h.modality.as_deref()),
        Arg::Int(Some(now)),
    ]
}

/// The values of a new instance row, as [`instance_args`] binds them; its
/// series is named by UID.
const INSTANCE_VALUES: &str = "$1, (SELECT id FROM dicom_series WHERE series_uid = $2), \
     $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13";

fn instance_args(new: &NewInstance, now: i64) -> Vec<Arg<'_>> {
    let h = &new.header;
    vec![
        Arg::Text(Some(&h.sop_instance_uid)),
        Arg::Text(Some(&h.series_uid)),
        Arg::Text(Some(&h.sop_class_uid)),
        Arg::Text(Some(&h.transfer_syntax)),
        Arg::Int(h.instance_number),
        Arg::Int(h.rows),
        Arg::Int(h.columns),
        Arg::Int(h.frames),
        Arg::Int(Some(new.size)),
        Arg::Text(Some(&new.sha256)),
        Arg::Text(Some(&new.blob_key)),
        Arg::Int(Some(now)),
        Arg::Text(new.audit_owed_by.as_deref()),
    ]
}

/// Journals a batch of blob keys, a hundred rows per statement.
fn push_journal<'a>(call: &mut Statements<'a>, job: &'a JournalJob, now: i64) {
    for chunk in job.keys.chunks(100) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, $1, $2)", i + 3))
            .collect();
        let mut args = vec![Arg::Text(Some(&job.node)), Arg::Int(Some(now))];
        args.extend(chunk.iter().map(|key| Arg::Text(Some(key))));
        call.push(
            &format!(
                "INSERT INTO dicom_ingest_journal (blob_key, node, created_at) VALUES {}",
                rows.join(", ")
            ),
            args,
        );
    }
}

/// Clears the journal rows of keys whose blob and row are both durable.
fn push_settled<'a>(call: &mut Statements<'a>, settled: &[&'a str]) {
    for chunk in settled.chunks(100) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        call.push(
            &format!(
                "DELETE FROM dicom_ingest_journal WHERE blob_key IN ({})",
                placeholders.join(", ")
            ),
            chunk.iter().map(|key| Arg::Text(Some(key))).collect(),
        );
    }
}

/// The `SELECT` of what the index holds of each instance, one
/// [`OutcomeRow`] per instance in job order.
fn push_lookup<'a>(call: &mut Statements<'a>, entries: &[&'a NewInstance]) {
    let mut values = Vec::with_capacity(entries.len());
    let mut args = Vec::with_capacity(entries.len() * 4);
    for (n, entry) in entries.iter().enumerate() {
        let at = n * 4;
        values.push(format!(
            "(${}, ${}, ${}, ${})",
            at + 1,
            at + 2,
            at + 3,
            at + 4
        ));
        let h = &entry.header;
        args.push(Arg::Int(Some(n as i64)));
        args.push(Arg::Text(Some(&h.sop_instance_uid)));
        args.push(Arg::Text(Some(&h.study_uid)));
        args.push(Arg::Text(Some(&h.series_uid)));
    }
    call.push(
        &format!(
            "WITH k(n, sop, study, series) AS (VALUES {}) \
             SELECT k.n, i.blob_key, i.sha256, s.facility_id, s.dicom_patient_id, s.patient_id, \
             ss.study_uid FROM k \
             LEFT JOIN dicom_instance i ON i.sop_instance_uid = k.sop \
             LEFT JOIN dicom_study s ON s.study_uid = k.study \
             LEFT JOIN dicom_series se ON se.series_uid = k.series \
             LEFT JOIN dicom_study ss ON ss.id = se.study_id \
             ORDER BY k.n",
            values.join(", ")
        ),
        args,
    );
}
