//! The authorization matrix's rows for the diagnosis catalogue, referrals and
//! examinations, with the records they act on.

use ferry_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::authz::*;
use crate::support::TestApp;

pub fn rows(referrals: &Arranged, patient: i64, county: i64) -> Vec<Row> {
    vec![
        row(
            Method::GET,
            "/api/v1/catalogue",
            "/api/v1/catalogue".into(),
            admin_only,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/catalogue",
                "/api/v1/catalogue".into(),
                admin_only,
            ),
            |n| json!({ "code_from": format!("Z{:02}", n % 100), "tiers": ["primary"] }),
        ),
        row(
            Method::DELETE,
            "/api/v1/catalogue/{id}",
            format!("/api/v1/catalogue/{}", referrals.catalogue_entry),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/catalogue/export",
            "/api/v1/catalogue/export".into(),
            admin_only,
        ),
        Row {
            csv: Some("code_from,code_to,tiers,label\nI10,I15,primary|village,Hypertension\n"),
            ..row(
                Method::POST,
                "/api/v1/catalogue/import",
                "/api/v1/catalogue/import".into(),
                admin_only,
            )
        },
        with_body(
            row(
                Method::POST,
                "/api/v1/referrals",
                "/api/v1/referrals".into(),
                own_clinician,
            ),
            move |_| {
                json!({ "patient_id": patient, "direction": "up", "to_facility_id": county,
                    "reason": "chest pain", "diagnosis_codes": ["I21"] })
            },
        ),
        row(
            Method::GET,
            "/api/v1/referrals",
            "/api/v1/referrals".into(),
            clinicians,
        ),
        row(
            Method::GET,
            "/api/v1/referrals/{id}",
            format!("/api/v1/referrals/{}", referrals.sent),
            own_clinician,
        ),
        hidden(row(
            Method::GET,
            "/api/v1/referrals/{id}/consents",
            format!("/api/v1/referrals/{}/consents", referrals.sent),
            own_clinician,
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/referrals/{id}/consents",
                format!("/api/v1/referrals/{}/consents", referrals.sent),
                own_clinician,
            ),
            move |_| {
                json!({ "kind": "referral", "given_by": "patient", "form_reference": "form 3",
                        "patient_id": patient })
            },
        )),
        row(
            Method::POST,
            "/api/v1/referrals/{id}/accept",
            format!("/api/v1/referrals/{}/accept", referrals.received),
            own_clinician,
        ),
        row(
            Method::POST,
            "/api/v1/referrals/{id}/arrive",
            format!("/api/v1/referrals/{}/arrive", referrals.received),
            own_clinician,
        ),
        row(
            Method::POST,
            "/api/v1/referrals/{id}/discharge",
            format!("/api/v1/referrals/{}/discharge", referrals.received),
            own_clinician,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/referrals/{id}/reject",
                format!("/api/v1/referrals/{}/reject", referrals.to_reject),
                own_clinician,
            ),
            |_| json!({ "reason": "no bed" }),
        ),
        row(
            Method::POST,
            "/api/v1/referrals/{id}/cancel",
            format!("/api/v1/referrals/{}/cancel", referrals.sent),
            own_clinician,
        ),
        // The own-site expert holds consultations about the patient.
        row(
            Method::GET,
            "/api/v1/patients/{id}/examinations",
            format!("/api/v1/patients/{patient}/examinations"),
            own_clinician_or_expert,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/patients/{id}/examinations",
                format!("/api/v1/patients/{patient}/examinations"),
                own_clinician,
            ),
            |_| json!({ "modality": "MR", "body_part": "KNEE", "repeat_reason": "follow-up" }),
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/examinations/{id}/performed",
                format!("/api/v1/examinations/{}/performed", referrals.examination),
                own_clinician,
            ),
            |_| json!({}),
        ),
        row(
            Method::POST,
            "/api/v1/examinations/{id}/cancel",
            format!("/api/v1/examinations/{}/cancel", referrals.to_cancel),
            own_clinician,
        ),
    ]
}

/// What the referral and examination rows act on.
pub struct Arranged {
    catalogue_entry: i64,
    /// From the patient's own clinic up to the county hospital.
    sent: i64,
    /// From the county hospital down to the patient's own clinic: one to
    /// accept, arrive and discharge, one to reject.
    received: i64,
    to_reject: i64,
    /// Asked for at the patient's own clinic: one to perform, one to cancel.
    examination: i64,
    to_cancel: i64,
}

pub async fn arrange(
    app: &TestApp,
    c: &crate::support::Consortium,
    patient: i64,
    callers: &[Caller],
) -> Arranged {
    let token = |want: Role| own(callers, want).token.clone();
    let (status, entry) = app
        .post(
            "/api/v1/catalogue",
            &token(Role::Admin),
            json!({ "code_from": "J18", "tiers": ["primary"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    app.patient_at(c.county, "110101199001010015", "C-1").await;
    let county = app
        .user("county-clinician", Role::Clinician, c.county)
        .await;
    let mut refer = Vec::new();
    for (who, direction, to) in [
        (token(Role::Clinician), "up", c.county),
        (county.token.clone(), "down", c.island_a),
        (county.token.clone(), "down", c.island_a),
    ] {
        let (status, referral) = app
            .post(
                "/api/v1/referrals",
                &who,
                json!({ "patient_id": patient, "direction": direction, "to_facility_id": to,
                    "reason": "arranged", "diagnosis_codes": ["I63"], "rehabilitation_plan": "rest" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{referral}");
        refer.push(referral["id"].as_i64().expect("an id"));
    }
    let mut exams = Vec::new();
    for body_part in ["HEAD", "CHEST"] {
        let (status, exam) = app
            .post(
                &format!("/api/v1/patients/{patient}/examinations"),
                &token(Role::Clinician),
                json!({ "modality": "CT", "body_part": body_part }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{exam}");
        exams.push(exam["id"].as_i64().expect("an id"));
    }
    Arranged {
        catalogue_entry: entry["id"].as_i64().expect("an id"),
        sent: refer[0],
        received: refer[1],
        to_reject: refer[2],
        examination: exams[0],
        to_cancel: exams[1],
    }
}
