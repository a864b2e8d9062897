//! Images waiting for a patient: a study whose Patient ID matches no record
//! and that names no order is listed for the sending facility's clinicians,
//! who file it under a patient or an order; nobody else sees or files it.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::dicom_files::{audit_events, dcmtk, port, register_modality, study};
use crate::support::{spawn_app, TestApp};

async fn send_study(app: &TestApp, patient_id: &str) -> String {
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], patient_id);
    let port = port(app);
    let mut args = vec!["-aet", "ISLAND-CT", "-aec", "FERRY", "127.0.0.1", &port];
    args.extend(sent.files.iter().map(|p| p.to_str().expect("UTF-8")));
    let out = dcmtk("storescu", &args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sent.uid
}

#[tokio::test]
async fn a_study_matching_no_patient_waits_for_the_sending_facility_to_file_it() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let elsewhere = app.user("clin-b", Role::Clinician, c.island_b).await;
    let expert = app.user("expert-a", Role::Expert, c.island_a).await;
    let ours = app
        .patient_at(c.island_a, "110101195803120023", "MRN-1")
        .await;
    let theirs = app
        .patient_at(c.island_b, "110101199001010015", "B-1")
        .await;
    let first = send_study(&app, "WHO-IS-THIS").await;
    let second = send_study(&app, "NOBODY-2").await;

    let (status, waiting) = app.get("/api/v1/unlinked-studies", &clinician.token).await;
    assert_eq!(status, StatusCode::OK, "{waiting}");
    let uids: Vec<&str> = waiting
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["study_instance_uid"].as_str().expect("a UID"))
        .collect();
    assert_eq!(uids, [first.as_str(), second.as_str()]);
    assert_eq!(waiting[0]["dicom_patient_id"], "WHO-IS-THIS");
    let (status, none) = app.get("/api/v1/unlinked-studies", &elsewhere.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none, json!([]));
    let (status, _) = app.get("/api/v1/unlinked-studies", &expert.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let file = |uid: &str| format!("/api/v1/unlinked-studies/{uid}/file");
    // Another facility's clinician cannot tell the study exists.
    let (status, hidden) = app
        .post(
            &file(&first),
            &elsewhere.token,
            json!({ "patient_id": theirs }),
        )
        .await;
    let (_, missing) = app
        .post(
            &file("2.25.999"),
            &elsewhere.token,
            json!({ "patient_id": theirs }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(hidden, missing);
    // Nor may the sending facility file it under a patient it does not keep.
    let (status, _) = app
        .post(
            &file(&first),
            &clinician.token,
            json!({ "patient_id": theirs }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in [
        json!({}),
        json!({ "patient_id": ours, "examination_id": 1 }),
    ] {
        let (status, body) = app.post(&file(&first), &clinician.token, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }

    let (status, filed) = app
        .post(
            &file(&first),
            &clinician.token,
            json!({ "patient_id": ours }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{filed}");
    assert_eq!(filed["patient_id"], ours);
    let (status, again) = app
        .post(
            &file(&first),
            &clinician.token,
            json!({ "patient_id": ours }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(again["error"]["code"], "already_linked");
    let (_, studies) = app
        .get(
            &format!("/api/v1/patients/{ours}/studies"),
            &clinician.token,
        )
        .await;
    assert!(
        studies
            .as_array()
            .expect("a list")
            .iter()
            .any(|s| s["study_instance_uid"] == first.as_str()),
        "{studies}"
    );
    assert_eq!(audit_events(&app, "dicom.file", &first).await, 1);

    // Filed under an order, the order is performed with it.
    let (status, exam) = app
        .post(
            &format!("/api/v1/patients/{ours}/examinations"),
            &clinician.token,
            json!({ "modality": "CT", "body_part": "HEAD" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exam}");
    let (status, filed) = app
        .post(
            &file(&second),
            &clinician.token,
            json!({ "examination_id": exam["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{filed}");
    let (_, exams) = app
        .get(
            &format!("/api/v1/patients/{ours}/examinations"),
            &clinician.token,
        )
        .await;
    let done = exams
        .as_array()
        .expect("a list")
        .iter()
        .find(|e| e["id"] == exam["id"])
        .expect("the order");
    assert_eq!(done["status"], "performed");
    assert_eq!(done["study_instance_uid"], second.as_str());
    let (_, waiting) = app.get("/api/v1/unlinked-studies", &clinician.token).await;
    assert_eq!(waiting, json!([]));
}
