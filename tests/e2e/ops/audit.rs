//! The audit trail: written with every read and change of patient data,
//! hash-chained, append-only, verifiable.

use ferry_server::audit::chain::{self, Verdict};
use ferry_server::auth::Role;
use ferry_server::db::Engine;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{send, spawn_app, Consortium, TestApp};

async fn tamper(app: &TestApp, sql: &str) {
    // The triggers refuse edits; someone with raw database access can remove
    // them, which is exactly the case the hash chain exists for.
    let disable = match app.db.engine() {
        Engine::Sqlite => "DROP TRIGGER audit_event_no_update; DROP TRIGGER audit_event_no_delete",
        Engine::Postgres => "ALTER TABLE audit_event DISABLE TRIGGER USER",
    };
    for statement in disable.split("; ") {
        sqlx::query(statement)
            .execute(app.db.pool())
            .await
            .expect("disable the triggers");
    }
    sqlx::query(sql)
        .execute(app.db.pool())
        .await
        .expect("tamper");
}

async fn app_with_history() -> (TestApp, Consortium, i64, String) {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let (status, patient) = app
        .post(
            "/api/v1/patients",
            &clinician.token,
            json!({
                "national_id": "330225195803121234", "family_name": "Wang", "given_name": "Xiuying",
                "sex": "female", "birth_date": "1958-03-12", "record_number": "DJ-1"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");
    let id = patient["id"].as_i64().expect("id");
    let response = app
        .request(
            Method::GET,
            &format!("/api/v1/patients/{id}"),
            Some(&clinician.token),
        )
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    (app, c, id, clinician.username)
}

#[tokio::test]
async fn reads_and_writes_of_patient_data_are_audited_with_who_what_and_where() {
    let (app, c, patient, username) = app_with_history().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;

    let (status, events) = app
        .get(
            &format!("/api/v1/audit-events?patient_id={patient}"),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = events.as_array().expect("a list").clone();
    let subtypes: Vec<&str> = events
        .iter()
        .filter_map(|e| e["subtype"].as_str())
        .collect();
    assert_eq!(subtypes, ["patient.read", "patient.create"], "newest first");
    let read = &events[0];
    assert_eq!(read["action"], "read");
    assert_eq!(read["actor_name"], username);
    assert_eq!(read["client_addr"], "127.0.0.1");
    assert_eq!(read["request_id"], "trace-me-123");
    assert_eq!(read["entity_type"], "patient");
    assert_eq!(read["detail"]["access"], "facility");
    assert_eq!(
        read["prev_hash"], events[1]["hash"],
        "each event links to the one before"
    );

    // A refused read is on the trail too.
    let outsider = app.user("outsider", Role::Clinician, c.island_b).await;
    assert_eq!(
        app.get(&format!("/api/v1/patients/{patient}"), &outsider.token)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, refused) = app
        .get(
            &format!("/api/v1/audit-events?patient_id={patient}&outcome=failure"),
            &admin.token,
        )
        .await;
    assert_eq!(refused[0]["actor_name"], "outsider");

    // Exported as FHIR AuditEvent.
    let (status, bundle) = app
        .get(
            &format!("/api/v1/fhir/AuditEvent?patient_id={patient}"),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bundle["resourceType"], "Bundle");
    let resource = &bundle["entry"][1]["resource"];
    assert_eq!(resource["resourceType"], "AuditEvent");
    assert_eq!(resource["action"], "R");
    assert_eq!(resource["type"]["code"], "110110");
    assert_eq!(
        resource["entity"][0]["what"]["reference"],
        format!("Patient/{patient}")
    );
    assert_eq!(resource["agent"][0]["network"]["address"], "127.0.0.1");
}

#[tokio::test]
async fn an_intact_chain_verifies() {
    let (app, _, _, _) = app_with_history().await;
    match chain::verify(app.db.pool()).await.expect("verify") {
        Verdict::Intact { events } => assert!(events >= 8, "{events} events"),
        broken => panic!("expected an intact chain, got {broken:?}"),
    }
}

#[tokio::test]
async fn the_database_refuses_to_edit_or_delete_an_event() {
    let (app, _, _, _) = app_with_history().await;
    let update = sqlx::query("UPDATE audit_event SET actor_name = 'someone else' WHERE seq = 2")
        .execute(app.db.pool())
        .await;
    assert!(update.is_err(), "UPDATE must be refused");
    let delete = sqlx::query("DELETE FROM audit_event WHERE seq = 2")
        .execute(app.db.pool())
        .await;
    assert!(delete.is_err(), "DELETE must be refused");
}

#[tokio::test]
async fn editing_a_stored_event_breaks_the_chain_at_that_event() {
    let (app, _, _, _) = app_with_history().await;
    tamper(
        &app,
        "UPDATE audit_event SET actor_name = 'someone else' WHERE seq = 3",
    )
    .await;
    match chain::verify(app.db.pool()).await.expect("verify") {
        Verdict::Broken { seq, problem } => {
            assert_eq!(seq, 3);
            assert!(problem.contains("altered"), "{problem}");
        }
        intact => panic!("expected a broken chain, got {intact:?}"),
    }
    // The command line says the same and fails.
    assert!(
        !app.cli(&["audit", "verify"]).await,
        "ferry audit verify fails"
    );
}

#[tokio::test]
async fn deleting_an_event_in_the_middle_or_at_the_end_is_found() {
    let (app, _, _, _) = app_with_history().await;
    tamper(&app, "DELETE FROM audit_event WHERE seq = 2").await;
    match chain::verify(app.db.pool()).await.expect("verify") {
        Verdict::Broken { seq, problem } => {
            assert_eq!(seq, 2);
            assert!(problem.contains("missing"), "{problem}");
        }
        intact => panic!("expected a broken chain, got {intact:?}"),
    }

    let (app, _, _, _) = app_with_history().await;
    let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit_event")
        .fetch_one(app.db.pool())
        .await
        .expect("max");
    tamper(&app, &format!("DELETE FROM audit_event WHERE seq = {last}")).await;
    match chain::verify(app.db.pool()).await.expect("verify") {
        Verdict::Broken { seq, .. } => assert_eq!(seq, last),
        intact => panic!("expected a broken chain, got {intact:?}"),
    }
}

#[tokio::test]
async fn only_administrators_read_the_trail_and_filters_apply() {
    let (app, c, _, username) = app_with_history().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let (status, events) = app
        .get(
            "/api/v1/audit-events?subtype=user.login&limit=2",
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = events.as_array().expect("list");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["subtype"] == "user.login"));
    let (status, _) = send(app.request(
        Method::GET,
        "/api/v1/audit-events?limit=0",
        Some(&admin.token),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(app.request(
        Method::GET,
        "/api/v1/audit-events?since=yesterday",
        Some(&admin.token),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, mine) = app
        .get(
            "/api/v1/audit-events?outcome=success&subtype=patient.create",
            &admin.token,
        )
        .await;
    assert_eq!(mine[0]["actor_name"], username);
}
