//! A larger batch in two calls: the write lock and a lookup of every UID,
//! the index rules judged in Rust against it (each instance seeing the
//! ones before it in the batch), then plain writes and the `COMMIT`.

use std::collections::HashMap;

use sqlx::{AnyConnection, Executor};

use super::{
    count_series_args, instance_args, instances, push_journal, push_lookup, push_settled,
    series_args, OutcomeRow, Statements, COUNT_SERIES, INSTANCE_VALUES, SERIES_INSERT,
    SERIES_VALUES,
};
use crate::index::commit::Job;
use crate::index::store::{
    arguments, study_conflict, study_insert_args, Arg, IndexOutcome, INSTANCE_INSERT, STUDY_INSERT,
    STUDY_VALUES,
};
use crate::index::{now_ms, NewInstance};

/// What the index (or this batch) holds of a study: sending facility, DICOM
/// Patient ID, consortium patient.
type StudyOwner = (i64, String, Option<i64>);

pub(super) async fn write(
    conn: &mut AnyConnection,
    batch: &[Job],
) -> Result<Vec<Option<IndexOutcome>>, sqlx::Error> {
    let entries: Vec<&NewInstance> = instances(batch).collect();

    // First call: the write lock, and what the index holds of every UID.
    let mut lookup = Statements::default();
    lookup.push("BEGIN IMMEDIATE", Vec::new());
    let mut rows: Vec<OutcomeRow> = Vec::new();
    if entries.is_empty() {
        conn.execute("BEGIN IMMEDIATE").await?;
    } else {
        push_lookup(&mut lookup, &entries);
        rows = sqlx::query_as_with(&lookup.sql, arguments(&lookup.args)?)
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?;
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
                push_journal(&mut writes, job, now);
                outcomes.push(None);
                continue;
            }
            Job::Instance(job) => job,
        };
        settled.extend(job.settled.iter().map(String::as_str));
        let new = &job.entry;
        let h = &new.header;
        let Some((_, _, sha256, facility, dicom_patient, patient, series_study)) = rows.next()
        else {
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
            writes.push(
                &format!("{STUDY_INSERT} VALUES ({STUDY_VALUES})"),
                study_insert_args(new, now),
            );
            studies.insert(
                &h.study_uid,
                (new.facility_id, h.patient_id.clone(), new.patient_id),
            );
        }
        if series_study.is_none() {
            writes.push(
                &format!("{SERIES_INSERT} VALUES ({SERIES_VALUES})"),
                series_args(new, now),
            );
            writes.push(COUNT_SERIES, count_series_args(new, now));
            series.insert(&h.series_uid, &h.study_uid);
        }
        writes.push(
            &format!("{INSTANCE_INSERT} VALUES ({INSTANCE_VALUES})"),
            instance_args(new, now),
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
    push_settled(&mut writes, &settled);

    // Second call: every write, then the commit.
    writes.push("COMMIT", Vec::new());
    sqlx::query_with(&writes.sql, arguments(&writes.args)?)
        .persistent(false)
        .execute(&mut *conn)
        .await?;
    Ok(outcomes)
}
