//! The scheduler's board and on-call desk name each booking's and request's
//! patient and clinic; the desk assigns waiting urgent requests to an
//! expert, who accepts one and declines the other on their On call page;
//! the expert declines a booked case and marks a no-show, all in a real
//! browser (the scheduler in English, the expert in Chinese). What the
//! screens showed is then checked against what the server holds.

use jiff::civil::Weekday;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::scheduling::{add_daily_rules, book, consultation, desk, local, next_weekday};
use crate::support::spawn_app;

const SHANGHAI: &str = "Asia/Shanghai";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_names_patients_assigns_urgent_requests_and_the_expert_accepts_declines_and_marks_a_no_show(
) {
    let app = spawn_app().await;
    let d = desk(&app).await;
    add_daily_rules(&app, &d, "09:00", "12:00").await;
    let monday = next_weekday(SHANGHAI, Weekday::Monday, 7);
    let tuesday = monday.tomorrow().expect("a date");
    let wednesday = tuesday.tomorrow().expect("a date");
    let mut booked = Vec::new();
    for day in [monday, tuesday, wednesday] {
        let id = consultation(&app, &d, "routine").await;
        let (status, booking) = book(
            &app,
            &d.clinician.token,
            d.expert.id,
            &local(SHANGHAI, day, 9, 0),
            id,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        booked.push((id, booking["id"].as_i64().expect("an id")));
    }
    // The third booking's slot began ten minutes ago, so its patient can be
    // found missing.
    let now = Timestamp::now().as_millisecond();
    sqlx::query("UPDATE booking SET start_at = $1, end_at = $2 WHERE id = $3")
        .bind(now - 600_000)
        .bind(now + 3_000_000)
        .bind(booked[2].1)
        .execute(app.db.pool())
        .await
        .expect("the slot has begun");
    let urgent = [
        consultation(&app, &d, "urgent").await,
        consultation(&app, &d, "emergency").await,
    ];
    let (_, clinic) = app
        .get(
            &format!("/api/v1/facilities/{}", d.c.island_a),
            &d.scheduler.token,
        )
        .await;
    let clinic = clinic["name"].as_str().expect("a name").to_owned();
    let shots = screenshots("scheduling-screens");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "scheduling-screens",
        json!({
            "base": app.url(""),
            "scheduler": user(&d.scheduler),
            "expert": user(&d.expert),
            "expert_id": d.expert.id,
            "week": monday.to_string(),
            "booking": booked[0].1,
            "patient": { "name": "Wang Xiuying", "record_number": "A-100" },
            "clinic": clinic,
            "urgent": urgent,
            "declined": booked[1].0,
            "no_show": booked[2].0,
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];

    // What the scheduler saw, in English: the patient and the clinic.
    assert_eq!(seen["board_patient"], "Wang Xiuying · A-100", "{result}");
    assert_eq!(seen["board_clinic"], clinic.as_str(), "{result}");
    assert_eq!(seen["desk_patient"], "Wang Xiuying · A-100", "{result}");
    assert_eq!(seen["desk_clinic"], clinic.as_str(), "{result}");
    let headers = |key: &str| -> Vec<String> {
        seen[key]
            .as_array()
            .expect("headers")
            .iter()
            .map(|h| h.as_str().unwrap_or_default().trim().to_owned())
            .collect()
    };
    assert!(
        headers("board_headers").contains(&"Requesting clinic".to_owned()),
        "{result}"
    );
    assert_eq!(
        seen["desk_offered"],
        format!("Offered to {}", d.expert.username),
        "{result}"
    );
    // What the expert saw, in Chinese.
    assert_eq!(seen["expert_accept"], "接诊", "{result}");
    assert_eq!(seen["expert_decline"], "谢绝", "{result}");
    assert!(
        headers("expert_headers").contains(&"申请机构".to_owned()),
        "{result}"
    );
    assert_eq!(seen["declined_status"], "已拒绝", "{result}");

    // What the server holds.
    let get = |path: String| {
        let app = &app;
        let token = d.expert.token.clone();
        async move {
            let (status, body) = app.get(&path, &token).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body
        }
    };
    let accepted = get(format!("/api/v1/consultations/{}", urgent[0])).await;
    assert_eq!(accepted["status"], "scheduled", "{accepted}");
    assert_eq!(accepted["expert_id"], d.expert.id, "{accepted}");
    assert!(accepted["accepted_at"].is_string(), "{accepted}");
    let (_, back) = app
        .get(
            &format!("/api/v1/consultations/{}", urgent[1]),
            &d.scheduler.token,
        )
        .await;
    assert_eq!(back["status"], "requested", "{back}");
    assert_eq!(back["expert_id"], Value::Null, "{back}");
    let declined = get(format!("/api/v1/consultations/{}", booked[1].0)).await;
    assert_eq!(declined["status"], "declined", "{declined}");
    assert!(
        declined["status_reason"]
            .as_str()
            .is_some_and(|r| r.contains("神经内科")),
        "{declined}"
    );
    let booking = get(format!("/api/v1/bookings/{}", booked[1].1)).await;
    assert_eq!(booking["status"], "declined", "{booking}");
    let missed = get(format!("/api/v1/bookings/{}", booked[2].1)).await;
    assert_eq!(missed["status"], "no_show", "{missed}");
    let again = get(format!("/api/v1/consultations/{}", booked[2].0)).await;
    assert_eq!(again["status"], "requested", "{again}");
    // The board's list carries the patient for the scheduler.
    let board = get(format!("/api/v1/bookings/{}", booked[0].1)).await;
    assert_eq!(board["patient"]["record_number"], "A-100", "{board}");
    assert_eq!(screenshot_count(&result), 8, "{result}");
}
