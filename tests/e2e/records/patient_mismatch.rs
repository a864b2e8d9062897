//! A write names the patient its screen showed (issue 29): a consultation's
//! status change, an opinion or a reading report, drafted, edited or signed, and the steps on a reading
//! request (claim, release, acknowledging a critical result). Naming another
//! patient than the record's is refused with 409 `patient_mismatch` and
//! writes nothing, not even an audit event; naming the record's own patient
//! goes through, and so does naming none (a client from before the field).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::scheduling::{self, add_daily_rules, book, consultation, slots, starts};
use crate::support::{assert_error, reading, resident_id, send, spawn_app, TestApp};

/// How many audit events of `subtype` were written.
async fn audits(app: &TestApp, subtype: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE subtype = $1")
        .bind(subtype)
        .fetch_one(app.db.pool())
        .await
        .expect("a count")
}

/// The refusal names the patient shown and the record's.
fn assert_mismatch(status: StatusCode, body: &Value, shown: i64, record: i64) {
    assert_error(status, body, StatusCode::CONFLICT, "patient_mismatch");
    let details = &body["error"]["details"];
    assert_eq!(details["shown_patient_id"], shown, "{body}");
    assert_eq!(details["record_patient_id"], record, "{body}");
}

/// A reading request's status as its reader sees it.
async fn status_of(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, request) = app.get(path, token).await;
    assert_eq!(status, StatusCode::OK, "{request}");
    request["status"].clone()
}

/// A second patient at the island clinic, the one a stale screen shows.
async fn another_patient(app: &TestApp, facility: i64) -> i64 {
    app.patient_at(facility, &resident_id("11010119491001002"), "A-200")
        .await
}

#[tokio::test]
async fn an_opinion_naming_another_patient_is_neither_drafted_edited_nor_signed() {
    let app = spawn_app().await;
    let d = scheduling::desk(&app).await;
    add_daily_rules(&app, &d, "00:00", "23:00").await;
    let other = another_patient(&app, d.c.island_a).await;
    let id = consultation(&app, &d, "routine").await;
    let now = jiff::Timestamp::now();
    let search = slots(
        &app,
        &d.clinician.token,
        &format!(
            "expert_id={}&from={}&to={}",
            d.expert.id,
            now + jiff::SignedDuration::from_hours(24),
            now + jiff::SignedDuration::from_hours(72)
        ),
    )
    .await;
    let start = starts(&search).into_iter().next().expect("a free slot");
    let (status, body) = book(&app, &d.clinician.token, d.expert.id, &start, id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let status_path = format!("/api/v1/consultations/{id}/status");
    // Starting it from the other patient's screen: it stays scheduled.
    let (status, body) = app
        .post(
            &status_path,
            &d.clinician.token,
            json!({ "status": "in_progress", "patient_id": other }),
        )
        .await;
    assert_mismatch(status, &body, other, d.patient);
    let (_, case) = app
        .get(&format!("/api/v1/consultations/{id}"), &d.clinician.token)
        .await;
    assert_eq!(case["status"], "scheduled", "{case}");
    assert_eq!(audits(&app, "consultation.status").await, 0);
    let (status, body) = app
        .post(
            &status_path,
            &d.clinician.token,
            json!({ "status": "in_progress", "patient_id": d.patient }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list_path = format!("/api/v1/consultations/{id}/opinions");
    let content = json!({ "findings": "Stable angina.", "diagnosis_codes": ["I20.8"],
                          "recommendation": "treat_locally" });
    let naming = |patient: i64| {
        let mut body = content.clone();
        body["patient_id"] = json!(patient);
        body
    };

    // A draft for the other patient's screen: nothing is drafted.
    let (status, body) = app.post(&list_path, &d.expert.token, naming(other)).await;
    assert_mismatch(status, &body, other, d.patient);
    assert_eq!(app.count("opinion").await, 0);
    assert_eq!(audits(&app, "opinion.draft").await, 0);

    let (status, draft) = app
        .post(&list_path, &d.expert.token, naming(d.patient))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let opinion = draft["id"].as_i64().expect("an id");

    // An edit for the other patient: the draft keeps its words.
    let (status, body) = app
        .patch(
            &format!("/api/v1/opinions/{opinion}"),
            &d.expert.token,
            json!({ "findings": "Written for someone else.", "patient_id": other }),
        )
        .await;
    assert_mismatch(status, &body, other, d.patient);
    let (_, versions) = app.get(&list_path, &d.expert.token).await;
    assert_eq!(versions[0]["findings"], "Stable angina.", "{versions}");
    assert_eq!(audits(&app, "opinion.edit").await, 0);
    let (status, body) = app
        .patch(
            &format!("/api/v1/opinions/{opinion}"),
            &d.expert.token,
            json!({ "findings": "Stable angina, CCS class II.", "patient_id": d.patient }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A signature for the other patient: unsigned, the consultation still
    // awaits its opinion, and no one is told.
    let (status, body) = app
        .post(
            &status_path,
            &d.expert.token,
            json!({ "status": "awaiting_opinion" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sign_path = format!("/api/v1/opinions/{opinion}/sign");
    let (status, body) = app
        .post(&sign_path, &d.expert.token, json!({ "patient_id": other }))
        .await;
    assert_mismatch(status, &body, other, d.patient);
    let (_, versions) = app.get(&list_path, &d.expert.token).await;
    assert!(versions[0]["signed_at"].is_null(), "{versions}");
    let (_, c) = app
        .get(&format!("/api/v1/consultations/{id}"), &d.clinician.token)
        .await;
    assert_eq!(c["status"], "awaiting_opinion", "{c}");
    assert_eq!(audits(&app, "opinion.signed").await, 0);

    let (status, signed) = app
        .post(
            &sign_path,
            &d.expert.token,
            json!({ "patient_id": d.patient }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert!(signed["signed_at"].is_string(), "{signed}");
    assert_eq!(audits(&app, "opinion.signed").await, 1);

    // A client from before the field: an amendment drafted naming no
    // patient and signed with no body at all still goes through.
    let mut amendment = content.clone();
    amendment["amendment_reason"] = json!("exercise test reviewed");
    let (status, v2) = app.post(&list_path, &d.expert.token, amendment).await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    let (status, body) = send(app.request(
        Method::POST,
        &format!("/api/v1/opinions/{}/sign", v2["id"]),
        Some(&d.expert.token),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(audits(&app, "opinion.amended").await, 1);
}

#[tokio::test]
async fn a_report_and_the_steps_on_its_request_naming_another_patient_change_nothing() {
    let app = spawn_app().await;
    let d = reading::desk(&app).await;
    let other = another_patient(&app, d.c.island_a).await;
    let uid = reading::stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (status, request) = reading::ask(&app, &d.clinician, &uid, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let id = request["id"].as_i64().expect("an id");
    let patient = request["patient_id"].as_i64().expect("the study's patient");
    assert_ne!(patient, other);
    let request_path = format!("/api/v1/reading-requests/{id}");

    // Claim.
    let claim = format!("{request_path}/claim");
    let (status, body) = app
        .post(&claim, &d.reader.token, json!({ "patient_id": other }))
        .await;
    assert_mismatch(status, &body, other, patient);
    assert_eq!(
        status_of(&app, &request_path, &d.reader.token).await,
        "requested"
    );
    assert_eq!(audits(&app, "reading.claimed").await, 0);
    let (status, body) = app
        .post(&claim, &d.reader.token, json!({ "patient_id": patient }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Draft.
    let reports = format!("{request_path}/reports");
    let content = json!({ "findings": "Spiculated 2 cm nodule, right upper lobe.",
                          "impression": "Suspicious for carcinoma.", "critical": true });
    let mut wrong = content.clone();
    wrong["patient_id"] = json!(other);
    let (status, body) = app.post(&reports, &d.reader.token, wrong).await;
    assert_mismatch(status, &body, other, patient);
    assert_eq!(app.count("reading_report").await, 0);
    assert_eq!(audits(&app, "reading.report_drafted").await, 0);
    assert_eq!(
        status_of(&app, &request_path, &d.reader.token).await,
        "accepted"
    );
    let mut right = content.clone();
    right["patient_id"] = json!(patient);
    let (status, draft) = app.post(&reports, &d.reader.token, right).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let report = draft["id"].as_i64().expect("an id");

    // Edit.
    let report_path = format!("/api/v1/reading-reports/{report}");
    let (status, body) = app
        .patch(
            &report_path,
            &d.reader.token,
            json!({ "impression": "Written for someone else.", "patient_id": other }),
        )
        .await;
    assert_mismatch(status, &body, other, patient);
    let (_, versions) = app.get(&reports, &d.reader.token).await;
    assert_eq!(
        versions[0]["impression"], "Suspicious for carcinoma.",
        "{versions}"
    );
    assert_eq!(audits(&app, "reading.report_edited").await, 0);

    // Release would drop the draft: it stays, and so does the claim.
    let (status, body) = app
        .post(
            &format!("{request_path}/release"),
            &d.reader.token,
            json!({ "patient_id": other }),
        )
        .await;
    assert_mismatch(status, &body, other, patient);
    assert_eq!(app.count("reading_report").await, 1);
    assert_eq!(
        status_of(&app, &request_path, &d.reader.token).await,
        "in-progress"
    );
    assert_eq!(audits(&app, "reading.released").await, 0);

    // Sign: unsigned, no SR, no critical result, no one told.
    let sign = format!("{report_path}/sign");
    let (status, body) = app
        .post(&sign, &d.reader.token, json!({ "patient_id": other }))
        .await;
    assert_mismatch(status, &body, other, patient);
    let (_, versions) = app.get(&reports, &d.reader.token).await;
    assert!(versions[0]["signed_at"].is_null(), "{versions}");
    assert_eq!(app.count("reading_report_sr").await, 0);
    assert_eq!(app.count("critical_result").await, 0);
    assert_eq!(audits(&app, "reading.report_signed").await, 0);
    assert_eq!(
        status_of(&app, &request_path, &d.reader.token).await,
        "in-progress"
    );
    let (status, signed) = app
        .post(&sign, &d.reader.token, json!({ "patient_id": patient }))
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(audits(&app, "reading.report_signed").await, 1);

    // The requester acknowledges the critical finding from the report's
    // screen: not from one showing another patient.
    let (status, critical) = app
        .get("/api/v1/critical-results", &d.clinician.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{critical}");
    let critical = critical
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["reading_request_id"] == id)
        .expect("the critical result")["id"]
        .as_i64()
        .expect("an id");
    let acknowledge = format!("/api/v1/critical-results/{critical}/acknowledge");
    let (status, body) = app
        .post(
            &acknowledge,
            &d.clinician.token,
            json!({ "patient_id": other }),
        )
        .await;
    assert_mismatch(status, &body, other, patient);
    assert_eq!(audits(&app, "reading.critical_acknowledged").await, 0);
    let (status, body) = app
        .post(
            &acknowledge,
            &d.clinician.token,
            json!({ "patient_id": patient }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["acknowledged_at"].is_string(), "{body}");
}
