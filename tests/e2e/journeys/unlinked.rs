//! The Dongji clinic's ultrasound cart sends a study under a Patient ID
//! nobody registered; Dr. Lin finds it on her home page in Chinese, finds
//! 张小宇 and files it under him after seeing both names side by side.
//! Checked against the database and the audit trail.

use serde_json::json;

use crate::support::dicom_files::{audit_events, dcmtk, port, study};
use crate::support::journeys::{journey, screenshots};
use crate::support::{spawn_app, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_files_images_that_arrived_for_nobody_under_the_right_patient() {
    let app = spawn_app().await;
    app.with_demo().await;
    let pool = app.db.pool();
    let zhang: i64 = sqlx::query_scalar("SELECT id FROM patient WHERE national_id = $1")
        .bind("330225201004090038")
        .fetch_one(pool)
        .await
        .expect("张小宇");
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "US-CART-17");
    let port = port(&app);
    let mut args = vec!["-aet", "DEMO-MODALITY", "-aec", "FERRY", "127.0.0.1", &port];
    args.extend(sent.files.iter().map(|p| p.to_str().expect("UTF-8")));
    let out = dcmtk("storescu", &args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shots = screenshots("unlinked");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "unlinked",
        json!({
            "base": app.url(""),
            "clinician": { "username": "demo-clinician", "password": PASSWORD },
            "study": sent.uid,
            "search": "DJ-0003",
            "patient": zhang,
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    assert_eq!(seen["heading"], "等待归档的影像", "{seen}");
    assert!(
        seen["row"]
            .as_str()
            .unwrap_or_default()
            .contains("US-CART-17"),
        "{seen}"
    );
    assert_eq!(seen["choices"], 1, "{seen}");
    let confirm = seen["confirm"].as_str().unwrap_or_default();
    assert!(
        confirm.contains("US-CART-17") || confirm.contains("CompressedSamples"),
        "{seen}"
    );
    assert!(confirm.contains("张小宇"), "{seen}");
    assert!(
        seen["left"]
            .as_str()
            .unwrap_or_default()
            .contains("没有等待归档的影像"),
        "{seen}"
    );

    let linked: Option<i64> =
        sqlx::query_scalar("SELECT patient_id FROM dicom_study WHERE study_uid = $1")
            .bind(&sent.uid)
            .fetch_one(pool)
            .await
            .expect("the study");
    assert_eq!(linked, Some(zhang));
    assert_eq!(audit_events(&app, "dicom.file", &sent.uid).await, 1);
}
