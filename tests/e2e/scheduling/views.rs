//! The operating figures and the FHIR views of scheduling.

use ferry_server::auth::Role;
use jiff::civil::Weekday;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::scheduling::{add_rule, book, consultation, desk, local, next_weekday};
use crate::support::{assert_error, spawn_app};

const SHANGHAI: &str = "Asia/Shanghai";

#[tokio::test]
async fn figures_count_consultations_referrals_and_waits() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let admin = app.user("admin", Role::Admin, d.c.tertiary).await;
    let receiving = app
        .user("tertiary-doc", Role::Clinician, d.c.tertiary)
        .await;
    // Two routine requests, one started; one urgent accepted from the queue.
    let started = consultation(&app, &d, "routine").await;
    consultation(&app, &d, "routine").await;
    let day = next_weekday(SHANGHAI, Weekday::Monday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 1, "start_time": "09:00", "end_time": "10:00", "slot_minutes": 60, "service": "video" }),
    )
    .await;
    let (status, _) = book(
        &app,
        &d.clinician.token,
        d.expert.id,
        &local(SHANGHAI, day, 9, 0),
        started,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    app.post(
        &format!("/api/v1/consultations/{started}/status"),
        &d.expert.token,
        json!({ "status": "in_progress" }),
    )
    .await;
    let now = jiff::Timestamp::now().as_millisecond();
    app.post(
        "/api/v1/on-call/shifts",
        &d.scheduler.token,
        json!({ "expert_id": d.expert.id, "specialty": "cardiology",
                "starts_at": ferry_server::time::rfc3339(now - 1000), "ends_at": ferry_server::time::rfc3339(now + 3_600_000) }),
    )
    .await;
    let urgent = consultation(&app, &d, "urgent").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/consultations/{urgent}/accept"),
            &d.expert.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Referrals: one up to the tertiary hospital, one to the county (stays in region).
    for to in [d.c.tertiary, d.c.county] {
        let (status, body) = app
            .post(
                "/api/v1/referrals",
                &d.clinician.token,
                json!({ "patient_id": d.patient, "direction": "up", "to_facility_id": to,
                        "reason": "needs a specialist", "diagnosis_codes": ["I20.9"] }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let _ = receiving;

    let (status, figures) = app.get("/api/v1/figures", &admin.token).await;
    assert_eq!(status, StatusCode::OK, "{figures}");
    let count = |status: &str| -> i64 {
        figures["consultations"]
            .as_array()
            .expect("list")
            .iter()
            .filter(|c| c["status"] == status && c["specialty"] == "cardiology")
            .map(|c| c["count"].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!(
        (count("in_progress"), count("requested"), count("scheduled")),
        (1, 1, 1)
    );
    assert_eq!(figures["request_to_consultation"]["count"], 1);
    assert_eq!(figures["on_call_acceptance"]["count"], 1);
    assert!(figures["on_call_acceptance"]["median_minutes"].is_number());
    let island: Vec<&Value> = figures["referrals"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| r["facility_id"] == d.c.island_a)
        .collect();
    assert_eq!(island.len(), 1);
    assert_eq!(
        (
            island[0]["up_sent"].as_i64(),
            island[0]["down_sent"].as_i64()
        ),
        (Some(2), Some(0))
    );
    assert_eq!(
        (
            figures["referrals_in_region"].as_i64(),
            figures["referrals_total"].as_i64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(figures["in_region_share"], 0.5);

    let (status, body) = app.get("/api/v1/figures?from=2026-13", &admin.token).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_month",
    );
    let (status, body) = app.get("/api/v1/figures", &d.clinician.token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn scheduling_reads_as_fhir_resources() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let day = next_weekday(SHANGHAI, Weekday::Tuesday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 2, "start_time": "09:00", "end_time": "10:00", "slot_minutes": 30, "service": "video" }),
    )
    .await;
    let id = consultation(&app, &d, "routine").await;
    let (_, booking) = book(
        &app,
        &d.clinician.token,
        d.expert.id,
        &local(SHANGHAI, day, 9, 0),
        id,
    )
    .await;

    let response = app
        .request(
            reqwest::Method::GET,
            "/api/v1/fhir/Schedule",
            Some(&d.clinician.token),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let schedules: Value = response.json().await.expect("JSON");
    assert_eq!(schedules["resourceType"], "Bundle");
    assert_eq!(
        schedules["entry"][0]["resource"]["resourceType"],
        "Schedule"
    );
    assert_eq!(
        schedules["entry"][0]["resource"]["actor"][0]["reference"],
        format!("Practitioner/{}", d.expert.id)
    );

    let start = local(SHANGHAI, day, 0, 0).replace('+', "%2B");
    let (_, slots) = app
        .get(
            &format!(
                "/api/v1/fhir/Slot?schedule=Schedule/expert-{}&start={start}",
                d.expert.id
            ),
            &d.clinician.token,
        )
        .await;
    let statuses: Vec<&str> = slots["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["resource"]["start"]
                .as_str()
                .is_some_and(|s| s.starts_with(&day.to_string()))
        })
        .filter_map(|e| e["resource"]["status"].as_str())
        .collect();
    assert_eq!(statuses, ["busy", "free"]);

    let (_, appointments) = app
        .get("/api/v1/fhir/Appointment", &d.clinician.token)
        .await;
    let appointment = &appointments["entry"][0]["resource"];
    assert_eq!(appointment["resourceType"], "Appointment");
    assert_eq!(
        appointment["id"],
        booking["id"].as_i64().expect("id").to_string()
    );
    assert_eq!(appointment["status"], "booked");
    assert_eq!(
        appointment["basedOn"][0]["reference"],
        format!("ServiceRequest/consultation-{id}")
    );
    assert!(appointment["participant"]
        .as_array()
        .expect("participants")
        .iter()
        .any(|p| p["actor"]["reference"] == format!("Patient/{}", d.patient)));

    let (_, requests) = app
        .get(
            &format!("/api/v1/fhir/ServiceRequest?patient=Patient/{}", d.patient),
            &d.clinician.token,
        )
        .await;
    let request = &requests["entry"][0]["resource"];
    assert_eq!(request["id"], format!("consultation-{id}"));
    assert_eq!(request["status"], "active");
    assert_eq!(request["priority"], "routine");
    let (status, body) = app
        .get("/api/v1/fhir/Slot?schedule=nonsense", &d.clinician.token)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reference",
    );
}
