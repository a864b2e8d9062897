//! A patient's consents to a consultation: recorded, listed and withdrawn
//! by the requesting facility's clinicians, read by those who treat, out of
//! reach of every other facility, and, when the consortium requires it,
//! waited for before the call admits anyone or the case starts.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::calls::{accepted, join, open};
use crate::support::scheduling::{desk, referred_up};
use ferry_server::auth::Role;

use crate::support::{assert_error, resident_id, spawn_app, spawn_app_with, TestApp};

fn signed_form(patient: i64) -> Value {
    json!({ "kind": "teleconsultation", "given_by": "patient",
            "form_reference": "远程会诊知情同意书 扫描件 2026-118", "patient_id": patient })
}

async fn audited(app: &TestApp, subtype: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = $1 AND outcome = 'success'",
    )
    .bind(subtype)
    .fetch_one(app.db.pool())
    .await
    .expect("a count")
}

#[tokio::test]
async fn a_consent_is_recorded_read_by_the_expert_and_withdrawn() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let path = format!("/api/v1/consultations/{id}/consents");

    let (status, given) = app
        .post(&path, &d.clinician.token, signed_form(d.patient))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{given}");
    assert_eq!(given["kind"], "teleconsultation");
    assert_eq!(given["in_force"], true);
    assert_eq!(given["patient_id"], d.patient);
    assert_eq!(given["consultation_id"], id);
    assert_eq!(given["recorded_by"], d.clinician.id);
    assert_eq!(given["recorded_at_facility_id"], d.c.island_a);
    assert_eq!(audited(&app, "care_consent.record").await, 1);

    // One of each kind in force: a second teleconsultation consent waits
    // for a withdrawal; a consent to the recording is another kind.
    let (status, body) = app
        .post(&path, &d.clinician.token, signed_form(d.patient))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "consent_in_force");
    let (status, body) = app
        .post(
            &path,
            &d.clinician.token,
            json!({ "kind": "recording", "given_by": "guardian", "guardian_name": "王小明（儿子）",
                    "form_reference": "口头同意，护士李华在场" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["guardian_name"], "王小明（儿子）");

    // The expert on the case reads both, and records none.
    let (status, listed) = app.get(&path, &d.expert.token).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let kinds: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    assert_eq!(kinds.len(), 2, "{listed}");
    assert!(kinds.contains(&"teleconsultation") && kinds.contains(&"recording"));
    let (status, body) = app
        .post(&path, &d.expert.token, signed_form(d.patient))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let withdraw = format!("/api/v1/care-consents/{}/withdraw", given["id"]);
    let (status, body) = app
        .post(
            &withdraw,
            &d.expert.token,
            json!({ "reason": "patient asked" }),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, withdrawn) = app
        .post(
            &withdraw,
            &d.clinician.token,
            json!({ "reason": "患者改变主意" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    assert_eq!(withdrawn["in_force"], false);
    assert_eq!(withdrawn["withdrawn_by"], d.clinician.id);
    assert_eq!(withdrawn["withdrawal_reason"], "患者改变主意");
    let (status, body) = app
        .post(&withdraw, &d.clinician.token, json!({ "reason": "again" }))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "consent_already_withdrawn",
    );
    assert_eq!(audited(&app, "care_consent.withdraw").await, 1);

    // Withdrawn, a new consent may be recorded; the old one stays on record.
    let (status, body) = app
        .post(&path, &d.clinician.token, signed_form(d.patient))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, listed) = app.get(&path, &d.clinician.token).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    assert_eq!(listed[0]["in_force"], true, "those in force come first");
    assert_eq!(listed[2]["in_force"], false);
}

#[tokio::test]
async fn bad_consents_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let path = format!("/api/v1/consultations/{id}/consents");
    let other_patient = app
        .patient_at(d.c.island_a, &resident_id("11010119600101001"), "A-200")
        .await;
    for (body, status, code) in [
        (
            json!({ "kind": "teleconsultation", "given_by": "guardian", "form_reference": "scan 1" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({ "kind": "teleconsultation", "given_by": "patient", "guardian_name": "someone",
                    "form_reference": "scan 1" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({ "kind": "teleconsultation", "given_by": "patient", "form_reference": "  " }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({ "kind": "remote_reading", "given_by": "patient", "form_reference": "scan 1" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            signed_form(other_patient),
            StatusCode::CONFLICT,
            "patient_mismatch",
        ),
    ] {
        let (got, answer) = app.post(&path, &d.clinician.token, body.clone()).await;
        assert_error(got, &answer, status, code);
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    assert_eq!(app.count("care_consent").await, 0);
    assert_eq!(audited(&app, "care_consent.record").await, 0);
}

#[tokio::test]
async fn another_facility_cannot_reach_a_consultation_s_consents() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let path = format!("/api/v1/consultations/{id}/consents");
    let (status, given) = app
        .post(&path, &d.clinician.token, signed_form(d.patient))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{given}");
    let withdraw = format!("/api/v1/care-consents/{}/withdraw", given["id"]);

    // A clinician at the other island clinic: the consultation and its
    // consent are as if they did not exist.
    let stranger = app
        .user("island-b-doc", Role::Clinician, d.c.island_b)
        .await;
    let (status, body) = app.get(&path, &stranger.token).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .post(&path, &stranger.token, signed_form(d.patient))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .post(&withdraw, &stranger.token, json!({ "reason": "no" }))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, missing) = app
        .post(
            "/api/v1/care-consents/999999/withdraw",
            &stranger.token,
            json!({ "reason": "no" }),
        )
        .await;
    assert_error(status, &missing, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(body["error"]["message"], missing["error"]["message"]);

    // The expert's scheduler sees the case's logistics, not its consents.
    let (status, body) = app.get(&path, &d.scheduler.token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let (_, listed) = app.get(&path, &d.clinician.token).await;
    assert_eq!(
        listed[0]["in_force"], true,
        "nothing was withdrawn: {listed}"
    );
}

#[tokio::test]
async fn a_call_waits_for_the_patient_s_consent_when_the_consortium_requires_it() {
    let app = spawn_app_with(|settings| settings.teleconsultation_consent_required = true).await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;

    let (status, body) = open(&app, &d.clinician, id).await.expect_err("refused");
    assert_error(status, &body, StatusCode::CONFLICT, "consent_required");
    let (status, body) = app
        .post(
            &format!("/api/v1/consultations/{id}/status"),
            &d.expert.token,
            json!({ "status": "in_progress" }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "consent_required");
    let state: String = sqlx::query_scalar("SELECT status FROM consultation WHERE id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .expect("a status");
    assert_eq!(state, "scheduled");

    let (status, given) = app
        .post(
            &format!("/api/v1/consultations/{id}/consents"),
            &d.clinician.token,
            signed_form(d.patient),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{given}");
    let (_clinician, _) = join(&app, &d.clinician, id).await;

    // Withdrawn: no one more is admitted.
    let (status, body) = app
        .post(
            &format!("/api/v1/care-consents/{}/withdraw", given["id"]),
            &d.clinician.token,
            json!({ "reason": "患者拒绝继续会诊" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = open(&app, &d.expert, id).await.expect_err("refused");
    assert_error(status, &body, StatusCode::CONFLICT, "consent_required");
}

#[tokio::test]
async fn a_referral_s_consent_is_recorded_by_the_sender_and_read_by_the_receiver() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let referral = referred_up(&app, &d).await;
    let path = format!("/api/v1/referrals/{}/consents", referral);
    let receiver = app
        .user("tertiary-doc", Role::Clinician, d.c.tertiary)
        .await;

    // A consultation's kind is not a referral's.
    let (status, body) = app
        .post(&path, &d.clinician.token, signed_form(d.patient))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    let form = json!({ "kind": "referral", "given_by": "patient",
                       "form_reference": "转诊知情同意书 R-7", "patient_id": d.patient });
    // The receiving end reads it, and the sending end records it.
    let (status, body) = app.post(&path, &receiver.token, form.clone()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, given) = app.post(&path, &d.clinician.token, form.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{given}");
    assert_eq!(given["referral_id"], referral);
    assert_eq!(given["patient_id"], d.patient);
    let (status, listed) = app.get(&path, &receiver.token).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["id"], given["id"]);

    // Neither end's expert nor another clinic reaches it.
    let stranger = app
        .user("island-b-doc", Role::Clinician, d.c.island_b)
        .await;
    for who in [&stranger, &d.expert] {
        let (status, body) = app.get(&path, &who.token).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app
            .post(
                &format!("/api/v1/care-consents/{}/withdraw", given["id"]),
                &who.token,
                json!({ "reason": "no" }),
            )
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }

    // Cancelled, the referral takes no new consent.
    let (status, body) = app
        .post(
            &format!("/api/v1/referrals/{}/cancel", referral),
            &d.clinician.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, withdrawn) = app
        .post(
            &format!("/api/v1/care-consents/{}/withdraw", given["id"]),
            &d.clinician.token,
            json!({ "reason": "referral cancelled" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    let (status, body) = app.post(&path, &d.clinician.token, form).await;
    assert_error(status, &body, StatusCode::CONFLICT, "service_closed");
}

#[tokio::test]
async fn a_remote_reading_s_consent_is_recorded_by_the_requester_and_read_by_the_radiologist() {
    use crate::support::reading::{ask, desk as reading_desk, stored_study};
    let app = spawn_app().await;
    let d = reading_desk(&app).await;
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (status, request) = ask(&app, &d.clinician, &uid, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let path = format!("/api/v1/reading-requests/{}/consents", request["id"]);
    let form = json!({ "kind": "remote_reading", "given_by": "patient",
                       "form_reference": "远程影像诊断知情同意 CT-3" });

    let (status, body) = app.post(&path, &d.reader.token, form.clone()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, given) = app.post(&path, &d.clinician.token, form.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{given}");
    assert_eq!(given["kind"], "remote_reading");
    assert_eq!(given["reading_request_id"], request["id"]);
    assert_eq!(given["patient_id"], request["patient_id"]);
    let (status, listed) = app.get(&path, &d.reader.token).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (status, body) = app.post(&path, &d.clinician.token, form).await;
    assert_error(status, &body, StatusCode::CONFLICT, "consent_in_force");

    let stranger = app
        .user("island-b-doc", Role::Clinician, d.c.island_b)
        .await;
    let (status, body) = app.get(&path, &stranger.token).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}
