//! Remote reading set up for a test: a study stored for a patient, a
//! reading request about it, and a desk with a routing rule to the tertiary
//! hospital's worklist.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::dicom_files::{stow, study};
use super::{Consortium, TestApp, TestUser};

/// A routing rule made by `admin` (`body` says which requests go to which
/// worklist); returns its id.
pub async fn route(app: &TestApp, admin: &TestUser, body: Value) -> i64 {
    let (status, route) = app.post("/api/v1/reading-routes", &admin.token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    route["id"].as_i64().expect("an id")
}

/// A one-instance study of `fixture` stored by `clinician` for a patient
/// record; returns its Study Instance UID.
pub async fn stored_study(
    app: &TestApp,
    clinician: &TestUser,
    fixture: &str,
    record: &str,
) -> String {
    let dir = tempfile::tempdir().expect("a directory");
    let sent = study(dir.path(), &[fixture], record);
    let bytes = std::fs::read(&sent.files[0]).expect("the file");
    let (status, body) = stow(app, &clinician.token, bytes).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sent.uid
}

/// `clinician` asks for a reading of study `uid`; `extra` adds to or
/// overrides the request's fields.
pub async fn ask(
    app: &TestApp,
    clinician: &TestUser,
    uid: &str,
    extra: Value,
) -> (StatusCode, Value) {
    let mut body = json!({
        "study_instance_uid": uid, "clinical_question": "cough for three weeks; mass?",
        "priority": "routine",
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.post("/api/v1/reading-requests", &clinician.token, body)
        .await
}

/// The kinds of `user`'s notifications, in the order the API lists them.
pub async fn kinds(app: &TestApp, user: &TestUser) -> Vec<String> {
    let (_, notes) = app.get("/api/v1/notifications", &user.token).await;
    notes
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|n| n["kind"].as_str().map(str::to_owned))
        .collect()
}

/// A consortium whose island clinician's requests all go to a reader at
/// the tertiary hospital.
pub struct Desk {
    pub c: Consortium,
    pub admin: TestUser,
    pub clinician: TestUser,
    pub reader: TestUser,
}

pub async fn desk(app: &TestApp) -> Desk {
    let c = app.consortium().await;
    app.patient_at(c.island_a, "110101199001010015", "A-1")
        .await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let clinician = app.user("island-clin", Role::Clinician, c.island_a).await;
    let reader = app.user("reader", Role::Radiologist, c.tertiary).await;
    route(app, &admin, json!({ "reading_facility_id": c.tertiary })).await;
    Desk {
        c,
        admin,
        clinician,
        reader,
    }
}
