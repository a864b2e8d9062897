//! The FHIR resources the FHIR views refer to: a Patient in scope with its
//! identifiers (resident ID, each facility's record number), the facility
//! as an Organization, a user as a Practitioner; out of scope, refused and
//! audited.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{assert_error, spawn_app};

#[tokio::test]
async fn the_references_of_the_fhir_views_resolve() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    app.patient_at(c.county, "330225195803121234", "C-1").await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let stranger = app.user("dr-far", Role::Clinician, c.island_b).await;
    let expert = app.user("dr-zhou", Role::Expert, c.tertiary).await;
    let (status, consultation) = app
        .post(
            "/api/v1/consultations",
            &clinician.token,
            json!({ "patient_id": patient, "expert_id": expert.id, "urgency": "routine",
                    "reason": "chest pain on exertion" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{consultation}");

    // The references a ServiceRequest makes, followed.
    let (status, bundle) = app
        .get(
            &format!("/api/v1/fhir/ServiceRequest?patient=Patient/{patient}"),
            &clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    let request = &bundle["entry"][0]["resource"];
    for reference in [
        &request["subject"]["reference"],
        &request["performer"][0]["reference"],
    ] {
        let path = format!("/api/v1/fhir/{}", reference.as_str().expect("a reference"));
        let (status, found) = app.get(&path, &clinician.token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {found}");
    }

    let (_, resource) = app
        .get(&format!("/api/v1/fhir/Patient/{patient}"), &clinician.token)
        .await;
    assert_eq!(resource["resourceType"], "Patient");
    assert_eq!(resource["gender"], "female");
    assert_eq!(resource["birthDate"], "1958-03-12");
    let identifiers = resource["identifier"].as_array().expect("identifiers");
    assert_eq!(identifiers.len(), 3, "{resource}");
    assert_eq!(identifiers[0]["value"], "330225195803121234");
    let county_record = identifiers
        .iter()
        .find(|i| i["value"] == "C-1")
        .expect("the county's record number");
    assert_eq!(
        county_record["assigner"]["reference"],
        format!("Organization/{}", c.county)
    );
    let (status, county) = app
        .get(
            &format!("/api/v1/fhir/Organization/{}", c.county),
            &stranger.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(county["name"], "County");
    assert_eq!(
        county["partOf"]["reference"],
        format!("Organization/{}", c.tertiary)
    );
    let (_, practitioner) = app
        .get(
            &format!("/api/v1/fhir/Practitioner/{}", expert.id),
            &stranger.token,
        )
        .await;
    assert_eq!(practitioner["name"][0]["text"], "dr-zhou");
    assert!(
        practitioner.to_string().contains("cardiology"),
        "{practitioner}"
    );

    // Out of scope: refused like the patient API, and the refusal audited.
    let (status, body) = app
        .get(&format!("/api/v1/fhir/Patient/{patient}"), &stranger.token)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "patient_out_of_scope");
    let refused: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = 'fhir.patient' AND outcome = 'failure' \
         AND actor_user_id = $1 AND patient_id = $2",
    )
    .bind(stranger.id)
    .bind(patient)
    .fetch_one(app.db.pool())
    .await
    .expect("a count");
    assert_eq!(refused, 1);
    for path in [
        "/api/v1/fhir/Patient/424242",
        "/api/v1/fhir/Organization/424242",
        "/api/v1/fhir/Practitioner/424242",
    ] {
        let (status, body) = app.get(path, &clinician.token).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
}
