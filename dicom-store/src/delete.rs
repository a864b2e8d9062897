//! Deleting a study: its index rows go in one transaction that also writes
//! its blob keys into the ingest journal, and the blobs go after the
//! commit. A crash in between leaves journal rows naming blobs no index row
//! points to, which the node's next recovery deletes: nothing is left half
//! deleted, and nothing deleted can come back.
//!
//! Whether a study may be deleted is not decided here: the server's policy
//! (a retention rule) does that before it calls [`Store::delete_study`].

use crate::error::StoreError;
use crate::index::journal;
use crate::store::Store;

/// What a deletion removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// Instances removed.
    pub instances: usize,
    /// Their bytes.
    pub bytes: i64,
}

impl Store {
    /// Deletes every instance of `study_uid` and the study; `None` when
    /// there is no such study.
    pub async fn delete_study(&self, study_uid: &str) -> Result<Option<Deleted>, StoreError> {
        let mut tx = self.index().begin_write().await?;
        let study: Option<i64> =
            sqlx::query_scalar("SELECT id FROM dicom_study WHERE study_uid = $1")
                .bind(study_uid)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(study_id) = study else {
            return Ok(None);
        };
        let blobs: Vec<(String, i64)> = sqlx::query_as(
            "SELECT i.blob_key, i.size FROM dicom_instance i \
             JOIN dicom_series se ON se.id = i.series_id WHERE se.study_id = $1",
        )
        .bind(study_id)
        .fetch_all(&mut *tx)
        .await?;
        let keys: Vec<String> = blobs.iter().map(|(key, _)| key.clone()).collect();
        // A key may still be journalled from its ingest (rows are cleared
        // by a later group commit): then it already is what it must be.
        let now = crate::index::now_ms();
        for key in &keys {
            sqlx::query(
                "INSERT INTO dicom_ingest_journal (blob_key, node, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (blob_key) DO NOTHING",
            )
            .bind(key)
            .bind(&self.config().node)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for key in &keys {
            journal::remove_instance(&mut tx, key).await?;
        }
        sqlx::query("DELETE FROM dicom_series WHERE study_id = $1")
            .bind(study_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM dicom_study WHERE id = $1")
            .bind(study_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for key in &keys {
            // Left for recovery when it fails: the key is journalled.
            if let Err(error) = self.blobs().delete(key).await {
                tracing::warn!(%error, blob_key = key, "could not delete a blob; recovery will");
                continue;
            }
            let mut conn = self.index().pool().acquire().await?;
            journal::clear_journal(&mut conn, &[key]).await?;
        }
        Ok(Some(Deleted {
            instances: keys.len(),
            bytes: blobs.iter().map(|(_, size)| size).sum(),
        }))
    }
}
