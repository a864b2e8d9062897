//! The consortium's patient index: candidates for the same person offered
//! at registration without telling another facility's details, records
//! joined as one person on proof, merges and their undo, all audited, and
//! FHIR `Patient.link`.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_error, resident_id, spawn_app, TestApp, TestUser};

const PHONE: &str = "13800001234";

fn wang(record_number: &str) -> Value {
    json!({
        "family_name": "王", "given_name": "秀英", "sex": "female",
        "birth_date": "1958-03-12", "phone": PHONE, "record_number": record_number
    })
}

fn wang_in_pinyin(record_number: &str) -> Value {
    json!({
        "family_name": "Wang", "given_name": "Xiuying", "sex": "female",
        "birth_date": "1958-03-12", "record_number": record_number
    })
}

fn with(mut body: Value, extra: Value) -> Value {
    for (key, value) in extra.as_object().expect("an object") {
        body[key] = value.clone();
    }
    body
}

async fn register(app: &TestApp, user: &TestUser, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/patients", &user.token, body).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.db.pool())
        .await
        .expect("a count")
}

async fn details(app: &TestApp, subtype: &str) -> Vec<Value> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM audit_event WHERE subtype = $1 ORDER BY seq")
            .bind(subtype)
            .fetch_all(app.db.pool())
            .await
            .expect("the audit trail");
    rows.iter()
        .map(|d| serde_json::from_str(d).expect("JSON"))
        .collect()
}

#[tokio::test]
async fn registration_offers_candidates_without_telling_another_facilitys_details() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-zhou", Role::Clinician, c.county).await;
    let other_island = app.user("dr-chen", Role::Clinician, c.island_b).await;

    let (status, first) = register(&app, &island, wang("DJ-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first_id = first["id"].as_i64().expect("an id");

    // The same person in pinyin at another facility: offered, not created.
    let before = count(&app, "SELECT COUNT(*) FROM patient").await;
    let (status, body) = register(&app, &county, wang_in_pinyin("HA-1")).await;
    assert_error(status, &body, StatusCode::CONFLICT, "possible_same_person");
    let candidates = body["error"]["details"]["candidates"]
        .as_array()
        .expect("candidates");
    assert_eq!(candidates.len(), 1, "{body}");
    let candidate = &candidates[0];
    assert_eq!(candidate["patient_id"], first_id);
    assert_eq!(candidate["in_scope"], false);
    assert!(candidate["patient"].is_null(), "{body}");
    assert_eq!(candidate["facilities"], 1);
    for matched in ["name", "birth_date", "sex"] {
        assert!(
            candidate["matched"]
                .as_array()
                .is_some_and(|m| m.contains(&json!(matched))),
            "{matched}: {body}"
        );
    }
    let text = body.to_string();
    for secret in [PHONE, "秀英", "DJ-1", "Island"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM patient").await, before);
    let offered = details(&app, "patient.candidates").await;
    assert_eq!(
        offered.last().expect("an event")["candidates"],
        json!([first_id])
    );

    // Joining needs the phone on file, which the patient knows; without it
    // the answer does not say what disagreed, and nothing is written.
    let join = json!({ "same_person_as": first_id, "evidence": "facility_card" });
    let (status, body) = register(&app, &county, with(wang_in_pinyin("HA-1"), join.clone())).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_same_person",
    );
    assert!(!body.to_string().contains(PHONE));
    let (status, body) = register(
        &app,
        &county,
        with(
            wang_in_pinyin("HA-1"),
            json!({ "same_person_as": first_id }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"]["field"], "evidence");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM patient_record").await, 1);

    let (status, joined) = register(
        &app,
        &county,
        with(
            wang_in_pinyin("HA-1"),
            with(join, json!({ "phone": "138-0000-1234" })),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");
    assert_eq!(joined["id"], first_id);
    assert_eq!(joined["records"].as_array().map(Vec::len), Some(2));
    let links = details(&app, "patient.link").await;
    assert_eq!(links.last().expect("a link")["evidence"], "facility_card");

    // None of them: a new person, with the candidates declined on record.
    let (status, other) = register(
        &app,
        &other_island,
        with(wang_in_pinyin("DS-1"), json!({ "new_person": true })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], first_id);
    let created = details(&app, "patient.create").await;
    assert_eq!(
        created.last().expect("an event")["declined_candidates"],
        json!([first_id])
    );
}

#[tokio::test]
async fn an_identity_number_links_only_under_the_same_name_and_birth_date() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-zhou", Role::Clinician, c.county).await;
    let national_id = resident_id("33022519580312123");
    let id_body = |body: Value| with(body, json!({ "national_id": national_id }));

    let (status, first) = register(&app, &island, id_body(wang("DJ-1"))).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // Someone else's name with this number: a patient of its own, held for
    // review, answered as any new patient is.
    let other_name = json!({
        "family_name": "李", "given_name": "梅", "sex": "female",
        "birth_date": "1958-03-12", "record_number": "HA-9", "national_id": national_id
    });
    let (status, stranger) = register(&app, &county, other_name).await;
    assert_eq!(status, StatusCode::CREATED, "{stranger}");
    assert_ne!(stranger["id"], first["id"]);
    assert_eq!(stranger["records"].as_array().map(Vec::len), Some(1));
    assert_eq!(details(&app, "patient.identity_review").await.len(), 1);

    // The same name in pinyin is the same person.
    let county_b = app.user("dr-wu", Role::Clinician, c.island_b).await;
    let (status, linked) = register(&app, &county_b, id_body(wang_in_pinyin("DS-1"))).await;
    assert_eq!(status, StatusCode::CREATED, "{linked}");
    assert_eq!(linked["id"], first["id"]);

    // A look-alike registered with a number someone else holds is answered
    // exactly as with a number nobody holds: the same candidates, the same
    // details, nothing about the holder.
    let someone = resident_id("11010119700101001");
    let (status, holder) = register(
        &app,
        &county,
        json!({ "family_name": "赵", "given_name": "敏", "sex": "female", "birth_date": "1970-01-01",
                "record_number": "HA-10", "national_id": someone, "new_person": true }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{holder}");
    // A look-alike of Mrs Wang without an identity number, who may be her.
    let (status, look_alike) = register(
        &app,
        &county,
        with(wang("HA-2"), json!({ "new_person": true })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{look_alike}");
    let late = app.user("dr-he", Role::Clinician, c.tertiary).await;
    let mut answers = Vec::new();
    for number in [someone, resident_id("11010119700101002")] {
        let (status, body) = register(
            &app,
            &late,
            with(wang("T-1"), json!({ "national_id": number })),
        )
        .await;
        assert_error(status, &body, StatusCode::CONFLICT, "possible_same_person");
        answers.push(body["error"]["details"].clone());
    }
    assert_eq!(answers[0], answers[1]);
    // Only the look-alike without a number: Mrs Wang holds another one.
    assert_eq!(answers[0]["candidates"][0]["patient_id"], look_alike["id"]);
    assert_eq!(answers[0]["candidates"].as_array().map(Vec::len), Some(1));
}

async fn examination(app: &TestApp, user: &TestUser, patient: i64) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/patients/{patient}/examinations"),
        &user.token,
        json!({ "modality": "DX", "body_part": "CHEST" }),
    )
    .await
}

#[tokio::test]
async fn a_clinician_merges_two_records_and_an_administrator_undoes_it() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-zhou", Role::Clinician, c.county).await;
    let county_admin = app.user("county-admin", Role::Admin, c.county).await;
    let far_admin = app.user("far-admin", Role::Admin, c.island_b).await;

    let (_, a) = register(&app, &island, wang("DJ-1")).await;
    let a = a["id"].as_i64().expect("an id");
    let (status, exam) = examination(&app, &island, a).await;
    assert_eq!(status, StatusCode::CREATED, "{exam}");
    let (status, b) = register(
        &app,
        &county,
        with(
            wang_in_pinyin("HA-1"),
            json!({ "new_person": true, "national_id": resident_id("33022519580312123") }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let b = b["id"].as_i64().expect("an id");

    let (status, found) = app
        .get(&format!("/api/v1/patients/{b}/candidates"), &county.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found[0]["patient_id"], a);
    assert!(found[0]["patient"].is_null());

    // Without the phone on the other record: refused, and the attempt is on
    // the trail.
    let path = format!("/api/v1/patients/{b}/merge");
    let ask = json!({ "other_patient_id": a, "evidence": "patient_statement" });
    let (status, body) = app.post(&path, &county.token, ask.clone()).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_same_person",
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_event WHERE subtype = 'patient.merge' AND outcome = 'failure'"
        )
        .await,
        1
    );
    let (status, merge) = app
        .post(&path, &county.token, with(ask, json!({ "phone": PHONE })))
        .await;
    assert_eq!(status, StatusCode::OK, "{merge}");
    // The one holding the identity number is kept.
    assert_eq!(merge["kept_patient_id"], b);
    assert_eq!(merge["merged_patient_id"], a);
    let moved = merge["moved"].as_i64().expect("a count");
    assert_eq!(moved, 2, "the island record and its examination: {merge}");

    // The island opens the merged record and is sent on; the kept one has
    // both facilities' records and the island's examination.
    let (status, old) = app
        .get(&format!("/api/v1/patients/{a}"), &island.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{old}");
    assert_eq!(old["merged_into"], b);
    let (status, kept) = app
        .get(&format!("/api/v1/patients/{b}"), &island.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["records"].as_array().map(Vec::len), Some(2));
    let (status, exams) = app
        .get(&format!("/api/v1/patients/{b}/examinations"), &island.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{exams}");
    assert_eq!(exams[0]["id"], exam["id"]);
    let (status, body) = examination(&app, &island, a).await;
    assert_error(status, &body, StatusCode::CONFLICT, "already_merged");
    assert_eq!(body["error"]["details"]["merged_into"], b);
    let (status, hits) = app.get("/api/v1/patients?q=wang", &island.token).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<i64> = hits
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![b]);

    // FHIR: the merged patient is inactive and replaced by the kept one.
    let (status, fhir_a) = app
        .get(&format!("/api/v1/fhir/Patient/{a}"), &island.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{fhir_a}");
    assert_eq!(fhir_a["active"], false);
    assert_eq!(fhir_a["link"][0]["type"], "replaced-by");
    assert_eq!(
        fhir_a["link"][0]["other"]["reference"],
        format!("Patient/{b}")
    );
    let (_, fhir_b) = app
        .get(&format!("/api/v1/fhir/Patient/{b}"), &island.token)
        .await;
    assert_eq!(fhir_b["active"], true);
    assert_eq!(fhir_b["link"][0]["type"], "replaces");
    assert_eq!(
        fhir_b["link"][0]["other"]["reference"],
        format!("Patient/{a}")
    );

    // An administrator of a facility the merge does not touch sees nothing
    // of it and cannot undo it.
    let merge_id = merge["id"].as_i64().expect("an id");
    let (status, listed) = app.get("/api/v1/patient-merges", &far_admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!([]));
    let undo = format!("/api/v1/patient-merges/{merge_id}/undo");
    let reason = json!({ "reason": "two different women of the same name" });
    let (status, _) = app.post(&undo, &far_admin.token, reason.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.post(&undo, &county.token, reason.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(&undo, &county_admin.token, json!({ "reason": "no" }))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
    );

    let (status, listed) = app.get("/api/v1/patient-merges", &county_admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed[0]["id"], merge_id);
    assert_eq!(listed[0]["evidence"], "patient_statement");
    let (status, undone) = app.post(&undo, &county_admin.token, reason.clone()).await;
    assert_eq!(status, StatusCode::OK, "{undone}");
    assert_eq!(undone["moved_back"], moved);
    assert!(undone["merge"]["undone_at"].is_i64());
    let (status, body) = app.post(&undo, &county_admin.token, reason).await;
    assert_error(status, &body, StatusCode::CONFLICT, "merge_already_undone");

    // Everything is where it was.
    let (_, restored) = app
        .get(&format!("/api/v1/patients/{a}"), &island.token)
        .await;
    assert!(restored["merged_into"].is_null(), "{restored}");
    assert_eq!(restored["records"].as_array().map(Vec::len), Some(1));
    let (status, exams) = app
        .get(&format!("/api/v1/patients/{a}/examinations"), &island.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(exams[0]["id"], exam["id"]);
    let (status, _) = app
        .get(&format!("/api/v1/patients/{b}"), &island.token)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(details(&app, "patient.merge").await.len(), 3);
    assert_eq!(details(&app, "patient.merge_undo").await.len(), 2);
}

#[tokio::test]
async fn records_that_disagree_or_share_a_facility_are_not_merged() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let (_, a) = register(&app, &island, wang("DJ-1")).await;
    let (status, b) = register(
        &app,
        &island,
        with(wang("DJ-2"), json!({ "new_person": true })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let (status, body) = app
        .post(
            &format!("/api/v1/patients/{}/merge", b["id"]),
            &island.token,
            json!({ "other_patient_id": a["id"], "evidence": "records_agree" }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "merge_same_facility");

    // Another birth date is another person, even in scope.
    let (_, c_patient) = register(
        &app,
        &island,
        json!({ "family_name": "王", "given_name": "秀英", "sex": "female",
                "birth_date": "1958-03-13", "record_number": "DJ-3" }),
    )
    .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/patients/{}/merge", c_patient["id"]),
            &island.token,
            json!({ "other_patient_id": a["id"], "evidence": "records_agree" }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_same_person",
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM patient_merge").await, 0);
}

/// Every table with a `patient_id` column is one a merge moves or one it
/// leaves by design: a table added later cannot be forgotten.
#[tokio::test]
async fn a_merge_accounts_for_every_table_that_names_a_patient() {
    let app = spawn_app().await;
    let sql = match app.db.engine() {
        ferry_server::db::Engine::Sqlite => {
            "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND c.name = 'patient_id' ORDER BY m.name"
        }
        ferry_server::db::Engine::Postgres => {
            "SELECT table_name::text FROM information_schema.columns \
             WHERE column_name = 'patient_id' AND table_schema = current_schema() \
             ORDER BY table_name"
        }
    };
    let tables: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(app.db.pool())
        .await
        .expect("the schema");
    assert!(tables.len() >= 8, "{tables:?}");
    use ferry_server::patient::merge::{MOVED, NOT_MOVED};
    for table in &tables {
        assert!(
            MOVED.iter().any(|(moved, _)| moved == table) || NOT_MOVED.contains(&table.as_str()),
            "{table} names a patient but a merge neither moves nor leaves it"
        );
    }
}
