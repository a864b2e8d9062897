//! Examinations across member facilities, and the duplicate-examination
//! warning.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_error, spawn_app, TestApp, TestUser};

async fn ask(app: &TestApp, who: &TestUser, patient: i64, body: Value) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/patients/{patient}/examinations"),
        &who.token,
        body,
    )
    .await
}

#[tokio::test]
async fn an_examination_done_at_another_facility_is_returned_instead_of_repeated() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app.patient_at(c.county, "330225195803121234", "C-1").await;
    app.patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;

    let (status, first) = ask(
        &app,
        &county,
        patient,
        json!({ "modality": "CT", "body_part": "HEAD" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "requested");
    assert_eq!(first["facility_name"], "County");

    let (status, body) = ask(
        &app,
        &island,
        patient,
        json!({ "modality": "ct", "body_part": " head" }),
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate_examination");
    let existing = &body["error"]["details"]["existing"];
    assert_eq!(existing["id"], first["id"]);
    assert_eq!(existing["facility_name"], "County");
    assert_eq!(existing["date"], first["date"]);
    assert_eq!(
        existing["date"].as_str().map(str::len),
        Some(10),
        "YYYY-MM-DD"
    );
    assert_eq!(existing["facility_tier"], "secondary");
    let prior = &body["error"]["details"]["prior"];
    assert_eq!(
        (&prior["readable"], &prior["reason"]),
        (&json!(false), &json!("no_images")),
        "nothing filed with it yet: {prior}"
    );
    assert_eq!(app.count("examination").await, 1, "nothing created");

    // A reason to repeat it, or another body part, goes through.
    let (status, repeat) = ask(
        &app,
        &island,
        patient,
        json!({ "modality": "CT", "body_part": "HEAD", "repeat_reason": "new fall since the last scan" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{repeat}");
    assert_eq!(repeat["repeat_reason"], "new fall since the last scan");
    assert_eq!(repeat["facility_id"], c.island_a);
    let (status, _) = ask(
        &app,
        &island,
        patient,
        json!({ "modality": "CT", "body_part": "CHEST" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, list) = app
        .get(
            &format!("/api/v1/patients/{patient}/examinations"),
            &county.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "its own only, without the patient's consent to sharing"
    );
    let (status, consent) = app
        .post(
            &format!("/api/v1/patients/{patient}/sharing-consents"),
            &island.token,
            json!({ "scope": "consortium", "given_by": "patient", "form_reference": "form 7" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{consent}");
    for who in [&county, &island] {
        let (status, list) = app
            .get(
                &format!("/api/v1/patients/{patient}/examinations"),
                &who.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            list.as_array().map(Vec::len),
            Some(3),
            "every facility's, for each facility, with consent"
        );
    }
}

#[tokio::test]
async fn an_examination_outside_the_window_or_cancelled_is_no_duplicate() {
    let app = spawn_app_days(30).await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;

    let (status, old) = ask(
        &app,
        &island,
        patient,
        json!({ "modality": "DX", "body_part": "CHEST" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{old}");
    let (status, _) = ask(
        &app,
        &island,
        patient,
        json!({ "modality": "DX", "body_part": "CHEST" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "within 30 days");

    let day = 24 * 60 * 60 * 1000_i64;
    sqlx::query("UPDATE examination SET requested_at = requested_at - $1 WHERE id = $2")
        .bind(31 * day)
        .bind(old["id"].as_i64())
        .execute(app.db.pool())
        .await
        .expect("age the examination");
    let (status, body) = ask(
        &app,
        &island,
        patient,
        json!({ "modality": "DX", "body_part": "CHEST" }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "31 days ago is outside the window: {body}"
    );

    let (status, cancelled) = app
        .post(
            &format!("/api/v1/examinations/{}/cancel", body["id"]),
            &island.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, _) = ask(
        &app,
        &island,
        patient,
        json!({ "modality": "DX", "body_part": "CHEST" }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a cancelled one does not count"
    );
}

async fn spawn_app_days(days: u32) -> TestApp {
    crate::support::spawn_app_with(|settings| settings.duplicate_exam_window_days = days).await
}

#[tokio::test]
async fn performing_an_examination_records_its_study_once_and_ends_it() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    app.patient_at(c.island_b, "330225195803121234", "B-1")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let other = app.user("dr-he", Role::Clinician, c.island_b).await;
    let (_, exam) = ask(
        &app,
        &island,
        patient,
        json!({ "modality": "US", "body_part": "ABDOMEN" }),
    )
    .await;
    let path = format!("/api/v1/examinations/{}/performed", exam["id"]);

    let (status, body) = app
        .post(
            &path,
            &island.token,
            json!({ "study_instance_uid": "1.2.03" }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_uid",
    );
    assert_eq!(body["error"]["details"]["field"], "study_instance_uid");
    let (status, body) = app.post(&path, &other.token, json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    // The study must be one the facility may read, of this patient.
    let uid = crate::support::reading::stored_study(&app, &island, "CT_small.dcm", "A-1").await;
    let uid = uid.as_str();
    let (status, done) = app
        .post(&path, &island.token, json!({ "study_instance_uid": uid }))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "performed");
    assert_eq!(done["study_instance_uid"], uid);
    assert!(done["performed_at"].is_string());

    let (status, body) = app.post(&path, &island.token, json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(body["error"]["details"]["allowed"], json!([]));
    let cancel = format!("/api/v1/examinations/{}/cancel", exam["id"]);
    let (status, body) = app.post(&cancel, &island.token, json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(body["error"]["details"]["status"], "performed");
    let (status, body) = app
        .post(
            "/api/v1/examinations/999999/performed",
            &island.token,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn bad_examination_requests_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let other = app.user("dr-he", Role::Clinician, c.island_b).await;

    for (body, code, field) in [
        (
            json!({ "modality": "CT", "body_part": "HEAD", "urgent": true }),
            "invalid_body",
            None,
        ),
        (
            json!({ "modality": "XRAY", "body_part": "HEAD" }),
            "invalid_modality",
            Some("modality"),
        ),
        (
            json!({ "modality": "CT", "body_part": "brain-and-tail" }),
            "invalid_body_part",
            Some("body_part"),
        ),
        (json!({ "modality": "CT" }), "invalid_body", None),
    ] {
        let (status, body) = ask(&app, &island, patient, body).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, code);
        if let Some(field) = field {
            assert_eq!(body["error"]["details"]["field"], field);
        }
    }
    let (status, body) = ask(
        &app,
        &island,
        999_999,
        json!({ "modality": "CT", "body_part": "HEAD" }),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = ask(
        &app,
        &other,
        patient,
        json!({ "modality": "CT", "body_part": "HEAD" }),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "patient_out_of_scope");
    assert_eq!(app.count("examination").await, 0);
}

/// A CT of the head for `record_number`, dated today, stored by STOW-RS as
/// a modality would send it, with no examination asked for in Ferry.
async fn store_head_ct(app: &TestApp, who: &TestUser, record_number: &str) -> String {
    use crate::support::dicom_files::{fixture, fresh_uid, stow};
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let mut object = dicom_object::open_file(fixture("CT_small.dcm")).expect("the fixture parses");
    let (study, sop) = (fresh_uid(), fresh_uid());
    let today = jiff::Zoned::now().date().strftime("%Y%m%d").to_string();
    for (tag, vr, value) in [
        (tags::STUDY_INSTANCE_UID, VR::UI, study.as_str()),
        (tags::SERIES_INSTANCE_UID, VR::UI, &fresh_uid()),
        (tags::SOP_INSTANCE_UID, VR::UI, &sop),
        (tags::PATIENT_ID, VR::LO, record_number),
        (tags::STUDY_DATE, VR::DA, &today),
        (tags::BODY_PART_EXAMINED, VR::CS, "head"),
    ] {
        object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    object.update_meta(|meta| meta.media_storage_sop_instance_uid = sop.clone());
    let mut bytes = Vec::new();
    object.write_all(&mut bytes).expect("the copy is written");
    let (status, body) = stow(app, &who.token, bytes).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    study
}

#[tokio::test]
async fn images_sent_straight_from_a_modality_count_as_a_prior() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let study = store_head_ct(&app, &island, "A-1").await;

    let (status, body) = ask(
        &app,
        &island,
        patient,
        json!({ "modality": "CT", "body_part": "HEAD" }),
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "duplicate_examination");
    let details = &body["error"]["details"];
    assert!(details["existing"].is_null(), "{body}");
    assert_eq!(details["study"]["facility_name"], "Island A");
    assert_eq!(details["study"]["modality"], "CT");
    assert_eq!(details["study"]["study_instance_uid"], study);
    assert_eq!(details["prior"]["readable"], true);
    assert_eq!(details["prior"]["recognition"]["reason"], "no_rule");
    assert_eq!(count_exams(&app, patient).await, 0, "nothing is asked for");

    // Another body part or modality is no repeat; a reason asks again.
    for other in [
        json!({ "modality": "CT", "body_part": "CHEST" }),
        json!({ "modality": "MR", "body_part": "HEAD" }),
        json!({ "modality": "CT", "body_part": "HEAD", "repeat_reason": "new neurological signs" }),
    ] {
        let (status, body) = ask(&app, &island, patient, other).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

async fn count_exams(app: &TestApp, patient: i64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM examination WHERE patient_id = $1")
        .bind(patient)
        .fetch_one(app.db.pool())
        .await
        .expect("a count")
}

#[tokio::test]
async fn a_body_part_typed_in_chinese_is_kept_as_its_dicom_term() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    for (typed, term) in [("头颅", "HEAD"), ("腰椎", "LSPINE"), (" 胸部 ", "CHEST")] {
        let (status, body) = ask(
            &app,
            &clinician,
            patient,
            json!({ "modality": "CT", "body_part": typed }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{typed}: {body}");
        assert_eq!(body["body_part"], term, "{typed}");
    }
    // A name the table does not know is refused as before.
    let (status, body) = ask(
        &app,
        &clinician,
        patient,
        json!({ "modality": "CT", "body_part": "肚子" }),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body_part",
    );
}
