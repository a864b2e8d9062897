//! The island clinician's journey in a real browser: register and find a
//! patient, upload their study by STOW-RS over a link that drops and a page
//! that reloads, see it on the patient's page, and book a routine
//! consultation on the week calendar in the browser's own time zone, then
//! ask for a remote reading and refer the patient up. What the browser
//! showed is then checked against what the server holds.

use ferry_server::auth::Role;
use jiff::Timestamp;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::support::dicom_files::study;
use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::scheduling::{add_daily_rules, desk};
use crate::support::{send, spawn_app};

/// The patient's record number at the island clinic, which the files carry
/// as their Patient ID so the store files the study under the patient.
const RECORD: &str = "ISL-7731";

/// A zone that is neither the consortium's nor UTC, and keeps no summer
/// time, so a slot's shown time proves the conversion.
const BROWSER_ZONE: &str = "Asia/Kolkata";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_uploads_a_study_over_a_poor_link_and_books_a_consultation() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    // Every day 09:00-12:00 in Shanghai: 06:30-09:30 in Kolkata.
    add_daily_rules(&app, &d, "09:00", "12:00").await;
    // Any study goes to the tertiary hospital's reading worklist.
    let admin = app.user("admin", Role::Admin, d.c.tertiary).await;
    let (status, route) = app
        .post(
            "/api/v1/reading-routes",
            &admin.token,
            json!({ "reading_facility_id": d.c.tertiary }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let dir = tempfile::tempdir().expect("a directory");
    let ct = study(
        dir.path(),
        &["CT_small.dcm", "CT_small.dcm", "MR_small.dcm"],
        RECORD,
    );
    let letter = dir.path().join("referral-letter.txt");
    std::fs::write(&letter, "Dear colleague, please see the attached CT.\n").expect("a letter");
    let shots = screenshots("upload-and-book");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "upload-and-book",
        json!({
            "base": app.url(""),
            "clinician": user(&d.clinician),
            "expert": d.expert.username,
            "time_zone": BROWSER_ZONE,
            "taken_record": "A-100",
            "patient": { "family_name": "李", "given_name": "海燕", "sex": "female",
                         "birth_date": "1961-07-02", "national_id": "460000196107020021",
                         "record_number": RECORD },
            "files": ct.files,
            "not_dicom": letter,
            "study_uid": ct.uid,
            "refer_to_label": "County (county)",
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];

    // The taken record number was refused with the server's own words.
    assert!(
        seen["refusal"]
            .as_str()
            .is_some_and(|m| m.contains("record number")),
        "{seen}"
    );
    assert!(
        seen["resume"]
            .as_str()
            .is_some_and(|m| m.contains("1 of 2")),
        "{seen}"
    );
    assert!(
        seen["retry"]
            .as_str()
            .is_some_and(|m| m.contains("trying again")),
        "{seen}"
    );
    assert_eq!(seen["posts"], 3, "{seen}");
    assert!(seen["total_text"]
        .as_str()
        .is_some_and(|m| m.starts_with("3 of 4 stored · 1 refused")));
    assert_eq!(seen["total"]["value"], seen["total"]["max"], "{seen}");
    // Where each file went, in words: none of another patient's among them.
    assert_eq!(
        seen["summary"],
        "2 stored for 李海燕; 0 held back (other patients); 1 refused. 1 already stored, skipped.",
        "{seen}"
    );
    // The study row: its modalities and its three images.
    let cells = seen["study_cells"].as_array().expect("cells");
    assert!(cells.iter().any(|c| c == "3"), "{seen}");
    assert_eq!(seen["attached"], 1, "{seen}");

    // The store holds exactly the three instances, filed under the patient.
    let patient_id = seen["patient_id"].as_i64().expect("a patient id");
    let (status, instances) = send(
        app.request(
            Method::GET,
            &format!("/dicomweb/studies/{}/instances", ct.uid),
            Some(&d.clinician.token),
        )
        .header(header::ACCEPT, "application/dicom+json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{instances}");
    assert_eq!(instances.as_array().map(Vec::len), Some(3), "{instances}");
    let stored = app
        .imaging
        .store()
        .study(&ct.uid)
        .await
        .expect("the index answers")
        .expect("the study is stored");
    assert_eq!(stored.patient_id, Some(patient_id));

    // The slot was shown in the browser's zone, and booked as shown: the
    // first one not yet past, each starting on the half hour in Kolkata.
    assert!(
        seen["slot_label"]
            .as_str()
            .is_some_and(|l| ["06:30", "07:30", "08:30"].iter().any(|t| l.starts_with(t))),
        "{seen}"
    );
    assert!(
        seen["zone_note"]
            .as_str()
            // Chromium names the zone by its older alias.
            .is_some_and(|n| n.contains(BROWSER_ZONE) || n.contains("Asia/Calcutta")),
        "{seen}"
    );
    let consultation = seen["consultation_id"].as_i64().expect("a consultation");
    let (status, bookings) = app
        .get(
            &format!("/api/v1/bookings?consultation_id={consultation}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bookings}");
    let booking: &Value = &bookings[0];
    assert_eq!(booking["status"], "booked", "{bookings}");
    assert_eq!(booking["expert_id"], d.expert.id, "{bookings}");
    let instant = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<Timestamp>().ok())
            .expect("an RFC 3339 instant")
    };
    assert_eq!(instant(&booking["start"]), instant(&seen["slot_start"]));
    let (_, case) = app
        .get(
            &format!("/api/v1/consultations/{consultation}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(case["status"], "scheduled", "{case}");
    assert_eq!(case["studies"], json!([ct.uid]), "{case}");
    let row = seen["consultation_cells"].as_array().expect("cells");
    assert!(row.iter().any(|c| c == "scheduled"), "{seen}");

    // The reading request and the referral are the server's too.
    let (_, readings) = app
        .get(
            &format!("/api/v1/reading-requests?study_instance_uid={}", ct.uid),
            &d.clinician.token,
        )
        .await;
    assert_eq!(readings.as_array().map(Vec::len), Some(1), "{readings}");
    assert_eq!(readings[0]["priority"], "urgent", "{readings}");
    assert_eq!(readings[0]["body_part"], "CHEST", "{readings}");
    assert_eq!(
        readings[0]["reading_facility_id"], d.c.tertiary,
        "{readings}"
    );
    let cells = seen["reading_cells"].as_array().expect("cells");
    assert!(cells.iter().any(|c| c == "waiting"), "{seen}");
    let (_, referrals) = app.get("/api/v1/referrals", &d.clinician.token).await;
    let referral = referrals
        .as_array()
        .and_then(|all| all.iter().find(|r| r["patient_id"] == patient_id))
        .expect("the referral");
    assert_eq!(referral["direction"], "up", "{referral}");
    assert_eq!(referral["to_facility_id"], d.c.county, "{referral}");
    assert_eq!(referral["diagnosis_codes"], json!(["I21.4"]), "{referral}");
    let cells = seen["referral_cells"].as_array().expect("cells");
    assert!(cells.iter().any(|c| c == "sent"), "{seen}");

    assert_eq!(screenshot_count(&result), 12, "{result}");
}
