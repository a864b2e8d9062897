//! hostile: a session that has ended keeps nothing open. Signing out, an
//! administrator deactivating the user or changing their password, the
//! session expiring, or a sign-out on another node sharing the database:
//! each closes the session's notification stream and call WebSocket within
//! a second, and the same token cannot open them again.

use std::time::Duration;

use ferry_server::auth::Role;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::support::calls::{accepted, join, next, open, send, Socket};
use crate::support::scheduling::{desk, Desk};
use crate::support::{TestApp, TestUser, PASSWORD};

/// How soon after its session ends a connection must be closed.
const WITHIN: Duration = Duration::from_secs(1);

async fn event_stream(app: &TestApp, token: &str) -> reqwest::Response {
    let stream = app
        .request(Method::GET, "/api/v1/notifications/stream", Some(token))
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(stream.status(), StatusCode::OK);
    stream
}

/// Whether the event stream ends by `deadline` (events and keep-alives
/// before its end are read and dropped).
async fn stream_ends(stream: &mut reqwest::Response, deadline: Instant) -> bool {
    loop {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Err(_still_open) => return false,
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None) | Err(_)) => return true,
        }
    }
}

/// Whether the call socket is closed by `deadline`, and the error code the
/// server sent before closing it, if any.
async fn socket_ends(socket: &mut Socket, deadline: Instant) -> (bool, Option<String>) {
    let mut code = None;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_still_open) => return (false, code),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return (true, code),
            Ok(Some(Ok(Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if message["type"] == "error" {
                    code = message["code"].as_str().map(str::to_owned);
                }
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// The clinician and the expert in the call of a consultation, and the
/// clinician's notification stream open.
async fn in_a_call(app: &TestApp) -> (Desk, i64, Socket, Socket, reqwest::Response) {
    let d = desk(app).await;
    let id = accepted(app, &d).await;
    let (clinician, _) = join(app, &d.clinician, id).await;
    let (expert, _) = join(app, &d.expert, id).await;
    let stream = event_stream(app, &d.clinician.token).await;
    (d, id, clinician, expert, stream)
}

async fn assert_token_shut_out(app: &TestApp, user: &TestUser, id: i64) {
    match open(app, user, id).await {
        Ok(_) => panic!("the call socket opened again with an ended session's token"),
        Err((status, _)) => assert_eq!(status, StatusCode::UNAUTHORIZED),
    }
    let stream = app
        .request(
            Method::GET,
            "/api/v1/notifications/stream",
            Some(&user.token),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(stream.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_out_closes_the_sessions_event_stream_and_call_socket_within_a_second() {
    let app = crate::support::spawn_app().await;
    let (d, id, mut clinician, mut expert, mut stream) = in_a_call(&app).await;
    // The expert's own stream, of another session, must stay open.
    let mut experts_stream = event_stream(&app, &d.expert.token).await;

    let response = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&d.clinician.token),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let deadline = Instant::now() + WITHIN;

    assert!(
        stream_ends(&mut stream, deadline).await,
        "the event stream is closed"
    );
    let (closed, code) = socket_ends(&mut clinician, deadline).await;
    assert!(closed, "the call socket is closed");
    assert_eq!(code.as_deref(), Some("signed_out"));
    let left = next(&mut expert).await;
    assert_eq!(left["type"], "peer-left", "{left}");
    assert_eq!(left["reason"], "signed_out", "{left}");
    // An offer to the signed-out clinician reaches no one.
    send(
        &mut expert,
        json!({ "type": "offer", "sdp": "v=0 offer", "to": d.clinician.id.to_string() }),
    )
    .await;
    assert_eq!(next(&mut expert).await["code"], "unknown_peer");

    assert_token_shut_out(&app, &d.clinician, id).await;
    assert!(
        !stream_ends(&mut experts_stream, Instant::now() + WITHIN).await,
        "another session's stream stays open"
    );
}

#[tokio::test]
async fn a_password_change_closes_every_session_of_the_user() {
    let app = crate::support::spawn_app().await;
    let (d, id, mut clinician, _expert, mut stream) = in_a_call(&app).await;
    let admin = app.user("admin", Role::Admin, d.c.tertiary).await;
    // A second sign-in of the same user, from another device.
    let second: Value = app
        .login(&d.clinician.username, PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let second_token = second["token"].as_str().expect("a token").to_owned();
    let mut second_stream = event_stream(&app, &second_token).await;

    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", d.clinician.id),
            &admin.token,
            json!({ "password": "a brand new password" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = Instant::now() + WITHIN;

    assert!(
        stream_ends(&mut stream, deadline).await,
        "the first stream is closed"
    );
    assert!(
        stream_ends(&mut second_stream, deadline).await,
        "the second device's stream is closed"
    );
    let (closed, code) = socket_ends(&mut clinician, deadline).await;
    assert!(closed, "the call socket is closed");
    assert_eq!(code.as_deref(), Some("signed_out"));
    assert_token_shut_out(&app, &d.clinician, id).await;
}

#[tokio::test]
async fn deactivating_a_user_closes_their_event_stream_and_call_socket() {
    let app = crate::support::spawn_app().await;
    let (d, id, mut clinician, _expert, mut stream) = in_a_call(&app).await;
    let admin = app.user("admin", Role::Admin, d.c.tertiary).await;

    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", d.clinician.id),
            &admin.token,
            json!({ "active": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = Instant::now() + WITHIN;

    assert!(
        stream_ends(&mut stream, deadline).await,
        "the event stream is closed"
    );
    let (closed, _) = socket_ends(&mut clinician, deadline).await;
    assert!(closed, "the call socket is closed");
    assert_token_shut_out(&app, &d.clinician, id).await;
}

#[tokio::test]
async fn an_expired_session_closes_its_event_stream_and_call_socket() {
    let app = crate::support::spawn_app().await;
    let (d, _id, mut clinician, _expert, mut stream) = in_a_call(&app).await;

    // Expiry is not an event: nothing but the clock says it happened.
    sqlx::query("UPDATE user_session SET created_at = 1, expires_at = 2 WHERE user_id = $1")
        .bind(d.clinician.id)
        .execute(app.db.pool())
        .await
        .expect("age the session");
    let deadline = Instant::now() + WITHIN;

    assert!(
        stream_ends(&mut stream, deadline).await,
        "the event stream is closed"
    );
    let (closed, _) = socket_ends(&mut clinician, deadline).await;
    assert!(closed, "the call socket is closed");
}

#[tokio::test]
async fn signing_out_on_one_node_closes_the_streams_open_on_another() {
    let app = crate::support::spawn_app().await;
    let other = app.another_node().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let mut stream = event_stream(&other, &d.clinician.token).await;
    let (mut clinician, _) = join(&other, &d.clinician, id).await;

    let response = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&d.clinician.token),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let deadline = Instant::now() + WITHIN;

    assert!(
        stream_ends(&mut stream, deadline).await,
        "the other node's event stream is closed"
    );
    let (closed, code) = socket_ends(&mut clinician, deadline).await;
    assert!(closed, "the other node's call socket is closed");
    assert_eq!(code.as_deref(), Some("signed_out"));
    assert_token_shut_out(&other, &d.clinician, id).await;
}
