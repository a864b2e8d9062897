//! The SQL of `consultation_chat_message`: what was written in a
//! consultation's call, in the order it was written.

use sqlx::AnyConnection;

/// One message, with its author's display name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatRow {
    pub id: i64,
    pub author_id: i64,
    pub author_name: String,
    pub body: String,
    pub sent_at: i64,
}

const SELECT: &str = "SELECT m.id, m.author_id, u.display_name AS author_name, m.body, m.sent_at \
     FROM consultation_chat_message m JOIN app_user u ON u.id = m.author_id";

/// The messages after `after` (an id; 0 for all), oldest first, at most `limit`.
pub async fn list(
    conn: &mut AnyConnection,
    consultation_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<ChatRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE m.consultation_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3"
    ))
    .bind(consultation_id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Stores a message and returns it as listed.
pub async fn insert(
    conn: &mut AnyConnection,
    consultation_id: i64,
    author_id: i64,
    body: &str,
    now: i64,
) -> Result<ChatRow, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO consultation_chat_message (consultation_id, author_id, body, sent_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(consultation_id)
    .bind(author_id)
    .bind(body)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query_as(&format!("{SELECT} WHERE m.id = $1"))
        .bind(id)
        .fetch_one(conn)
        .await
}
