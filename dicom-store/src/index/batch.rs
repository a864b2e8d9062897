//! A group commit on SQLite in two round trips to the connection's worker
//! thread, whatever the number of instances in it.
//!
//! sqlx runs a SQLite connection on a thread of its own, and each statement
//! is a hand-off to that thread and back: two context switches, which on a
//! small virtual machine cost more than the statement. Statement by statement
//! ([`super::store::index_instance`]), a batch costs two plus two or more per
//! instance. Here the write lock and every lookup the batch needs go in one
//! call (`BEGIN IMMEDIATE` and one `SELECT` over all its UIDs); the rules are
//! judged in Rust, against what the index holds and what earlier instances of
//! the same batch add; and every write, the journal's and the `COMMIT` go in
//! a second call. New rows name their study and series by UID, so no id has
//! to come back between the two. PostgreSQL takes one statement per call and
//! keeps the statement-by-statement path.

use std::collections::HashMap;

use sqlx::{AnyConnection, Executor};

use super::commit::Job;
use super::store::{arguments, study_conflict, study_insert_args, Arg, IndexOutcome, STUDY_INSERT};
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

/// What the index (or this batch) holds of a study: sending facility, DICOM
/// Patient ID, consortium patient.
type StudyOwner = (i64, String, Option<i64>);

/// One row of the batch's lookup, in job order.
type LookupRow = (
    i64,
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
    let entries: Vec<&NewInstance> = batch
        .iter()
        .filter_map(|job| match job {
            Job::Instance(job) => Some(&job.entry),
            Job::Journal(_) => None,
        })
        .collect();

    // First call: the write lock, and what the index holds of every UID.
    let mut lookup = Statements::default();
    lookup.push("BEGIN IMMEDIATE", Vec::new());
    let mut rows: Vec<LookupRow> = Vec::new();
    if !entries.is_empty() {
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
        lookup.push(
            &format!(
                "WITH k(n, sop, study, series) AS (VALUES {}) \
                 SELECT k.n, i.sha256, s.facility_id, s.dicom_patient_id, s.patient_id, \
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
        rows = sqlx::query_as_with(&lookup.sql, arguments(&lookup.args)?)
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?;
    } else {
        conn.execute("BEGIN IMMEDIATE").await?;
    }
    if rows.len() != entries.len() {
        return Err(sqlx::Error::Protocol(
            "the batch lookup answered another number of rows".into(),
        ));
    }

    // The rules, in job order, each instance seeing the ones before it.
    let now = now_ms();
    let mut instances: HashMap<&str, &str> = HashMap::new();
    let mut studies: HashMap<&str, StudyOwner> = HashMap::new();
    let mut series: HashMap<&str, &str> = HashMap::new();
    let mut writes = Statements::default();
    let mut settled: Vec<&str> = Vec::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut rows = rows.into_iter();
    for job in batch {
        let job = match job {
            Job::Journal(job) => {
                for key in &job.keys {
                    writes.push(
                        "INSERT INTO dicom_ingest_journal (blob_key, node, created_at) \
                         VALUES ($1, $2, $3)",
                        vec![
                            Arg::Text(Some(key)),
                            Arg::Text(Some(&job.node)),
                            Arg::Int(Some(now)),
                        ],
                    );
                }
                outcomes.push(None);
                continue;
            }
            Job::Instance(job) => job,
        };
        settled.extend(job.settled.iter().map(String::as_str));
        let new = &job.entry;
        let h = &new.header;
        let Some((_, sha256, facility, dicom_patient, patient, series_study)) = rows.next() else {
            return Err(sqlx::Error::Protocol("the batch lookup ended early".into()));
        };
        let held = sha256
            .as_deref()
            .or(instances.get(h.sop_instance_uid.as_str()).copied());
        if let Some(held) = held {
            outcomes.push(Some(if held == new.sha256 {
                IndexOutcome::AlreadyStored
            } else {
                IndexOutcome::DuplicateConflict
            }));
            continue;
        }
        let owner = match (facility, dicom_patient) {
            (Some(facility), Some(dicom_patient)) => Some((facility, dicom_patient, patient)),
            _ => studies.get(h.study_uid.as_str()).cloned(),
        };
        let linked = match &owner {
            Some((facility, dicom_patient, patient)) => {
                let owner = (*facility, dicom_patient.clone());
                if let Some(reason) = study_conflict(&owner, new.facility_id, &h.patient_id) {
                    outcomes.push(Some(IndexOutcome::StudyConflict(reason)));
                    continue;
                }
                *patient
            }
            None => new.patient_id,
        };
        let series_study = series_study
            .as_deref()
            .or(series.get(h.series_uid.as_str()).copied());
        if series_study.is_some_and(|study| study != h.study_uid) {
            outcomes.push(Some(IndexOutcome::StudyConflict(
                "with this series in another study",
            )));
            continue;
        }

        if owner.is_none() {
            writes.push(STUDY_INSERT, study_insert_args(new, now));
            studies.insert(
                &h.study_uid,
                (new.facility_id, h.patient_id.clone(), new.patient_id),
            );
        }
        if series_study.is_none() {
            writes.push(
                "INSERT INTO dicom_series (series_uid, study_id, modality, series_number, \
                 series_description, num_instances, created_at, updated_at) \
                 VALUES ($1, (SELECT id FROM dicom_study WHERE study_uid = $2), $3, $4, $5, 0, \
                 $6, $6)",
                vec![
                    Arg::Text(Some(&h.series_uid)),
                    Arg::Text(Some(&h.study_uid)),
                    Arg::Text(h.modality.as_deref()),
                    Arg::Int(h.series_number),
                    Arg::Text(h.series_description.as_deref()),
                    Arg::Int(Some(now)),
                ],
            );
            // As `add_series_to_study`: counted, and its modality added to
            // Modalities in Study unless listed.
            writes.push(
                "UPDATE dicom_study SET num_series = num_series + 1, modalities = CASE \
                 WHEN $2 IS NULL OR instr('\\' || modalities || '\\', '\\' || $2 || '\\') > 0 \
                 THEN modalities WHEN modalities = '' THEN $2 ELSE modalities || '\\' || $2 END, \
                 updated_at = $3 WHERE study_uid = $1",
                vec![
                    Arg::Text(Some(&h.study_uid)),
                    Arg::Text(h.modality.as_deref()),
                    Arg::Int(Some(now)),
                ],
            );
            series.insert(&h.series_uid, &h.study_uid);
        }
        writes.push(
            "INSERT INTO dicom_instance (sop_instance_uid, series_id, sop_class_uid, \
             transfer_syntax, instance_number, rows, columns, frames, size, sha256, blob_key, \
             created_at) VALUES ($1, (SELECT id FROM dicom_series WHERE series_uid = $2), $3, \
             $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
            ],
        );
        // `last_insert_rowid()` is the instance row: the counting trigger's
        // writes do not change it.
        writes.push(
            "INSERT INTO dicom_instance_metadata (instance_id, series_id, metadata) \
             VALUES (last_insert_rowid(), (SELECT id FROM dicom_series WHERE series_uid = $1), $2)",
            vec![
                Arg::Text(Some(&h.series_uid)),
                Arg::Text(Some(&new.metadata_json)),
            ],
        );
        instances.insert(&h.sop_instance_uid, &new.sha256);
        outcomes.push(Some(IndexOutcome::Created(linked)));
    }
    for chunk in settled.chunks(100) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        writes.push(
            &format!(
                "DELETE FROM dicom_ingest_journal WHERE blob_key IN ({})",
                placeholders.join(", ")
            ),
            chunk.iter().map(|key| Arg::Text(Some(key))).collect(),
        );
    }

    // Second call: every write, then the commit.
    writes.push("COMMIT", Vec::new());
    sqlx::query_with(&writes.sql, arguments(&writes.args)?)
        .persistent(false)
        .execute(&mut *conn)
        .await?;
    Ok(outcomes)
}
