//! A request that cannot be answered in time (here: the audit trail's head
//! is held by another transaction) is stopped at `http_request_timeout_seconds`
//! and answered `503 timed_out` with the deadline in its details; it leaves
//! nothing behind, and the same request goes through once the hold ends.

use std::time::Duration;

use ferry_server::auth::Role;
use reqwest::StatusCode;
use sqlx::{Connection, Executor};
use tokio::time::Instant;

use crate::support::{assert_error, spawn_app_with};

#[tokio::test]
async fn a_request_held_past_its_deadline_is_answered_503_and_changes_nothing() {
    let app = spawn_app_with(|s| s.http_request_timeout_seconds = 1).await;
    let c = app.consortium().await;
    let clinician = app.user("clin-deadline", Role::Clinician, c.island_a).await;
    let patient = app
        .patient_at(c.island_a, "110101195803120023", "D-1")
        .await;
    let path = format!("/api/v1/patients/{patient}");
    let events = app.count("audit_event").await;

    let mut holder = sqlx::AnyConnection::connect(&app.test_db.url)
        .await
        .expect("a connection of the test's own");
    if app.test_db.url.starts_with("postgres") {
        holder.execute("BEGIN").await.expect("begin");
        holder
            .execute("SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE")
            .await
            .expect("the chain's head held");
    } else {
        holder
            .execute("BEGIN IMMEDIATE")
            .await
            .expect("the write lock held");
    }
    let asked = Instant::now();
    let (status, body) = app.get(&path, &clinician.token).await;
    let took = asked.elapsed();
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "timed_out");
    assert_eq!(body["error"]["details"]["limit_secs"], 1, "{body}");
    assert!(
        took < Duration::from_secs(5),
        "answered at the deadline, not when the hold ended: {took:?}"
    );
    holder.execute("ROLLBACK").await.expect("released");

    assert_eq!(
        app.count("audit_event").await,
        events,
        "the stopped read left no audit event"
    );
    let (status, body) = app.get(&path, &clinician.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.count("audit_event").await, events + 1);
}
