//! The SQL of the ingest journal (`dicom_ingest_journal`): blob keys handed
//! out before their instances are indexed, and what recovery does with a key
//! whose blob may not be whole.

use sqlx::{AnyConnection, AnyPool};

use super::now_ms;

/// Records blob keys handed to ingests of `node` (see `dicom_ingest_journal`).
pub async fn insert_journal(
    conn: &mut AnyConnection,
    keys: &[String],
    node: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    // One statement per chunk: a batch of keys costs one round trip, not one
    // per key, while the write lock is held.
    for chunk in keys.chunks(100) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, $1, $2)", i + 3))
            .collect();
        let sql = format!(
            "INSERT INTO dicom_ingest_journal (blob_key, node, created_at) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(node).bind(now);
        for key in chunk {
            query = query.bind(key);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The journal's keys of `node`.
pub async fn journal_keys(pool: &AnyPool, node: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT blob_key FROM dicom_ingest_journal WHERE node = $1")
        .bind(node)
        .fetch_all(pool)
        .await
}

/// Removes the journal rows of settled keys: keys whose blob and index row
/// are both durable, or whose blob was discarded.
pub async fn clear_journal<K: AsRef<str>>(
    conn: &mut AnyConnection,
    keys: &[K],
) -> Result<(), sqlx::Error> {
    // One statement per chunk keeps the statement small on both engines.
    for chunk in keys.chunks(100) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "DELETE FROM dicom_ingest_journal WHERE blob_key IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for key in chunk {
            query = query.bind(key.as_ref());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The size and SHA-256 of the indexed instance stored under `key`, if any.
pub async fn indexed_under(
    pool: &AnyPool,
    key: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT size, sha256 FROM dicom_instance WHERE blob_key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
}

/// Takes out of the index the instance stored under `key`, whose blob never
/// became durable (it was never acknowledged): its metadata and row, its
/// count in its series and study, and the series when it was its only
/// instance. The study row stays, with its counts lowered: other tables
/// (reading requests, consultations) may already refer to it.
pub async fn remove_instance(conn: &mut AnyConnection, key: &str) -> Result<(), sqlx::Error> {
    let found: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT i.id, i.series_id, se.study_id FROM dicom_instance i \
         JOIN dicom_series se ON se.id = i.series_id WHERE i.blob_key = $1",
    )
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((instance_id, series_id, study_id)) = found else {
        return Ok(());
    };
    sqlx::query("DELETE FROM dicom_instance_metadata WHERE instance_id = $1")
        .bind(instance_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM dicom_instance WHERE id = $1")
        .bind(instance_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE dicom_series SET num_instances = num_instances - 1 WHERE id = $1")
        .bind(series_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE dicom_study SET num_instances = num_instances - 1 WHERE id = $1")
        .bind(study_id)
        .execute(&mut *conn)
        .await?;
    let left: i64 = sqlx::query_scalar("SELECT num_instances FROM dicom_series WHERE id = $1")
        .bind(series_id)
        .fetch_one(&mut *conn)
        .await?;
    if left == 0 {
        sqlx::query("DELETE FROM dicom_series WHERE id = $1")
            .bind(series_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE dicom_study SET num_series = num_series - 1 WHERE id = $1")
            .bind(study_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
