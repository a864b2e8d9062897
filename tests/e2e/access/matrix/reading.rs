//! The authorization matrix's rows for remote reading, with the requests,
//! reports and critical result they act on.
//!
//! Requests come from the own-site clinician about a patient of their own
//! (not the matrix's patient, so the reader's new scope does not change the
//! patient rows) and go to the own site's worklist, whose radiologist is the
//! reader and a reading lead.

use ferry_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::authz::*;
use crate::support::reading::{ask, stored_study};
use crate::support::{send, Consortium, TestApp};

struct Arranged {
    new_study: String,
    route: i64,
    unclaimed: i64,
    claimed: [i64; 3],
    drafted: i64,
    draft: i64,
    to_sign: i64,
    critical: i64,
}

async fn arrange(app: &TestApp, c: &Consortium, callers: &[Caller]) -> Arranged {
    let clinician = own(callers, Role::Clinician);
    let reader = own(callers, Role::Radiologist);
    let admin = own(callers, Role::Admin);
    app.patient_at(c.island_a, "110101199202020025", "R-1")
        .await;
    post_ok(
        app,
        admin,
        "/api/v1/reading-routes",
        json!({ "reading_facility_id": c.island_a }),
    )
    .await;
    let route = post_ok(
        app,
        admin,
        "/api/v1/reading-routes",
        json!({ "reading_facility_id": c.island_a, "modality": "NM" }),
    )
    .await["id"]
        .as_i64()
        .expect("an id");
    let (status, _) = send(
        app.request(
            Method::PUT,
            &format!("/api/v1/reading-leads/{}", reader.id),
            Some(&admin.token),
        )
        .json(&json!({ "lead": true })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let mut requests = Vec::new();
    for _ in 0..8 {
        let uid = stored_study(app, clinician, "MR_small.dcm", "R-1").await;
        let (status, body) = ask(app, clinician, &uid, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        requests.push(body["id"].as_i64().expect("an id"));
    }
    for id in &requests[1..] {
        post_ok(
            app,
            reader,
            &format!("/api/v1/reading-requests/{id}/claim"),
            json!({}),
        )
        .await;
    }
    let draft_of = |id: i64, body: serde_json::Value| {
        let path = format!("/api/v1/reading-requests/{id}/reports");
        async move {
            post_ok(app, reader, &path, body).await["id"]
                .as_i64()
                .expect("an id")
        }
    };
    let draft = draft_of(requests[5], json!({ "impression": "Normal." })).await;
    let to_sign = draft_of(requests[6], json!({ "impression": "Normal." })).await;
    let critical_report = draft_of(
        requests[7],
        json!({ "impression": "Aortic dissection.", "critical": true }),
    )
    .await;
    post_ok(
        app,
        reader,
        &format!("/api/v1/reading-reports/{critical_report}/sign"),
        json!({}),
    )
    .await;
    let (_, open) = app.get("/api/v1/critical-results", &clinician.token).await;
    Arranged {
        new_study: stored_study(app, clinician, "MR_small.dcm", "R-1").await,
        route,
        unclaimed: requests[0],
        claimed: [requests[1], requests[2], requests[3]],
        drafted: requests[4],
        draft,
        to_sign,
        critical: open[0]["id"].as_i64().expect("a critical result"),
    }
}

pub async fn rows(app: &TestApp, c: &Consortium, callers: &[Caller]) -> Vec<Row> {
    let a = arrange(app, c, callers).await;
    let reader = own(callers, Role::Radiologist).id;
    let new_study = a.new_study.clone();
    let island_a = c.island_a;
    vec![
        row(
            Method::GET,
            "/api/v1/reading-routes",
            "/api/v1/reading-routes".into(),
            admin_only,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/reading-routes",
                "/api/v1/reading-routes".into(),
                admin_only,
            ),
            move |_| json!({ "reading_facility_id": island_a, "modality": "XA" }),
        ),
        row(
            Method::DELETE,
            "/api/v1/reading-routes/{id}",
            format!("/api/v1/reading-routes/{}", a.route),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/reading-leads",
            "/api/v1/reading-leads".into(),
            admin_only,
        ),
        with_body(
            row(
                Method::PUT,
                "/api/v1/reading-leads/{user_id}",
                format!("/api/v1/reading-leads/{reader}"),
                admin_only,
            ),
            |_| json!({ "lead": true }),
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/reading-requests",
                "/api/v1/reading-requests".into(),
                clinicians,
            ),
            move |_| json!({ "study_instance_uid": new_study, "clinical_question": "staging?", "priority": "urgent" }),
        ),
        row(
            Method::GET,
            "/api/v1/reading-requests",
            "/api/v1/reading-requests".into(),
            clinicians_and_radiologists,
        ),
        hidden(row(
            Method::GET,
            "/api/v1/reading-requests/{id}",
            format!("/api/v1/reading-requests/{}", a.unclaimed),
            own_clinician_or_radiologist,
        )),
        hidden(row(
            Method::GET,
            "/api/v1/reading-requests/{id}/consents",
            format!("/api/v1/reading-requests/{}/consents", a.unclaimed),
            own_clinician_or_radiologist,
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/reading-requests/{id}/consents",
                format!("/api/v1/reading-requests/{}/consents", a.unclaimed),
                own_clinician,
            ),
            |_| json!({ "kind": "remote_reading", "given_by": "patient", "form_reference": "form 2" }),
        )),
        row(
            Method::GET,
            "/api/v1/worklist",
            "/api/v1/worklist".into(),
            radiologists,
        ),
        hidden(row(
            Method::POST,
            "/api/v1/reading-requests/{id}/claim",
            format!("/api/v1/reading-requests/{}/claim", a.unclaimed),
            own_radiologist,
        )),
        hidden(row(
            Method::POST,
            "/api/v1/reading-requests/{id}/release",
            format!("/api/v1/reading-requests/{}/release", a.claimed[0]),
            own_radiologist,
        )),
        row(
            Method::GET,
            "/api/v1/readers",
            "/api/v1/readers".into(),
            own_radiologist,
        ),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/reading-requests/{id}/reassign",
                format!("/api/v1/reading-requests/{}/reassign", a.claimed[1]),
                own_radiologist,
            ),
            move |_| json!({ "reader_id": reader }),
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/reading-requests/{id}/cancel",
                format!("/api/v1/reading-requests/{}/cancel", a.claimed[2]),
                own_clinician,
            ),
            |_| json!({ "reason": "the patient was sent up" }),
        )),
        row(
            Method::GET,
            "/api/v1/report-templates",
            "/api/v1/report-templates".into(),
            radiologists,
        ),
        hidden(row(
            Method::GET,
            "/api/v1/reading-requests/{id}/reports",
            format!("/api/v1/reading-requests/{}/reports", a.drafted),
            own_clinician_or_radiologist,
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/reading-requests/{id}/reports",
                format!("/api/v1/reading-requests/{}/reports", a.drafted),
                own_radiologist,
            ),
            |_| json!({ "impression": "Normal." }),
        )),
        hidden(with_body(
            row(
                Method::PATCH,
                "/api/v1/reading-reports/{id}",
                format!("/api/v1/reading-reports/{}", a.draft),
                own_radiologist,
            ),
            |n| json!({ "findings": format!("Edit {n}.") }),
        )),
        hidden(row(
            Method::POST,
            "/api/v1/reading-reports/{id}/sign",
            format!("/api/v1/reading-reports/{}/sign", a.to_sign),
            own_radiologist,
        )),
        row(
            Method::GET,
            "/api/v1/critical-results",
            "/api/v1/critical-results".into(),
            clinicians_and_radiologists,
        ),
        hidden(row(
            Method::POST,
            "/api/v1/critical-results/{id}/acknowledge",
            format!("/api/v1/critical-results/{}/acknowledge", a.critical),
            own_clinician,
        )),
        row(
            Method::GET,
            "/api/v1/fhir/Task",
            "/api/v1/fhir/Task".into(),
            clinicians_and_radiologists,
        ),
        row(
            Method::GET,
            "/api/v1/fhir/DiagnosticReport",
            "/api/v1/fhir/DiagnosticReport".into(),
            clinicians_and_radiologists,
        ),
    ]
}
