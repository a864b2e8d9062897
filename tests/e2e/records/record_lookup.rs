//! `POST /patients/lookup-records`: which patients the Patient IDs of files
//! about to be uploaded name, answered only with patients the caller may
//! reach, and audited as a read of each.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_error, spawn_app, TestApp};

async fn register(app: &TestApp, token: &str, body: Value) -> i64 {
    let (status, patient) = app.post("/api/v1/patients", token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");
    patient["id"].as_i64().expect("a patient id")
}

fn person(national_id: &str, family: &str, given: &str, record: &str) -> Value {
    json!({ "national_id": national_id, "family_name": family, "given_name": given,
            "sex": "male", "birth_date": "1950-04-09", "record_number": record })
}

#[tokio::test]
async fn a_lookup_names_only_patients_in_scope_and_says_whose_record_files_here() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;
    let other_island = app.user("dr-he", Role::Clinician, c.island_b).await;
    let li = register(
        &app,
        &island.token,
        person("330225195004091235", "李", "建国", "ISL-2"),
    )
    .await;
    // The same person at the county hospital, under its own number.
    assert_eq!(
        register(
            &app,
            &county.token,
            person("330225195004091235", "李", "建国", "CTY-9")
        )
        .await,
        li
    );
    // Someone the island clinic has never seen.
    let zhao = register(
        &app,
        &other_island.token,
        person("330225196001011230", "赵", "敏", "B-7"),
    )
    .await;

    let (status, found) = app
        .post(
            "/api/v1/patients/lookup-records",
            &island.token,
            json!({ "record_numbers": [" ISL-2 ", "CTY-9", "B-7", "NOBODY-1", "ISL-2"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let rows = found.as_array().expect("a list");
    assert_eq!(rows.len(), 2, "{found}");
    let here = rows
        .iter()
        .find(|r| r["record_number"] == "ISL-2")
        .expect("ISL-2");
    assert_eq!(here["patient_id"], li, "{found}");
    assert_eq!(here["filed_here"], true, "{found}");
    assert_eq!(here["facility_id"], c.island_a, "{found}");
    assert_eq!(here["family_name"], "李", "{found}");
    assert_eq!(here["sex"], "male", "{found}");
    assert_eq!(here["birth_date"], "1950-04-09", "{found}");
    let county_record = rows
        .iter()
        .find(|r| r["record_number"] == "CTY-9")
        .expect("CTY-9");
    assert_eq!(county_record["patient_id"], li, "{found}");
    assert_eq!(county_record["filed_here"], false, "{found}");
    assert_eq!(county_record["facility_name"], "County", "{found}");
    // B-7 is someone else's patient: no row, as for a number no one holds.
    assert!(!found.to_string().contains("B-7"), "{found}");

    // One audit event for the answer, naming the one patient shown.
    let events: Vec<(Option<i64>, String)> = sqlx::query_as(
        "SELECT patient_id, detail FROM audit_event WHERE subtype = 'patient.lookup' \
         AND actor_user_id = $1",
    )
    .bind(island.id)
    .fetch_all(app.db.pool())
    .await
    .expect("the audit trail");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, Some(li), "{events:?}");

    // The other island's clinician finds their own patient, filed there.
    let (_, found) = app
        .post(
            "/api/v1/patients/lookup-records",
            &other_island.token,
            json!({ "record_numbers": ["B-7", "ISL-2"] }),
        )
        .await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["patient_id"], zhao, "{found}");
    assert_eq!(found[0]["filed_here"], true, "{found}");

    // A radiologist with nothing on the worklist reaches no one.
    let reader = app.user("dr-reader", Role::Radiologist, c.tertiary).await;
    let (status, found) = app
        .post(
            "/api/v1/patients/lookup-records",
            &reader.token,
            json!({ "record_numbers": ["ISL-2", "B-7"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found, json!([]));
}

#[tokio::test]
async fn a_lookup_takes_one_to_two_hundred_patient_ids_of_dicom_length() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let path = "/api/v1/patients/lookup-records";
    for body in [
        json!({ "record_numbers": [] }),
        json!({ "record_numbers": ["   "] }),
        json!({ "record_numbers": ["X".repeat(65)] }),
        json!({ "record_numbers": (0..201).map(|n| format!("N-{n}")).collect::<Vec<_>>() }),
    ] {
        let (status, answer) = app.post(path, &island.token, body).await;
        assert_error(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
    }
    let (status, answer) = app
        .post(
            path,
            &island.token,
            json!({ "record_numbers": ["A"], "issuer": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let many: Vec<String> = (0..200).map(|n| format!("N-{n}")).collect();
    let (status, answer) = app
        .post(path, &island.token, json!({ "record_numbers": many }))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}
