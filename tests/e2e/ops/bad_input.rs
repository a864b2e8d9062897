//! Bad input gets a clear error with the right status, and writes nothing.

use ferry_server::auth::Role;
use reqwest::{header, Method, StatusCode};
use serde_json::json;

use crate::support::{assert_error, send, spawn_app, spawn_app_with, TestApp};

async fn rows(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        app.count("facility").await,
        app.count("patient").await,
        app.count("patient_record").await,
        app.count("audit_event").await,
    )
}

#[tokio::test]
async fn malformed_or_mistyped_bodies_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let before = rows(&app).await;

    let raw = |body: &'static str| {
        app.request(Method::POST, "/api/v1/facilities", Some(&admin.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
    };
    let (status, body) = send(raw(r#"{"name": "Clinic", "tier": "village""#)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "malformed_json");

    let (status, body) = send(raw(
        r#"{"name": "Clinic", "tier": "village", "time_zone": "Asia/Shanghai", "colour": "red"}"#,
    ))
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("colour"),
        "{body}"
    );

    let tz = "Asia/Shanghai";
    for (case, body, code, field) in [
        (
            "unknown tier",
            json!({ "name": "Clinic", "tier": "hamlet", "time_zone": tz }),
            "invalid_body",
            "tier",
        ),
        (
            "unknown time zone",
            json!({ "name": "Clinic", "tier": "village", "time_zone": "Mars/Olympus_Mons" }),
            "invalid_time_zone",
            "time_zone",
        ),
        (
            "a county hospital under a village clinic",
            json!({ "name": "County 2", "tier": "secondary", "time_zone": tz, "parent_id": c.island_a }),
            "parent_tier",
            "parent_id",
        ),
        (
            "a parent of the same tier",
            json!({ "name": "Island C", "tier": "village", "time_zone": tz, "parent_id": c.island_a }),
            "parent_tier",
            "parent_id",
        ),
        (
            "a parent that does not exist",
            json!({ "name": "Island C", "tier": "village", "time_zone": tz, "parent_id": 999_999 }),
            "unknown_parent",
            "parent_id",
        ),
    ] {
        let (status, response) = app.post("/api/v1/facilities", &admin.token, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{case}: {response}"
        );
        assert_error(status, &response, StatusCode::UNPROCESSABLE_ENTITY, code);
        assert_eq!(response["error"]["details"]["field"], field, "{case}");
    }

    let (status, body) = send(
        app.request(Method::POST, "/api/v1/facilities", Some(&admin.token))
            .header(header::CONTENT_TYPE, "text/plain")
            .body("name=Clinic"),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    assert_eq!(rows(&app).await, before, "no row was written");
}

#[tokio::test]
async fn an_oversized_body_is_413_and_writes_nothing() {
    let app = spawn_app_with(|s| s.max_body_bytes = 4096).await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let before = rows(&app).await;
    let (status, body) = app
        .post("/api/v1/patients", &clinician.token, json!({
            "family_name": "x".repeat(10_000), "sex": "male", "birth_date": "1970-01-01", "record_number": "R-1"
        }))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert_eq!(body["error"]["details"]["limit_bytes"], 4096);
    assert_eq!(rows(&app).await, before);
}

#[tokio::test]
async fn a_duplicate_record_number_is_409_and_writes_nothing() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let patient = |national_id: &str| {
        json!({
            "national_id": national_id, "family_name": "Li", "sex": "male", "birth_date": "1970-01-01", "record_number": "DJ-7"
        })
    };
    let (status, _) = app
        .post(
            "/api/v1/patients",
            &clinician.token,
            patient("110101197001010016"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = rows(&app).await;

    let (status, body) = app
        .post(
            "/api/v1/patients",
            &clinician.token,
            patient("110101197001010024"),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "record_number_taken");
    assert_eq!(
        rows(&app).await,
        before,
        "neither the patient nor its record nor an audit event was kept"
    );
}

#[tokio::test]
async fn invalid_patient_fields_are_422_naming_the_field() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let before = rows(&app).await;
    for (body, field) in [
        (
            json!({ "family_name": "Li", "sex": "male", "birth_date": "1970-02-30", "record_number": "R" }),
            "birth_date",
        ),
        (
            json!({ "family_name": "Li", "sex": "male", "birth_date": "2999-01-01", "record_number": "R" }),
            "birth_date",
        ),
        (
            json!({ "family_name": "  ", "sex": "male", "birth_date": "1970-01-01", "record_number": "R" }),
            "family_name",
        ),
        (
            json!({ "family_name": "Li", "sex": "male", "birth_date": "1970-01-01", "record_number": "" }),
            "record_number",
        ),
        (
            json!({ "family_name": "Li", "sex": "robot", "birth_date": "1970-01-01", "record_number": "R" }),
            "sex",
        ),
    ] {
        let (status, response) = app.post("/api/v1/patients", &clinician.token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{response}");
        assert_eq!(response["error"]["details"]["field"], field, "{response}");
    }
    assert_eq!(rows(&app).await, before);
}

#[tokio::test]
async fn bad_paths_unknown_routes_and_wrong_methods_use_the_error_envelope() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;

    let (status, body) = app
        .get("/api/v1/facilities/not-a-number", &admin.token)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_path");
    let (status, body) = app.get("/api/v1/facilities/424242", &admin.token).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.get("/api/v1/no-such-thing", &admin.token).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no_route");
    let (status, body) =
        send(app.request(Method::DELETE, "/api/v1/facilities", Some(&admin.token))).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let (status, body) = app.get("/api/v1/users?colour=red", &admin.token).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
}
