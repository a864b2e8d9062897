//! SQL for the `modality` table.

use ipnet::IpNet;
use sqlx::{AnyConnection, FromRow};

use super::ModalityView;
use crate::time::rfc3339;

#[derive(Debug, Clone, FromRow)]
pub struct ModalityRow {
    pub id: i64,
    pub facility_id: i64,
    pub ae_title: String,
    pub description: String,
    /// Comma-separated CIDR blocks, as [`hosts_text`] writes them.
    pub allowed_hosts: String,
    pub max_associations: Option<i64>,
    pub modality_type: String,
    pub port: Option<i64>,
    pub created_at: i64,
}

impl ModalityRow {
    pub fn view(&self) -> ModalityView {
        ModalityView {
            id: self.id,
            facility_id: self.facility_id,
            ae_title: self.ae_title.clone(),
            description: self.description.clone(),
            allowed_hosts: self.hosts().iter().map(ToString::to_string).collect(),
            max_associations: self.max_associations.and_then(|n| u32::try_from(n).ok()),
            modality_type: self.modality_type.clone(),
            port: self.port.and_then(|n| u16::try_from(n).ok()),
            created_at: rfc3339(self.created_at),
        }
    }

    /// The hosts it may call from; empty for any. Written only through
    /// [`hosts_text`], so an entry that does not parse is a row edited by
    /// hand, and is skipped rather than taken to mean "any host".
    pub fn hosts(&self) -> Vec<IpNet> {
        self.allowed_hosts
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .filter_map(|entry| entry.parse().ok())
            .collect()
    }

    /// Whether the row binds the modality to some hosts at all.
    pub fn is_bound(&self) -> bool {
        !self.allowed_hosts.trim().is_empty()
    }
}

/// How [`ModalityRow::allowed_hosts`] is stored.
pub fn hosts_text(hosts: &[IpNet]) -> String {
    hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The columns of a new row.
pub struct NewRow<'a> {
    pub facility_id: i64,
    pub ae_title: &'a str,
    pub description: &'a str,
    pub allowed_hosts: &'a str,
    pub max_associations: Option<i64>,
    pub modality_type: &'a str,
    pub port: Option<i64>,
}

const SELECT: &str = "SELECT id, facility_id, ae_title, description, allowed_hosts, \
                      max_associations, modality_type, port, created_at FROM modality";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<ModalityRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn by_ae_title(
    conn: &mut AnyConnection,
    ae_title: &str,
) -> Result<Option<ModalityRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE ae_title = $1"))
        .bind(ae_title)
        .fetch_optional(conn)
        .await
}

pub async fn of_facility(
    conn: &mut AnyConnection,
    facility_id: i64,
) -> Result<Vec<ModalityRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE facility_id = $1 ORDER BY ae_title"
    ))
    .bind(facility_id)
    .fetch_all(conn)
    .await
}

pub async fn insert(
    conn: &mut AnyConnection,
    row: NewRow<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO modality (facility_id, ae_title, description, allowed_hosts, \
         max_associations, modality_type, port, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(row.facility_id)
    .bind(row.ae_title)
    .bind(row.description)
    .bind(row.allowed_hosts)
    .bind(row.max_associations)
    .bind(row.modality_type)
    .bind(row.port)
    .bind(now)
    .fetch_one(conn)
    .await
}

pub async fn update(conn: &mut AnyConnection, id: i64, row: NewRow<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE modality SET ae_title = $1, description = $2, allowed_hosts = $3, \
         max_associations = $4, modality_type = $5, port = $6 WHERE id = $7",
    )
    .bind(row.ae_title)
    .bind(row.description)
    .bind(row.allowed_hosts)
    .bind(row.max_associations)
    .bind(row.modality_type)
    .bind(row.port)
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM modality WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}
