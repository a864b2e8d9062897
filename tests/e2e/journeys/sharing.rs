//! The README's walk through mutual recognition of results, in Chinese, in a
//! real browser on the demo consortium: the island clinician records 王秀英's
//! consent to sharing and opens the county hospital's head CT from the
//! duplicate-examination warning; withdrawing the consent closes it again.
//! What the browser showed is checked against the audit trail.

use serde_json::{json, Value};

use crate::support::journeys::{journey, screenshot_count, screenshots};
use crate::support::{spawn_app, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_island_clinician_records_consent_and_opens_the_county_head_ct() {
    let app = spawn_app().await;
    app.with_demo().await;
    let pool = app.db.pool();
    let wang: i64 = sqlx::query_scalar("SELECT id FROM patient WHERE national_id = $1")
        .bind("330225195803121234")
        .fetch_one(pool)
        .await
        .expect("Mrs Wang");
    let county_study: String =
        sqlx::query_scalar("SELECT study_uid FROM dicom_study WHERE dicom_patient_id = $1")
            .bind("HA-2024-1187")
            .fetch_one(pool)
            .await
            .expect("the county's head CT");
    let shots = screenshots("sharing");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "sharing",
        json!({
            "base": app.url(""),
            "clinician": { "username": "demo-clinician", "password": PASSWORD },
            "patient": wang,
            "county_study": county_study,
            "form_reference": "知情同意书 2026-0118",
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    let listed = |key: &str| -> Vec<String> {
        seen[key]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect()
    };
    assert!(!listed("before").contains(&county_study), "{seen}");
    assert!(
        !listed("before").is_empty(),
        "the island's own CT is listed: {seen}"
    );
    let text = |key: &str| seen[key].as_str().unwrap_or_default().to_owned();
    assert!(text("closed").contains("授权"), "{seen}");
    assert!(text("elsewhereBefore").contains("共享授权"), "{seen}");
    assert!(text("inForce").contains("共享授权生效中"), "{seen}");
    assert!(text("sharedRow").contains("海安县人民医院"), "{seen}");
    assert!(text("sharedRow").contains("经患者授权共享"), "{seen}");
    assert_eq!(seen["sharedAccess"], "shared");
    assert_eq!(text("openHref"), format!("#/studies/{county_study}"));
    // The demo's rules recognise a county CT for 90 days.
    assert_eq!(text("recognised"), "true", "{seen}");
    assert!(text("recognition").contains("互认"), "{seen}");
    assert!(text("viewerUrl").ends_with(&county_study), "{seen}");
    assert!(!listed("after").contains(&county_study), "{seen}");
    assert_eq!(screenshot_count(&result), 4);

    // The viewer's reads of the county CT are on the trail, as shared.
    let details: Vec<String> = sqlx::query_scalar(
        "SELECT e.detail FROM audit_event e JOIN app_user u ON u.id = e.actor_user_id \
         WHERE u.username = 'demo-clinician' AND e.subtype = 'dicom.retrieve' AND e.entity_id = $1",
    )
    .bind(&county_study)
    .fetch_all(pool)
    .await
    .expect("the audit trail");
    assert!(!details.is_empty(), "the viewer's reads are audited");
    for detail in details {
        let detail: Value = serde_json::from_str(&detail).expect("JSON");
        assert_eq!(detail["access"], "shared", "{detail}");
    }
    let in_force: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sharing_consent WHERE withdrawn_at IS NULL")
            .fetch_one(pool)
            .await
            .expect("a count");
    assert_eq!(in_force, 0, "the consent was withdrawn");
}
