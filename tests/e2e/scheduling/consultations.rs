//! Consultations through their state machine, the on-call queue, opinions,
//! and the notifications each step sends.

use std::time::Duration;

use ferry_server::auth::Role;
use jiff::civil::Weekday;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::scheduling::{add_rule, book, consultation, desk, local, next_weekday, Desk};
use crate::support::wait_until;
use crate::support::{assert_error, spawn_app, spawn_app_with, TestApp, TestUser};

const SHANGHAI: &str = "Asia/Shanghai";

async fn status(
    app: &TestApp,
    user: &TestUser,
    id: i64,
    to: &str,
    reason: Option<&str>,
) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/consultations/{id}/status"),
        &user.token,
        json!({ "status": to, "reason": reason }),
    )
    .await
}

/// A routine consultation booked into tomorrow-ish slot; returns its id.
async fn scheduled(app: &TestApp, d: &Desk, hour: i8) -> i64 {
    let day = next_weekday(SHANGHAI, Weekday::Monday, 2);
    let id = consultation(app, d, "routine").await;
    let (status, body) = book(
        app,
        &d.clinician.token,
        d.expert.id,
        &local(SHANGHAI, day, hour, 0),
        id,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    id
}

async fn kinds(app: &TestApp, user: &TestUser) -> Vec<String> {
    let (_, notes) = app.get("/api/v1/notifications", &user.token).await;
    notes
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|n| n["kind"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn every_transition_of_a_consultation_and_a_forbidden_one() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 1, "start_time": "08:00", "end_time": "12:00", "slot_minutes": 60, "service": "video" }),
    )
    .await;

    // requested → in_progress is not allowed; the answer names what is.
    let id = consultation(&app, &d, "routine").await;
    let (code, body) = status(&app, &d.expert, id, "in_progress", None).await;
    assert_error(code, &body, StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(
        body["error"]["details"]["allowed"],
        json!(["scheduled", "cancelled", "declined"])
    );

    // requested → cancelled (requester), requested → declined (named expert).
    let (code, body) = status(
        &app,
        &d.clinician,
        id,
        "cancelled",
        Some("patient transferred"),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    let id = consultation(&app, &d, "routine").await;
    let (code, body) = status(&app, &d.expert, id, "declined", Some("not my field")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(kinds(&app, &d.clinician)
        .await
        .contains(&"consultation.declined".to_owned()));

    // scheduled → cancelled frees the booking.
    let id = scheduled(&app, &d, 8).await;
    let (code, body) = status(
        &app,
        &d.clinician,
        id,
        "cancelled",
        Some("resolved locally"),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (_, bookings) = app
        .get(
            &format!("/api/v1/bookings?consultation_id={id}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(bookings[0]["status"], "cancelled");

    // scheduled → declined by the expert.
    let id = scheduled(&app, &d, 9).await;
    let (code, body) = status(
        &app,
        &d.expert,
        id,
        "declined",
        Some("needs surgery instead"),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");

    // scheduled → in_progress → awaiting_opinion → completed (by signing).
    let id = scheduled(&app, &d, 10).await;
    let (code, body) = status(&app, &d.clinician, id, "in_progress", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["started_at"].is_string());
    let (code, body) = status(&app, &d.clinician, id, "awaiting_opinion", None).await;
    assert_error(code, &body, StatusCode::FORBIDDEN, "forbidden");
    let (code, body) = status(&app, &d.expert, id, "awaiting_opinion", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, body) = status(&app, &d.expert, id, "completed", None).await;
    assert_error(code, &body, StatusCode::CONFLICT, "opinion_not_signed");
    let (code, opinion) = app
        .post(
            &format!("/api/v1/consultations/{id}/opinions"),
            &d.expert.token,
            json!({ "findings": "Stable angina.", "diagnosis_codes": ["I20.8"], "recommendation": "treat_locally" }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{opinion}");
    let (code, body) = app
        .post(
            &format!("/api/v1/opinions/{}/sign", opinion["id"]),
            &d.expert.token,
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (_, c) = app
        .get(&format!("/api/v1/consultations/{id}"), &d.clinician.token)
        .await;
    assert_eq!(c["status"], "completed");
    let (_, bookings) = app
        .get(
            &format!("/api/v1/bookings?consultation_id={id}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(
        bookings[0]["status"], "completed",
        "the booking is fulfilled"
    );
    // A closed consultation goes nowhere.
    let (code, body) = status(&app, &d.clinician, id, "cancelled", Some("too late")).await;
    assert_error(code, &body, StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(body["error"]["details"]["allowed"], json!([]));

    // scheduled → requested happens by cancelling the booking, not directly.
    let id = scheduled(&app, &d, 11).await;
    let (code, body) = status(&app, &d.clinician, id, "requested", None).await;
    assert_error(code, &body, StatusCode::CONFLICT, "use_booking");
}

#[tokio::test]
async fn a_signed_opinion_is_immutable_and_an_amendment_keeps_both_versions() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 1, "start_time": "08:00", "end_time": "09:00", "slot_minutes": 60, "service": "video" }),
    )
    .await;
    let id = scheduled(&app, &d, 8).await;
    let draft = json!({ "findings": "Inferior STEMI, late presentation.", "diagnosis_codes": ["i21.1"], "recommendation": "refer_up" });
    let (code, body) = app
        .post(
            &format!("/api/v1/consultations/{id}/opinions"),
            &d.expert.token,
            draft.clone(),
        )
        .await;
    assert_error(code, &body, StatusCode::CONFLICT, "not_ready_for_opinion");
    status(&app, &d.expert, id, "in_progress", None).await;
    let (code, body) = app
        .post(
            &format!("/api/v1/consultations/{id}/opinions"),
            &d.expert.token,
            json!({ "findings": "x", "diagnosis_codes": ["heart"], "recommendation": "refer_up" }),
        )
        .await;
    assert_error(
        code,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_diagnosis_code",
    );
    let (code, v1) = app
        .post(
            &format!("/api/v1/consultations/{id}/opinions"),
            &d.expert.token,
            draft,
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v1}");
    assert_eq!(v1["diagnosis_codes"], json!(["I21.1"]));
    let v1_id = v1["id"].as_i64().expect("id");
    let (code, body) = app
        .patch(
            &format!("/api/v1/opinions/{v1_id}"),
            &d.expert.token,
            json!({ "findings": "Inferior STEMI." }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");

    // Signing needs the call to be over.
    let (code, body) = app
        .post(
            &format!("/api/v1/opinions/{v1_id}/sign"),
            &d.expert.token,
            json!({}),
        )
        .await;
    assert_error(code, &body, StatusCode::CONFLICT, "invalid_transition");
    status(&app, &d.expert, id, "awaiting_opinion", None).await;
    let (code, signed) = app
        .post(
            &format!("/api/v1/opinions/{v1_id}/sign"),
            &d.expert.token,
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{signed}");
    assert_eq!(signed["content_sha256"].as_str().map(str::len), Some(64));

    // Signed: not through the API, and not behind its back either.
    let (code, body) = app
        .patch(
            &format!("/api/v1/opinions/{v1_id}"),
            &d.expert.token,
            json!({ "findings": "changed" }),
        )
        .await;
    assert_error(code, &body, StatusCode::CONFLICT, "opinion_signed");
    let tampered = sqlx::query("UPDATE opinion SET findings = 'changed' WHERE id = $1")
        .bind(v1_id)
        .execute(app.db.pool())
        .await;
    assert!(
        tampered.is_err(),
        "the database refuses to change a signed opinion"
    );

    // An amendment states why, and is a new signed version.
    let amendment = json!({ "findings": "Inferior STEMI with right ventricular involvement.",
                            "diagnosis_codes": ["I21.1", "I21.4"], "recommendation": "refer_up" });
    let (code, body) = app
        .post(
            &format!("/api/v1/consultations/{id}/opinions"),
            &d.expert.token,
            amendment.clone(),
        )
        .await;
    assert_error(
        code,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "amendment_reason_required",
    );
    let mut amendment = amendment;
    amendment["amendment_reason"] = json!("right-sided leads reviewed");
    let (code, v2) = app
        .post(
            &format!("/api/v1/consultations/{id}/opinions"),
            &d.expert.token,
            amendment,
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v2}");
    let (code, body) = app
        .post(
            &format!("/api/v1/opinions/{}/sign", v2["id"]),
            &d.expert.token,
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");

    let (_, versions) = app
        .get(
            &format!("/api/v1/consultations/{id}/opinions"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(versions[0]["findings"], "Inferior STEMI.");
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[1]["version"], 2);
    assert!(versions[0]["signed_at"].is_string() && versions[1]["signed_at"].is_string());
    let seen = kinds(&app, &d.clinician).await;
    assert!(
        seen.contains(&"opinion.signed".to_owned()) && seen.contains(&"opinion.amended".to_owned()),
        "{seen:?}"
    );

    // Only the assigned expert writes.
    let other = app.user("other-expert", Role::Expert, d.c.tertiary).await;
    let (code, _) = app
        .post(
            &format!("/api/v1/opinions/{}/sign", v2["id"]),
            &other.token,
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn urgent_requests_reach_whoever_is_on_call() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = consultation(&app, &d, "urgent").await;
    let (_, queue) = app.get("/api/v1/on-call/queue", &d.expert.token).await;
    assert_eq!(queue, json!([]), "not on call, nothing to see");
    let (code, body) = app
        .post(
            &format!("/api/v1/consultations/{id}/accept"),
            &d.expert.token,
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");

    let now = jiff::Timestamp::now().as_millisecond();
    let (code, body) = app
        .post(
            "/api/v1/on-call/shifts",
            &d.scheduler.token,
            json!({ "expert_id": d.expert.id, "specialty": "Cardiology",
                    "starts_at": ferry_server::time::rfc3339(now - 1000),
                    "ends_at": ferry_server::time::rfc3339(now + 3_600_000) }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (_, queue) = app.get("/api/v1/on-call/queue", &d.expert.token).await;
    assert_eq!(queue[0]["id"], id);
    let (code, body) = app
        .post(
            &format!("/api/v1/consultations/{id}/accept"),
            &d.expert.token,
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "scheduled");
    assert!(body["accepted_at"].is_string());
    assert!(kinds(&app, &d.clinician)
        .await
        .contains(&"consultation.accepted".to_owned()));

    // Accepted, the expert may now open the patient; another expert may not.
    let (code, patient) = app
        .get(&format!("/api/v1/patients/{}", d.patient), &d.expert.token)
        .await;
    assert_eq!(code, StatusCode::OK, "{patient}");
    let other = app.user("cardio-2", Role::Expert, d.c.tertiary).await;
    let (code, body) = app
        .get(&format!("/api/v1/patients/{}", d.patient), &other.token)
        .await;
    assert_error(code, &body, StatusCode::FORBIDDEN, "patient_out_of_scope");
}

#[tokio::test]
async fn an_emergency_nobody_accepts_is_escalated_to_the_schedulers() {
    let app = spawn_app_with(|s| s.emergency_escalation_seconds = 1).await;
    let d = desk(&app).await;
    let id = consultation(&app, &d, "emergency").await;
    wait_until(
        "the emergency is escalated",
        Duration::from_secs(10),
        async || {
            let (_, c) = app
                .get(&format!("/api/v1/consultations/{id}"), &d.clinician.token)
                .await;
            c["escalated_at"].is_string()
        },
    )
    .await;
    assert!(kinds(&app, &d.scheduler)
        .await
        .contains(&"consultation.escalated".to_owned()));
    let (_, queue) = app.get("/api/v1/on-call/queue", &d.scheduler.token).await;
    assert_eq!(queue[0]["id"], id);
    assert!(queue[0]["escalated_at"].is_string());
    assert!(
        queue[0]["clinical_summary"].is_null(),
        "schedulers see logistics, not clinical text"
    );
}

#[tokio::test]
async fn the_expert_hears_of_a_new_booking_on_the_event_stream() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 1, "start_time": "08:00", "end_time": "09:00", "slot_minutes": 60, "service": "video" }),
    )
    .await;
    let mut stream = app
        .request(
            reqwest::Method::GET,
            "/api/v1/notifications/stream",
            Some(&d.expert.token),
        )
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/event-stream"));
    let id = scheduled(&app, &d, 8).await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains("event: booking.created") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("an event within seconds")
            .expect("the stream stays open")
            .expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        text.contains(&format!("\"consultation_id\":{id}")),
        "{text}"
    );
    assert!(
        text.contains("id: "),
        "events carry ids for Last-Event-ID: {text}"
    );
}
