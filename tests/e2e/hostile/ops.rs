//! hostile: the operator's doors. A modality's AE title is no password, so
//! a modality bound to its hosts is refused from any other, and one title
//! holds only so many associations; `/metrics` answers only the bearer of
//! its token; the session cookie is `Secure` behind HTTPS; and a page of
//! another site cannot open a call's WebSocket with the user's cookie.

use std::process::Stdio;
use std::time::Duration;

use ferry_server::auth::Role;
use reqwest::{header, Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::dicom_files::{dcmtk, port};
use crate::support::wait_until;
use crate::support::{assert_error, send, spawn_app, spawn_app_with, TestApp, PASSWORD};

/// Registers a modality at island A with these extra fields.
async fn register(
    app: &TestApp,
    facility: i64,
    admin: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    app.post(
        &format!("/api/v1/facilities/{facility}/modalities"),
        admin,
        body,
    )
    .await
}

async fn echo(app: &TestApp, calling: &str) -> bool {
    dcmtk(
        "echoscu",
        &["-aet", calling, "-aec", "FERRY", "127.0.0.1", &port(app)],
    )
    .await
    .status
    .success()
}

#[tokio::test]
async fn a_modality_bound_to_a_host_is_refused_from_any_other() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;

    let (status, body) = register(
        &app,
        c.island_a,
        &admin.token,
        json!({ "ae_title": "CT-ELSEWHERE", "allowed_hosts": ["127.0.0.2"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["allowed_hosts"], json!(["127.0.0.2/32"]));
    let (status, body) = register(
        &app,
        c.island_a,
        &admin.token,
        json!({ "ae_title": "CT-HERE", "allowed_hosts": ["127.0.0.0/8", "::1"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = register(
        &app,
        c.island_a,
        &admin.token,
        json!({ "ae_title": "CT-ANYWHERE" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["allowed_hosts"], json!([]));

    assert!(
        !echo(&app, "CT-ELSEWHERE").await,
        "called from 127.0.0.1, refused"
    );
    assert!(echo(&app, "CT-HERE").await, "called from its own host");
    assert!(echo(&app, "CT-ANYWHERE").await, "unbound, as before");

    // A host that is no address is refused with the field named, and
    // nothing is registered.
    for bad in [
        json!(["ct-room.local"]),
        json!(["10.0.0.0/33"]),
        json!(["10.1"]),
    ] {
        let (status, body) = register(
            &app,
            c.island_a,
            &admin.token,
            json!({ "ae_title": "CT-BAD", "allowed_hosts": bad }),
        )
        .await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_host",
        );
        assert_eq!(body["error"]["details"]["field"], "allowed_hosts", "{body}");
    }
    let (status, body) = register(
        &app,
        c.island_a,
        &admin.token,
        json!({ "ae_title": "CT-BAD", "max_associations": 0 }),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_max_associations",
    );
    let registered: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM modality WHERE ae_title = 'CT-BAD'")
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
    assert_eq!(registered, 0);
}

/// Holds one association open (pynetdicom) until dropped.
struct Held(tokio::process::Child);

async fn hold(app: &TestApp, calling: &str) -> (Held, String) {
    let script = "import sys\n\
        from pynetdicom import AE\n\
        ae = AE(ae_title=sys.argv[1])\n\
        ae.add_requested_context('1.2.840.10008.1.1')\n\
        assoc = ae.associate('127.0.0.1', int(sys.argv[2]), ae_title='FERRY')\n\
        print('ASSOCIATED' if assoc.is_established else 'REFUSED', flush=True)\n\
        sys.stdin.read()\n\
        assoc.is_established and assoc.release()\n";
    let mut child = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args(["-c", script, calling, &port(app)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::time::timeout(
        Duration::from_secs(20),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("pynetdicom answers in time")
    .expect("read")
    .unwrap_or_default();
    (Held(child), line)
}

#[tokio::test]
async fn one_ae_title_holds_no_more_associations_than_its_limit() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let (status, body) = register(
        &app,
        c.island_a,
        &admin.token,
        json!({ "ae_title": "US-CART", "max_associations": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["max_associations"], 1);
    let (status, _) = register(
        &app,
        c.island_a,
        &admin.token,
        json!({ "ae_title": "US-OTHER" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (held, line) = hold(&app, "US-CART").await;
    assert_eq!(line, "ASSOCIATED");
    assert!(
        !echo(&app, "US-CART").await,
        "a second association of the title is refused"
    );
    assert!(echo(&app, "US-OTHER").await, "another title is not held up");

    // Released, the slot is free again.
    let Held(mut child) = held;
    drop(child.stdin.take());
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("released in time")
        .expect("reaped");
    wait_until(
        "the title may associate again once its association ended",
        Duration::from_secs(5),
        async || echo(&app, "US-CART").await,
    )
    .await;
}

#[tokio::test]
async fn metrics_answer_only_the_bearer_of_the_metrics_token() {
    let app = spawn_app().await;
    let (status, body) = send(app.request(Method::GET, "/metrics", None)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (status, _) = send(app.request(Method::GET, "/metrics", Some("not-the-token"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A user's session is not the metrics token either.
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let (status, _) = send(app.request(Method::GET, "/metrics", Some(&admin.token))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) =
        send(app.request(Method::GET, "/metrics", Some(crate::support::METRICS_TOKEN))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.as_str()
            .unwrap_or_default()
            .contains("ferry_http_requests_total"),
        "{body}"
    );

    // No token configured: nobody gets them.
    let closed = spawn_app_with(|s| s.metrics_token = None).await;
    let (status, body) =
        send(closed.request(Method::GET, "/metrics", Some(crate::support::METRICS_TOKEN))).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "metrics_disabled");
}

async fn session_cookie(app: &TestApp) -> String {
    let c = app.consortium().await;
    app.user("dr-lin", Role::Clinician, c.island_a).await;
    let response = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .json(&json!({ "username": "dr-lin", "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned()
}

#[tokio::test]
async fn the_session_cookie_is_secure_whenever_the_public_url_is_https() {
    let behind_https =
        spawn_app_with(|s| s.public_url = Some("https://ferry.example.org".to_owned())).await;
    let cookie = session_cookie(&behind_https).await;
    assert!(cookie.contains("; Secure"), "{cookie}");

    let plain = spawn_app().await;
    let cookie = session_cookie(&plain).await;
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP keeps it usable: {cookie}"
    );
}

/// Opens a consultation's call socket with this `Origin`; the HTTP status
/// of a refusal, or 101.
async fn open_with_origin(app: &TestApp, token: &str, id: i64, origin: Option<&str>) -> StatusCode {
    let url = app.url(&format!("/signal/{id}")).replacen("http", "ws", 1);
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a header"),
    );
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("a header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => StatusCode::SWITCHING_PROTOCOLS,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            StatusCode::from_u16(response.status().as_u16()).expect("a status")
        }
        Err(other) => panic!("connecting: {other}"),
    }
}

#[tokio::test]
async fn a_page_of_another_site_cannot_open_a_call_socket() {
    let app = spawn_app_with(|s| s.public_url = Some("https://ferry.example.org".to_owned())).await;
    let d = crate::support::scheduling::desk(&app).await;
    let id = crate::support::calls::accepted(&app, &d).await;
    let token = &d.clinician.token;

    for foreign in [
        "https://evil.example",
        "http://ferry.example.org",
        "https://ferry.example.org.evil.example",
        "null",
    ] {
        assert_eq!(
            open_with_origin(&app, token, id, Some(foreign)).await,
            StatusCode::FORBIDDEN,
            "{foreign}"
        );
    }
    let joined: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE subtype = 'call.joined'")
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
    assert_eq!(joined, 0, "a refused socket joined nothing");

    assert_eq!(
        open_with_origin(&app, token, id, Some("https://ferry.example.org")).await,
        StatusCode::SWITCHING_PROTOCOLS,
        "its own page"
    );
    let own = format!("http://{}", app.addr);
    assert_eq!(
        open_with_origin(&app, token, id, Some(&own)).await,
        StatusCode::SWITCHING_PROTOCOLS,
        "the listen address"
    );
    assert_eq!(
        open_with_origin(&app, token, id, None).await,
        StatusCode::SWITCHING_PROTOCOLS,
        "a client that is no browser sends no Origin"
    );
}
