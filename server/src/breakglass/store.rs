//! SQL for `break_glass_grant`.

use sqlx::{AnyConnection, FromRow};

use super::GrantView;
use crate::time::rfc3339;

#[derive(Debug, FromRow)]
struct GrantRow {
    id: i64,
    user_id: i64,
    username: String,
    display_name: String,
    facility_id: i64,
    facility_name: String,
    patient_id: i64,
    patient_family_name: String,
    patient_given_name: String,
    reason: String,
    granted_at: i64,
    expires_at: i64,
    reviewed_by: Option<i64>,
    reviewed_at: Option<i64>,
    review_note: Option<String>,
}

impl From<GrantRow> for GrantView {
    fn from(row: GrantRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            username: row.username,
            display_name: row.display_name,
            facility_id: row.facility_id,
            facility_name: row.facility_name,
            patient_id: row.patient_id,
            patient_family_name: row.patient_family_name,
            patient_given_name: row.patient_given_name,
            reason: row.reason,
            granted_at: rfc3339(row.granted_at),
            expires_at: rfc3339(row.expires_at),
            reviewed_by: row.reviewed_by,
            reviewed_at: row.reviewed_at.map(rfc3339),
            review_note: row.review_note,
        }
    }
}

const SELECT: &str = "SELECT g.id, g.user_id, u.username, u.display_name, u.facility_id, \
     f.name AS facility_name, g.patient_id, p.family_name AS patient_family_name, \
     p.given_name AS patient_given_name, g.reason, g.granted_at, \
     g.expires_at, g.reviewed_by, g.reviewed_at, g.review_note \
     FROM break_glass_grant g JOIN app_user u ON u.id = g.user_id \
     JOIN facility f ON f.id = u.facility_id JOIN patient p ON p.id = g.patient_id";

pub async fn insert(
    conn: &mut AnyConnection,
    user_id: i64,
    patient_id: i64,
    reason: &str,
    now: i64,
    expires_at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO break_glass_grant (user_id, patient_id, reason, granted_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(patient_id)
    .bind(reason)
    .bind(now)
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<GrantView>, sqlx::Error> {
    let row: Option<GrantRow> = sqlx::query_as(&format!("{SELECT} WHERE g.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(GrantView::from))
}

/// Newest first; only unreviewed ones when `pending`.
pub async fn list(conn: &mut AnyConnection, pending: bool) -> Result<Vec<GrantView>, sqlx::Error> {
    let filter = if pending {
        " WHERE g.reviewed_at IS NULL"
    } else {
        ""
    };
    let rows: Vec<GrantRow> =
        sqlx::query_as(&format!("{SELECT}{filter} ORDER BY g.id DESC LIMIT 500"))
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(GrantView::from).collect())
}

/// Marks a grant reviewed; false if it was already.
pub async fn review(
    conn: &mut AnyConnection,
    id: i64,
    reviewer: i64,
    note: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE break_glass_grant SET reviewed_by = $1, reviewed_at = $2, review_note = $3 \
         WHERE id = $4 AND reviewed_at IS NULL",
    )
    .bind(reviewer)
    .bind(now)
    .bind(note)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Who held grant `id`, for which patient, and from when until when
/// (milliseconds): the window its activity is read from.
pub async fn window(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<(i64, i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, patient_id, granted_at, expires_at FROM break_glass_grant WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}
