//! The consent journey: a call that waits for the patient's consent, the
//! clinician recording it on the case page, and the expert's call screen
//! showing it, in Chinese.

use serde_json::json;

use crate::support::calls::accepted;
use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::scheduling::{desk, referred_up};
use crate::support::{spawn_app, spawn_app_with};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinician_records_the_consent_to_a_reading_and_the_radiologist_reads_it() {
    use crate::support::reading::{ask, desk as reading_desk, stored_study};
    let app = spawn_app().await;
    let d = reading_desk(&app).await;
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (status, request) = ask(&app, &d.clinician, &uid, json!({})).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{request}");
    let shots = screenshots("consent-reading");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "consent-reading",
        json!({
            "base": app.url(""),
            "request": request["id"],
            "clinician": user(&d.clinician),
            "reader": user(&d.reader),
            "screenshots": shots,
        }),
    )
    .await;

    let seen = &result["result"];
    let listed = seen["listed"].as_str().expect("the list");
    assert!(
        listed.contains("a remote reading") && listed.contains("the patient"),
        "{result}"
    );
    let read = seen["read"].as_str().expect("the radiologist's view");
    assert!(
        read.contains("远程阅片") && read.contains("Remote reading consent CT-3"),
        "{result}"
    );
    assert_eq!(
        seen["mayRecord"], 0,
        "the radiologist records no consent: {result}"
    );
    let kind: String = sqlx::query_scalar(
        "SELECT kind FROM care_consent WHERE reading_request_id = $1 AND withdrawn_at IS NULL",
    )
    .bind(request["id"].as_i64())
    .fetch_one(app.db.pool())
    .await
    .expect("the consent");
    assert_eq!(kind, "remote_reading");
    assert_eq!(screenshot_count(&result), 2, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sending_clinician_records_the_consent_to_a_referral_from_its_row() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let referral = referred_up(&app, &d).await;
    let shots = screenshots("consent-referral");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "consent-referral",
        json!({
            "base": app.url(""),
            "patient": d.patient,
            "referral": referral,
            "clinician": user(&d.clinician),
            "screenshots": shots,
        }),
    )
    .await;

    let listed = result["result"]["listed"].as_str().expect("the list");
    assert!(
        listed.contains("转诊") && listed.contains("R-7"),
        "{result}"
    );
    let kind: String = sqlx::query_scalar(
        "SELECT kind FROM care_consent WHERE referral_id = $1 AND withdrawn_at IS NULL",
    )
    .bind(referral)
    .fetch_one(app.db.pool())
    .await
    .expect("the consent");
    assert_eq!(kind, "referral");
    assert_eq!(screenshot_count(&result), 1, "{result}");
}
