//! SQL for the `facility` table.

use sqlx::{AnyConnection, FromRow};

use super::{FacilityView, Tier};
use crate::time::rfc3339;

#[derive(Debug, Clone, FromRow)]
pub struct FacilityRow {
    pub id: i64,
    pub name: String,
    pub tier: String,
    pub parent_id: Option<i64>,
    pub time_zone: String,
    pub contact: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FacilityRow {
    pub fn tier(&self) -> Tier {
        // The CHECK constraint admits only the four tiers.
        Tier::parse(&self.tier).unwrap_or(Tier::Village)
    }

    pub fn view(&self) -> FacilityView {
        FacilityView {
            id: self.id,
            name: self.name.clone(),
            tier: self.tier(),
            parent_id: self.parent_id,
            time_zone: self.time_zone.clone(),
            contact: self.contact.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

const SELECT: &str =
    "SELECT id, name, tier, parent_id, time_zone, contact, created_at, updated_at FROM facility";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<FacilityRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A facility's IANA time zone name, as stored.
pub async fn time_zone_of(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT time_zone FROM facility WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn find_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<FacilityRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE name = $1"))
        .bind(name)
        .fetch_optional(conn)
        .await
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<FacilityRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} ORDER BY id"))
        .fetch_all(conn)
        .await
}

pub async fn children(conn: &mut AnyConnection, id: i64) -> Result<Vec<FacilityRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE parent_id = $1 ORDER BY id"))
        .bind(id)
        .fetch_all(conn)
        .await
}

pub struct FacilityValues<'a> {
    pub name: &'a str,
    pub tier: Tier,
    pub parent: Option<(i64, Tier)>,
    pub time_zone: &'a str,
    pub contact: &'a str,
}

pub async fn insert(
    conn: &mut AnyConnection,
    values: &FacilityValues<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO facility (name, tier, parent_id, parent_tier, time_zone, contact, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(values.name)
    .bind(values.tier.as_str())
    .bind(values.parent.map(|(id, _)| id))
    .bind(values.parent.map(|(_, tier)| tier.as_str()))
    .bind(values.time_zone)
    .bind(values.contact)
    .bind(now)
    .fetch_one(conn)
    .await
}

pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    values: &FacilityValues<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE facility SET name = $1, tier = $2, parent_id = $3, parent_tier = $4, time_zone = $5, \
         contact = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(values.name)
    .bind(values.tier.as_str())
    .bind(values.parent.map(|(id, _)| id))
    .bind(values.parent.map(|(_, tier)| tier.as_str()))
    .bind(values.time_zone)
    .bind(values.contact)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}
