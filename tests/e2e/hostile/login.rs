//! hostile: sign-in, sent by someone with no account at all. Guesses sent all
//! at once check no more passwords than the lock-out allows; a flood of
//! sign-ins is refused early (429) instead of each holding a 19 MiB password
//! check; and nothing a stranger sends (a megabyte of user name, markup in
//! `X-Request-Id`) is stored as sent.

use std::time::{Duration, Instant};

use ferry_server::auth::Role;
use futures_util::future::join_all;
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::child_server::spawn_server;
use crate::support::memory::assert_under_ceiling;
use crate::support::{spawn_app_with, TestApp, TestDb, PASSWORD};

/// The widest user name or request id any row may hold after these tests.
const STORED_MAX: i64 = 256;

async fn longest(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.db.pool())
        .await
        .expect("a length")
}

#[tokio::test]
async fn forty_one_guesses_at_once_check_only_as_many_passwords_as_the_lockout_allows() {
    let app = spawn_app_with(|s| {
        s.login_max_failures = 5;
        s.login_lockout_seconds = 600;
    })
    .await;
    let c = app.consortium().await;
    app.user("dr-lin", Role::Clinician, c.island_a).await;

    let guesses = (0..41).map(|n| {
        let app = &app;
        async move {
            app.login("dr-lin", &format!("wrong guess number {n}"))
                .await
                .status()
        }
    });
    let statuses = join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked, 5, "passwords checked: {statuses:?}");
    assert_eq!(refused, 36, "refused unchecked: {statuses:?}");

    // Locked: the right password is refused too.
    let locked = app.login("dr-lin", PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = locked.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");

    let failures: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = 'user.login' \
         AND detail LIKE '%invalid_credentials%'",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("count");
    assert_eq!(failures, 5, "one audited failure per checked password");
}

#[tokio::test]
async fn a_flood_of_sign_ins_for_unknown_names_is_turned_away_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = TestDb::new(dir.path()).await;
    let server = spawn_server(dir.path(), &db.url, &[]).await;
    let pid = server.process.id().expect("the server's pid");
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/auth/login", server.base);

    let attempts = (0..128).map(|n| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let started = Instant::now();
            let response = client
                .post(&url)
                .json(&json!({ "username": format!("nobody-{n}"), "password": "not a password at all" }))
                .send()
                .await
                .expect("the server answers");
            let status = response.status();
            let retry_after = response.headers().get(RETRY_AFTER).is_some();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, retry_after, body, started.elapsed())
        }
    });
    let answers = join_all(attempts).await;
    eprintln!(
        "128 sign-ins at once: the server peaked at {} MiB",
        crate::support::memory::peak_rss(pid) / (1024 * 1024)
    );
    assert_under_ceiling(pid, "128 sign-ins at once for unknown names");

    let busy: Vec<_> = answers
        .iter()
        .filter(|(status, ..)| *status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    let statuses: Vec<_> = answers.iter().map(|(status, ..)| status.as_u16()).collect();
    assert!(
        answers
            .iter()
            .all(|(status, ..)| *status == StatusCode::UNAUTHORIZED
                || *status == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // At most 8 checks run and 32 wait on any machine: most are turned away.
    assert!(busy.len() >= 64, "refused: {} of 128", busy.len());
    for (_, retry_after, body, _) in &busy {
        assert!(*retry_after, "a 429 says when to retry");
        assert_eq!(body["error"]["code"], "busy", "{body}");
    }
    let quickest = busy
        .iter()
        .map(|(.., took)| *took)
        .min()
        .expect("some were refused");
    assert!(
        quickest < Duration::from_secs(1),
        "refused without waiting for a check: {quickest:?}"
    );
}

#[tokio::test]
async fn megabyte_user_names_are_refused_and_never_stored() {
    let app = spawn_app_with(|_| {}).await;
    let c = app.consortium().await;
    app.user("dr-lin", Role::Clinician, c.island_a).await;

    // A megabyte, inside the default 1 MiB body limit.
    let huge = "a".repeat(1_000_000);
    for n in 0..10 {
        let name = format!("{n}{huge}");
        let response = app.login(&name, "not the password at all").await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        crate::support::assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_username",
        );
    }
    for name in ["<script>alert(1)</script>", "dr lin", "x", "dr-lin\u{0}"] {
        let status = app.login(name, "not the password at all").await.status();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
    }

    let throttled = longest(
        &app,
        "SELECT CAST(COALESCE(MAX(LENGTH(username)), 0) AS BIGINT) FROM login_throttle",
    )
    .await;
    let audited = longest(
        &app,
        "SELECT CAST(COALESCE(MAX(LENGTH(actor_name)), 0) AS BIGINT) FROM audit_event",
    )
    .await;
    assert!(
        throttled <= STORED_MAX,
        "a throttle row of {throttled} bytes"
    );
    assert!(audited <= STORED_MAX, "an audit row of {audited} bytes");
    let marked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE actor_name LIKE '%<script>%' \
         OR actor_name LIKE '%aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%'",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("count");
    assert_eq!(marked, 0);

    // A well-formed name, known or not, is still an ordinary wrong credential.
    assert_eq!(
        app.login("dr-lin", "not the password at all")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_hostile_request_id_is_replaced_not_stored() {
    let app = spawn_app_with(|_| {}).await;
    let c = app.consortium().await;
    app.user("dr-lin", Role::Clinician, c.island_a).await;

    let hostile = format!("<script>alert(1)</script>{}", "x".repeat(4993));
    assert_eq!(hostile.len(), 5018);
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-request-id", &hostile)
        .json(&json!({ "username": "dr-lin", "password": "not the password at all" }))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let echoed = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        !echoed.is_empty() && echoed.len() <= 64 && !echoed.contains('<'),
        "a fresh id of the server's own, not {:?}…",
        echoed.chars().take(40).collect::<String>()
    );

    // A plain id is kept, so the trail still ties back to a client's trace.
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-request-id", "trace-2024.07_abc")
        .json(&json!({ "username": "dr-lin", "password": PASSWORD }))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::OK);

    let longest_id = longest(
        &app,
        "SELECT CAST(COALESCE(MAX(LENGTH(request_id)), 0) AS BIGINT) FROM audit_event",
    )
    .await;
    assert!(
        longest_id <= 64,
        "an audited request id of {longest_id} bytes"
    );
    let scripted: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE request_id LIKE '%<script>%'")
            .fetch_one(app.db.pool())
            .await
            .expect("count");
    assert_eq!(scripted, 0);
    let kept: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE request_id = 'trace-2024.07_abc'",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("count");
    assert_eq!(kept, 1, "the plain id is on the sign-in's audit event");
    let replaced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = 'user.login' AND outcome = 'failure' \
         AND request_id IS NOT NULL",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("count");
    assert_eq!(replaced, 1, "the failure is audited under the server's id");
}
