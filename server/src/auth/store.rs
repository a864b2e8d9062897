//! SQL for sessions and sign-in throttling.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, FromRow};

use super::Role;
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

/// The session behind a token, if it is unexpired, unrevoked and its user
/// active, with the user's roles, in one query: every request a signed-in
/// user makes starts with it.
pub async fn find_live_caller(
    pool: &AnyPool,
    token: &str,
    now: i64,
) -> Result<Option<(LiveSession, Vec<Role>)>, sqlx::Error> {
    let rows: Vec<(i64, i64, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT s.id, u.id, u.username, u.facility_id, r.role \
         FROM user_session s JOIN app_user u ON u.id = s.user_id \
         LEFT JOIN user_role r ON r.user_id = u.id \
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.active = 1 \
         ORDER BY r.role",
    )
    .bind(token_hash(token))
    .bind(now)
    .fetch_all(pool)
    .await?;
    let roles = roles_in(&rows, |(.., role)| role.as_deref());
    Ok(rows
        .into_iter()
        .next()
        .map(|(session_id, user_id, username, facility_id, _)| {
            (
                LiveSession {
                    session_id,
                    user_id,
                    username,
                    facility_id,
                },
                roles,
            )
        }))
}

/// A user's name, facility and roles, in one query; `None` if there is no
/// such user.
pub async fn user_with_roles(
    pool: &AnyPool,
    user_id: i64,
) -> Result<Option<(String, i64, Vec<Role>)>, sqlx::Error> {
    let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT u.username, u.facility_id, r.role FROM app_user u \
         LEFT JOIN user_role r ON r.user_id = u.id WHERE u.id = $1 ORDER BY r.role",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    let roles = roles_in(&rows, |(.., role)| role.as_deref());
    Ok(rows
        .into_iter()
        .next()
        .map(|(username, facility_id, _)| (username, facility_id, roles)))
}

/// The roles of rows joined to `user_role` (one row per role, the role
/// empty when the user has none).
fn roles_in<R>(rows: &[R], role: impl Fn(&R) -> Option<&str>) -> Vec<Role> {
    rows.iter()
        .filter_map(|row| role(row).and_then(Role::parse))
        .collect()
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

/// Counts a sign-in attempt on `username` before its password is checked,
/// and decides in the same statement whether it may be checked: `Ok(())`, or
/// `Err(ms)` with the milliseconds left on the lock-out.
///
/// Counting first and deciding in one atomic upsert is what keeps concurrent
/// guesses honest: N guesses sent at once take the counts 1..=N, so at most
/// `max_failures` passwords are ever checked, whatever the timing. A success
/// deletes the row ([`clear_failures`]), so a right password costs nothing.
/// Attempts older than the window, or a lock-out that has run out, start a
/// new count; the count that reaches `max_failures` locks the name until
/// `now + window` (not extended by the attempts refused meanwhile).
pub async fn claim_attempt(
    tx: &mut Tx,
    username: &str,
    now: i64,
    window_ms: i64,
    max_failures: u32,
) -> Result<Result<(), i64>, sqlx::Error> {
    let max = i64::from(max_failures.max(1));
    let lock_until = now.saturating_add(window_ms);
    let first_lock = (max <= 1).then_some(lock_until);
    let (failures, locked_until): (i64, Option<i64>) = sqlx::query_as(
        "INSERT INTO login_throttle (username, failures, first_failure_at, locked_until) \
         VALUES ($1, 1, $2, $5) \
         ON CONFLICT (username) DO UPDATE SET \
           failures = CASE WHEN (login_throttle.locked_until IS NOT NULL AND login_throttle.locked_until <= $2) \
                              OR (login_throttle.locked_until IS NULL AND login_throttle.first_failure_at <= $3) \
                           THEN 1 ELSE login_throttle.failures + 1 END, \
           first_failure_at = CASE WHEN (login_throttle.locked_until IS NOT NULL AND login_throttle.locked_until <= $2) \
                              OR (login_throttle.locked_until IS NULL AND login_throttle.first_failure_at <= $3) \
                           THEN $2 ELSE login_throttle.first_failure_at END, \
           locked_until = CASE WHEN (login_throttle.locked_until IS NOT NULL AND login_throttle.locked_until <= $2) \
                              OR (login_throttle.locked_until IS NULL AND login_throttle.first_failure_at <= $3) \
                           THEN $5 \
                           WHEN login_throttle.locked_until IS NOT NULL THEN login_throttle.locked_until \
                           WHEN login_throttle.failures + 1 >= $4 THEN $6 \
                           ELSE NULL END \
         RETURNING failures, locked_until",
    )
    .bind(username)
    .bind(now)
    .bind(now.saturating_sub(window_ms))
    .bind(max)
    .bind(first_lock)
    .bind(lock_until)
    .fetch_one(&mut **tx)
    .await?;
    if failures <= max {
        Ok(Ok(()))
    } else {
        let left = locked_until.map_or(window_ms, |until| until - now);
        Ok(Err(left.max(0)))
    }
}

pub async fn clear_failures(tx: &mut Tx, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE username = $1")
        .bind(username)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The roles an account holds. The accounts area owns the table; the
/// kernel reads it because a caller's roles are part of who is calling.
pub async fn roles_of<'e, E>(executor: E, user_id: i64) -> Result<Vec<Role>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let names: Vec<String> =
        sqlx::query_scalar("SELECT role FROM user_role WHERE user_id = $1 ORDER BY role")
            .bind(user_id)
            .fetch_all(executor)
            .await?;
    Ok(names.iter().filter_map(|name| Role::parse(name)).collect())
}
