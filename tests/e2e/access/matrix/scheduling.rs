//! The authorization matrix's rows for rosters, bookings, consultations,
//! the on-call queue and opinions, with the records they act on.
//!
//! The target expert is the matrix's own-site expert, so the own-site
//! scheduler manages their roster and the own-site clinician books them.

use ferry_server::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::authz::*;
use crate::support::TestApp;

const SLOT_MS: i64 = 300_000;

fn rfc(ms: i64) -> String {
    ferry_server::time::rfc3339(ms)
}

pub async fn rows(app: &TestApp, callers: &[Caller], patient: i64) -> Vec<Row> {
    let expert = own(callers, Role::Expert);
    let scheduler = own(callers, Role::Scheduler);
    let clinician = own(callers, Role::Clinician);
    let radiologist = own(callers, Role::Radiologist).id;
    let e = expert.id;
    let rules = format!("/api/v1/experts/{e}/roster/rules");
    let rule = |weekday| {
        json!({ "weekday": weekday, "start_time": "09:00", "end_time": "10:00", "slot_minutes": 30,
                "service": "video", "valid_from": "2099-01-01" })
    };
    let rule_id = post_ok(app, scheduler, &rules, rule(1)).await["rule"]["id"].clone();
    let doomed_rule = post_ok(app, scheduler, &rules, rule(2)).await["rule"]["id"].clone();
    let now = jiff::Timestamp::now().as_millisecond();
    let start = now + 86_400_000 - (now + 86_400_000) % 3_600_000;
    let exceptions = format!("/api/v1/experts/{e}/roster/exceptions");
    post_ok(
        app,
        scheduler,
        &exceptions,
        json!({ "kind": "extra", "starts_at": rfc(start), "ends_at": rfc(start + 400 * SLOT_MS),
                "slot_minutes": 5, "service": "video" }),
    )
    .await;
    let far = now + 300 * 86_400_000;
    let leave = post_ok(
        app,
        scheduler,
        &exceptions,
        json!({ "kind": "leave", "starts_at": rfc(far), "ends_at": rfc(far + 3_600_000) }),
    )
    .await["exception"]["id"]
        .clone();

    // Consultations, each booked into its own slot.
    let consultation = || async {
        post_ok(
            app,
            clinician,
            "/api/v1/consultations",
            json!({ "patient_id": patient, "expert_id": e, "urgency": "routine", "reason": "review" }),
        )
        .await["id"]
            .as_i64()
            .expect("an id")
    };
    let mut booked = Vec::new();
    for slot in 0..9 {
        let c = consultation().await;
        let b = post_ok(
            app,
            clinician,
            "/api/v1/bookings",
            json!({ "expert_id": e, "start": rfc(start + slot * SLOT_MS), "consultation_id": c }),
        )
        .await["id"]
            .as_i64()
            .expect("an id");
        booked.push((c, b));
    }
    let to_confirm = consultation().await;
    let hold = post_ok(
        app,
        clinician,
        "/api/v1/bookings",
        json!({ "expert_id": e, "start": rfc(start + 10 * SLOT_MS), "hold": true }),
    )
    .await["id"]
        .clone();
    // Under way, for the status and opinion rows.
    for (c, _) in &booked[6..9] {
        post_ok(
            app,
            expert,
            &format!("/api/v1/consultations/{c}/status"),
            json!({ "status": "in_progress" }),
        )
        .await;
    }
    let (drafted, _) = booked[8];
    post_ok(
        app,
        expert,
        &format!("/api/v1/consultations/{drafted}/status"),
        json!({ "status": "awaiting_opinion" }),
    )
    .await;
    let opinion = post_ok(
        app,
        expert,
        &format!("/api/v1/consultations/{drafted}/opinions"),
        json!({ "findings": "normal", "diagnosis_codes": ["R07.4"], "recommendation": "treat_locally" }),
    )
    .await["id"]
        .clone();
    // An urgent request and the expert on call for it.
    post_ok(
        app,
        scheduler,
        "/api/v1/on-call/shifts",
        json!({ "expert_id": e, "specialty": "cardiology", "starts_at": rfc(now - 60_000), "ends_at": rfc(now + 3_600_000) }),
    )
    .await;
    let urgent = post_ok(
        app,
        clinician,
        "/api/v1/consultations",
        json!({ "patient_id": patient, "specialty": "cardiology", "urgency": "urgent", "reason": "chest pain now" }),
    )
    .await["id"]
        .clone();
    // Two more: one for the desk to offer, one already offered to the expert
    // for them to decline.
    let urgent_request = || async {
        post_ok(
            app,
            clinician,
            "/api/v1/consultations",
            json!({ "patient_id": patient, "specialty": "cardiology", "urgency": "urgent", "reason": "chest pain now" }),
        )
        .await["id"]
            .clone()
    };
    let to_offer = urgent_request().await;
    let offered = urgent_request().await;
    post_ok(
        app,
        scheduler,
        &format!("/api/v1/consultations/{offered}/assign"),
        json!({ "expert_id": e }),
    )
    .await;

    let (c1, b1) = booked[0];
    // A consent in force on the consultation, for the withdrawal row; the
    // recording row then records the next one.
    let consent = post_ok(
        app,
        clinician,
        &format!("/api/v1/consultations/{c1}/consents"),
        json!({ "kind": "teleconsultation", "given_by": "patient", "form_reference": "form 0" }),
    )
    .await["id"]
        .clone();
    let (_, to_move) = booked[1];
    let (_, to_cancel) = booked[2];
    let (_, to_decline) = booked[3];
    let (_, no_show) = booked[4];
    let (started, _) = booked[6];
    let (drafting, _) = booked[7];
    // An allowed caller may meet a conflict the first one left behind
    // (already cancelled, already signed); that still counts as allowed.
    vec![
        row(
            Method::GET,
            "/api/v1/experts",
            "/api/v1/experts".into(),
            everyone,
        ),
        row(
            Method::GET,
            "/api/v1/experts/{id}/roster",
            format!("/api/v1/experts/{e}/roster"),
            everyone,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/experts/{id}/roster/rules",
                rules.clone(),
                own_scheduler,
            ),
            move |n| {
                json!({ "weekday": 3, "start_time": format!("{:02}:00", n % 20), "end_time": format!("{:02}:30", n % 20),
                             "slot_minutes": 30, "service": "video", "valid_from": "2099-01-01" })
            },
        ),
        with_body(
            row(
                Method::PATCH,
                "/api/v1/roster-rules/{id}",
                format!("/api/v1/roster-rules/{rule_id}"),
                own_scheduler,
            ),
            |_| json!({ "capacity": 1 }),
        ),
        hidden(row(
            Method::DELETE,
            "/api/v1/roster-rules/{id}",
            format!("/api/v1/roster-rules/{doomed_rule}"),
            own_scheduler,
        )),
        with_body(
            row(
                Method::POST,
                "/api/v1/experts/{id}/roster/exceptions",
                exceptions.clone(),
                own_scheduler,
            ),
            move |n| {
                json!({ "kind": "leave", "starts_at": rfc(far + (n as i64 + 2) * 3_600_000),
                             "ends_at": rfc(far + (n as i64 + 3) * 3_600_000) })
            },
        ),
        hidden(row(
            Method::DELETE,
            "/api/v1/roster-exceptions/{id}",
            format!("/api/v1/roster-exceptions/{leave}"),
            own_scheduler,
        )),
        row(
            Method::GET,
            "/api/v1/slots",
            format!("/api/v1/slots?expert_id={e}"),
            everyone,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/bookings",
                "/api/v1/bookings".into(),
                clinicians,
            ),
            move |n| json!({ "expert_id": e, "start": rfc(start + (20 + n as i64) * SLOT_MS), "hold": true }),
        ),
        row(
            Method::GET,
            "/api/v1/bookings",
            "/api/v1/bookings".into(),
            clinical_roles,
        ),
        hidden(row(
            Method::GET,
            "/api/v1/bookings/{id}",
            format!("/api/v1/bookings/{b1}"),
            booking_parties,
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/bookings/{id}/confirm",
                format!("/api/v1/bookings/{hold}/confirm"),
                own_clinician,
            ),
            move |_| json!({ "consultation_id": to_confirm }),
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/bookings/{id}/reschedule",
                format!("/api/v1/bookings/{to_move}/reschedule"),
                own_clinician_or_scheduler,
            ),
            move |n| json!({ "start": rfc(start + (300 + n as i64 % 90) * SLOT_MS) }),
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/bookings/{id}/cancel",
                format!("/api/v1/bookings/{to_cancel}/cancel"),
                own_clinician_or_scheduler,
            ),
            |_| json!({ "reason": "patient recovered" }),
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/bookings/{id}/decline",
                format!("/api/v1/bookings/{to_decline}/decline"),
                own_expert,
            ),
            |_| json!({ "reason": "outside my field" }),
        )),
        hidden(row(
            Method::POST,
            "/api/v1/bookings/{id}/no-show",
            format!("/api/v1/bookings/{no_show}/no-show"),
            own_expert_or_scheduler,
        )),
        with_body(
            // Every clinician: the other site's broke the glass earlier in the matrix.
            row(
                Method::POST,
                "/api/v1/consultations",
                "/api/v1/consultations".into(),
                clinicians,
            ),
            move |_| json!({ "patient_id": patient, "expert_id": e, "urgency": "routine", "reason": "follow-up" }),
        ),
        row(
            Method::GET,
            "/api/v1/consultations",
            "/api/v1/consultations".into(),
            clinical_roles,
        ),
        hidden(row(
            Method::GET,
            "/api/v1/consultations/{id}",
            format!("/api/v1/consultations/{c1}"),
            booking_parties,
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/consultations/{id}/status",
                format!("/api/v1/consultations/{started}/status"),
                own_expert,
            ),
            |_| json!({ "status": "awaiting_opinion" }),
        )),
        hidden(row(
            Method::POST,
            "/api/v1/consultations/{id}/accept",
            format!("/api/v1/consultations/{urgent}/accept"),
            own_expert,
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/consultations/{id}/assign",
                format!("/api/v1/consultations/{to_offer}/assign"),
                own_scheduler,
            ),
            move |_| json!({ "expert_id": e }),
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/consultations/{id}/decline-offer",
                format!("/api/v1/consultations/{offered}/decline-offer"),
                own_expert,
            ),
            |_| json!({ "reason": "in theatre for the next two hours" }),
        )),
        with_body(
            row(
                Method::POST,
                "/api/v1/on-call/shifts",
                "/api/v1/on-call/shifts".into(),
                own_scheduler,
            ),
            move |n| {
                json!({ "expert_id": e, "specialty": "cardiology",
                             "starts_at": rfc(now + (n as i64) * 3_600_000), "ends_at": rfc(now + (n as i64 + 1) * 3_600_000) })
            },
        ),
        row(
            Method::GET,
            "/api/v1/on-call/shifts",
            "/api/v1/on-call/shifts".into(),
            everyone,
        ),
        row(
            Method::GET,
            "/api/v1/on-call/queue",
            "/api/v1/on-call/queue".into(),
            experts_and_schedulers,
        ),
        hidden(row(
            Method::GET,
            "/api/v1/consultations/{id}/opinions",
            format!("/api/v1/consultations/{drafting}/opinions"),
            own_clinician_or_expert,
        )),
        hidden(with_body(
            row(
                Method::POST,
                "/api/v1/consultations/{id}/opinions",
                format!("/api/v1/consultations/{drafting}/opinions"),
                own_expert,
            ),
            |_| json!({ "findings": "stable", "diagnosis_codes": ["I20.9"], "recommendation": "treat_locally" }),
        )),
        hidden(with_body(
            row(
                Method::PATCH,
                "/api/v1/opinions/{id}",
                format!("/api/v1/opinions/{opinion}"),
                own_expert,
            ),
            |_| json!({ "findings": "stable angina" }),
        )),
        hidden(row(
            Method::POST,
            "/api/v1/opinions/{id}/sign",
            format!("/api/v1/opinions/{opinion}/sign"),
            own_expert,
        )),
        row(
            Method::GET,
            "/api/v1/consultations/{id}/invitees",
            format!("/api/v1/consultations/{c1}/invitees"),
            own_clinician_or_expert,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/consultations/{id}/invitees",
                format!("/api/v1/consultations/{c1}/invitees"),
                own_clinician_or_expert,
            ),
            move |_| json!({ "user_id": radiologist, "note": "to show the scan" }),
        ),
        row(
            Method::GET,
            "/api/v1/consultations/{id}/invitees/candidates",
            format!("/api/v1/consultations/{c1}/invitees/candidates"),
            own_clinician_or_expert,
        ),
        row(
            Method::DELETE,
            "/api/v1/consultations/{id}/invitees/{user_id}",
            format!("/api/v1/consultations/{c1}/invitees/{radiologist}"),
            own_clinician_or_expert,
        ),
        row(
            Method::GET,
            "/api/v1/consultations/{id}/chat",
            format!("/api/v1/consultations/{c1}/chat"),
            own_clinician_or_expert,
        ),
        with_body(
            row(
                Method::POST,
                "/api/v1/consultations/{id}/chat",
                format!("/api/v1/consultations/{c1}/chat"),
                own_clinician_or_expert,
            ),
            |_| json!({ "body": "bring the ECG from last week" }),
        ),
        hidden(row(
            Method::GET,
            "/api/v1/consultations/{id}/consents",
            format!("/api/v1/consultations/{c1}/consents"),
            own_clinician_or_expert,
        )),
        with_body(
            hidden(row(
                Method::POST,
                "/api/v1/care-consents/{id}/withdraw",
                format!("/api/v1/care-consents/{consent}/withdraw"),
                own_clinician,
            )),
            |_| json!({ "reason": "the patient asked" }),
        ),
        with_body(
            hidden(row(
                Method::POST,
                "/api/v1/consultations/{id}/consents",
                format!("/api/v1/consultations/{c1}/consents"),
                own_clinician,
            )),
            move |_| {
                json!({ "kind": "teleconsultation", "given_by": "patient",
                             "form_reference": "form 1", "patient_id": patient })
            },
        ),
        hidden(row(
            Method::GET,
            "/api/v1/consultations/{id}/recordings",
            format!("/api/v1/consultations/{c1}/recordings"),
            own_clinician_or_expert,
        )),
        hidden(row(
            Method::GET,
            "/api/v1/consultations/{id}/recordings/{recording_id}/files/{file_id}",
            format!("/api/v1/consultations/{c1}/recordings/1/files/1"),
            own_clinician_or_expert,
        )),
        row(
            Method::GET,
            "/api/v1/figures",
            "/api/v1/figures".into(),
            admin_only,
        ),
        row(
            Method::GET,
            "/api/v1/fhir/Schedule",
            "/api/v1/fhir/Schedule".into(),
            everyone,
        ),
        row(
            Method::GET,
            "/api/v1/fhir/Slot",
            format!("/api/v1/fhir/Slot?schedule=Schedule/expert-{e}"),
            everyone,
        ),
        row(
            Method::GET,
            "/api/v1/fhir/Appointment",
            "/api/v1/fhir/Appointment".into(),
            clinical_roles,
        ),
        row(
            Method::GET,
            "/api/v1/fhir/ServiceRequest",
            "/api/v1/fhir/ServiceRequest".into(),
            clinical_roles,
        ),
    ]
}
