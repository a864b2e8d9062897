//! The consortium-wide patient index and break-the-glass.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{assert_error, spawn_app};

fn wang(record_number: &str) -> serde_json::Value {
    json!({
        "national_id": "330225195803121234", "family_name": "王", "given_name": "秀英",
        "sex": "female", "birth_date": "1958-03-12", "record_number": record_number
    })
}

#[tokio::test]
async fn one_person_registered_at_two_facilities_is_one_patient_with_two_record_numbers() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;

    let (status, first) = app
        .post("/api/v1/patients", &island.token, wang("DJ-0001"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, second) = app
        .post("/api/v1/patients", &county.token, wang("HA-2024-1187"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");

    assert_eq!(first["id"], second["id"], "the same patient");
    assert_eq!(app.count("patient").await, 1);
    let records = second["records"].as_array().expect("records");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["record_number"], "DJ-0001");
    assert_eq!(records[1]["record_number"], "HA-2024-1187");

    // Registering again at the same facility is a conflict, not a duplicate.
    let (status, body) = app
        .post("/api/v1/patients", &county.token, wang("HA-9"))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "already_registered");
    // A different birth date under the same identifier is not silently
    // merged: it is a patient of its own, held for review (and answered as
    // a new identifier is, see hostile::smaller).
    let mut other = wang("XY-1");
    other["birth_date"] = json!("1960-01-01");
    let other_clinician = app.user("dr-he", Role::Clinician, c.island_b).await;
    let (status, body) = app
        .post("/api/v1/patients", &other_clinician.token, other)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["id"], first["id"], "not merged");
    assert_eq!(app.count("patient").await, 2);
}

#[tokio::test]
async fn search_finds_by_name_identifier_and_record_number() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    app.post("/api/v1/patients", &clinician.token, wang("DJ-0001"))
        .await;
    app.post("/api/v1/patients", &clinician.token, json!({
        "family_name": "Lin", "given_name": "Hai", "sex": "male", "birth_date": "1972-01-30", "record_number": "DJ-0002"
    }))
    .await;

    for (query, expected) in [
        ("%E7%8E%8B%E7%A7%80", "王"), // 王秀: family and given name run together
        ("330225195803121234", "王"),
        ("DJ-0002", "Lin"),
        ("hai%20lin", "Lin"), // given name first, any case
        ("LIN", "Lin"),
    ] {
        let (status, found) = app
            .get(&format!("/api/v1/patients?q={query}"), &clinician.token)
            .await;
        assert_eq!(status, StatusCode::OK);
        let found = found.as_array().expect("list");
        assert_eq!(found.len(), 1, "{query}: {found:?}");
        assert_eq!(found[0]["family_name"], expected, "{query}");
    }
    // LIKE wildcards typed by the user are literal.
    let (_, found) = app.get("/api/v1/patients?q=%25", &clinician.token).await;
    assert_eq!(found, json!([]));
}

#[tokio::test]
async fn breaking_the_glass_opens_a_patient_for_a_while_and_waits_for_review() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "DJ-0001")
        .await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let er = app.user("er-doctor", Role::Clinician, c.county).await;

    assert_error_code(
        app.get(&format!("/api/v1/patients/{patient}"), &er.token)
            .await,
        "patient_out_of_scope",
    );

    let (status, body) = app
        .post(
            "/api/v1/break-glass",
            &er.token,
            json!({ "national_id": "330225195803121234", "reason": "short" }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
    );

    let (status, grant) = app
        .post("/api/v1/break-glass", &er.token, json!({
            "national_id": "330225195803121234", "reason": "unconscious after a fall, island clinic closed"
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_eq!(grant["patient_id"], patient);
    assert!(grant["reviewed_at"].is_null());

    let (status, opened) = app
        .get(&format!("/api/v1/patients/{patient}"), &er.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let (_, found) = app
        .get("/api/v1/patients?q=330225195803121234", &er.token)
        .await;
    assert_eq!(
        found.as_array().map(Vec::len),
        Some(1),
        "in scope for search too while the grant lasts"
    );

    // The read is audited as emergency access, with the reason on the opening.
    let (_, events) = app
        .get(
            &format!(
                "/api/v1/audit-events?patient_id={patient}&subtype=patient.read&outcome=success"
            ),
            &admin.token,
        )
        .await;
    assert_eq!(events[0]["detail"]["access"], "break_glass");
    assert_eq!(events[0]["detail"]["grant_id"], grant["id"]);
    let (_, events) = app
        .get(
            "/api/v1/audit-events?subtype=break_glass.open",
            &admin.token,
        )
        .await;
    assert_eq!(
        events[0]["detail"]["reason"],
        "unconscious after a fall, island clinic closed"
    );

    // Administrators review it.
    let (status, pending) = app.get("/api/v1/break-glass", &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending[0]["id"], grant["id"]);
    assert_eq!(pending[0]["username"], "er-doctor");
    let (status, reviewed) = app
        .post(
            &format!("/api/v1/break-glass/{}/review", grant["id"]),
            &admin.token,
            json!({ "note": "justified" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reviewed}");
    assert_eq!(reviewed["reviewed_by"], admin.id);
    let (_, pending) = app.get("/api/v1/break-glass", &admin.token).await;
    assert_eq!(pending, json!([]));
    let (status, body) = app
        .post(
            &format!("/api/v1/break-glass/{}/review", grant["id"]),
            &admin.token,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "already_reviewed");

    // When the grant runs out, so does the access.
    sqlx::query("UPDATE break_glass_grant SET granted_at = 1, expires_at = 2")
        .execute(app.db.pool())
        .await
        .expect("expire the grant");
    assert_error_code(
        app.get(&format!("/api/v1/patients/{patient}"), &er.token)
            .await,
        "patient_out_of_scope",
    );
}

fn assert_error_code((status, body): (StatusCode, serde_json::Value), code: &str) {
    assert_error(status, &body, StatusCode::FORBIDDEN, code);
}

#[tokio::test]
async fn a_clinician_corrects_demographics_of_their_own_patient_only() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "DJ-0001")
        .await;
    let own = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let other = app.user("dr-he", Role::Clinician, c.island_b).await;

    let (status, body) = app
        .patch(
            &format!("/api/v1/patients/{patient}"),
            &own.token,
            json!({ "phone": "+86 138 0000 1111", "given_name": "Xiu Ying" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phone"], "+86 138 0000 1111");
    assert_eq!(body["given_name"], "Xiu Ying");
    assert_eq!(
        body["family_name"], "Wang",
        "untouched fields keep their value"
    );

    let (status, _) = app
        .patch(
            &format!("/api/v1/patients/{patient}"),
            &other.token,
            json!({ "phone": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn racing_registrations_of_one_record_number_get_one_201_and_409s() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let mut racers = Vec::new();
    for n in 0..10 {
        let request = app
            .request(
                reqwest::Method::POST,
                "/api/v1/patients",
                Some(&clinician.token),
            )
            .json(&json!({
                "national_id": crate::support::resident_id(&format!("11010119800101{n:03}")), "family_name": "Li", "sex": "male",
                "birth_date": "1980-01-01", "record_number": "DJ-RACE"
            }));
        racers.push(tokio::spawn(crate::support::send(request)));
    }
    let mut created = 0;
    for racer in racers {
        let (status, body) = racer.await.expect("join");
        match status {
            StatusCode::CREATED => created += 1,
            _ => assert_error(status, &body, StatusCode::CONFLICT, "record_number_taken"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        app.count("patient").await,
        1,
        "the losers left no patient behind"
    );
    assert_eq!(app.count("patient_record").await, 1);
}
