//! The call room in a real browser: before the call opens, Join is disabled
//! with the opening time and the waiting room counts down in the browser's
//! own zone without opening the camera; then the device check (a choice of
//! microphone, remembered), the call with display names in a speaker view,
//! a quality line on both sides that tells the user's choice of low
//! bandwidth apart from the link, the chat delivered and kept with the
//! consultation, and a confirmation before leaving.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::journeys::{journey, screenshot_count, screenshots};
use crate::support::scheduling::{booked_next_monday, desk};
use crate::support::{spawn_app, PASSWORD};

/// How long after the test's set-up the call opens: time to sign in and
/// see the waiting room first.
const OPENS_IN_MS: i64 = 45_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_room_opens_the_call_and_the_call_keeps_its_chat() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = booked_next_monday(&app, &d).await;
    // Display names that are not the user names, in both scripts.
    for (user, name) in [
        (d.clinician.id, "Dr. Lin Hai"),
        (d.expert.id, "王建华 主任"),
    ] {
        sqlx::query("UPDATE app_user SET display_name = $1 WHERE id = $2")
            .bind(name)
            .bind(user)
            .execute(app.db.pool())
            .await
            .expect("renamed");
    }
    // The booking moved to start so that its call (open 15 minutes before)
    // opens shortly: what a slot booked for the coming quarter looks like.
    let opens_at = ferry_server::time::now_ms() + OPENS_IN_MS;
    let start = opens_at + 15 * 60_000;
    sqlx::query("UPDATE booking SET start_at = $1, end_at = $2 WHERE consultation_id = $3")
        .bind(start)
        .bind(start + 3_600_000)
        .bind(id)
        .execute(app.db.pool())
        .await
        .expect("moved");
    let shots = screenshots("call-room");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "call-room",
        json!({
            "base": app.url(""),
            "consultation": id,
            "opens_at": opens_at,
            "clinician": { "username": d.clinician.username, "password": PASSWORD, "display_name": "Dr. Lin Hai" },
            "expert": { "username": d.expert.username, "password": PASSWORD, "display_name": "王建华 主任" },
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    // The chat is kept with the consultation, in the order it was written.
    let (status, chat) = app
        .get(&format!("/api/v1/consultations/{id}/chat"), &d.expert.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    let bodies: Vec<&str> = chat
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| m["body"].as_str().expect("a body"))
        .collect();
    assert_eq!(
        bodies,
        [
            "Her BP was 150/95 this morning.",
            "请把上周的心电图也上传。"
        ],
        "{seen}"
    );
    assert!(screenshot_count(&result) >= 8, "{result}");
}
