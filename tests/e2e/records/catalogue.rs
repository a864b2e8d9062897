//! The graded diagnosis catalogue: entries one by one, and the whole
//! catalogue as CSV, imported all or nothing.

use ferry_server::auth::Role;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, send, spawn_app, TestApp, TestUser};

async fn export(app: &TestApp, admin: &TestUser) -> String {
    let response = app
        .request(Method::GET, "/api/v1/catalogue/export", Some(&admin.token))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    response.text().await.expect("a body")
}

async fn import(app: &TestApp, admin: &TestUser, csv: &str) -> (StatusCode, Value) {
    send(
        app.request(Method::POST, "/api/v1/catalogue/import", Some(&admin.token))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(csv.to_owned()),
    )
    .await
}

async fn imports_audited(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE subtype = 'catalogue.import'")
        .fetch_one(app.db.pool())
        .await
        .expect("a count")
}

const FILE: &str = "code_from,code_to,tiers,label\n\
                    E11,E11,primary|village,Type 2 diabetes mellitus\n\
                    I10,I15,primary|village,\"Hypertensive diseases, all forms\"\n\
                    I21,I21,tertiary|secondary,\"Acute \"\"MI\"\"\"\n\
                    I63,I63,tertiary|secondary,脑梗死\n";

#[tokio::test]
async fn an_administrator_adds_lists_and_removes_entries() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;

    let (status, range) = app
        .post(
            "/api/v1/catalogue",
            &admin.token,
            json!({ "code_from": "i20", "code_to": "I25", "tiers": ["village", "tertiary", "village"],
                    "label": " Ischaemic heart diseases " }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{range}");
    assert_eq!(range["code_from"], "I20");
    assert_eq!(
        range["tiers"],
        json!(["tertiary", "village"]),
        "tier order, once each"
    );
    assert_eq!(range["label"], "Ischaemic heart diseases");
    let (status, single) = app
        .post(
            "/api/v1/catalogue",
            &admin.token,
            json!({ "code_from": "E11", "tiers": ["primary"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{single}");
    assert_eq!(single["code_to"], "E11", "a single code is a range of one");

    let (_, list) = app.get("/api/v1/catalogue", &admin.token).await;
    let codes: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|e| e["code_from"].as_str())
        .collect();
    assert_eq!(codes, ["E11", "I20"]);

    for (case, body, field) in [
        (
            "not a code",
            json!({ "code_from": "I2", "tiers": ["primary"] }),
            "code_from",
        ),
        (
            "bad upper end",
            json!({ "code_from": "I20", "code_to": "25", "tiers": ["primary"] }),
            "code_to",
        ),
        (
            "reversed",
            json!({ "code_from": "I25", "code_to": "I20", "tiers": ["primary"] }),
            "code_to",
        ),
        (
            "no tier",
            json!({ "code_from": "I25", "tiers": [] }),
            "tiers",
        ),
    ] {
        let (status, body) = app.post("/api/v1/catalogue", &admin.token, body).await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_catalogue_entry",
        );
        assert_eq!(body["error"]["details"]["field"], field, "{case}");
    }
    let (status, body) = app
        .post(
            "/api/v1/catalogue",
            &admin.token,
            json!({ "code_from": "I25", "tiers": ["hamlet"] }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    let (status, body) = app
        .post(
            "/api/v1/catalogue",
            &clinician.token,
            json!({ "code_from": "I25", "tiers": ["primary"] }),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.count("diagnosis_catalogue").await, 2);

    let path = format!("/api/v1/catalogue/{}", single["id"]);
    let (status, _) = send(app.request(Method::DELETE, &path, Some(&admin.token))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.request(Method::DELETE, &path, Some(&admin.token))).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.count("diagnosis_catalogue").await, 1);
}

#[tokio::test]
async fn export_import_export_gives_the_same_file() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    assert_eq!(
        export(&app, &admin).await,
        "code_from,code_to,tiers,label\n",
        "an empty catalogue is its header"
    );

    let (status, summary) = import(&app, &admin, FILE).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary, json!({ "removed": 0, "imported": 4 }));
    let first = export(&app, &admin).await;
    assert_eq!(first, FILE);

    let (status, summary) = import(&app, &admin, &first).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary, json!({ "removed": 4, "imported": 4 }));
    assert_eq!(export(&app, &admin).await, first);
    assert_eq!(imports_audited(&app).await, 2);

    let (_, list) = app.get("/api/v1/catalogue", &admin.token).await;
    assert_eq!(list[2]["label"], "Acute \"MI\"");
    assert_eq!(list[1]["tiers"], json!(["primary", "village"]));
}

#[tokio::test]
async fn a_faulty_file_names_its_line_and_changes_nothing() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let (status, _) = import(&app, &admin, FILE).await;
    assert_eq!(status, StatusCode::OK);
    let before = export(&app, &admin).await;
    let header = "code_from,code_to,tiers,label\n";
    let good = "I10,I15,primary|village,Hypertension\n";

    for (case, body, line, field) in [
        (
            "bad code",
            format!("{header}{good}X1,I25,primary,Heart\n"),
            3,
            Some("code_from"),
        ),
        (
            "bad tier",
            format!("{header}{good}I20,I25,primary|hamlet,Heart\n"),
            3,
            Some("tiers"),
        ),
        (
            "reversed range",
            format!("{header}I25,I20,primary,Heart\n"),
            2,
            Some("code_to"),
        ),
        (
            "too few columns",
            format!("{header}{good}{good}I20,I25,primary\n"),
            4,
            None,
        ),
        (
            "too many columns",
            format!("{header}I20,I25,primary,Heart,extra\n"),
            2,
            None,
        ),
        (
            "stray quote",
            format!("{header}{good}I20,I25,primary,Heart \"MI\"\n"),
            3,
            None,
        ),
        (
            "text after a quote",
            format!("{header}I20,I25,primary,\"Heart\" MI\n"),
            2,
            None,
        ),
        (
            "unclosed quote",
            format!("{header}{good}I20,I25,primary,\"Heart\n{good}"),
            3,
            None,
        ),
        ("wrong header", format!("code,tiers,label\n{good}"), 1, None),
        ("empty", String::new(), 1, None),
    ] {
        let (status, body) = import(&app, &admin, &body).await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_csv",
        );
        assert_eq!(body["error"]["details"]["line"], line, "{case}: {body}");
        match field {
            Some(field) => assert_eq!(body["error"]["details"]["field"], field, "{case}"),
            None => assert!(body["error"]["details"]["field"].is_null(), "{case}"),
        }
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("line {line}:"))),
            "{case}: {body}"
        );
    }
    assert_eq!(
        export(&app, &admin).await,
        before,
        "the catalogue is unchanged"
    );
    assert_eq!(imports_audited(&app).await, 1);

    let (status, body) = send(
        app.request(Method::POST, "/api/v1/catalogue/import", Some(&admin.token))
            .json(&json!({ "code_from": "I10" })),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let (status, body) = import(&app, &clinician, FILE).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn an_oversized_or_undecodable_file_is_refused_before_it_is_read() {
    let app = crate::support::spawn_app_with(|settings| settings.max_body_bytes = 1024).await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let big = format!(
        "code_from,code_to,tiers,label\n{}",
        "I10,I15,primary,Hypertension\n".repeat(100)
    );
    let (status, body) = import(&app, &admin, &big).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let (status, body) = send(
        app.request(Method::POST, "/api/v1/catalogue/import", Some(&admin.token))
            .header(header::CONTENT_TYPE, "text/csv; charset=latin1")
            .body(b"code_from,code_to,tiers,label\nI10,I10,primary,Hypertonie \xe4\n".to_vec()),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "unreadable_body");
    assert_eq!(app.count("diagnosis_catalogue").await, 0);
}
