//! Mutual recognition of results (互认): the rules administrators keep, and
//! the verdict the duplicate-examination warning gives on a prior result.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_error, spawn_app, TestApp, TestUser};

async fn add_rule(app: &TestApp, admin: &TestUser, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/recognition-rules", &admin.token, body)
        .await
}

#[tokio::test]
async fn administrators_keep_the_rules_and_bad_ones_are_refused() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;

    let (status, rule) = add_rule(
        &app,
        &admin,
        json!({ "modality": "ct", "min_tier": "secondary", "valid_days": 90 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_eq!(rule["modality"], "CT");
    assert_eq!(rule["body_part"], "");
    let (status, body) = add_rule(
        &app,
        &admin,
        json!({ "modality": "CT", "min_tier": "secondary", "valid_days": 30 }),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "recognition_rule_exists",
    );
    for (bad, field) in [
        (
            json!({ "modality": "XX", "min_tier": "primary", "valid_days": 30 }),
            "modality",
        ),
        (
            json!({ "modality": "DX", "min_tier": "primary", "valid_days": 0 }),
            "valid_days",
        ),
        (
            json!({ "modality": "DX", "body_part": "肚子", "min_tier": "primary", "valid_days": 9 }),
            "body_part",
        ),
    ] {
        let (status, body) = add_rule(&app, &admin, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["details"]["field"], field, "{body}");
    }
    let (status, body) = add_rule(
        &app,
        &clinician,
        json!({ "modality": "MR", "min_tier": "secondary", "valid_days": 90 }),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, rules) = app.get("/api/v1/recognition-rules", &clinician.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rules.as_array().map(Vec::len), Some(1), "{rules}");

    let path = format!("/api/v1/recognition-rules/{}", rule["id"]);
    let status = app
        .request(reqwest::Method::DELETE, &path, Some(&admin.token))
        .send()
        .await
        .expect("an answer")
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let status = app
        .request(reqwest::Method::DELETE, &path, Some(&admin.token))
        .send()
        .await
        .expect("an answer")
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("recognition_rule").await, 0);
}

/// The verdict on the county's head CT when the island asks for another.
async fn verdict(app: &TestApp, island: &TestUser, patient: i64) -> Value {
    let (status, body) = app
        .post(
            &format!("/api/v1/patients/{patient}/examinations"),
            &island.token,
            json!({ "modality": "CT", "body_part": "HEAD" }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate_examination");
    body["error"]["details"]["prior"]["recognition"].clone()
}

#[tokio::test]
async fn the_duplicate_warning_says_whether_the_prior_is_recognised() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app.patient_at(c.county, "330225195803121234", "C-1").await;
    app.patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let (status, exam) = app
        .post(
            &format!("/api/v1/patients/{patient}/examinations"),
            &county.token,
            json!({ "modality": "CT", "body_part": "HEAD" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exam}");

    // Asked for but not done: nothing to recognise yet.
    assert_eq!(verdict(&app, &island, patient).await["reason"], "not_done");
    let (status, body) = app
        .post(
            &format!("/api/v1/examinations/{}/performed", exam["id"]),
            &county.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Done, but no rule covers it: for reference only.
    let none = verdict(&app, &island, patient).await;
    assert_eq!(
        (none["recognised"].clone(), none["reason"].clone()),
        (json!(false), json!("no_rule"))
    );
    // A rule for tertiary results only does not reach a county CT.
    add_rule(
        &app,
        &admin,
        json!({ "modality": "CT", "min_tier": "tertiary", "valid_days": 180 }),
    )
    .await;
    assert_eq!(verdict(&app, &island, patient).await["reason"], "no_rule");
    // One that admits county hospitals recognises it.
    let (_, rule) = add_rule(
        &app,
        &admin,
        json!({ "modality": "CT", "body_part": "HEAD", "min_tier": "secondary", "valid_days": 90 }),
    )
    .await;
    let recognised = verdict(&app, &island, patient).await;
    assert_eq!(recognised["recognised"], true, "{recognised}");
    assert_eq!(recognised["rule_id"], rule["id"]);
    assert!(recognised["valid_until"].is_string());
    assert_eq!(app.count("examination").await, 1, "warnings create nothing");
}
