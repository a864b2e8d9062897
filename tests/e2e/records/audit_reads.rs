//! Every answer that carries patient data leaves an audit event naming the
//! patient, written before the answer: the lists and FHIR views that once
//! answered without one included.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::reading::{ask, desk, stored_study};
use crate::support::{spawn_app, TestApp, TestUser};

/// Events of `subtype` by `user` that name `patient`, as the event's
/// patient or among the patients of a list.
async fn events(app: &TestApp, user: &TestUser, subtype: &str, patient: i64) -> usize {
    let rows: Vec<(Option<i64>, String)> = sqlx::query_as(
        "SELECT patient_id, detail FROM audit_event WHERE actor_user_id = $1 AND subtype = $2",
    )
    .bind(user.id)
    .bind(subtype)
    .fetch_all(app.db.pool())
    .await
    .expect("the audit trail");
    rows.into_iter()
        .filter(|(named, detail)| {
            let detail: Value = serde_json::from_str(detail).expect("JSON details");
            *named == Some(patient)
                || detail["patients"]
                    .as_array()
                    .is_some_and(|p| p.contains(&json!(patient)))
        })
        .count()
}

#[tokio::test]
async fn every_read_of_patient_data_is_audited_with_the_patient() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let patient: i64 =
        sqlx::query_scalar("SELECT patient_id FROM patient_record WHERE record_number = 'A-1'")
            .fetch_one(app.db.pool())
            .await
            .expect("the patient");
    let study = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (status, request) = ask(&app, &d.clinician, &study, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let expert = app.user("dr-expert", Role::Expert, d.c.tertiary).await;
    let (status, consultation) = app
        .post(
            "/api/v1/consultations",
            &d.clinician.token,
            json!({ "patient_id": patient, "expert_id": expert.id, "urgency": "routine",
                    "reason": "chest pain on exertion", "studies": [study] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{consultation}");

    let reads: [(&TestUser, String, &str); 11] = [
        (
            &d.clinician,
            "/api/v1/reading-requests".into(),
            "reading.list",
        ),
        (&d.reader, "/api/v1/reading-requests".into(), "reading.list"),
        (&d.reader, "/api/v1/worklist".into(), "reading.worklist"),
        (&d.reader, "/api/v1/fhir/Task".into(), "fhir.task"),
        (&d.clinician, "/api/v1/fhir/Task".into(), "fhir.task"),
        (
            &d.clinician,
            "/api/v1/fhir/DiagnosticReport".into(),
            "fhir.diagnostic_report",
        ),
        (
            &d.clinician,
            format!("/api/v1/fhir/ServiceRequest?patient=Patient/{patient}"),
            "fhir.service_request",
        ),
        (
            &d.clinician,
            "/api/v1/consultations".into(),
            "consultation.list",
        ),
        (
            &d.clinician,
            format!("/api/v1/patients/{patient}/studies"),
            "patient.studies",
        ),
        (
            &d.clinician,
            format!("/api/v1/patients/{patient}/examinations"),
            "examination.list",
        ),
        (
            &d.clinician,
            format!("/api/v1/patients/{patient}/sharing-consents"),
            "sharing_consent.list",
        ),
    ];
    for (user, path, subtype) in &reads {
        let before = events(&app, user, subtype, patient).await;
        let (status, body) = app.get(path, &user.token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let after = events(&app, user, subtype, patient).await;
        assert_eq!(
            after,
            before + 1,
            "{path} as {}: one {subtype} event naming the patient",
            user.username
        );
    }
    // The patient's studies page audits each study it listed, with its basis.
    let studies = events(&app, &d.clinician, "dicom.search", patient).await;
    assert!(studies >= 1, "the listed study is audited as read");
}
