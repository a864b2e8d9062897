//! Reading another member facility's records of a shared patient: one
//! person registered at island A and at the county hospital, a head CT and
//! an examination at the county. Every DICOMweb path to the CT (QIDO at
//! three levels, WADO study, instance, metadata, frames, bulk data,
//! rendered, thumbnail, WADO-URI) and the patient endpoints that list it
//! answer alike: all open or all closed, as the relationship and the
//! patient's consent say, and each shared read is audited with its basis.

use ferry_server::auth::Role;
use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::authz::is_refusal;
use crate::support::reading::stored_study;
use crate::support::{
    assert_error, send, spawn_app, spawn_app_with, Consortium, TestApp, TestUser,
};

const SHARED_PERSON: &str = "330225195803121234";

struct Shared {
    c: Consortium,
    /// Island A's clinician: the patient has a record there.
    island: TestUser,
    /// Island B's clinician: no relationship with the patient.
    stranger: TestUser,
    county: TestUser,
    patient: i64,
    study: String,
    series: String,
    instance: String,
    /// The path of the CT's pixel data as its metadata names it.
    bulk: String,
    county_exam: i64,
}

async fn shared(app: &TestApp) -> Shared {
    let c = app.consortium().await;
    let patient = app.patient_at(c.island_a, SHARED_PERSON, "A-1").await;
    let same = app.patient_at(c.county, SHARED_PERSON, "C-1").await;
    assert_eq!(patient, same, "one person at both facilities");
    let island = app.user("dr-island", Role::Clinician, c.island_a).await;
    let stranger = app.user("dr-stranger", Role::Clinician, c.island_b).await;
    let county = app.user("dr-county", Role::Clinician, c.county).await;
    let study = stored_study(app, &county, "CT_small.dcm", "C-1").await;
    let (status, instances) = app
        .get(
            &format!("/dicomweb/studies/{study}/instances"),
            &county.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{instances}");
    let text = |tag: &str| {
        instances[0][tag]["Value"][0]
            .as_str()
            .expect(tag)
            .to_owned()
    };
    let (series, instance) = (text("0020000E"), text("00080018"));
    let (status, metadata) = app
        .get(
            &format!("/dicomweb/studies/{study}/metadata"),
            &county.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{metadata}");
    let bulk = metadata[0]["7FE00010"]["BulkDataURI"]
        .as_str()
        .expect("pixel data as bulk data");
    let bulk = bulk[bulk.find("/dicomweb/").expect("a DICOMweb path")..].to_owned();
    let (status, exam) = app
        .post(
            &format!("/api/v1/patients/{patient}/examinations"),
            &county.token,
            json!({ "modality": "CT", "body_part": "HEAD" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exam}");
    Shared {
        c,
        island,
        stranger,
        county,
        patient,
        study,
        series,
        instance,
        bulk,
        county_exam: exam["id"].as_i64().expect("an id"),
    }
}

/// Whether `user` reaches the county CT, path by path.
async fn reach(app: &TestApp, s: &Shared, user: &TestUser) -> Vec<(String, bool)> {
    let (st, se, i) = (&s.study, &s.series, &s.instance);
    let instance = format!("/dicomweb/studies/{st}/series/{se}/instances/{i}");
    let mut out = Vec::new();
    for query in [
        format!("/dicomweb/studies?StudyInstanceUID={st}"),
        format!("/dicomweb/studies/{st}/series"),
        format!("/dicomweb/instances?StudyInstanceUID={st}"),
    ] {
        let (status, found) = app.get(&query, &user.token).await;
        let found = status == StatusCode::OK && found.as_array().is_some_and(|a| !a.is_empty());
        assert!(
            found
                || status == StatusCode::NO_CONTENT
                || status == StatusCode::OK
                || is_refusal(status, true),
            "{query}: {status}"
        );
        out.push((query, found));
    }
    let wado = [
        (
            format!("/dicomweb/studies/{st}"),
            "multipart/related; type=\"application/dicom\"",
        ),
        (
            instance.clone(),
            "multipart/related; type=\"application/dicom\"",
        ),
        (
            format!("/dicomweb/studies/{st}/metadata"),
            "application/dicom+json",
        ),
        (
            format!("{instance}/frames/1"),
            "multipart/related; type=\"application/octet-stream\"",
        ),
        (
            s.bulk.clone(),
            "multipart/related; type=\"application/octet-stream\"",
        ),
        (format!("{instance}/rendered"), "image/jpeg"),
        (format!("/dicomweb/studies/{st}/thumbnail"), "image/jpeg"),
        (
            format!(
                "/dicomweb/wado?requestType=WADO&studyUID={st}&seriesUID={se}&objectUID={i}\
                 &contentType=application/dicom"
            ),
            "application/dicom",
        ),
    ];
    for (path, accept) in wado {
        let response = app
            .request(Method::GET, &path, Some(&user.token))
            .header(ACCEPT, accept)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        assert!(
            status == StatusCode::OK || is_refusal(status, true),
            "{path}: {status}"
        );
        out.push((path, status == StatusCode::OK));
    }
    let (status, studies) = app
        .get(
            &format!("/api/v1/patients/{}/studies", s.patient),
            &user.token,
        )
        .await;
    let listed = status == StatusCode::OK
        && studies
            .as_array()
            .expect("a list")
            .iter()
            .any(|found| found["study_instance_uid"] == s.study.as_str());
    out.push(("patient studies".to_owned(), listed));
    let (status, exams) = app
        .get(
            &format!("/api/v1/patients/{}/examinations", s.patient),
            &user.token,
        )
        .await;
    let listed = status == StatusCode::OK
        && exams
            .as_array()
            .expect("a list")
            .iter()
            .any(|found| found["id"] == s.county_exam);
    out.push(("patient examinations".to_owned(), listed));
    out
}

async fn assert_reach(app: &TestApp, s: &Shared, user: &TestUser, want: bool, when: &str) {
    for (path, reached) in reach(app, s, user).await {
        assert_eq!(reached, want, "{when}: {} on {path}", user.username);
    }
}

async fn record_consent(app: &TestApp, s: &Shared, by: &TestUser, body: Value) -> Value {
    let (status, consent) = app
        .post(
            &format!("/api/v1/patients/{}/sharing-consents", s.patient),
            &by.token,
            body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{consent}");
    consent
}

fn whole_consortium() -> Value {
    json!({ "scope": "consortium", "given_by": "patient",
            "form_reference": "signed form 2026-118, scanned" })
}

async fn withdraw(app: &TestApp, consent: &Value, by: &TestUser) {
    let (status, body) = app
        .post(
            &format!("/api/v1/sharing-consents/{}/withdraw", consent["id"]),
            &by.token,
            json!({ "reason": "the patient changed her mind" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["in_force"], false);
}

/// The bases the audit trail gave `user`'s reads of the CT.
async fn audited_bases(app: &TestApp, s: &Shared, user: &TestUser) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT detail FROM audit_event WHERE actor_user_id = $1 AND entity_id = $2 \
         AND subtype IN ('dicom.retrieve', 'dicom.search')",
    )
    .bind(user.id)
    .bind(&s.study)
    .fetch_all(app.db.pool())
    .await
    .expect("the audit trail");
    rows.into_iter()
        .map(|(detail,)| {
            let detail: Value = serde_json::from_str(&detail).expect("JSON details");
            detail["access"].as_str().unwrap_or("none").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_shared_patients_records_open_with_consent_and_close_on_withdrawal() {
    let app = spawn_app().await;
    let s = shared(&app).await;
    // The county reads its own study on every path: the paths work.
    assert_reach(&app, &s, &s.county, true, "own facility").await;

    assert_reach(&app, &s, &s.island, false, "no consent").await;
    assert_reach(&app, &s, &s.stranger, false, "no relationship").await;

    let consent = record_consent(&app, &s, &s.island, whole_consortium()).await;
    assert_eq!(consent["in_force"], true);
    assert_eq!(consent["recorded_by"], s.island.id);
    assert_reach(&app, &s, &s.island, true, "consent in force").await;
    assert_reach(&app, &s, &s.stranger, false, "consent, but no relationship").await;
    let bases = audited_bases(&app, &s, &s.island).await;
    assert!(!bases.is_empty(), "the shared reads are audited");
    assert!(bases.iter().all(|b| b == "shared"), "{bases:?}");
    assert!(
        audited_bases(&app, &s, &s.county)
            .await
            .iter()
            .all(|b| b == "facility"),
        "the county's own reads are audited as its facility's"
    );

    // A second consent while one is in force is refused; nothing changes.
    let (status, body) = app
        .post(
            &format!("/api/v1/patients/{}/sharing-consents", s.patient),
            &s.county.token,
            whole_consortium(),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "consent_in_force");

    withdraw(&app, &consent, &s.county).await;
    assert_reach(&app, &s, &s.island, false, "after withdrawal").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/sharing-consents/{}/withdraw", consent["id"]),
            &s.island.token,
            json!({ "reason": "again" }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "consent_already_withdrawn",
    );

    // A consent naming only the county opens nothing to the island.
    let named = record_consent(
        &app,
        &s,
        &s.island,
        json!({ "scope": "facilities", "facility_ids": [s.c.county], "given_by": "guardian",
                "guardian_name": "Wang Jun", "form_reference": "typed: my son may decide" }),
    )
    .await;
    assert_eq!(named["facilities"][0]["id"], s.c.county);
    assert_reach(&app, &s, &s.island, false, "consent naming the county only").await;
    withdraw(&app, &named, &s.island).await;
    let named = record_consent(
        &app,
        &s,
        &s.island,
        json!({ "scope": "facilities", "facility_ids": [s.c.island_a], "given_by": "patient",
                "form_reference": "form 2026-119" }),
    )
    .await;
    assert_reach(&app, &s, &s.island, true, "consent naming the island").await;

    let (status, list) = app
        .get(
            &format!("/api/v1/patients/{}/sharing-consents", s.patient),
            &s.island.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 3);
    assert_eq!(
        list[0]["id"], named["id"],
        "the consent in force comes first"
    );
    assert_eq!(list.iter().filter(|k| k["in_force"] == true).count(), 1);
}

#[tokio::test]
async fn an_open_referral_is_a_relationship_until_it_closes_and_break_the_glass_reads_alone() {
    let app = spawn_app().await;
    let s = shared(&app).await;
    record_consent(&app, &s, &s.county, whole_consortium()).await;
    assert_reach(&app, &s, &s.stranger, false, "before the referral").await;

    // The county sends the patient down to island B.
    let (status, referral) = app
        .post(
            "/api/v1/referrals",
            &s.county.token,
            json!({ "patient_id": s.patient, "direction": "down", "to_facility_id": s.c.island_b,
                    "reason": "rehabilitation near home", "diagnosis_codes": ["I63"],
                    "rehabilitation_plan": "walking practice, blood pressure twice a week" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{referral}");
    assert_reach(&app, &s, &s.stranger, true, "open referral").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/referrals/{}/cancel", referral["id"]),
            &s.county.token,
            json!({ "note": "the family arranged care in the city" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_reach(&app, &s, &s.stranger, false, "after the referral closed").await;

    // Break the glass: the grant alone opens the patient's studies.
    let (status, grant) = app
        .post(
            "/api/v1/break-glass",
            &s.stranger.token,
            json!({ "patient_id": s.patient, "reason": "unconscious on the ferry, no family" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_reach(&app, &s, &s.stranger, true, "break the glass").await;
    let bases = audited_bases(&app, &s, &s.stranger).await;
    assert!(bases.iter().any(|b| b == "break_glass"), "{bases:?}");
    assert!(
        bases.iter().all(|b| b == "break_glass" || b == "shared"),
        "{bases:?}"
    );
}

#[tokio::test]
async fn where_the_rules_need_no_consent_a_relationship_is_enough() {
    let app = spawn_app_with(|settings| settings.sharing_consent_required = false).await;
    let s = shared(&app).await;
    assert_reach(&app, &s, &s.island, true, "relationship, no consent needed").await;
    assert_reach(&app, &s, &s.stranger, false, "no relationship").await;
}

#[tokio::test]
async fn bad_consents_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let s = shared(&app).await;
    let path = format!("/api/v1/patients/{}/sharing-consents", s.patient);
    for (body, field) in [
        (
            json!({ "scope": "consortium", "given_by": "patient", "form_reference": "  " }),
            "form_reference",
        ),
        (
            json!({ "scope": "consortium", "given_by": "guardian", "form_reference": "f" }),
            "guardian_name",
        ),
        (
            json!({ "scope": "facilities", "given_by": "patient", "form_reference": "f" }),
            "facility_ids",
        ),
        (
            json!({ "scope": "consortium", "facility_ids": [s.c.county], "given_by": "patient",
                 "form_reference": "f" }),
            "facility_ids",
        ),
        (
            json!({ "scope": "facilities", "facility_ids": [987654], "given_by": "patient",
                 "form_reference": "f" }),
            "facility_ids",
        ),
    ] {
        let (status, error) = app.post(&path, &s.island.token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }
    // Only a clinician of a caring facility records it.
    let (status, error) = app.post(&path, &s.stranger.token, whole_consortium()).await;
    assert_error(
        status,
        &error,
        StatusCode::FORBIDDEN,
        "patient_out_of_scope",
    );
    let expert = app.user("dr-expert", Role::Expert, s.c.tertiary).await;
    let (status, _) = app.post(&path, &expert.token, whole_consortium()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = send(
        app.request(
            Method::POST,
            "/api/v1/sharing-consents/424242/withdraw",
            Some(&s.island.token),
        )
        .json(&json!({ "reason": "none" })),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.count("sharing_consent").await, 0);
}

/// What `user` reads of other facilities' records of the patient.
async fn elsewhere(app: &TestApp, s: &Shared, user: &TestUser) -> Value {
    let (status, body) = app
        .get(
            &format!("/api/v1/patients/{}/elsewhere", s.patient),
            &user.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The ids of the resources a FHIR view gives `user`.
async fn fhir_ids(app: &TestApp, user: &TestUser, path: &str) -> Vec<String> {
    let (status, bundle) = app.get(path, &user.token).await;
    assert_eq!(status, StatusCode::OK, "{path}: {bundle}");
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The FHIR views list a facility's own work; sharing opens other
/// facilities' records through the patient page, never through them.
async fn assert_fhir_keeps_to_the_facility(
    app: &TestApp,
    s: &Shared,
    user: &TestUser,
    request: i64,
    referral: Option<&Value>,
    when: &str,
) {
    let referral = referral.map_or_else(String::new, |r| format!("referral-{}", r["id"]));
    let request = request.to_string();
    for path in [
        "/api/v1/fhir/Task".to_owned(),
        "/api/v1/fhir/DiagnosticReport".to_owned(),
        format!("/api/v1/fhir/ServiceRequest?patient=Patient/{}", s.patient),
    ] {
        let ids = fhir_ids(app, user, &path).await;
        assert!(
            !ids.contains(&request) && !ids.contains(&referral),
            "{when}: {path} shows another facility's work to {}: {ids:?}",
            user.username
        );
    }
}

#[tokio::test]
async fn other_facilities_reports_and_referrals_open_with_consent() {
    let app = spawn_app().await;
    let s = shared(&app).await;
    let admin = app.user("admin", Role::Admin, s.c.tertiary).await;
    crate::support::reading::route(&app, &admin, json!({ "reading_facility_id": s.c.tertiary }))
        .await;
    let reader = app.user("reader", Role::Radiologist, s.c.tertiary).await;
    // The county asks for a reading of its CT; the tertiary hospital signs it.
    let (status, request) =
        crate::support::reading::ask(&app, &s.county, &s.study, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let id = request["id"].as_i64().expect("an id");
    let (status, body) = app
        .post(
            &format!("/api/v1/reading-requests/{id}/claim"),
            &reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, draft) = app
        .post(
            &format!("/api/v1/reading-requests/{id}/reports"),
            &reader.token,
            json!({ "findings": "No intracranial haemorrhage.", "impression": "Normal head CT." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let (status, body) = app
        .post(
            &format!("/api/v1/reading-reports/{}/sign", draft["id"]),
            &reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // And refers her to island B, a referral the island A clinic is no party to.
    let (status, referral) = app
        .post(
            "/api/v1/referrals",
            &s.county.token,
            json!({ "patient_id": s.patient, "direction": "down", "to_facility_id": s.c.island_b,
                    "reason": "rehabilitation", "diagnosis_codes": ["I63"],
                    "rehabilitation_plan": "walking practice" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{referral}");

    // The county's own FHIR views show its work: the checks below can fail.
    assert!(fhir_ids(&app, &s.county, "/api/v1/fhir/Task")
        .await
        .contains(&id.to_string()));

    assert_fhir_keeps_to_the_facility(&app, &s, &s.island, id, Some(&referral), "no consent").await;
    let closed = elsewhere(&app, &s, &s.island).await;
    assert_eq!(closed["shared"], false, "{closed}");
    assert_eq!(closed["reason"], "needs_consent");
    assert_eq!(closed["reports"], json!([]));
    assert_eq!(closed["referrals"], json!([]));

    let consent = record_consent(&app, &s, &s.island, whole_consortium()).await;
    assert_fhir_keeps_to_the_facility(&app, &s, &s.island, id, Some(&referral), "consent").await;
    let open = elsewhere(&app, &s, &s.island).await;
    assert_eq!(open["shared"], true, "{open}");
    assert_eq!(open["reports"][0]["reading_request_id"], id);
    assert_eq!(open["reports"][0]["impression"], "Normal head CT.");
    assert_eq!(open["reports"][0]["facility_name"], "County");
    assert_eq!(open["reports"][0]["facility_tier"], "secondary");
    assert_eq!(open["referrals"][0]["id"], referral["id"]);
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE actor_user_id = $1 AND subtype = 'patient.elsewhere' \
         AND patient_id = $2",
    )
    .bind(s.island.id)
    .bind(s.patient)
    .fetch_one(app.db.pool())
    .await
    .expect("a count");
    assert_eq!(
        audited, 1,
        "the shared read is audited, the closed one has nothing to audit"
    );

    // The county's own records are not repeated to the county.
    let own = elsewhere(&app, &s, &s.county).await;
    assert_eq!(own["reports"], json!([]), "{own}");
    assert_eq!(own["referrals"], json!([]), "{own}");

    withdraw(&app, &consent, &s.island).await;
    let closed = elsewhere(&app, &s, &s.island).await;
    assert_eq!(closed["shared"], false);
    assert_eq!(closed["reports"], json!([]));
    assert_fhir_keeps_to_the_facility(&app, &s, &s.island, id, Some(&referral), "withdrawn").await;
    // Island B, the referral's receiver, has no consent to read by either.
    assert_eq!(elsewhere(&app, &s, &s.stranger).await["shared"], false);
    // It is the referral's receiver, so it lists the referral, not the reading.
    assert_fhir_keeps_to_the_facility(&app, &s, &s.stranger, id, None, "receiver").await;
}
