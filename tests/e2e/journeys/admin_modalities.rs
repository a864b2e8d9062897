//! Three screens that were missing, in a real browser: the administrator
//! registers, changes and removes a facility's modalities (in Chinese); a
//! clinician invites colleagues to a consultation's call and withdraws one
//! (in English); a reading lead hands a claimed reading to another reader
//! from the worklist (in Chinese). What the screens showed is then checked
//! against what the server holds.

use ferry_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::reading::{ask, desk, stored_study};
use crate::support::{send, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_registers_modalities_the_clinician_invites_and_the_lead_reassigns() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let c = &d.c;
    // A consultation of the island clinician with a named expert, and two
    // colleagues they may ask to join its call: a radiologist of the county
    // hospital (the picker offers every clinician, expert and radiologist
    // of the consortium) and another expert.
    let expert = app.user("dr-heart", Role::Expert, c.tertiary).await;
    let second = app.user("dr-second", Role::Radiologist, c.county).await;
    let third = app.user("dr-third", Role::Expert, c.tertiary).await;
    let patient: i64 = sqlx::query_scalar(
        "SELECT patient_id FROM patient_record WHERE facility_id = $1 AND record_number = 'A-1'",
    )
    .bind(c.island_a)
    .fetch_one(app.db.pool())
    .await
    .expect("the desk's patient");
    let (status, consultation) = app
        .post(
            "/api/v1/consultations",
            &d.clinician.token,
            json!({ "patient_id": patient, "expert_id": expert.id, "urgency": "routine",
                    "reason": "murmur on auscultation" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{consultation}");
    let consultation = consultation["id"].as_i64().expect("an id");
    // A reading the lead holds, and another reader of the same hospital.
    let other_reader = app.user("reader-two", Role::Radiologist, c.tertiary).await;
    let (status, _) = send(
        app.request(
            Method::PUT,
            &format!("/api/v1/reading-leads/{}", d.reader.id),
            Some(&d.admin.token),
        )
        .json(&json!({ "lead": true })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (status, request) = ask(&app, &d.clinician, &uid, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let request = request["id"].as_i64().expect("an id");
    let (status, claimed) = app
        .post(
            &format!("/api/v1/reading-requests/{request}/claim"),
            &d.reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let shots = screenshots("admin-modalities");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "admin-modalities",
        json!({
            "base": app.url(""),
            "admin": user(&d.admin),
            "clinician": user(&d.clinician),
            "lead": user(&d.reader),
            "facility": c.island_a,
            "modality": { "ae_title": "DONGJI-US1", "type": "us", "host": "10.2.0.15",
                          "port": 104, "new_port": 11112, "new_type": "DX" },
            "second_ae": "DONGJI-ECG",
            "consultation": consultation,
            "invitees": [{ "id": second.id, "name": second.username },
                         { "id": third.id, "name": third.username }],
            "request": request,
            "to_reader": other_reader.username,
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];

    assert_eq!(seen["tab"], "影像设备", "{result}");
    assert_eq!(
        seen["host_refused"], "每个主机须为 IP 地址或 CIDR 网段，如 10.2.0.15 或 10.2.1.0/24。",
        "{result}"
    );
    assert!(
        seen["registered"]
            .as_str()
            .is_some_and(|r| r.contains("DONGJI-US1")
                && r.contains("US")
                && r.contains("10.2.0.15/32")),
        "{result}"
    );
    assert_eq!(seen["rows"], 1, "{result}");
    let (status, modalities) = app
        .get(
            &format!("/api/v1/facilities/{}/modalities", c.island_a),
            &d.admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{modalities}");
    let list = modalities.as_array().expect("a list");
    assert_eq!(list.len(), 1, "{modalities}");
    assert_eq!(list[0]["ae_title"], "DONGJI-US1", "{modalities}");
    assert_eq!(list[0]["modality_type"], "DX", "{modalities}");
    assert_eq!(list[0]["port"], 11112, "{modalities}");
    assert_eq!(
        list[0]["allowed_hosts"],
        json!(["10.2.0.15/32"]),
        "{modalities}"
    );

    assert_eq!(seen["invitees_heading"], "Invited to the call", "{result}");
    let (status, invitees) = app
        .get(
            &format!("/api/v1/consultations/{consultation}/invitees"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invitees}");
    let invited: Vec<i64> = invitees
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|i| i["user_id"].as_i64())
        .collect();
    assert_eq!(invited, vec![second.id], "{invitees}");
    assert_eq!(
        invitees[0]["note"], "radiologist to show the scan",
        "{invitees}"
    );
    assert_eq!(
        seen["invitees"].as_array().map(Vec::len),
        Some(1),
        "{result}"
    );

    assert_eq!(seen["reassign_button"], "转派", "{result}");
    let (status, now) = app
        .get(
            &format!("/api/v1/reading-requests/{request}"),
            &other_reader.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{now}");
    assert_eq!(now["reader_id"], other_reader.id, "{now}");
    assert_eq!(screenshot_count(&result), 8, "{result}");
}
