//! Smaller abuses of valid accounts: an administrator handing themselves a
//! clinical role or taking over another administrator's account alone, a
//! catalogue label that a spreadsheet would run as a formula, and a
//! registration that would tell whether a national identifier is known.

use ferry_server::auth::Role;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, send, spawn_app, TestApp, TestUser, PASSWORD};

const NEW_PASSWORD: &str = "another long enough password";

async fn roles(app: &TestApp, admin: &TestUser, id: i64) -> Value {
    let (status, user) = app.get(&format!("/api/v1/users/{id}"), &admin.token).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user["roles"].clone()
}

async fn audited(app: &TestApp, subtype: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE subtype = $1")
        .bind(subtype)
        .fetch_one(app.db.pool())
        .await
        .expect("a count")
}

#[tokio::test]
async fn an_administrator_cannot_grant_themselves_a_clinical_role() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let other = app.user("admin-2", Role::Admin, c.tertiary).await;
    let path = format!("/api/v1/users/{}", admin.id);

    for (roles_wanted, specialties) in [
        (json!(["admin", "clinician"]), json!([])),
        (json!(["admin", "expert"]), json!(["cardiology"])),
        (json!(["admin", "radiologist"]), json!(["radiology"])),
    ] {
        let (status, body) = app
            .patch(
                &path,
                &admin.token,
                json!({ "roles": roles_wanted, "specialties": specialties }),
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "self_grant_refused");
        assert_eq!(roles(&app, &admin, admin.id).await, json!(["admin"]));
    }
    // A scheduler's role is no clinical one, and a second administrator may
    // grant the clinical role: the rule is two people, not a ban.
    let (status, body) = app
        .patch(
            &path,
            &admin.token,
            json!({ "roles": ["admin", "scheduler"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .patch(
            &path,
            &other.token,
            json!({ "roles": ["admin", "clinician"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["roles"], json!(["admin", "clinician"]));
}

#[tokio::test]
async fn another_administrators_password_is_reset_only_with_a_second_administrator() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let first = app.user("admin-1", Role::Admin, c.tertiary).await;
    let target = app.user("admin-2", Role::Admin, c.tertiary).await;
    let second = app.user("admin-3", Role::Admin, c.county).await;
    let scheduler = app.user("sched", Role::Scheduler, c.tertiary).await;

    // One administrator alone changes nothing.
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", target.id),
            &first.token,
            json!({ "password": NEW_PASSWORD, "display_name": "Renamed" }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "second_admin_required",
    );
    assert_eq!(
        app.login("admin-2", PASSWORD).await.status(),
        StatusCode::OK
    );
    let (_, user) = app
        .get(&format!("/api/v1/users/{}", target.id), &first.token)
        .await;
    assert_eq!(user["display_name"], "admin-2", "nothing written");

    let (status, reset) = app
        .post(
            &format!("/api/v1/users/{}/password-resets", target.id),
            &first.token,
            json!({ "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reset}");
    assert_eq!(audited(&app, "user.password_reset.request").await, 1);
    assert_eq!(
        app.login("admin-2", PASSWORD).await.status(),
        StatusCode::OK,
        "not yet in effect"
    );
    let confirm = format!(
        "/api/v1/users/{}/password-resets/{}/confirm",
        target.id, reset["id"]
    );
    for who in [&first, &target] {
        let (status, body) = app.post(&confirm, &who.token, json!({})).await;
        assert_error(
            status,
            &body,
            StatusCode::FORBIDDEN,
            "second_admin_required",
        );
    }
    let (status, body) = app.post(&confirm, &scheduler.token, json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.login("admin-2", PASSWORD).await.status(),
        StatusCode::OK
    );

    let (status, body) = app.post(&confirm, &second.token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(audited(&app, "user.password_reset.confirm").await, 1);
    assert_eq!(
        app.login("admin-2", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = app.login("admin-2", NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token: Value = response.json().await.expect("a session");
    let (_, notes) = app
        .get(
            "/api/v1/notifications",
            token["token"].as_str().expect("a token"),
        )
        .await;
    let told = notes
        .as_array()
        .expect("notifications")
        .iter()
        .any(|n| n["kind"] == "user.password_reset");
    assert!(told, "the target is told: {notes}");
    let (status, body) = app.post(&confirm, &second.token, json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "reset_confirmed");

    // Another account's password is still one administrator's job.
    let (status, body) = app
        .patch(
            &format!("/api/v1/users/{}", scheduler.id),
            &first.token,
            json!({ "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_catalogue_label_that_is_a_formula_is_exported_as_text_and_imports_back() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let label = "=HYPERLINK(\"http://x\")";
    let (status, body) = app
        .post(
            "/api/v1/catalogue",
            &admin.token,
            json!({ "code_from": "I10", "tiers": ["primary"], "label": label }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let export = |app: &TestApp| {
        app.request(Method::GET, "/api/v1/catalogue/export", Some(&admin.token))
            .send()
    };
    let csv = export(&app)
        .await
        .expect("an answer")
        .text()
        .await
        .expect("a body");
    let cell = csv.lines().nth(1).and_then(|l| l.splitn(4, ',').nth(3));
    assert_eq!(cell, Some("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");
    for line in csv.lines() {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} in {csv}"
            );
        }
    }

    let (status, body) = send(
        app.request(Method::POST, "/api/v1/catalogue/import", Some(&admin.token))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(csv.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = app.get("/api/v1/catalogue", &admin.token).await;
    assert_eq!(list[0]["label"], label, "the import takes the quote off");
    let again = export(&app)
        .await
        .expect("an answer")
        .text()
        .await
        .expect("a body");
    assert_eq!(again, csv, "export, import, export round-trips");
}

fn registration(national_id: &str, birth_date: &str, record: &str) -> Value {
    json!({ "national_id": national_id, "family_name": "Chen", "given_name": "Mei",
            "sex": "female", "birth_date": birth_date, "record_number": record })
}

/// The status and the shape of a body: its keys, and what a caller could
/// read off them without knowing the answer already.
fn shape(status: StatusCode, body: &Value) -> (StatusCode, Vec<String>, Value, Value) {
    let keys = body
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let records = body["records"]
        .as_array()
        .map(|r| json!(r.len()))
        .unwrap_or(Value::Null);
    (status, keys, body["error"]["code"].clone(), records)
}

#[tokio::test]
async fn a_wrong_birth_date_answers_like_an_identifier_nobody_holds() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let known = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let prober = app.user("dr-b", Role::Clinician, c.island_b).await;

    let (fresh_status, fresh) = app
        .post(
            "/api/v1/patients",
            &prober.token,
            registration("110101199001010015", "1990-01-01", "B-1"),
        )
        .await;
    let (probe_status, probe) = app
        .post(
            "/api/v1/patients",
            &prober.token,
            registration("330225195803121234", "1960-01-01", "B-2"),
        )
        .await;
    assert_eq!(fresh_status, StatusCode::CREATED, "{fresh}");
    assert_eq!(
        shape(probe_status, &probe),
        shape(fresh_status, &fresh),
        "{probe} vs {fresh}"
    );
    assert_eq!(probe["national_id"], "330225195803121234");
    assert_eq!(probe["birth_date"], "1960-01-01");

    // Patient safety: not merged. The known patient keeps one record and
    // the probe is a patient of its own, flagged for review.
    assert_ne!(probe["id"], known);
    let records: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM patient_record WHERE patient_id = $1")
            .bind(known)
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
    assert_eq!(records, 1);
    assert_eq!(audited(&app, "patient.identity_review").await, 1);
    // The prober finds their own patient by the identifier, and only them.
    let (_, found) = app
        .get("/api/v1/patients?q=330225195803121234", &prober.token)
        .await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["id"], probe["id"]);
    // Editing the probe's record leaves the identifier as it is.
    let (status, body) = app
        .patch(
            &format!("/api/v1/patients/{}", probe["id"]),
            &prober.token,
            json!({ "phone": "+86 571 0000" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["national_id"], "330225195803121234");
}
