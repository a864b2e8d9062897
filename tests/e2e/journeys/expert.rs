//! The expert's journey through the web client: today's consultation on the
//! home page at the expert's local time, the case page with the attached
//! study's thumbnail, a faulty diagnosis code refused in the form, the
//! opinion written and signed; the clinician's bell rings live and the
//! clinician reads the signed opinion on the same case page. Also the two
//! small API additions that page needs: the requesting clinician's name on a
//! consultation, and notifications marked read one at a time.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::journeys::{journey, screenshot_count, screenshots};
use crate::support::reading::stored_study;
use crate::support::scheduling::{add_rule, book, desk, iso_weekday, local, next_weekday, Desk};
use crate::support::{assert_error, spawn_app, TestApp, PASSWORD};

const ZONE: &str = "Asia/Shanghai";
const QUESTION: &str = "Chest pain on exertion for two weeks; is this stable angina?";
const FINDINGS: &str = "Exertional angina, likely stable. Start aspirin and a beta blocker; \
                        treadmill test at the county hospital within two weeks.";

async fn rename(app: &TestApp, user_id: i64, name: &str) {
    sqlx::query("UPDATE app_user SET display_name = $1 WHERE id = $2")
        .bind(name)
        .bind(user_id)
        .execute(app.db.pool())
        .await
        .expect("renamed");
}

/// A routine consultation with a study attached, booked with the desk's
/// expert for a few minutes from now (so its call is open and it is today in
/// the expert's zone). Returns its id and the booking's start in ms.
async fn booked_today(app: &TestApp, d: &Desk, study: &str) -> (i64, i64) {
    let (status, body) = app
        .post(
            "/api/v1/consultations",
            &d.clinician.token,
            json!({ "patient_id": d.patient, "expert_id": d.expert.id, "urgency": "routine",
                    "reason": QUESTION, "clinical_summary": "ECG at rest normal; CT attached.",
                    "studies": [study] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().expect("an id");
    let day = next_weekday(ZONE, Weekday::Monday, 2);
    add_rule(
        app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": iso_weekday(Weekday::Monday), "start_time": "08:00", "end_time": "12:00",
                "slot_minutes": 30, "service": "video" }),
    )
    .await;
    let (status, body) = book(
        app,
        &d.clinician.token,
        d.expert.id,
        &local(ZONE, day, 9, 0),
        id,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Slots come from weekly rules; the booking is moved to now so the
    // journey does not depend on the day or hour it runs at.
    let tz = TimeZone::get(ZONE).expect("a zone");
    let now = Timestamp::now();
    let minute = now.as_millisecond() / 60_000 * 60_000;
    let soon = minute + 3 * 60_000;
    let today = now.to_zoned(tz.clone()).date();
    let start = match Timestamp::from_millisecond(soon) {
        Ok(at) if at.to_zoned(tz).date() == today => soon,
        _ => minute - 10 * 60_000,
    };
    sqlx::query("UPDATE booking SET start_at = $1, end_at = $2 WHERE consultation_id = $3")
        .bind(start)
        .bind(start + 30 * 60_000)
        .bind(id)
        .execute(app.db.pool())
        .await
        .expect("moved");
    (id, start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expert_signs_an_opinion_from_the_case_page_and_the_clinician_reads_it_live() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    rename(&app, d.clinician.id, "Dr. Lin Hai").await;
    rename(&app, d.expert.id, "Prof. Zhou Ming").await;
    let study = stored_study(&app, &d.clinician, "CT_small.dcm", "A-100").await;
    let (id, start) = booked_today(&app, &d, &study).await;
    let time = Timestamp::from_millisecond(start)
        .expect("an instant")
        .to_zoned(TimeZone::get(ZONE).expect("a zone"))
        .strftime("%H:%M")
        .to_string();
    let shots = screenshots("expert");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "expert",
        json!({
            "base": app.url(""),
            "consultation": id,
            "clinician": { "username": d.clinician.username, "password": PASSWORD, "display_name": "Dr. Lin Hai" },
            "expert": { "username": d.expert.username, "password": PASSWORD, "display_name": "Prof. Zhou Ming" },
            "patient": "Wang Xiuying",
            "facility": "Island A",
            "question": QUESTION,
            "findings": FINDINGS,
            "time": time,
            "screenshots": shots,
        }),
    )
    .await;

    let seen = &result["result"];
    assert!(
        seen["thumbnail"]["width"].as_u64().is_some_and(|w| w > 0),
        "{result}"
    );
    assert!(
        seen["clinician_bell_after"].as_u64() > seen["clinician_bell_before"].as_u64(),
        "{result}"
    );
    // What the browser showed is what the server holds.
    let (status, opinions) = app
        .get(
            &format!("/api/v1/consultations/{id}/opinions"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{opinions}");
    assert_eq!(opinions[0]["findings"], FINDINGS, "{opinions}");
    assert_eq!(opinions[0]["diagnosis_codes"], json!(["I20.0", "I10"]));
    assert!(opinions[0]["signed_at"].is_string(), "{opinions}");
    let (_, unread) = app
        .get("/api/v1/notifications?unread=true", &d.clinician.token)
        .await;
    assert!(
        !unread
            .as_array()
            .expect("a list")
            .iter()
            .any(|n| n["kind"] == "opinion.signed"),
        "reading the opinion reads its notification: {unread}"
    );
    assert_eq!(screenshot_count(&result), 8, "{result}");
}

#[tokio::test]
async fn a_consultation_names_its_requesting_clinician() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    rename(&app, d.clinician.id, "Dr. Lin Hai").await;
    let study = stored_study(&app, &d.clinician, "CT_small.dcm", "A-100").await;
    let (id, _) = booked_today(&app, &d, &study).await;
    for who in [&d.expert, &d.clinician, &d.scheduler] {
        let (status, body) = app
            .get(&format!("/api/v1/consultations/{id}"), &who.token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["requested_by_name"], "Dr. Lin Hai", "{body}");
    }
}

async fn unread_ids(app: &TestApp, token: &str) -> Vec<i64> {
    let (_, list) = app.get("/api/v1/notifications?unread=true", token).await;
    list.as_array()
        .expect("a list")
        .iter()
        .map(|n| n["id"].as_i64().expect("an id"))
        .collect()
}

#[tokio::test]
async fn notifications_are_marked_read_one_at_a_time_or_up_to_an_id() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let study = stored_study(&app, &d.clinician, "CT_small.dcm", "A-100").await;
    // Each booking and request announces itself to the expert.
    booked_today(&app, &d, &study).await;
    let (status, body) = app
        .post(
            "/api/v1/consultations",
            &d.clinician.token,
            json!({ "patient_id": d.patient, "expert_id": d.expert.id, "urgency": "routine",
                    "reason": "a second question" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = unread_ids(&app, &d.expert.token).await;
    assert!(before.len() >= 2, "{before:?}");

    let (status, body) = app
        .post(
            "/api/v1/notifications/read",
            &d.expert.token,
            json!({ "ids": [before[1]] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["marked"], 1);
    let after: Vec<i64> = before
        .iter()
        .copied()
        .filter(|id| *id != before[1])
        .collect();
    assert_eq!(unread_ids(&app, &d.expert.token).await, after);

    // Someone else's notification is not theirs to mark.
    let (status, body) = app
        .post(
            "/api/v1/notifications/read",
            &d.clinician.token,
            json!({ "ids": [before[0]] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["marked"], 0);
    assert_eq!(unread_ids(&app, &d.expert.token).await, after);

    for bad in [
        json!({}),
        json!({ "ids": [] }),
        json!({ "up_to": 1, "ids": [1] }),
    ] {
        let (status, body) = app
            .post("/api/v1/notifications/read", &d.expert.token, bad)
            .await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
    }
    let (status, body): (StatusCode, Value) = app
        .post(
            "/api/v1/notifications/read",
            &d.expert.token,
            json!({ "up_to": i64::MAX }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(unread_ids(&app, &d.expert.token).await.is_empty());
}
