//! SQL for sessions and sign-in throttling.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, FromRow};

use crate::db::Tx;

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 256 random bits, hex-encoded.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[derive(Debug, FromRow)]
pub struct LiveSession {
    pub session_id: i64,
    pub user_id: i64,
    pub username: String,
    pub facility_id: i64,
}

/// The session behind a token, if it is unexpired, unrevoked and its user active.
pub async fn find_live_session(
    pool: &AnyPool,
    token: &str,
    now: i64,
) -> Result<Option<LiveSession>, sqlx::Error> {
    sqlx::query_as::<_, LiveSession>(
        "SELECT s.id AS session_id, u.id AS user_id, u.username, u.facility_id \
         FROM user_session s JOIN app_user u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.active = 1",
    )
    .bind(token_hash(token))
    .bind(now)
    .fetch_optional(pool)
    .await
}

pub async fn insert_session(
    tx: &mut Tx,
    token: &str,
    user_id: i64,
    now: i64,
    expires_at: i64,
    client_addr: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO user_session (token_hash, user_id, created_at, expires_at, client_addr) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(token_hash(token))
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .bind(client_addr)
    .fetch_one(&mut **tx)
    .await
}

pub async fn revoke_session(tx: &mut Tx, session_id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE user_session SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(session_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn revoke_sessions_of_user(
    tx: &mut Tx,
    user_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE user_session SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Milliseconds left on a lock-out of this sign-in name, if any.
pub async fn locked_for(
    pool: &AnyPool,
    username: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let locked_until: Option<Option<i64>> =
        sqlx::query_scalar("SELECT locked_until FROM login_throttle WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    Ok(locked_until
        .flatten()
        .filter(|until| *until > now)
        .map(|until| until - now))
}

/// Counts a failed sign-in. Failures older than the window start a new count;
/// reaching `max_failures` locks the name until `now + window`.
pub async fn record_failure(
    tx: &mut Tx,
    username: &str,
    now: i64,
    window_ms: i64,
    max_failures: u32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_throttle (username, failures, first_failure_at, locked_until) \
         VALUES ($1, 1, $2, NULL) \
         ON CONFLICT (username) DO UPDATE SET \
           failures = CASE WHEN login_throttle.first_failure_at > $3 THEN login_throttle.failures + 1 ELSE 1 END, \
           first_failure_at = CASE WHEN login_throttle.first_failure_at > $3 THEN login_throttle.first_failure_at ELSE $2 END",
    )
    .bind(username)
    .bind(now)
    .bind(now - window_ms)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE login_throttle SET locked_until = $1 WHERE username = $2 AND failures >= $3",
    )
    .bind(now + window_ms)
    .bind(username)
    .bind(i64::from(max_failures))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn clear_failures(tx: &mut Tx, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE username = $1")
        .bind(username)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
