//! The reading journey in a real browser: the radiologist sees the worklist
//! with its clock, claims a CT, reads it in the viewer (scrolls a series,
//! windows, measures), writes and signs the report; the requesting
//! clinician then reads the signed text.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::dicom_files::ct_series;
use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::reading::{ask, desk};
use crate::support::spawn_app;

/// Slices in the CT series the radiologist scrolls through.
const SLICES: usize = 5;
/// CT_small's Pixel Spacing, both ways, in mm.
const SPACING_MM: f64 = 0.661468;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radiologist_reads_a_ct_in_the_browser_and_the_clinician_reads_the_signed_report() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let (study, _) = ct_series(&app, &d.clinician.token, "A-1", SLICES, "Head axial").await;
    let (status, request) = ask(
        &app,
        &d.clinician,
        &study,
        json!({ "priority": "urgent", "body_part": "HEAD",
                "clinical_question": "Fell from a boat; bleed?" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let id = request["id"].as_i64().expect("an id");
    let shots = screenshots("reading");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "reading",
        json!({
            "base": app.url(""),
            "request": id,
            "study": study,
            "slices": SLICES,
            "spacing": SPACING_MM,
            "radiologist": user(&d.reader),
            "clinician": user(&d.clinician),
            "findings": "No intracranial haemorrhage. Ventricles normal in size.",
            "impression": "1. No acute intracranial abnormality.",
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];

    assert!(
        seen["clock"].as_str().is_some_and(|c| c.contains("left")),
        "{result}"
    );
    assert_ne!(seen["instances"][0], seen["instances"][1], "{result}");
    assert_ne!(seen["wl"][0], seen["wl"][1], "{result}");
    assert!(seen["pixelsChanged"] == true, "{result}");
    // The line drawn spans a known number of screen pixels; the figure shown
    // is that many image pixels times the spacing, and inside the image.
    let mm = seen["mm"].as_f64().expect("a length in mm");
    let expected = seen["expectedMm"].as_f64().expect("the expected length");
    assert!((mm - expected).abs() <= expected * 0.03, "{result}");
    assert!(mm > 5.0 && mm < 128.0 * SPACING_MM * 1.5, "{result}");
    assert!(
        seen["clinicianReads"]
            .as_str()
            .is_some_and(|t| t.contains("No intracranial haemorrhage")),
        "{result}"
    );

    let (status, reports) = app
        .get(
            &format!("/api/v1/reading-requests/{id}/reports"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reports}");
    assert_eq!(reports.as_array().map(Vec::len), Some(1), "{reports}");
    assert!(reports[0]["signed_at"].is_string(), "{reports}");
    assert_eq!(
        reports[0]["findings"],
        "No intracranial haemorrhage. Ventricles normal in size."
    );

    assert_eq!(screenshot_count(&result), 8, "{result}");
}

/// The web client's images come over DICOMweb with its session cookie,
/// which scripts cannot copy into `Authorization`.
#[tokio::test]
async fn dicomweb_reads_the_session_cookie_when_no_bearer_token_is_sent() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let (study, _) = ct_series(&app, &d.clinician.token, "A-1", SLICES, "Head axial").await;
    let path = format!("/dicomweb/studies/{study}/series");
    let client = reqwest::Client::new();
    let with_cookie = |token: &str| {
        client
            .get(app.url(&path))
            .header(reqwest::header::COOKIE, format!("ferry_session={token}"))
    };

    let response = with_cookie(&d.clinician.token)
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    let series: serde_json::Value = response.json().await.expect("DICOM JSON");
    assert_eq!(series[0]["00201209"]["Value"][0], SLICES);

    let response = with_cookie("not-a-session")
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = client.get(app.url(&path)).send().await.expect("a response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A bearer token, when sent, is the one that counts.
    let response = with_cookie(&d.clinician.token)
        .bearer_auth("not-a-session")
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
