//! Lists and alerts name their patient (issue 29, item 1): the worklist,
//! a reading request, the critical results and the notifications about them
//! carry the patient's name and record number, so no screen reads each
//! patient to say whom a row is about; and only to whoever sees the row.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::reading::{ask, desk, stored_study};
use crate::support::{spawn_app, TestApp};

/// The notifications of `token`'s user of one kind.
async fn notes(app: &TestApp, token: &str, kind: &str) -> Vec<Value> {
    let (status, all) = app.get("/api/v1/notifications", token).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    all.as_array()
        .expect("a list")
        .iter()
        .filter(|n| n["kind"] == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_worklist_critical_results_and_alerts_name_the_patient() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let elsewhere = app.user("other-clin", Role::Clinician, d.c.island_b).await;
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (status, request) = ask(&app, &d.clinician, &uid, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let id = request["id"].as_i64().expect("an id");

    // The reader's worklist row and the request itself: name, record
    // number (the requesting clinic's), sex and birth date for the banner.
    let (status, list) = app.get("/api/v1/worklist", &d.reader.token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let row = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["id"] == id)
        .expect("the request is on the worklist")
        .clone();
    assert_eq!(row["patient_name"], "Wang Xiuying", "{row}");
    assert_eq!(row["patient_record_number"], "A-1", "{row}");
    assert_eq!(row["patient_sex"], "female", "{row}");
    assert_eq!(row["patient_birth_date"], "1958-03-12", "{row}");
    let (status, one) = app
        .get(&format!("/api/v1/reading-requests/{id}"), &d.reader.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["patient_name"], "Wang Xiuying", "{one}");

    // Signed with a critical finding.
    let path = format!("/api/v1/reading-requests/{id}/claim");
    let (status, body) = app.post(&path, &d.reader.token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, draft) = app
        .post(
            &format!("/api/v1/reading-requests/{id}/reports"),
            &d.reader.token,
            json!({ "impression": "Tension pneumothorax, left.", "critical": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let report = draft["id"].as_i64().expect("an id");
    let (status, body) = app
        .post(
            &format!("/api/v1/reading-reports/{report}/sign"),
            &d.reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The critical result leads with the patient.
    let (status, open) = app
        .get("/api/v1/critical-results?open=true", &d.clinician.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{open}");
    assert_eq!(open[0]["patient_name"], "Wang Xiuying", "{open}");
    assert_eq!(open[0]["patient_record_number"], "A-1", "{open}");
    // A clinician of another clinic sees neither the alert nor the name.
    let (_, theirs) = app
        .get("/api/v1/critical-results?open=true", &elsewhere.token)
        .await;
    assert_eq!(theirs, json!([]));

    // One notification per signature and per alert, each naming the
    // patient with the record number the clinician's clinic knows.
    for kind in ["reading.report_signed", "reading.critical_result"] {
        let found = notes(&app, &d.clinician.token, kind).await;
        assert_eq!(found.len(), 1, "{kind}: {found:?}");
        let payload = &found[0]["payload"];
        assert_eq!(payload["patient_name"], "Wang Xiuying", "{payload}");
        assert_eq!(payload["patient_record_number"], "A-1", "{payload}");
        assert!(payload["patient_id"].is_i64(), "{payload}");
    }
    assert!(notes(&app, &elsewhere.token, "reading.critical_result")
        .await
        .is_empty());
}

/// A referral in the lists, and its notification to the receiving clinic,
/// name the patient; a clinic that is party to neither sees no referral.
#[tokio::test]
async fn referrals_and_their_notifications_name_the_patient() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let (status, body) = app
        .post(
            "/api/v1/catalogue",
            &admin.token,
            json!({ "code_from": "I21", "tiers": ["tertiary", "secondary"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-7")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;
    let other = app.user("dr-zhou", Role::Clinician, c.island_b).await;
    let (status, created) = app
        .post(
            "/api/v1/referrals",
            &island.token,
            json!({ "patient_id": patient, "direction": "up", "to_facility_id": c.county,
                    "reason": "needs a cardiologist", "diagnosis_codes": ["I21.4"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for who in [&island, &county] {
        let (status, list) = app.get("/api/v1/referrals", &who.token).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list[0]["patient_name"], "Wang Xiuying", "{list}");
        assert_eq!(list[0]["patient_record_number"], "A-7", "{list}");
    }
    let (_, theirs) = app.get("/api/v1/referrals", &other.token).await;
    assert_eq!(theirs, json!([]));
    let found = notes(&app, &county.token, "referral.created").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["payload"]["patient_name"], "Wang Xiuying");
    assert_eq!(found[0]["payload"]["patient_record_number"], "A-7");
}
