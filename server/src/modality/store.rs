//! SQL for the `modality` table.

use sqlx::{AnyConnection, FromRow};

use super::ModalityView;
use crate::time::rfc3339;

#[derive(Debug, Clone, FromRow)]
pub struct ModalityRow {
    pub id: i64,
    pub facility_id: i64,
    pub ae_title: String,
    pub description: String,
    pub created_at: i64,
}

impl ModalityRow {
    pub fn view(&self) -> ModalityView {
        ModalityView {
            id: self.id,
            facility_id: self.facility_id,
            ae_title: self.ae_title.clone(),
            description: self.description.clone(),
            created_at: rfc3339(self.created_at),
        }
    }
}

const SELECT: &str = "SELECT id, facility_id, ae_title, description, created_at FROM modality";

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
    facility_id: i64,
    ae_title: &str,
    description: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO modality (facility_id, ae_title, description, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(facility_id)
    .bind(ae_title)
    .bind(description)
    .bind(now)
    .fetch_one(conn)
    .await
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM modality WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}
