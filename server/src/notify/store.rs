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
