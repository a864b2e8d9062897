//! The consent journey: a call that waits for the patient's consent, the
//! clinician recording it on the case page, and the expert's call screen
//! showing it, in Chinese.

use serde_json::json;

use crate::support::calls::accepted;
use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::scheduling::desk;
use crate::support::spawn_app_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_waits_for_the_consent_the_clinician_records_and_the_expert_sees() {
    let app = spawn_app_with(|settings| settings.teleconsultation_consent_required = true).await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let shots = screenshots("consent");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "consent",
        json!({
            "base": app.url(""),
            "consultation": id,
            "clinician": user(&d.clinician),
            "expert": user(&d.expert),
            "guardian": "王小明（儿子）",
            "screenshots": shots,
        }),
    )
    .await;

    let seen = &result["result"];
    let refusal = seen["refusal"].as_str().expect("the refusal");
    assert!(
        refusal.contains("尚未记录患者对本次远程会诊的知情同意"),
        "{result}"
    );
    let listed = seen["listed"].as_str().expect("the list");
    assert!(
        listed.contains("监护人 王小明（儿子）") && listed.contains("2026-118"),
        "{result}"
    );
    let shown = seen["shown"].as_str().expect("the line");
    assert!(
        shown.contains("由监护人 王小明（儿子）签署") && shown.contains("island-doc"),
        "{result}"
    );
    let stored: (String, String) = sqlx::query_as(
        "SELECT given_by, guardian_name FROM care_consent WHERE consultation_id = $1 AND withdrawn_at IS NULL",
    )
    .bind(id)
    .fetch_one(app.db.pool())
    .await
    .expect("the consent");
    assert_eq!(stored, ("guardian".to_owned(), "王小明（儿子）".to_owned()));
    assert_eq!(screenshot_count(&result), 3, "{result}");
}
