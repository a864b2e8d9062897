//! Health, readiness, metrics, request ids, the OpenAPI document, the web
//! client and the demo consortium.

use ferry_server::error::ErrorCode;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use crate::support::{send, spawn_app, PASSWORD};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    let (status, body) = send(app.request(Method::GET, "/healthz", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = send(app.request(Method::GET, "/readyz", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");

    // A request to count, then the count.
    send(app.request(Method::GET, "/api/v1/facilities", None)).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"ferry_http_requests_total{method="GET",route="/api/v1/facilities",status="401"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("ferry_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .expect("answer");
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "lb-42")
        .send()
        .await
        .expect("answer");
    assert_eq!(
        response.headers()["x-request-id"],
        "lb-42",
        "an incoming id is kept"
    );
}

#[tokio::test]
async fn the_openapi_document_matches_the_committed_snapshot() {
    let app = spawn_app().await;
    let (status, doc) = send(app.request(Method::GET, "/api/v1/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/openapi.json");
    let rendered = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    if std::env::var("FERRY_TEST_UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, &rendered).expect("write the snapshot");
    }
    let committed = std::fs::read_to_string(&path).expect("tests/snapshots/openapi.json exists");
    let committed: Value = serde_json::from_str(&committed).expect("the snapshot is JSON");
    assert!(
        committed == doc,
        "the API changed; review it and run with FERRY_TEST_UPDATE_SNAPSHOTS=1 to accept"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_error_code_with_its_status() {
    let app = spawn_app().await;
    let (status, doc) = send(app.request(Method::GET, "/api/v1/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ErrorDetail"]["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorCode"
    );
    let listed: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let table = schemas["ErrorCode"]["description"]
        .as_str()
        .expect("ErrorCode has a description");
    assert_eq!(listed.len(), ErrorCode::ALL.len());
    for code in ErrorCode::ALL {
        assert!(listed.contains(&code.as_str()), "{code} is not listed");
        // A row `| `code` | 409 |`, or `| `code` | 403; 409 when … |`.
        let row = format!("| `{code}` | {}", code.status().as_u16());
        assert!(
            table
                .lines()
                .any(|line| line.starts_with(&format!("{row} |"))
                    || line.starts_with(&format!("{row};"))),
            "{code} has no row with its status {}",
            code.status()
        );
    }
}

#[tokio::test]
async fn the_web_client_is_served_with_a_content_security_policy() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/")).send().await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap_or("")
        .contains("default-src 'self'"));
    let html = response.text().await.expect("html");
    // Under the client's version (see `web_delivery`).
    assert!(html.contains("<script type=\"module\" src=\"/v/"));
    for script in [
        "/app.js",
        "/call/call.js",
        "/call/call-screen.js",
        "/lib/i18n.js",
    ] {
        let response = app.client.get(app.url(script)).send().await.expect("js");
        assert_eq!(response.status(), StatusCode::OK, "{script}");
        assert!(response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .starts_with("text/javascript"));
    }
}

/// `web_dir` reads files from disk on each request: no path, however spelt,
/// may reach outside it. Sent as raw HTTP, since a client library would
/// resolve the dot segments before sending.
#[tokio::test]
async fn the_web_dir_serves_nested_modules_and_nothing_outside_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let outside = tempfile::tempdir().expect("temp dir");
    let web = outside.path().join("web");
    std::fs::create_dir_all(web.join("lib")).expect("mkdir");
    std::fs::write(web.join("lib/ok.js"), "export const ok = 1;\n").expect("write");
    std::fs::write(outside.path().join("secret.js"), "secret").expect("write");
    let app = crate::support::spawn_app_with(|settings| settings.web_dir = Some(web.clone())).await;

    let response = app
        .client
        .get(app.url("/lib/ok.js"))
        .send()
        .await
        .expect("js");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap_or("")
        .starts_with("text/javascript"));

    for path in [
        "/../secret.js",
        "/lib/../../secret.js",
        "/%2e%2e/secret.js",
        "/%2E%2E/secret.js",
        "/..%2fsecret.js",
        "/lib%2f..%2f..%2fsecret.js",
        "/lib/..%2f..%2fsecret.js",
        "/.%2e/secret.js",
    ] {
        let mut stream = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: ferry\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(!answer.contains("secret"), "{path}: {answer}");
    }
}

#[tokio::test]
async fn the_demo_consortium_is_seeded_once_and_its_clinician_signs_in() {
    let app = spawn_app().await;
    let seed = ferry_server::demo::seed(&app.db, Some(PASSWORD.to_owned()))
        .await
        .expect("seed")
        .expect("seeded the first time");
    assert_eq!(seed.usernames.len(), 6);
    let counts = (
        app.count("facility").await,
        app.count("app_user").await,
        app.count("patient").await,
    );
    assert_eq!(counts, (5, 6, 5));
    assert_eq!(
        app.count("patient_record").await,
        6,
        "one patient is registered at two facilities"
    );
    assert_eq!(
        (
            app.count("diagnosis_catalogue").await,
            app.count("referral").await,
            app.count("examination").await
        ),
        (4, 2, 2),
        "a small catalogue, a referral each way, a head CT done and an ultrasound ordered"
    );

    let again = ferry_server::demo::seed(&app.db, None)
        .await
        .expect("second start");
    assert!(again.is_none(), "the second start seeds nothing");
    assert_eq!(
        (
            app.count("facility").await,
            app.count("app_user").await,
            app.count("patient").await
        ),
        counts
    );

    let response = app.login("demo-clinician", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["roles"][0], "clinician");
    let tiers: Vec<String> = sqlx::query_scalar("SELECT tier FROM facility ORDER BY id")
        .fetch_all(app.db.pool())
        .await
        .expect("tiers");
    assert_eq!(
        tiers,
        ["tertiary", "secondary", "village", "village", "village"]
    );
}

#[tokio::test]
async fn a_random_demo_password_is_generated_when_none_is_given() {
    let app = spawn_app().await;
    let seed = ferry_server::demo::seed(&app.db, None)
        .await
        .expect("seed")
        .expect("seeded");
    assert!(seed.password.len() >= 16);
    assert_eq!(
        app.login("demo-admin", &seed.password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_demo_expert_has_two_bookings_for_the_scheduler_to_move() {
    let app = spawn_app().await;
    ferry_server::demo::seed(&app.db, Some(PASSWORD.to_owned()))
        .await
        .expect("seed")
        .expect("seeded");
    let login: Value = app
        .login("demo-scheduler", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("a token");
    let (status, bookings) = app.get("/api/v1/bookings?status=booked", token).await;
    assert_eq!(status, StatusCode::OK, "{bookings}");
    let bookings = bookings.as_array().expect("a list");
    assert_eq!(bookings.len(), 2, "{bookings:?}");
    let soonest = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48);
    let mut starts = Vec::new();
    for booking in bookings {
        assert_eq!(booking["service"], "video", "{booking}");
        let start: jiff::Timestamp = booking["start"]
            .as_str()
            .expect("start")
            .parse()
            .expect("an instant");
        assert!(start > soonest, "booked two days out or later: {booking}");
        starts.push(start);
        let consultation = booking["consultation_id"].as_i64().expect("a consultation");
        let (_, c) = app
            .get(&format!("/api/v1/consultations/{consultation}"), token)
            .await;
        assert_eq!(c["status"], "scheduled", "{c}");
    }
    assert_ne!(starts[0], starts[1]);
    // The waiting consultation is still there to book.
    let (_, waiting) = app
        .get("/api/v1/consultations?status=requested", token)
        .await;
    assert_eq!(waiting.as_array().map(Vec::len), Some(1), "{waiting}");
}

/// The value of the one sample named `name` (labels included) in a scrape.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test]
async fn metrics_say_what_is_open_now_and_what_the_process_uses() {
    use crate::support::calls::{accepted, join};
    use crate::support::scheduling::desk;

    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let (_clinician, _) = join(&app, &d.clinician, id).await;
    let (_expert, _) = join(&app, &d.expert, id).await;
    // A notification stream held open while the figures are read.
    let stream = app
        .client
        .get(app.url("/api/v1/notifications/stream"))
        .bearer_auth(&d.clinician.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("a stream");
    assert_eq!(stream.status(), StatusCode::OK);

    let metrics = app.metrics().await;
    assert_eq!(
        sample(&metrics, "ferry_call_participants"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "ferry_call_rooms"), Some(1.0), "{metrics}");
    assert_eq!(
        sample(&metrics, "ferry_notification_streams"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "ferry_forwarding_pending"),
        Some(0.0),
        "{metrics}"
    );
    let idle = sample(&metrics, r#"ferry_db_pool_connections{state="idle"}"#);
    let busy = sample(&metrics, r#"ferry_db_pool_connections{state="busy"}"#);
    assert!(
        matches!((idle, busy), (Some(i), Some(b)) if i + b >= 1.0),
        "{metrics}"
    );
    for process in [
        "ferry_process_resident_memory_bytes",
        "ferry_process_open_fds",
        "ferry_process_threads",
    ] {
        assert!(
            sample(&metrics, process).is_some_and(|v| v > 0.0),
            "{process} in {metrics}"
        );
    }
    drop(stream);
}

#[tokio::test]
async fn metrics_count_what_ingest_took_and_refused_the_associations_and_the_audit_time() {
    use crate::support::dicom_files::{dcmtk, port, register_modality, stow, study};
    use ferry_server::auth::Role;

    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin-metrics", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "MRN-METRICS");
    let bytes = std::fs::read(&sent.files[0]).expect("the file");
    for body in [bytes.clone(), bytes.clone(), b"not DICOM at all".to_vec()] {
        stow(&app, &clinician.token, body).await;
    }
    register_modality(&app, &c, "METRICS-CT").await;
    let echo = dcmtk(
        "echoscu",
        &[
            "-aet",
            "METRICS-CT",
            "-aec",
            "FERRY",
            "127.0.0.1",
            &port(&app),
        ],
    )
    .await;
    assert!(
        echo.status.success(),
        "{}",
        String::from_utf8_lossy(&echo.stderr)
    );

    let metrics = app.metrics().await;
    let stored = r#"ferry_ingest_instances_total{outcome="stored",via="stow"}"#;
    assert_eq!(sample(&metrics, stored), Some(1.0), "{metrics}");
    let again = r#"ferry_ingest_instances_total{outcome="already_stored",via="stow"}"#;
    assert_eq!(sample(&metrics, again), Some(1.0), "{metrics}");
    assert_eq!(
        sample(&metrics, r#"ferry_ingest_bytes_total{via="stow"}"#),
        Some(bytes.len() as f64),
        "{metrics}"
    );
    let refused = r#"ferry_ingest_refused_total{reason="invalid",via="stow"}"#;
    assert_eq!(sample(&metrics, refused), Some(1.0), "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            r#"ferry_dimse_associations_total{result="accepted"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "ferry_dimse_associations_open"),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "ferry_audit_append_seconds_count").is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
}
