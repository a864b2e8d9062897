//! Merging two patients found to be one person, and undoing a wrong merge.
//!
//! A merge keeps one patient and moves to it every row that names the
//! other: its records at member facilities and what was done for it there.
//! Each moved row is listed (`patient_merge_move`), so an undo moves back
//! exactly those rows and leaves what was added to the kept patient since.
//! The merged patient stays, inactive, pointing at the kept one
//! (`merged_into`), so links to it still lead somewhere.
//!
//! The rows are moved here, table by table, rather than by each area:
//! what names a patient is the patient index's concern, and one list in
//! one place is what a test can hold against the schema
//! ([`MOVED`] and [`NOT_MOVED`] together name every reference to
//! `patient`).

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::identity::Evidence;
use crate::error::{ApiError, ErrorCode};

/// The tables whose `patient_id` a merge moves, each with the condition a
/// row must meet to move (besides naming the merged patient).
pub const MOVED: &[(&str, &str)] = &[
    ("patient_record", "1 = 1"),
    ("examination", "1 = 1"),
    ("referral", "1 = 1"),
    ("consultation", "1 = 1"),
    ("reading_request", "1 = 1"),
    ("dicom_study", "1 = 1"),
    // The kept patient's consent in force stays the one in force: a consent
    // of the merged patient moves only if withdrawn or if the kept patient
    // has none, since one person has one consent in force.
    (
        "sharing_consent",
        "(t.withdrawn_at IS NOT NULL OR NOT EXISTS (SELECT 1 FROM sharing_consent k \
           WHERE k.patient_id = $3 AND k.withdrawn_at IS NULL))",
    ),
];

/// Tables that name a patient and stay as they are: an emergency grant
/// was given for the record it names and lapses on its own; audit events
/// are never rewritten; a merge names both patients by design.
pub const NOT_MOVED: &[&str] = &[
    "break_glass_grant",
    "audit_event",
    "patient_merge",
    "patient",
];

/// A request to merge another patient with this one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The patient found to be the same person.
    pub other_patient_id: i64,
    pub evidence: Evidence,
    /// Anything the next reader should know, up to 500 characters.
    #[serde(default)]
    pub note: String,
    /// When the other patient is outside your scope: their resident
    /// identity number as the patient gave it, if the record has none.
    pub national_id: Option<String>,
    /// When the other patient is outside your scope: their phone as the
    /// patient gave it, if the record has none.
    pub phone: Option<String>,
}

/// A merge, as administrators review it. Names no patient details.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct MergeView {
    pub id: i64,
    pub kept_patient_id: i64,
    pub merged_patient_id: i64,
    pub merged_by: i64,
    pub merged_by_name: String,
    pub facility_id: i64,
    pub facility_name: String,
    /// Milliseconds since the epoch.
    pub merged_at: i64,
    pub evidence: String,
    pub note: String,
    pub undone_by: Option<i64>,
    pub undone_at: Option<i64>,
    pub undo_reason: Option<String>,
    /// How many rows the merge moved.
    pub moved: i64,
}

const MERGE_SELECT: &str = "SELECT m.id, m.kept_patient_id, m.merged_patient_id, m.merged_by, \
     u.display_name AS merged_by_name, m.facility_id, f.name AS facility_name, m.merged_at, \
     m.evidence, m.note, m.undone_by, m.undone_at, m.undo_reason, \
     (SELECT COUNT(*) FROM patient_merge_move mv WHERE mv.merge_id = m.id) AS moved \
     FROM patient_merge m JOIN app_user u ON u.id = m.merged_by \
     JOIN facility f ON f.id = m.facility_id";

/// Which of two patients a merge keeps: the one holding a resident identity
/// number, else the one registered first. Returns (kept, merged).
pub fn choose_kept(first: (i64, Option<&str>), second: (i64, Option<&str>)) -> (i64, i64) {
    match (first.1, second.1) {
        (None, Some(_)) => (second.0, first.0),
        (Some(_), None) => (first.0, second.0),
        _ if second.0 < first.0 => (second.0, first.0),
        _ => (first.0, second.0),
    }
}

/// The facilities holding a record of both patients; a facility keeps one
/// record per person, so such a pair is merged in that facility's own
/// system first.
pub async fn shared_facilities(
    conn: &mut AnyConnection,
    a: i64,
    b: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT f.name FROM patient_record ra JOIN patient_record rb \
           ON rb.facility_id = ra.facility_id AND rb.patient_id = $2 \
         JOIN facility f ON f.id = ra.facility_id WHERE ra.patient_id = $1 ORDER BY f.name",
    )
    .bind(a)
    .bind(b)
    .fetch_all(conn)
    .await
}

/// Merges `merged` into `kept`: records the merge, moves and lists every
/// row, marks `merged`. Returns the merge's id and how many rows moved.
/// The caller has checked who may and whether the two are one person.
pub async fn merge(
    conn: &mut AnyConnection,
    kept: i64,
    merged: i64,
    by: (i64, i64),
    evidence: Evidence,
    note: &str,
    now: i64,
) -> Result<(i64, u64), ApiError> {
    let (user_id, facility_id) = by;
    let merge_id: i64 = sqlx::query_scalar(
        "INSERT INTO patient_merge (kept_patient_id, merged_patient_id, merged_by, facility_id, \
         merged_at, evidence, note) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(kept)
    .bind(merged)
    .bind(user_id)
    .bind(facility_id)
    .bind(now)
    .bind(evidence.as_str())
    .bind(note)
    .fetch_one(&mut *conn)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => already_merged(),
        _ => ApiError::from(error),
    })?;
    let mut moved = 0;
    for (table, condition) in MOVED {
        let sql = format!(
            "INSERT INTO patient_merge_move (merge_id, entity, row_id) \
             SELECT $1, '{table}', t.id FROM {table} t WHERE t.patient_id = $2 AND {condition}"
        );
        let insert = sqlx::query(&sql).bind(merge_id).bind(merged);
        // PostgreSQL refuses a value bound to no placeholder.
        let insert = if condition.contains("$3") {
            insert.bind(kept)
        } else {
            insert
        };
        insert.execute(&mut *conn).await?;
        moved += sqlx::query(&format!(
            "UPDATE {table} SET patient_id = $1 WHERE id IN (SELECT row_id FROM \
             patient_merge_move WHERE merge_id = $2 AND entity = '{table}')"
        ))
        .bind(kept)
        .bind(merge_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    sqlx::query("UPDATE patient SET merged_into = $1, updated_at = $2 WHERE id = $3")
        .bind(kept)
        .bind(now)
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    Ok((merge_id, moved))
}

fn already_merged() -> ApiError {
    ApiError::conflict(
        ErrorCode::AlreadyMerged,
        "one of these patients has already been merged into another",
    )
}

/// One merge.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<MergeView>, sqlx::Error> {
    sqlx::query_as(&format!("{MERGE_SELECT} WHERE m.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The merges an administrator of facility `$1` reviews, newest first:
/// those made there or touching a patient it holds a record of
/// ([`crate::policy::patients::MERGE_IN_ADMIN_SCOPE`]).
pub async fn list_for_admin(
    conn: &mut AnyConnection,
    facility_id: i64,
    limit: i64,
) -> Result<Vec<MergeView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{MERGE_SELECT} WHERE {} ORDER BY m.merged_at DESC, m.id DESC LIMIT $2",
        crate::policy::patients::MERGE_IN_ADMIN_SCOPE
    ))
    .bind(facility_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The merges that kept or merged `patient_id`, newest first.
pub async fn of_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Vec<MergeView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{MERGE_SELECT} WHERE m.kept_patient_id = $1 OR m.merged_patient_id = $1 \
         ORDER BY m.merged_at DESC, m.id DESC"
    ))
    .bind(patient_id)
    .fetch_all(conn)
    .await
}

/// Undoes a merge: moves back every row it moved that still names the kept
/// patient, makes the merged patient active again and records who undid
/// it and why. Returns how many rows went back.
pub async fn undo(
    conn: &mut AnyConnection,
    merge: &MergeView,
    user_id: i64,
    reason: &str,
    now: i64,
) -> Result<u64, ApiError> {
    let kept = super::identity::index_row(conn, merge.kept_patient_id).await?;
    if kept.is_some_and(|kept| kept.merged_into.is_some()) {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyMerged,
            "the kept patient has since been merged into another; undo that merge first",
        ));
    }
    let done = sqlx::query(
        "UPDATE patient_merge SET undone_by = $1, undone_at = $2, undo_reason = $3 \
         WHERE id = $4 AND undone_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .bind(reason)
    .bind(merge.id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::conflict(
            ErrorCode::MergeAlreadyUndone,
            "this merge has already been undone",
        ));
    }
    let mut moved = 0;
    for (table, _) in MOVED {
        moved += sqlx::query(&format!(
            "UPDATE {table} SET patient_id = $1 WHERE patient_id = $2 AND id IN \
             (SELECT row_id FROM patient_merge_move WHERE merge_id = $3 AND entity = '{table}')"
        ))
        .bind(merge.merged_patient_id)
        .bind(merge.kept_patient_id)
        .bind(merge.id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    sqlx::query("UPDATE patient SET merged_into = NULL, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(merge.merged_patient_id)
        .execute(&mut *conn)
        .await?;
    Ok(moved)
}

/// The patients merged into `patient_id` and not undone.
pub async fn merged_into(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM patient WHERE merged_into = $1 ORDER BY id")
        .bind(patient_id)
        .fetch_all(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::choose_kept;

    #[test]
    fn the_patient_with_an_identity_number_is_kept_else_the_first() {
        assert_eq!(choose_kept((5, None), (9, Some("x"))), (9, 5));
        assert_eq!(choose_kept((9, Some("x")), (5, None)), (9, 5));
        assert_eq!(choose_kept((9, None), (5, None)), (5, 9));
        assert_eq!(choose_kept((5, None), (9, None)), (5, 9));
    }
}
