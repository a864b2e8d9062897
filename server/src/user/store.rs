//! SQL for `app_user`, `user_role` and `user_specialty`.

use sqlx::{AnyConnection, AnyPool, FromRow};

use super::UserView;
use crate::auth::Role;
use crate::db::Tx;

#[derive(Debug, Clone, FromRow)]
pub struct Credentials {
    pub id: i64,
    pub facility_id: i64,
    pub password_hash: String,
}

/// The stored hash of an active account, for sign-in.
pub async fn credentials(
    pool: &AnyPool,
    username: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, facility_id, password_hash FROM app_user WHERE username = $1 AND active = 1",
    )
    .bind(username)
    .fetch_optional(pool)
    .await
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    facility_id: i64,
    facility_name: String,
    facility_time_zone: String,
    active: i64,
}

const SELECT_USER: &str =
    "SELECT u.id, u.username, u.display_name, u.facility_id, f.name AS facility_name, \
     f.time_zone AS facility_time_zone, u.active \
     FROM app_user u JOIN facility f ON f.id = u.facility_id";

async fn complete(conn: &mut AnyConnection, row: UserRow) -> Result<UserView, sqlx::Error> {
    let roles = crate::auth::store::roles_of(&mut *conn, row.id).await?;
    let specialties: Vec<String> = sqlx::query_scalar(
        "SELECT specialty FROM user_specialty WHERE user_id = $1 ORDER BY specialty",
    )
    .bind(row.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(UserView {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        facility_id: row.facility_id,
        facility_name: row.facility_name,
        facility_time_zone: row.facility_time_zone,
        roles,
        specialties,
        active: row.active == 1,
    })
}

pub async fn view(conn: &mut AnyConnection, id: i64) -> Result<Option<UserView>, sqlx::Error> {
    let row: Option<UserRow> = sqlx::query_as(&format!("{SELECT_USER} WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => complete(conn, row).await.map(Some),
        None => Ok(None),
    }
}

/// The name a user is shown by to others (a call's tiles, a chat's messages).
pub async fn display_name(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT display_name FROM app_user WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn find_id(conn: &mut AnyConnection, username: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM app_user WHERE username = $1")
        .bind(username)
        .fetch_optional(conn)
        .await
}

pub async fn list(
    conn: &mut AnyConnection,
    facility_id: Option<i64>,
) -> Result<Vec<UserView>, sqlx::Error> {
    let rows: Vec<UserRow> = match facility_id {
        Some(facility_id) => {
            sqlx::query_as(&format!(
                "{SELECT_USER} WHERE u.facility_id = $1 ORDER BY u.id"
            ))
            .bind(facility_id)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as(&format!("{SELECT_USER} ORDER BY u.id"))
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(complete(conn, row).await?);
    }
    Ok(views)
}

pub async fn insert(
    tx: &mut Tx,
    username: &str,
    display_name: &str,
    facility_id: i64,
    password_hash: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO app_user (username, display_name, facility_id, password_hash, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING id",
    )
    .bind(username)
    .bind(display_name)
    .bind(facility_id)
    .bind(password_hash)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

pub async fn update(
    tx: &mut Tx,
    id: i64,
    display_name: &str,
    facility_id: i64,
    active: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE app_user SET display_name = $1, facility_id = $2, active = $3, updated_at = $4 WHERE id = $5")
        .bind(display_name)
        .bind(facility_id)
        .bind(i64::from(active))
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_password(tx: &mut Tx, id: i64, password_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE app_user SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Replaces the user's roles and specialties.
pub async fn set_roles(
    tx: &mut Tx,
    id: i64,
    roles: &[Role],
    specialties: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_role WHERE user_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM user_specialty WHERE user_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let mut seen = std::collections::BTreeSet::new();
    for role in roles.iter().filter(|role| seen.insert(role.as_str())) {
        sqlx::query("INSERT INTO user_role (user_id, role) VALUES ($1, $2)")
            .bind(id)
            .bind(role.as_str())
            .execute(&mut **tx)
            .await?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for specialty in specialties.iter().filter(|s| seen.insert(s.as_str())) {
        sqlx::query("INSERT INTO user_specialty (user_id, specialty) VALUES ($1, $2)")
            .bind(id)
            .bind(specialty)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
