//! Sign-in, sessions, cookies, throttling.

use ferry_server::auth::Role;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use crate::support::{assert_error, send, spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn login_with_the_right_password_returns_a_token_that_opens_me() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let user = app.user("dr-lin", Role::Clinician, c.island_a).await;

    let response = app.login("DR-LIN", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    let token = body["token"].as_str().expect("token");
    assert_eq!(token.len(), 64);
    assert!(cookie.starts_with(&format!("ferry_session={token};")));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert_eq!(body["user"]["username"], "dr-lin");

    let (status, me) = app.get("/api/v1/me", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], user.id);
    assert_eq!(me["facility_id"], c.island_a);
    assert_eq!(me["roles"], serde_json::json!(["clinician"]));

    // The cookie alone authenticates too, as the web client uses it.
    let (status, me) = send(
        app.request(Method::GET, "/api/v1/me", None)
            .header(header::COOKIE, format!("ferry_session={token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "dr-lin");

    // Only the hash of the token is stored.
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_session WHERE token_hash = $1")
        .bind(token)
        .fetch_one(app.db.pool())
        .await
        .expect("count");
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    app.user("dr-lin", Role::Clinician, c.island_a).await;

    let wrong = app.login("dr-lin", "not the password at all").await;
    let wrong_status = wrong.status();
    let wrong_body: Value = wrong.json().await.expect("json");
    let unknown = app.login("nobody-here", "not the password at all").await;
    let unknown_status = unknown.status();
    let unknown_body: Value = unknown.json().await.expect("json");

    assert_error(
        wrong_status,
        &wrong_body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_eq!(wrong_status, unknown_status);
    assert_eq!(wrong_body, unknown_body);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let user = app.user("dr-lin", Role::Clinician, c.island_a).await;
    assert_eq!(app.get("/api/v1/me", &user.token).await.0, StatusCode::OK);

    // Age the session past its expiry (created_at stays before expires_at).
    sqlx::query("UPDATE user_session SET created_at = 1, expires_at = 2 WHERE user_id = $1")
        .bind(user.id)
        .execute(app.db.pool())
        .await
        .expect("age the session");

    let (status, body) = app.get("/api/v1/me", &user.token).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn logout_revokes_the_token_and_clears_the_cookie() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let user = app.user("dr-lin", Role::Clinician, c.island_a).await;

    let response = app
        .request(Method::POST, "/api/v1/auth/logout", Some(&user.token))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");

    let (status, body) = app.get("/api/v1/me", &user.token).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let revoked: Option<i64> =
        sqlx::query_scalar("SELECT revoked_at FROM user_session WHERE user_id = $1")
            .bind(user.id)
            .fetch_one(app.db.pool())
            .await
            .expect("session row");
    assert!(revoked.is_some());
}

#[tokio::test]
async fn repeated_failures_lock_the_name_out_even_for_the_right_password() {
    let app = spawn_app_with(|s| {
        s.login_max_failures = 3;
        s.login_lockout_seconds = 600;
    })
    .await;
    let c = app.consortium().await;
    app.user("dr-lin", Role::Clinician, c.island_a).await;
    app.user("dr-wu", Role::Clinician, c.island_a).await;

    for _ in 0..3 {
        assert_eq!(
            app.login("dr-lin", "wrong password!!").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = app.login("dr-lin", PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = locked
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    let body: Value = locked.json().await.expect("json");
    assert_error(
        StatusCode::TOO_MANY_REQUESTS,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );

    // Another account is not affected.
    assert_eq!(app.login("dr-wu", PASSWORD).await.status(), StatusCode::OK);

    // An unknown name is throttled exactly the same way: no enumeration.
    for _ in 0..3 {
        assert_eq!(
            app.login("ghost", "wrong password!!").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login("ghost", "wrong password!!").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Every attempt is on the audit trail.
    let failures: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = 'user.login' AND outcome = 'failure'",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("count");
    assert_eq!(failures, 8);
}

#[tokio::test]
async fn a_deactivated_user_loses_their_sessions_and_cannot_sign_in() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let user = app.user("dr-lin", Role::Clinician, c.island_a).await;

    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", user.id),
            &admin.token,
            serde_json::json!({ "active": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(
        app.get("/api/v1/me", &user.token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("dr-lin", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // An administrator cannot lock themselves out.
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", admin.id),
            &admin.token,
            serde_json::json!({ "active": false }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "self_lockout");
}
