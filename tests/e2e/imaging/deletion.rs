//! Deleting a study: administrators only, with a reason, audited; the
//! retention rule keeps a study the record names and one past the window
//! for mistakes and within the retention period.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::dicom_files::{audit_events, stow, study};
use crate::support::{spawn_app, TestApp};

/// A fresh one-instance study stored by `token`'s facility; its UID.
async fn stored(app: &TestApp, token: &str, dir: &std::path::Path, patient: &str) -> String {
    let sent = study(dir, &["CT_small.dcm"], patient);
    let bytes = std::fs::read(&sent.files[0]).expect("the file");
    let (status, body) = stow(app, token, bytes).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sent.uid
}

async fn received_days_ago(app: &TestApp, uid: &str, days: i64) {
    sqlx::query("UPDATE dicom_study SET created_at = created_at - $1 WHERE study_uid = $2")
        .bind(days * 86_400_000)
        .bind(uid)
        .execute(app.db.pool())
        .await
        .expect("backdated");
}

#[tokio::test]
async fn an_administrator_deletes_what_the_retention_rule_lets_go_and_nothing_else() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let clinician = app.user("clin", Role::Clinician, c.island_a).await;
    let patient = app
        .patient_at(c.island_a, "110101195803120023", "MRN-1")
        .await;
    let files = tempfile::tempdir().expect("a directory");
    let mistake = stored(&app, &clinician.token, files.path(), "MRN-1").await;
    let ordered = stored(&app, &clinician.token, files.path(), "MRN-1").await;
    let month_old = stored(&app, &clinician.token, files.path(), "MRN-1").await;
    let ancient = stored(&app, &clinician.token, files.path(), "MRN-1").await;
    received_days_ago(&app, &month_old, 30).await;
    received_days_ago(&app, &ancient, 31 * 366).await;
    let delete = |uid: &str, reason: &str| json!({ "study_instance_uid": uid, "reason": reason });

    let (status, _) = app
        .post(
            "/api/v1/study-deletions",
            &clinician.token,
            delete(&mistake, "wrong patient"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(
            "/api/v1/study-deletions",
            &admin.token,
            delete(&mistake, " "),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app
        .post(
            "/api/v1/study-deletions",
            &admin.token,
            delete("2.25.404", "gone"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Sent by mistake, found at once: deleted, with everything of it.
    let key: String = sqlx::query_scalar(
        "SELECT i.blob_key FROM dicom_instance i JOIN dicom_series se ON se.id = i.series_id \
         JOIN dicom_study s ON s.id = se.study_id WHERE s.study_uid = $1",
    )
    .bind(&mistake)
    .fetch_one(app.db.pool())
    .await
    .expect("its blob");
    let blobs = app.imaging.store().blobs().clone();
    assert!(blobs.exists(&key).await.expect("a look"));
    let (status, gone) = app
        .post(
            "/api/v1/study-deletions",
            &admin.token,
            delete(&mistake, "sent under the wrong patient"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["instances"], 1);
    let (_, found) = app
        .get(
            &format!("/dicomweb/studies?StudyInstanceUID={mistake}"),
            &clinician.token,
        )
        .await;
    assert_eq!(found, json!([]));
    let (status, _) = app
        .get(
            &format!("/dicomweb/studies/{mistake}/metadata"),
            &clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        !blobs.exists(&key).await.expect("a look"),
        "the blob is gone"
    );
    let journalled: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM dicom_ingest_journal WHERE blob_key = $1")
            .bind(&key)
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
    assert_eq!(journalled, 0, "its key is settled");
    assert_eq!(audit_events(&app, "dicom.delete", &mistake).await, 1);

    // Named by an examination: part of the record.
    let (status, exam) = app
        .post(
            &format!("/api/v1/patients/{patient}/examinations"),
            &clinician.token,
            json!({ "modality": "CT", "body_part": "HEAD" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exam}");
    let (status, body) = app
        .post(
            &format!("/api/v1/examinations/{}/performed", exam["id"]),
            &clinician.token,
            json!({ "study_instance_uid": ordered }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (uid, why) in [(&ordered, "in_record"), (&month_old, "retention_period")] {
        let (status, refused) = app
            .post(
                "/api/v1/study-deletions",
                &admin.token,
                delete(uid, "tidy up"),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(refused["error"]["code"], "retention_required");
        assert_eq!(refused["error"]["details"]["reason"], why);
    }
    let (_, refused) = app
        .post(
            "/api/v1/study-deletions",
            &admin.token,
            delete(&month_old, "tidy up"),
        )
        .await;
    assert!(
        refused["error"]["details"]["kept_until"].is_string(),
        "{refused}"
    );
    // Past the retention period: it may go.
    let (status, body) = app
        .post(
            "/api/v1/study-deletions",
            &admin.token,
            delete(&ancient, "past retention"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dicom_study")
        .fetch_one(app.db.pool())
        .await
        .expect("a count");
    assert_eq!(kept, 2);
}
