//! A group commit on SQLite in one round trip to the connection's worker
//! thread, whatever the number of instances in it.
//!
//! sqlx runs a SQLite connection on a thread of its own, and each call is a
//! hand-off to that thread and back: context switches that, on a small
//! virtual machine, cost more than the statements. Statement by statement
//! ([`super::store::index_instance`]), a batch costs two calls plus two or
//! more per instance. Here the whole batch is one call: `BEGIN IMMEDIATE`,
//! every write, one `SELECT` of what the index then holds of each instance,
//! and the `COMMIT`.
//!
//! The duplicate and conflict rules are therefore judged by the writes
//! themselves: each of an instance's statements is guarded by the same
//! condition (no instance under its SOP Instance UID, its study unknown or
//! from the same facility under the same Patient ID, its series unknown or
//! in its study), so a refused instance writes nothing. Statements run in
//! order, so each instance sees what earlier ones of the batch wrote. Its
//! outcome is read from the final `SELECT`: the instance row holds its blob
//! key when it was stored; otherwise the row or study that stands in its
//! way says why. New rows name their study and series by UID, so no id has
//! to come back from the database in between. PostgreSQL takes one
//! statement per call and keeps the statement-by-statement path.

use sqlx::{AnyConnection, Executor};

use super::commit::Job;
use super::store::{
    arguments, study_conflict, study_insert_args, Arg, IndexOutcome, INSTANCE_INSERT, STUDY_INSERT,
    STUDY_VALUES,
};
use super::{now_ms, NewInstance};

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

/// The most instances a batch may hold for its statements to be cached.
const CACHED_UP_TO: usize = 4;

/// What the index holds of one instance after the batch's writes, in job
/// order: the instance's blob key and SHA-256, its study's sending
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

/// Commits `batch` in one transaction on SQLite; the outcome of each job as
/// [`super::commit`] gives it. On an error the transaction is rolled back.
pub(super) async fn commit(
    conn: &mut AnyConnection,
    batch: &[Job],
) -> Result<Vec<Option<IndexOutcome>>, sqlx::Error> {
    let result = write(conn, batch).await;
    if result.is_err() {
        // The transaction may still be open (a statement failed before the
        // `COMMIT`); an error here means there was none.
        let _ = conn.execute("ROLLBACK").await;
    }
    result
}

async fn write(
    conn: &mut AnyConnection,
    batch: &[Job],
) -> Result<Vec<Option<IndexOutcome>>, sqlx::Error> {
    let now = now_ms();
    let mut call = Statements::default();
    call.push("BEGIN IMMEDIATE", Vec::new());
    let mut entries: Vec<&NewInstance> = Vec::new();
    let mut settled: Vec<&str> = Vec::new();
    let mut journal = false;
    for job in batch {
        match job {
            Job::Journal(job) => {
                journal = true;
                for chunk in job.keys.chunks(100) {
                    let rows: Vec<String> = (0..chunk.len())
                        .map(|i| format!("(${}, $1, $2)", i + 3))
                        .collect();
                    let mut args = vec![Arg::Text(Some(&job.node)), Arg::Int(Some(now))];
                    args.extend(chunk.iter().map(|key| Arg::Text(Some(key))));
                    call.push(
                        &format!(
                            "INSERT INTO dicom_ingest_journal (blob_key, node, created_at) \
                             VALUES {}",
                            rows.join(", ")
                        ),
                        args,
                    );
                }
            }
            Job::Instance(job) => {
                settled.extend(job.settled.iter().map(String::as_str));
                push_instance(&mut call, &job.entry, now);
                entries.push(&job.entry);
            }
        }
    }
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
    if !entries.is_empty() {
        push_outcomes(&mut call, &entries);
    }
    call.push("COMMIT", Vec::new());

    // A batch of a few instances, the common case, repeats the text of an
    // earlier one, and keeps its prepared statements in the connection's
    // cache: preparing the guarded statements afresh would cost more than
    // running them. A larger batch is prepared for itself, rather than fill
    // the cache with statements that will not come again.
    let cached = !journal && entries.len() <= CACHED_UP_TO;
    let rows: Vec<OutcomeRow> = sqlx::query_as_with(&call.sql, arguments(&call.args)?)
        .persistent(cached)
        .fetch_all(&mut *conn)
        .await?;
    if rows.len() != entries.len() {
        return Err(sqlx::Error::Protocol(
            "the batch's outcomes came back as another number of rows".into(),
        ));
    }
    let mut rows = rows.into_iter().zip(entries);
    batch
        .iter()
        .map(|job| match job {
            Job::Journal(_) => Ok(None),
            Job::Instance(_) => match rows.next() {
                Some((row, new)) => judge(new, row).map(Some),
                None => Err(sqlx::Error::Protocol(
                    "the batch's outcomes ended early".into(),
                )),
            },
        })
        .collect()
}

/// The guard every write of an instance carries, its values bound from
/// `$first`: nothing under its SOP Instance UID yet, its study unknown or
/// from the same facility under the same Patient ID, its series unknown or
/// in its study. Its values, in order, come from [`guard_args`].
fn guard(first: usize) -> String {
    let (sop, study, facility, patient, series) =
        (first, first + 1, first + 2, first + 3, first + 4);
    format!(
        "NOT EXISTS (SELECT 1 FROM dicom_instance WHERE sop_instance_uid = ${sop}) \
         AND NOT EXISTS (SELECT 1 FROM dicom_study WHERE study_uid = ${study} \
         AND (facility_id <> ${facility} OR dicom_patient_id <> ${patient})) \
         AND NOT EXISTS (SELECT 1 FROM dicom_series se JOIN dicom_study st ON st.id = se.study_id \
         WHERE se.series_uid = ${series} AND st.study_uid <> ${study})"
    )
}

fn guard_args(new: &NewInstance) -> Vec<Arg<'_>> {
    let h = &new.header;
    vec![
        Arg::Text(Some(&h.sop_instance_uid)),
        Arg::Text(Some(&h.study_uid)),
        Arg::Int(Some(new.facility_id)),
        Arg::Text(Some(&h.patient_id)),
        Arg::Text(Some(&h.series_uid)),
    ]
}

/// The writes of one instance, each guarded by [`guard`]: its study and
/// series when they are new (the series counted into its study, its
/// modality added to Modalities in Study unless listed), the instance row,
/// whose trigger counts it into both, and its metadata.
fn push_instance<'a>(call: &mut Statements<'a>, new: &'a NewInstance, now: i64) {
    let h = &new.header;
    let with_guard = |mut args: Vec<Arg<'a>>| {
        args.extend(guard_args(new));
        args
    };

    let args = study_insert_args(new, now);
    let study_guard = guard(args.len() + 1);
    call.push(
        &format!(
            "{STUDY_INSERT} SELECT {STUDY_VALUES} WHERE NOT EXISTS \
             (SELECT 1 FROM dicom_study WHERE study_uid = $1) AND {study_guard}"
        ),
        with_guard(args),
    );
    // Before the series row, which it tests for.
    call.push(
        &format!(
            "UPDATE dicom_study SET num_series = num_series + 1, modalities = CASE \
             WHEN $2 IS NULL OR instr('\\' || modalities || '\\', '\\' || $2 || '\\') > 0 \
             THEN modalities WHEN modalities = '' THEN $2 ELSE modalities || '\\' || $2 END, \
             updated_at = $3 WHERE study_uid = $1 AND NOT EXISTS \
             (SELECT 1 FROM dicom_series WHERE series_uid = $4) AND {}",
            guard(5)
        ),
        with_guard(vec![
            Arg::Text(Some(&h.study_uid)),
            Arg::Text(h.modality.as_deref()),
            Arg::Int(Some(now)),
            Arg::Text(Some(&h.series_uid)),
        ]),
    );
    call.push(
        &format!(
            "INSERT INTO dicom_series (series_uid, study_id, modality, series_number, \
             series_description, num_instances, created_at, updated_at) \
             SELECT $1, (SELECT id FROM dicom_study WHERE study_uid = $2), $3, $4, $5, 0, $6, $6 \
             WHERE NOT EXISTS (SELECT 1 FROM dicom_series WHERE series_uid = $1) AND {}",
            guard(7)
        ),
        with_guard(vec![
            Arg::Text(Some(&h.series_uid)),
            Arg::Text(Some(&h.study_uid)),
            Arg::Text(h.modality.as_deref()),
            Arg::Int(h.series_number),
            Arg::Text(h.series_description.as_deref()),
            Arg::Int(Some(now)),
        ]),
    );
    call.push(
        &format!(
            "{INSTANCE_INSERT} SELECT $1, (SELECT id FROM dicom_series WHERE series_uid = $2), \
             $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE {}",
            guard(13)
        ),
        with_guard(vec![
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
        ]),
    );
    // Only the row this instance wrote carries its blob key.
    call.push(
        "INSERT INTO dicom_instance_metadata (instance_id, series_id, metadata) \
         SELECT id, series_id, $3 FROM dicom_instance WHERE sop_instance_uid = $1 \
         AND blob_key = $2",
        vec![
            Arg::Text(Some(&h.sop_instance_uid)),
            Arg::Text(Some(&new.blob_key)),
            Arg::Text(Some(&new.metadata_json)),
        ],
    );
}

/// The `SELECT` of what the index holds of each instance once the batch's
/// writes are done, one row per instance in job order.
fn push_outcomes<'a>(call: &mut Statements<'a>, entries: &[&'a NewInstance]) {
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

/// An instance's outcome from what the index holds after the batch: stored
/// when the row under its SOP Instance UID carries its blob key; otherwise
/// refused by the same rules its writes were guarded by.
fn judge(new: &NewInstance, row: OutcomeRow) -> Result<IndexOutcome, sqlx::Error> {
    let (_, blob_key, sha256, facility, dicom_patient, patient, series_study) = row;
    let h = &new.header;
    if blob_key.as_deref() == Some(new.blob_key.as_str()) {
        return Ok(IndexOutcome::Created(patient));
    }
    if let Some(held) = sha256 {
        return Ok(if held == new.sha256 {
            IndexOutcome::AlreadyStored
        } else {
            IndexOutcome::DuplicateConflict
        });
    }
    if let (Some(facility), Some(dicom_patient)) = (facility, dicom_patient) {
        if let Some(reason) =
            study_conflict(&(facility, dicom_patient), new.facility_id, &h.patient_id)
        {
            return Ok(IndexOutcome::StudyConflict(reason));
        }
    }
    if series_study.is_some_and(|study| study != h.study_uid) {
        return Ok(IndexOutcome::StudyConflict(
            "with this series in another study",
        ));
    }
    Err(sqlx::Error::Protocol(
        "an instance was neither stored nor refused by a rule".into(),
    ))
}
