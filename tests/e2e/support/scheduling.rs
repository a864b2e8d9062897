//! Shared set-up for the scheduling tests: a consortium with an expert at the
//! tertiary hospital, a scheduler there, and a clinician with a patient at an
//! island clinic.

use ferry_server::auth::Role;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{Consortium, TestApp, TestUser};

pub struct Desk {
    pub c: Consortium,
    pub scheduler: TestUser,
    pub expert: TestUser,
    pub clinician: TestUser,
    pub patient: i64,
}

pub async fn desk(app: &TestApp) -> Desk {
    let c = app.consortium().await;
    let scheduler = app.user("sched", Role::Scheduler, c.tertiary).await;
    let expert = app.user("dr-expert", Role::Expert, c.tertiary).await;
    let clinician = app.user("island-doc", Role::Clinician, c.island_a).await;
    let patient = app
        .patient_at(c.island_a, "110101195803120023", "A-100")
        .await;
    Desk {
        c,
        scheduler,
        expert,
        clinician,
        patient,
    }
}

/// Sets a facility's time zone directly.
pub async fn set_zone(app: &TestApp, facility_id: i64, zone: &str) {
    sqlx::query("UPDATE facility SET time_zone = $1 WHERE id = $2")
        .bind(zone)
        .bind(facility_id)
        .execute(app.db.pool())
        .await
        .expect("update the zone");
}

/// The first `weekday` at least `days_ahead` days from today in `zone`.
pub fn next_weekday(zone: &str, weekday: Weekday, days_ahead: i64) -> Date {
    let tz = TimeZone::get(zone).expect("a zone");
    let mut date = Timestamp::now().to_zoned(tz).date() + days_ahead.days();
    while date.weekday() != weekday {
        date = date.tomorrow().expect("a date");
    }
    date
}

pub fn iso_weekday(weekday: Weekday) -> i8 {
    weekday.to_monday_one_offset()
}

pub async fn add_rule(
    app: &TestApp,
    scheduler: &TestUser,
    expert_id: i64,
    mut rule: Value,
) -> Value {
    if rule.get("valid_from").is_none() {
        rule["valid_from"] = json!("2020-01-01");
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/experts/{expert_id}/roster/rules"),
            &scheduler.token,
            rule,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// The desk's expert takes hourly video slots from `start` to `end` on every
/// day of the week, so a test finds free slots whatever day it runs.
pub async fn add_daily_rules(app: &TestApp, d: &Desk, start: &str, end: &str) {
    for weekday in 1..=7 {
        add_rule(
            app,
            &d.scheduler,
            d.expert.id,
            json!({ "weekday": weekday, "start_time": start, "end_time": end,
                    "slot_minutes": 60, "service": "video" }),
        )
        .await;
    }
}

pub async fn consultation(app: &TestApp, d: &Desk, urgency: &str) -> i64 {
    let body = if urgency == "routine" {
        json!({ "patient_id": d.patient, "expert_id": d.expert.id, "urgency": "routine",
                "reason": "chest pain on exertion", "clinical_summary": "ECG attached" })
    } else {
        json!({ "patient_id": d.patient, "specialty": "cardiology", "urgency": urgency,
                "reason": "suspected STEMI", "clinical_summary": "ST elevation V1-V4" })
    };
    let (status, body) = app
        .post("/api/v1/consultations", &d.clinician.token, body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().expect("an id")
}

/// Free slots of one expert between two instants or dates.
pub async fn slots(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/slots?{query}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub fn starts(search: &Value) -> Vec<String> {
    search["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| s["start"].as_str().expect("start").to_owned())
        .collect()
}

pub async fn book(
    app: &TestApp,
    token: &str,
    expert_id: i64,
    start: &str,
    consultation_id: i64,
) -> (StatusCode, Value) {
    app.post(
        "/api/v1/bookings",
        token,
        json!({ "expert_id": expert_id, "start": start, "consultation_id": consultation_id }),
    )
    .await
}

/// A routine consultation of the desk's patient, booked with the expert for
/// 09:00 Shanghai on the Monday at least two days ahead (an hour-long video
/// slot of a Monday-morning rule): a call that is days from opening.
pub async fn booked_next_monday(app: &TestApp, d: &Desk) -> i64 {
    add_rule(
        app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 1, "start_time": "08:00", "end_time": "12:00", "slot_minutes": 60, "service": "video" }),
    )
    .await;
    let id = consultation(app, d, "routine").await;
    let day = next_weekday("Asia/Shanghai", Weekday::Monday, 2);
    let (status, body) = book(
        app,
        &d.clinician.token,
        d.expert.id,
        &local("Asia/Shanghai", day, 9, 0),
        id,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    id
}

/// RFC 3339 of a local date and time in a zone.
pub fn local(zone: &str, date: Date, hour: i8, minute: i8) -> String {
    let tz = TimeZone::get(zone).expect("a zone");
    let zoned = date
        .at(hour, minute, 0, 0)
        .to_zoned(tz.clone())
        .expect("a zoned time");
    zoned
        .timestamp()
        .display_with_offset(zoned.offset())
        .to_string()
}

/// The desk's clinician refers the patient up to the tertiary hospital;
/// returns the referral's id.
pub async fn referred_up(app: &TestApp, d: &Desk) -> i64 {
    let (status, referral) = app
        .post(
            "/api/v1/referrals",
            &d.clinician.token,
            json!({ "patient_id": d.patient, "direction": "up", "to_facility_id": d.c.tertiary,
                    "reason": "needs a cardiologist", "diagnosis_codes": ["I21.4"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{referral}");
    referral["id"].as_i64().expect("an id")
}
