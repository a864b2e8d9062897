//! Codes in words, and a language switch that leaves work alone, in a real
//! browser: a clinician with a Chinese browser switches to English while a
//! study is being sent from a patient's upload page, and the upload goes on
//! to its end on the same page (every file stored, none sent twice), now in
//! English; the examination form names each modality. An administrator
//! with a Chinese browser reads the audit log's events in words (the raw
//! name kept on the cell, and the filter taking the words), a reading
//! route's body part by its name, and the events named anew in English.

use ferry_server::auth::Role;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::support::dicom_files::study;
use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::{send, spawn_app};

const RECORD: &str = "ISL-2901";

/// Whether a label is an event's raw name (`patient.read`,
/// `user.password_reset.request`) rather than words.
fn looks_raw(text: &str) -> bool {
    text.contains('.')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
}

fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

fn rows(v: &Value) -> &Vec<Value> {
    v.as_array().expect("a list of rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_switch_leaves_an_upload_running_and_codes_read_as_words() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let admin = app.user("admin-wu", Role::Admin, c.tertiary).await;
    let (status, patient) = app
        .post(
            "/api/v1/patients",
            &clinician.token,
            json!({ "national_id": "460000196107020021", "family_name": "李", "given_name": "海燕",
                    "sex": "female", "birth_date": "1961-07-02", "record_number": RECORD }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");
    let patient_id = patient["id"].as_i64().expect("a patient id");
    let (status, route) = app
        .post(
            "/api/v1/reading-routes",
            &admin.token,
            json!({ "reading_facility_id": c.tertiary, "modality": "CT", "body_part": "CHEST" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let dir = tempfile::tempdir().expect("a directory");
    let ct = study(
        dir.path(),
        &[
            "CT_small.dcm",
            "CT_small.dcm",
            "MR_small.dcm",
            "CT_small.dcm",
        ],
        RECORD,
    );
    let shots = screenshots("language-switch");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "language-switch",
        json!({
            "base": app.url(""),
            "clinician": user(&clinician),
            "admin": user(&admin),
            "patient": { "id": patient_id },
            "files": ct.files,
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    assert_eq!(seen["errors"], json!([]), "{seen}");

    // The examination form: names in Chinese, DICOM codes sent.
    let modalities = rows(&seen["modalities"]);
    assert!(
        modalities
            .iter()
            .any(|o| o["value"] == "CT" && o["text"] == "CT（计算机断层扫描）"),
        "{seen}"
    );
    assert!(
        modalities
            .iter()
            .all(|o| o["text"] != o["value"] && o["text"].as_str().is_some_and(has_chinese)),
        "{seen}"
    );

    // The switch came while files were still being sent...
    assert_eq!(seen["busy_during"], "upload", "{seen}");
    assert!(
        seen["done_at_switch"]
            .as_u64()
            .is_some_and(|n| n < ct.files.len() as u64),
        "{seen}"
    );
    // ...and the same opening went on to store every one, now in English.
    let upload = &seen["upload"];
    assert_eq!(
        upload["same_opening"], true,
        "the upload page was drawn again: {seen}"
    );
    assert_eq!(upload["lang"], "en", "{seen}");
    assert_eq!(
        upload["states"],
        json!(["stored", "stored", "stored", "stored"]),
        "{seen}"
    );
    // Each outcome's mark, then its words.
    assert_eq!(
        upload["words"],
        json!(["✓ stored", "✓ stored", "✓ stored", "✓ stored"]),
        "{seen}"
    );
    assert!(
        upload["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("4 stored for 李海燕")),
        "{seen}"
    );
    assert_eq!(upload["busy_after"], Value::Null, "{seen}");
    assert_eq!(seen["posts"], 4, "each file sent once: {seen}");
    let (status, instances) = send(
        app.request(
            Method::GET,
            &format!("/dicomweb/studies/{}/instances", ct.uid),
            Some(&clinician.token),
        )
        .header(header::ACCEPT, "application/dicom+json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{instances}");
    assert_eq!(instances.as_array().map(Vec::len), Some(4), "{instances}");

    // The reading route's body part by its name, the DICOM term kept aside.
    assert!(
        rows(&seen["routes"])
            .iter()
            .any(|r| r["body_part"] == "胸部" && r["title"] == "CHEST"),
        "{seen}"
    );

    // The audit log in Chinese: no raw event name as a label, each one kept
    // on its cell for searching.
    let events = rows(&seen["audit_zh"]);
    assert!(!events.is_empty(), "{seen}");
    for event in events {
        let text = event["text"].as_str().unwrap_or_default();
        assert!(!looks_raw(text), "a raw event name shown: {event}");
        assert!(has_chinese(text), "{event}");
        assert_eq!(event["title"], event["subtype"], "{event}");
    }
    for (subtype, words) in [("patient.read", "查看患者"), ("user.login", "登录")] {
        assert!(
            events
                .iter()
                .any(|e| e["subtype"] == subtype && e["text"] == words),
            "{subtype}: {seen}"
        );
    }
    // The filter takes the words and asks the server by the raw name.
    assert_eq!(seen["filter_placeholder"], "查看患者", "{seen}");
    assert_eq!(seen["filter_query"], "patient.read", "{seen}");
    let filtered = rows(&seen["filtered_zh"]);
    assert!(!filtered.is_empty(), "{seen}");
    assert!(
        filtered
            .iter()
            .all(|e| e["subtype"] == "patient.read" && e["text"] == "查看患者"),
        "{seen}"
    );
    // English on the same page: the same rows, named anew.
    assert_eq!(seen["filter_after_switch"], "查看患者", "{seen}");
    let english = rows(&seen["filtered_en"]);
    assert_eq!(english.len(), filtered.len(), "{seen}");
    assert!(
        english
            .iter()
            .all(|e| e["subtype"] == "patient.read" && e["text"] == "patient record viewed"),
        "{seen}"
    );

    assert_eq!(screenshot_count(&result), 6, "{result}");
}
