//! Every endpoint, driven by every role from the patient's own facility and
//! from another, and anonymously: allowed or denied as the policy says.

use std::collections::BTreeSet;

use ferry_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::authz::*;
use crate::support::{send, spawn_app, TestApp};

mod reading;
mod referrals;
mod scheduling;

#[tokio::test]
async fn every_endpoint_allows_and_denies_each_role_as_the_policy_says() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "110101199001010015", "A-1")
        .await;

    let mut callers: Vec<Caller> = Vec::new();
    for role in Role::ALL {
        for (site, facility) in [(Site::Own, c.island_a), (Site::Other, c.island_b)] {
            let name = format!(
                "{}-{}",
                role.as_str(),
                if site == Site::Own { "own" } else { "other" }
            );
            callers.push((role, site, app.user(&name, role, facility).await));
        }
    }
    let target_user = app.user("target", Role::Scheduler, c.county).await;

    // A grant for administrators to review, opened by a clinician elsewhere.
    let responder = app.user("responder", Role::Clinician, c.county).await;
    let (status, grant) = app
        .post(
            "/api/v1/break-glass",
            &responder.token,
            json!({ "patient_id": patient, "reason": "unconscious on arrival, no family" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let grant_id = grant["id"].as_i64().expect("grant id");

    let referrals = referrals::arrange(&app, &c, patient, &callers).await;
    let recognition_rule = post_ok(
        &app,
        own(&callers, Role::Admin),
        "/api/v1/recognition-rules",
        json!({ "modality": "CT", "min_tier": "secondary", "valid_days": 90 }),
    )
    .await["id"]
        .as_i64()
        .expect("a rule id");
    let consent = post_ok(
        &app,
        own(&callers, Role::Clinician),
        &format!("/api/v1/patients/{patient}/sharing-consents"),
        json!({ "scope": "consortium", "given_by": "patient", "form_reference": "form 0" }),
    )
    .await["id"]
        .as_i64()
        .expect("a consent id");
    let tertiary = c.tertiary;
    let scheduling = scheduling::rows(&app, &callers, patient).await;
    let reading = reading::rows(&app, &c, &callers).await;
    let county = c.county;
    let modality = {
        let mut tx = app.db.begin_write().await.expect("a transaction");
        let new = ferry_server::modality::NewModality {
            ae_title: "MATRIX-US".to_owned(),
            ..Default::default()
        };
        let actor = ferry_server::audit::Actor::system("test");
        let row = ferry_server::modality::create(&mut tx, &actor, c.island_a, new)
            .await
            .expect("a modality");
        tx.commit().await.expect("commit");
        row.id
    };
    let destination = {
        let mut tx = app.db.begin_write().await.expect("a transaction");
        let new = ferry_server::modality::destinations::NewDestination {
            ae_title: "MATRIX-WS".to_owned(),
            host: "127.0.0.1".to_owned(),
            port: 11112,
            ..Default::default()
        };
        let actor = ferry_server::audit::Actor::system("test");
        let row = ferry_server::modality::destinations::create(&mut tx, &actor, c.island_a, new)
            .await
            .expect("a destination");
        tx.commit().await.expect("commit");
        row.id
    };
    let forward_rule = {
        let mut tx = app.db.begin_write().await.expect("a transaction");
        let new = ferry_server::imaging::forward_rules::NewForwardRule {
            destination_id: destination,
            ..Default::default()
        };
        let actor = ferry_server::audit::Actor::system("test");
        let rule = ferry_server::imaging::forward_rules::create(&mut tx, &actor, new)
            .await
            .expect("a rule");
        tx.commit().await.expect("commit");
        rule.id
    };
    let rows = vec![
        row(Method::GET, "/api/v1/me", "/api/v1/me".into(), everyone),
        row(
            Method::GET,
            "/api/v1/ice-servers",
            "/api/v1/ice-servers".into(),
            everyone,
        ),
        row(
            Method::GET,
            "/api/v1/facilities",
            "/api/v1/facilities".into(),
            everyone,
        ),
        row(
            Method::GET,
            "/api/v1/facilities/{id}",
            format!("/api/v1/facilities/{}", c.tertiary),
            everyone,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/facilities",
                "/api/v1/facilities".into(),
                admin_only,
            ),
            |n| json!({ "name": format!("Clinic {n}"), "tier": "village", "time_zone": "Asia/Shanghai" }),
        ),
        with_body(
            row(
                Method::PATCH,
                "/api/v1/facilities/{id}",
                format!("/api/v1/facilities/{}", c.island_b),
                admin_only,
            ),
            |n| json!({ "contact": format!("+86 {n}") }),
        ),
        row(
            Method::GET,
            "/api/v1/facilities/{id}/modalities",
            format!("/api/v1/facilities/{}/modalities", c.island_a),
            own_site_or_admin,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/facilities/{id}/modalities",
                format!("/api/v1/facilities/{}/modalities", c.island_a),
                admin_only,
            ),
            |n| json!({ "ae_title": format!("AE-{n}") }),
        ),
        with_body(
            row(
                Method::PUT,
                "/api/v1/modalities/{id}",
                format!("/api/v1/modalities/{modality}"),
                admin_only,
            ),
            |_| json!({ "ae_title": "MATRIX-US", "modality_type": "US", "port": 104 }),
        ),
        row(
            Method::DELETE,
            "/api/v1/modalities/{id}",
            format!("/api/v1/modalities/{modality}"),
            admin_only,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/study-deletions",
                "/api/v1/study-deletions".into(),
                admin_only,
            ),
            |_| json!({ "study_instance_uid": "2.25.404", "reason": "matrix" }),
        ),
        row(
            Method::GET,
            "/api/v1/forwarding-rules",
            "/api/v1/forwarding-rules".into(),
            admin_only,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/forwarding-rules",
                "/api/v1/forwarding-rules".into(),
                admin_only,
            ),
            move |_| json!({ "modality": "CT", "destination_id": destination }),
        ),
        row(
            Method::DELETE,
            "/api/v1/forwarding-rules/{id}",
            format!("/api/v1/forwarding-rules/{forward_rule}"),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/forwarding-outbox",
            "/api/v1/forwarding-outbox".into(),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/unlinked-studies",
            "/api/v1/unlinked-studies".into(),
            clinicians,
        ),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/unlinked-studies/{study}/file",
                "/api/v1/unlinked-studies/2.25.1234/file".into(),
                own_clinician,
            ),
            move |_| json!({ "patient_id": patient }),
        )),
        row(
            Method::GET,
            "/api/v1/facilities/{id}/dicom-destinations",
            format!("/api/v1/facilities/{}/dicom-destinations", c.island_a),
            own_site_or_admin,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/facilities/{id}/dicom-destinations",
                format!("/api/v1/facilities/{}/dicom-destinations", c.island_a),
                admin_only,
            ),
            |n| json!({ "ae_title": format!("WS-{n}"), "host": "127.0.0.1", "port": 104 }),
        ),
        row(
            Method::DELETE,
            "/api/v1/dicom-destinations/{id}",
            format!("/api/v1/dicom-destinations/{destination}"),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/users",
            "/api/v1/users".into(),
            admin_only,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/users",
                "/api/v1/users".into(),
                admin_only,
            ),
            move |n| {
                json!({ "username": format!("new-user-{n}"), "display_name": "New", "password": "a long enough password",
                    "facility_id": tertiary, "roles": ["scheduler"] })
            },
        ),
        row(
            Method::GET,
            "/api/v1/users/{id}",
            format!("/api/v1/users/{}", target_user.id),
            admin_only,
        ),
        with_body(
            row(
                Method::PATCH,
                "/api/v1/users/{id}",
                format!("/api/v1/users/{}", target_user.id),
                admin_only,
            ),
            |n| json!({ "display_name": format!("Target {n}") }),
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/users/{id}/password-resets",
                format!("/api/v1/users/{}/password-resets", target_user.id),
                admin_only,
            ),
            |_| json!({ "password": "a long enough password" }),
        ),
        row(
            Method::POST,
            "/api/v1/users/{id}/password-resets/{reset_id}/confirm",
            format!(
                "/api/v1/users/{}/password-resets/999999/confirm",
                target_user.id
            ),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/patients",
            "/api/v1/patients?q=wang".into(),
            care_roles,
        ),
        // The caller's own list, of patients in their scope only.
        row(
            Method::GET,
            "/api/v1/patients/recent",
            "/api/v1/patients/recent".into(),
            care_roles,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/patients",
                "/api/v1/patients".into(),
                clinicians,
            ),
            |n| json!({ "family_name": "Li", "sex": "male", "birth_date": "1970-01-01", "record_number": format!("R-{n}") }),
        ),
        // Answered only with patients in scope; anyone who treats patients asks.
        with_body(
            row(
                Method::POST,
                "/api/v1/patients/lookup-records",
                "/api/v1/patients/lookup-records".into(),
                care_roles,
            ),
            |_| json!({ "record_numbers": ["A-1", "NOBODY-1"] }),
        ),
        // The own-site expert is assigned consultations about the patient.
        row(
            Method::GET,
            "/api/v1/patients/{id}",
            format!("/api/v1/patients/{patient}"),
            own_clinician_or_expert,
        ),
        with_body(
            row(
                Method::PATCH,
                "/api/v1/patients/{id}",
                format!("/api/v1/patients/{patient}"),
                own_clinician,
            ),
            |_| json!({ "phone": "+86 138 0000 0000" }),
        ),
        row(
            Method::GET,
            "/api/v1/patients/{id}/candidates",
            format!("/api/v1/patients/{patient}/candidates"),
            own_clinician,
        ),
        // The other patient does not exist: who passes the policy gets 404.
        with_body(
            row(
                Method::POST,
                "/api/v1/patients/{id}/merge",
                format!("/api/v1/patients/{patient}/merge"),
                own_clinician,
            ),
            |_| json!({ "other_patient_id": 999_999, "evidence": "records_agree" }),
        ),
        row(
            Method::GET,
            "/api/v1/patient-merges",
            "/api/v1/patient-merges".into(),
            admin_only,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/patient-merges/{id}/undo",
                "/api/v1/patient-merges/999999/undo".into(),
                admin_only,
            ),
            |_| json!({ "reason": "two people of one name" }),
        ),
        row(
            Method::GET,
            "/api/v1/patients/{id}/studies",
            format!("/api/v1/patients/{patient}/studies"),
            own_clinician_or_expert,
        ),
        row(
            Method::GET,
            "/api/v1/fhir/Patient/{id}",
            format!("/api/v1/fhir/Patient/{patient}"),
            own_clinician_or_expert,
        ),
        row(
            Method::GET,
            "/api/v1/fhir/Organization/{id}",
            format!("/api/v1/fhir/Organization/{}", c.island_a),
            everyone,
        ),
        row(
            Method::GET,
            "/api/v1/fhir/Practitioner/{id}",
            format!("/api/v1/fhir/Practitioner/{}", target_user.id),
            everyone,
        ),
        row(
            Method::GET,
            "/api/v1/recognition-rules",
            "/api/v1/recognition-rules".into(),
            everyone,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/recognition-rules",
                "/api/v1/recognition-rules".into(),
                admin_only,
            ),
            |_| json!({ "modality": "MR", "min_tier": "secondary", "valid_days": 90 }),
        ),
        row(
            Method::DELETE,
            "/api/v1/recognition-rules/{id}",
            format!("/api/v1/recognition-rules/{recognition_rule}"),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/patients/{id}/elsewhere",
            format!("/api/v1/patients/{patient}/elsewhere"),
            own_clinician_or_expert,
        ),
        row(
            Method::GET,
            "/api/v1/patients/{id}/sharing-consents",
            format!("/api/v1/patients/{patient}/sharing-consents"),
            own_clinician_or_expert,
        ),
        // The consent arranged above is withdrawn, so one can be recorded.
        with_body(
            row(
                Method::POST,
                "/api/v1/sharing-consents/{id}/withdraw",
                format!("/api/v1/sharing-consents/{consent}/withdraw"),
                own_clinician,
            ),
            |_| json!({ "reason": "the patient asked" }),
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/patients/{id}/sharing-consents",
                format!("/api/v1/patients/{patient}/sharing-consents"),
                own_clinician,
            ),
            |_| json!({ "scope": "consortium", "given_by": "patient", "form_reference": "form 1" }),
        ),
    ]
    .into_iter()
    .chain(referrals::rows(&referrals, patient, county))
    .chain(vec![
        // After the patient rows: breaking the glass widens the caller's scope.
        with_body(
            row(
                Method::POST,
                "/api/v1/break-glass",
                "/api/v1/break-glass".into(),
                care_roles,
            ),
            move |_| json!({ "patient_id": patient, "reason": "collapsed in the waiting room" }),
        ),
        row(
            Method::GET,
            "/api/v1/break-glass",
            "/api/v1/break-glass".into(),
            admin_only,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/break-glass/{id}/review",
                format!("/api/v1/break-glass/{grant_id}/review"),
                admin_only,
            ),
            |_| json!({ "note": "justified" }),
        ),
        // Says only how an identifier matched outside the caller's scope.
        row(
            Method::GET,
            "/api/v1/break-glass/matches",
            "/api/v1/break-glass/matches?q=A-1".into(),
            care_roles,
        ),
        row(
            Method::GET,
            "/api/v1/break-glass/{id}/activity",
            format!("/api/v1/break-glass/{grant_id}/activity"),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/audit-events",
            "/api/v1/audit-events".into(),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/fhir/AuditEvent",
            "/api/v1/fhir/AuditEvent".into(),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/notifications",
            "/api/v1/notifications".into(),
            everyone,
        ),
        Row {
            stream: true,
            ..row(
                Method::GET,
                "/api/v1/notifications/stream",
                "/api/v1/notifications/stream".into(),
                everyone,
            )
        },
        with_body(
            row(
                Method::POST,
                "/api/v1/notifications/read",
                "/api/v1/notifications/read".into(),
                everyone,
            ),
            |_| json!({ "up_to": 1_000_000 }),
        ),
    ])
    .chain(scheduling)
    .chain(reading)
    .chain([Row {
            public: true,
            ..row(
                Method::GET,
                "/api/v1/openapi.json",
                "/api/v1/openapi.json".into(),
                everyone,
            )
        }])
    .collect::<Vec<Row>>();

    let mut counter = 0;
    let mut failures = Vec::new();
    for row in &rows {
        for (role, site, user) in &callers {
            counter += 1;
            let mut request = app.request(row.method.clone(), &row.path, Some(&user.token));
            if let Some(body) = &row.body {
                request = request.json(&body(counter));
            }
            if let Some(csv) = row.csv {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "text/csv")
                    .body(csv);
            }
            let (status, body) = if row.stream {
                let response = request.send().await.expect("the server answers");
                (response.status(), Value::Null)
            } else {
                send(request).await
            };
            let allowed = (row.allowed)(*role, *site);
            let ok = if allowed {
                is_allowed(status)
            } else {
                is_refused(status, &body, row.hidden)
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {:?}/{:?}: expected {}, got {status} {body}",
                    row.method,
                    row.path,
                    role,
                    site,
                    if allowed { "allow" } else { "deny" }
                ));
            }
        }
        // Nobody gets anywhere without a session, except on public routes.
        let mut request = app.request(row.method.clone(), &row.path, None);
        if let Some(body) = &row.body {
            request = request.json(&body(0));
        }
        if let Some(csv) = row.csv {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "text/csv")
                .body(csv);
        }
        let status = request.send().await.expect("the server answers").status();
        let expected = if row.public {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        if status != expected {
            failures.push(format!(
                "{} {} anonymously: expected {expected}, got {status}",
                row.method, row.path
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "policy mismatches:\n{}",
        failures.join("\n")
    );

    // Sign-in and sign-out are open to anyone with credentials, and the
    // matrix covers every documented endpoint.
    logout_is_allowed_for_every_role(&app, &callers).await;
    let documented = documented_operations(&app).await;
    let mut covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.as_str().to_lowercase(), r.template.to_owned()))
        .collect();
    covered.insert(("post".into(), "/api/v1/auth/login".into()));
    covered.insert(("post".into(), "/api/v1/auth/logout".into()));
    assert_eq!(
        documented, covered,
        "the matrix and the OpenAPI document must list the same endpoints"
    );
}

async fn logout_is_allowed_for_every_role(app: &TestApp, callers: &[Caller]) {
    for (role, _, user) in callers {
        let (status, _) =
            send(app.request(Method::POST, "/api/v1/auth/logout", Some(&user.token))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{role:?} signs out");
    }
    let (status, _) = send(app.request(Method::POST, "/api/v1/auth/logout", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

pub async fn documented_operations(app: &TestApp) -> BTreeSet<(String, String)> {
    let (status, doc) = send(app.request(Method::GET, "/api/v1/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            operations.insert((method.clone(), path.clone()));
        }
    }
    operations
}

#[tokio::test]
async fn a_clinician_searching_sees_only_patients_in_scope() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let patient = app
        .patient_at(c.island_a, "110101199001010015", "A-1")
        .await;
    let own = app.user("own", Role::Clinician, c.island_a).await;
    let other = app.user("other", Role::Clinician, c.island_b).await;

    let (_, found) = app.get("/api/v1/patients?q=wang", &own.token).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    assert_eq!(found[0]["id"], patient);
    let (_, found) = app
        .get("/api/v1/patients?q=110101199001010015", &other.token)
        .await;
    assert_eq!(
        found,
        json!([]),
        "another facility's clinician sees nothing"
    );

    // Nor can they open the record by its id.
    let path = format!("/api/v1/patients/{patient}");
    let (status, body) = app.get(&path, &own.token).await;
    assert_allowed(status, &body, "the own clinician opens the record");
    let (status, body) = app.get(&path, &other.token).await;
    assert_refused(
        status,
        &body,
        "another facility's clinician opens the record",
    );
}
