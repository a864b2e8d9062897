//! Crash recovery: what the next start makes of an ingest cut short.

use crate::helpers::*;

#[tokio::test]
async fn recovery_removes_the_blob_of_an_unfinished_ingest_and_staged_files() {
    let t = TestStore::new().await;
    let kept = t
        .store
        .ingest(
            fresh_instance("CT_small.dcm").as_slice(),
            &ctx(t.facility_a),
        )
        .await
        .expect("stored");
    // A crash after the blob became visible and before the index commit
    // leaves a journal row and its blob; a crash while receiving leaves a
    // staged file.
    let key = "de/ad/deadbeefdeadbeefdeadbeefdeadbeef";
    sqlx::query(
        "INSERT INTO dicom_ingest_journal (blob_key, node, created_at) VALUES ($1, 'local', 0)",
    )
    .bind(key)
    .execute(&t.db.pool)
    .await
    .expect("a journal row");
    let blob = t.blob_root().join(key);
    std::fs::create_dir_all(blob.parent().expect("a parent")).expect("shard");
    std::fs::write(&blob, b"half an ingest").expect("a blob");
    std::fs::write(t.staging_dir().join("0123.part"), b"half a request").expect("a staged file");
    // A key leased by a node that is still running is not ours to remove.
    sqlx::query("INSERT INTO dicom_ingest_journal (blob_key, node, created_at) VALUES ('aa/bb/aabb', 'other', 0)")
        .execute(&t.db.pool)
        .await
        .expect("another node's row");

    let restarted = t.reopen().await;
    let report = restarted.recover().await.expect("recovery");

    // Our row, plus the keys the first handle leased and never used.
    assert!(report.journal_rows >= 1);
    assert_eq!(report.staged_files, 1);
    assert!(!blob.exists(), "the orphan blob is gone");
    assert_eq!(t.staged_files(), 0);
    assert_eq!(
        t.count("dicom_ingest_journal").await,
        1,
        "only the other node's row is left"
    );
    let row = restarted
        .instance(&kept.header.sop_instance_uid)
        .await
        .expect("index")
        .expect("the stored instance survives recovery");
    assert!(t.blob_root().join(&row.blob_key).exists());
    // Keys leased before a restart are cleaned up too, and ingest goes on.
    restarted
        .ingest(
            fresh_instance("CT_small.dcm").as_slice(),
            &ctx(t.facility_a),
        )
        .await
        .expect("stored after recovery");
    drop(restarted);
    let again = t.reopen().await.recover().await.expect("recovery");
    assert!(again.journal_rows > 0, "unused leased keys are removed");
    assert_eq!(t.count("dicom_instance").await, 2);
    assert_eq!(t.blob_files(), 2);
}

#[tokio::test]
async fn recovery_takes_back_a_committed_row_whose_blob_never_reached_the_disk() {
    let t = TestStore::new().await;
    let kept = t
        .store
        .ingest_bytes(fresh_instance("CT_small.dcm"), &ctx(t.facility_a))
        .await
        .expect("stored");
    let lost = t
        .store
        .ingest_bytes(fresh_instance("CT_small.dcm"), &ctx(t.facility_a))
        .await
        .expect("stored");
    let lost_row = t
        .store
        .instance(&lost.header.sop_instance_uid)
        .await
        .expect("index")
        .expect("the row");
    // A crash after the row committed and before the blob's flush finished:
    // the key is still journalled and the file holds less than the row says.
    sqlx::query(
        "INSERT INTO dicom_ingest_journal (blob_key, node, created_at) VALUES ($1, 'local', 0) \
         ON CONFLICT (blob_key) DO NOTHING",
    )
    .bind(&lost_row.blob_key)
    .execute(&t.db.pool)
    .await
    .expect("the key is journalled");
    let blob = t.blob_root().join(&lost_row.blob_key);
    let whole = std::fs::read(&blob).expect("the blob");
    std::fs::write(&blob, &whole[..whole.len() / 2]).expect("a torn blob");
    let series_before = t
        .store
        .series(&lost.header.series_uid)
        .await
        .expect("index")
        .expect("the series")
        .num_instances;

    let restarted = t.reopen().await;
    restarted.recover().await.expect("recovery");

    assert!(
        restarted
            .instance(&lost.header.sop_instance_uid)
            .await
            .expect("index")
            .is_none(),
        "the instance whose blob is torn is not indexed"
    );
    assert!(!blob.exists(), "its blob is gone");
    let series_after = restarted
        .series(&lost.header.series_uid)
        .await
        .expect("index")
        .map_or(0, |s| s.num_instances);
    assert_eq!(
        series_after,
        series_before - 1,
        "the series counts one less"
    );
    let kept_row = restarted
        .instance(&kept.header.sop_instance_uid)
        .await
        .expect("index")
        .expect("the whole instance is kept");
    assert!(t.blob_root().join(&kept_row.blob_key).exists());
    assert_eq!(t.count("dicom_ingest_journal").await, 0);
    assert_eq!(t.blob_files(), 1);
}
