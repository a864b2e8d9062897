//! SQL of the `notification` table.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::NotificationView;
use crate::auth::Role;
use crate::db::Tx;
use crate::time::rfc3339;

pub async fn insert(
    tx: &mut Tx,
    user_id: i64,
    kind: &str,
    payload: &Value,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO notification (user_id, kind, payload, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(kind)
    .bind(payload.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The patient a notification is about, as its recipient names them.
pub struct PatientLabel {
    pub id: i64,
    pub name: String,
    pub record_number: Option<String>,
}

fn id_in(payload: &Value, field: &str) -> Option<i64> {
    payload.get(field).and_then(Value::as_i64)
}

/// The patient of `payload`: its `patient_id`, else that of the
/// consultation, reading request, booking or critical result it names.
/// The recipient is a party to what it announces, who sees that patient
/// already; the record number is the one at their facility, else the first.
pub async fn patient_of(
    tx: &mut Tx,
    user_id: i64,
    payload: &Value,
) -> Result<Option<PatientLabel>, sqlx::Error> {
    let lookups: [(&str, &str); 4] = [
        ("consultation_id", "SELECT patient_id FROM consultation WHERE id = $1"),
        ("reading_request_id", "SELECT patient_id FROM reading_request WHERE id = $1"),
        (
            "booking_id",
            "SELECT c.patient_id FROM booking b JOIN consultation c ON c.id = b.consultation_id WHERE b.id = $1",
        ),
        (
            "critical_result_id",
            "SELECT r.patient_id FROM critical_result c JOIN reading_request r ON r.id = c.reading_request_id \
             WHERE c.id = $1",
        ),
    ];
    let mut patient = id_in(payload, "patient_id");
    for (field, sql) in lookups {
        if patient.is_some() {
            break;
        }
        if let Some(id) = id_in(payload, field) {
            patient = sqlx::query_scalar::<_, Option<i64>>(sql)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .flatten();
        }
    }
    let Some(patient) = patient else {
        return Ok(None);
    };
    let row = sqlx::query(&format!(
        "SELECT p.family_name, p.given_name, {} AS record_number FROM patient p WHERE p.id = $1",
        crate::patient_label::record_number_sql(
            "p.id",
            "(SELECT u.facility_id FROM app_user u WHERE u.id = $2)"
        )
    ))
    .bind(patient)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let family: String = row.try_get("family_name")?;
    let given: String = row.try_get("given_name")?;
    Ok(Some(PatientLabel {
        id: patient,
        name: crate::patient_label::display_name(&family, &given),
        record_number: row.try_get("record_number")?,
    }))
}

pub async fn users_with_role(tx: &mut Tx, role: Role) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u.id FROM app_user u JOIN user_role r ON r.user_id = u.id \
         WHERE r.role = $1 AND u.active = 1 ORDER BY u.id",
    )
    .bind(role.as_str())
    .fetch_all(&mut **tx)
    .await
}

fn view(row: &AnyRow) -> Result<NotificationView, sqlx::Error> {
    let payload: String = row.try_get("payload")?;
    Ok(NotificationView {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        created_at: rfc3339(row.try_get("created_at")?),
        read_at: row.try_get::<Option<i64>, _>("read_at")?.map(rfc3339),
    })
}

/// The user's notifications after `after`, oldest first.
pub async fn after(
    pool: &AnyPool,
    user_id: i64,
    after: i64,
    unread_only: bool,
    limit: i64,
) -> Result<Vec<NotificationView>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, kind, payload, created_at, read_at FROM notification \
         WHERE user_id = $1 AND id > $2 AND ($3 = 0 OR read_at IS NULL) ORDER BY id LIMIT $4",
    )
    .bind(user_id)
    .bind(after)
    .bind(i64::from(unread_only))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(view).collect()
}

pub async fn latest_id(pool: &AnyPool, user_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM notification WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await
}

pub async fn mark_read(
    pool: &AnyPool,
    user_id: i64,
    up_to: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE notification SET read_at = $1 WHERE user_id = $2 AND id <= $3 AND read_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(up_to)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Marks the listed notifications of the user read; others' ids are ignored.
pub async fn mark_ids(
    tx: &mut Tx,
    user_id: i64,
    ids: &[i64],
    now: i64,
) -> Result<u64, sqlx::Error> {
    let mut marked = 0;
    for id in ids {
        marked += sqlx::query(
            "UPDATE notification SET read_at = $1 WHERE user_id = $2 AND id = $3 AND read_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(marked)
}
