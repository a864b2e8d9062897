//! A batch of a few instances in one call: every write guarded by the
//! index rules, the outcomes read back before the `COMMIT`.
//!
//! Each of an instance's statements carries the same guard: nothing under
//! its SOP Instance UID yet, its study unknown or from the same facility
//! under the same Patient ID, its series unknown or in its study. A refused
//! instance therefore writes nothing, not even a new study or series. Its
//! outcome is read from the final `SELECT`: the instance row holds its blob
//! key when it was stored; otherwise the row or study in its way says why.

use sqlx::AnyConnection;

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

pub(super) async fn write(
    conn: &mut AnyConnection,
    batch: &[Job],
) -> Result<Vec<Option<IndexOutcome>>, sqlx::Error> {
    let now = now_ms();
    let entries: Vec<&NewInstance> = instances(batch).collect();
    let mut call = Statements::default();
    call.push("BEGIN IMMEDIATE", Vec::new());
    let mut settled: Vec<&str> = Vec::new();
    for job in batch {
        match job {
            Job::Journal(job) => push_journal(&mut call, job, now),
            Job::Instance(job) => {
                settled.extend(job.settled.iter().map(String::as_str));
                push_instance(&mut call, &job.entry, now);
            }
        }
    }
    push_settled(&mut call, &settled);
    if !entries.is_empty() {
        push_lookup(&mut call, &entries);
    }
    call.push("COMMIT", Vec::new());

    // A batch of a few instances repeats the text of an earlier one (the
    // journal's batches are all of one size too), so its prepared
    // statements are kept in the connection's cache: preparing the guarded
    // statements afresh would cost more than running them.
    let rows: Vec<OutcomeRow> = sqlx::query_as_with(&call.sql, arguments(&call.args)?)
        .persistent(true)
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

/// Adds `sql`, which ends where a condition may follow, with the guard of
/// `new` after it; the statement's own values come first, the guard's
/// after them.
fn push_guarded<'a>(
    call: &mut Statements<'a>,
    sql: &str,
    mut args: Vec<Arg<'a>>,
    new: &'a NewInstance,
) {
    let guard = guard(args.len() + 1);
    args.extend(guard_args(new));
    call.push(&format!("{sql} {guard}"), args);
}

/// The writes of one instance, each guarded by [`guard`]: its study and
/// series when they are new (the series counted into its study, its
/// modality added to Modalities in Study unless listed), the instance row,
/// whose trigger counts it into both, and its metadata.
fn push_instance<'a>(call: &mut Statements<'a>, new: &'a NewInstance, now: i64) {
    let h = &new.header;
    push_guarded(
        call,
        &format!(
            "{STUDY_INSERT} SELECT {STUDY_VALUES} WHERE NOT EXISTS \
             (SELECT 1 FROM dicom_study WHERE study_uid = $1) AND"
        ),
        study_insert_args(new, now),
        new,
    );
    // Before the series row, which it tests for.
    let mut args = count_series_args(new, now);
    args.push(Arg::Text(Some(&h.series_uid)));
    push_guarded(
        call,
        &format!(
            "{COUNT_SERIES} AND NOT EXISTS (SELECT 1 FROM dicom_series WHERE series_uid = ${}) \
             AND",
            args.len()
        ),
        args,
        new,
    );
    push_guarded(
        call,
        &format!(
            "{SERIES_INSERT} SELECT {SERIES_VALUES} WHERE NOT EXISTS \
             (SELECT 1 FROM dicom_series WHERE series_uid = $1) AND"
        ),
        series_args(new, now),
        new,
    );
    push_guarded(
        call,
        &format!("{INSTANCE_INSERT} SELECT {INSTANCE_VALUES} WHERE"),
        instance_args(new, now),
        new,
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
