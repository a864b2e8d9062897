//! SQL for `diagnosis_catalogue`.

use sqlx::{AnyConnection, FromRow};

use super::{Catalogue, CatalogueEntryView, Entry};
use crate::facility::Tier;
use crate::time::rfc3339;

#[derive(Debug, FromRow)]
struct EntryRow {
    id: i64,
    code_from: String,
    code_to: String,
    tiers: String,
    label: String,
    created_at: i64,
}

impl EntryRow {
    fn tiers(&self) -> Vec<Tier> {
        // Written only by `insert`, from a `Vec<Tier>`.
        serde_json::from_str(&self.tiers).unwrap_or_default()
    }

    fn view(self) -> CatalogueEntryView {
        CatalogueEntryView {
            tiers: self.tiers(),
            id: self.id,
            code_from: self.code_from,
            code_to: self.code_to,
            label: self.label,
            created_at: rfc3339(self.created_at),
        }
    }
}

/// The export order, which is also the order of a file imported again, so
/// export, import, export gives the same file.
const SELECT: &str =
    "SELECT id, code_from, code_to, tiers, label, created_at FROM diagnosis_catalogue";
const ORDER: &str = "ORDER BY code_from, code_to, id";

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<CatalogueEntryView>, sqlx::Error> {
    let rows: Vec<EntryRow> = sqlx::query_as(&format!("{SELECT} {ORDER}"))
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(EntryRow::view).collect())
}

pub async fn get(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<CatalogueEntryView>, sqlx::Error> {
    let row: Option<EntryRow> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(EntryRow::view))
}

pub async fn load(conn: &mut AnyConnection) -> Result<Catalogue, sqlx::Error> {
    let rows: Vec<EntryRow> = sqlx::query_as(&format!("{SELECT} {ORDER}"))
        .fetch_all(conn)
        .await?;
    Ok(Catalogue {
        entries: rows
            .into_iter()
            .map(|row| Entry {
                tiers: row.tiers(),
                code_from: row.code_from,
                code_to: row.code_to,
                label: row.label,
            })
            .collect(),
    })
}

pub async fn insert(conn: &mut AnyConnection, entry: &Entry, now: i64) -> Result<i64, sqlx::Error> {
    let tiers = serde_json::to_string(&entry.tiers).unwrap_or_else(|_| "[]".to_owned());
    sqlx::query_scalar(
        "INSERT INTO diagnosis_catalogue (code_from, code_to, tiers, label, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&entry.code_from)
    .bind(&entry.code_to)
    .bind(tiers)
    .bind(&entry.label)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// False when there was no such entry.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM diagnosis_catalogue WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Empties the catalogue; returns how many entries there were.
pub async fn delete_all(conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM diagnosis_catalogue")
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
