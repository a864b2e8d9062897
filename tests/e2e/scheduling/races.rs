//! Real parallel HTTP requests racing for the same things.

use std::sync::Arc;

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::support::scheduling::{consultation, desk};
use crate::support::{send, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_racing_for_fifty_slots_make_exactly_fifty_bookings() {
    let app = spawn_app_with(|s| s.database_max_connections = 8).await;
    let d = desk(&app).await;
    // Fifty five-minute slots in an extra session starting tomorrow.
    let start = jiff::Timestamp::now().as_millisecond() + 86_400_000;
    let start = start - start % 60_000;
    let (status, body) = app
        .post(
            &format!("/api/v1/experts/{}/roster/exceptions", d.expert.id),
            &d.scheduler.token,
            json!({ "kind": "extra", "starts_at": ferry_server::time::rfc3339(start),
                    "ends_at": ferry_server::time::rfc3339(start + 50 * 300_000),
                    "slot_minutes": 5, "service": "video" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut consultations = Vec::with_capacity(200);
    for _ in 0..200 {
        consultations.push(consultation(&app, &d, "routine").await);
    }

    let barrier = Arc::new(Barrier::new(200));
    let mut tasks = Vec::with_capacity(200);
    for (i, consultation_id) in consultations.into_iter().enumerate() {
        let request = app
            .request(
                reqwest::Method::POST,
                "/api/v1/bookings",
                Some(&d.clinician.token),
            )
            .json(&json!({
                "expert_id": d.expert.id,
                "start": ferry_server::time::rfc3339(start + (i as i64 % 50) * 300_000),
                "consultation_id": consultation_id,
            }));
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            send(request).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (status, body): (StatusCode, Value) = task.await.expect("the task ran");
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "slot_taken", "{body}");
                assert!(body["error"]["details"]["next_free"].is_array(), "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created, 50);
    let (booked, distinct): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT start_at) FROM booking WHERE status = 'booked'",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("counts");
    assert_eq!((booked, distinct), (50, 50), "no slot booked twice");
    let scheduled: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM consultation WHERE status = 'scheduled'")
            .fetch_one(app.db.pool())
            .await
            .expect("count");
    assert_eq!(scheduled, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_experts_racing_to_accept_one_emergency_leave_one_winner() {
    let app = spawn_app_with(|s| s.database_max_connections = 8).await;
    let d = desk(&app).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut experts = vec![d.expert.clone()];
    for i in 1..20 {
        experts.push(
            app.user(&format!("on-call-{i}"), Role::Expert, d.c.tertiary)
                .await,
        );
    }
    for expert in &experts {
        let (status, body) = app
            .post(
                "/api/v1/on-call/shifts",
                &d.scheduler.token,
                json!({ "expert_id": expert.id, "specialty": "cardiology",
                        "starts_at": ferry_server::time::rfc3339(now - 60_000),
                        "ends_at": ferry_server::time::rfc3339(now + 3_600_000) }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let emergency = consultation(&app, &d, "emergency").await;

    let barrier = Arc::new(Barrier::new(experts.len()));
    let mut tasks = Vec::new();
    for expert in &experts {
        let request = app.request(
            reqwest::Method::POST,
            &format!("/api/v1/consultations/{emergency}/accept"),
            Some(&expert.token),
        );
        let barrier = barrier.clone();
        let id = expert.id;
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (id, send(request).await)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (id, (status, body)) = task.await.expect("the task ran");
        match status {
            StatusCode::OK => winners.push(id),
            StatusCode::CONFLICT => assert!(
                ["already_accepted", "invalid_transition"]
                    .contains(&body["error"]["code"].as_str().unwrap_or("")),
                "{body}"
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one expert wins");
    let (_, c) = app
        .get(
            &format!("/api/v1/consultations/{emergency}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(c["expert_id"], winners[0]);
    assert_eq!(c["status"], "scheduled");
}
