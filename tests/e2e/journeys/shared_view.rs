//! A study shared during the video call, in a real browser: the clinician
//! shares the consultation's CT, the expert's screen shows the same study
//! beside the video, scrolling and windowing on either side move the other's
//! view, a reload comes back to the current view, an invitee who may not
//! see the study gets the viewer's refusal, and stopping closes the viewer
//! on every side.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::dicom_files::ct_series;
use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::scheduling::{desk, Desk};
use crate::support::{spawn_app, TestApp};

/// Slices in the shared CT series.
const SLICES: usize = 5;

/// A consultation with `study` attached, put straight into `scheduled` with
/// the desk's expert (as an on-call acceptance would), so its call is open.
async fn with_study(app: &TestApp, d: &Desk, study: &str) -> i64 {
    let (status, body) = app
        .post(
            "/api/v1/consultations",
            &d.clinician.token,
            json!({ "patient_id": d.patient, "expert_id": d.expert.id, "urgency": "routine",
                    "reason": "Breathless after a fall on deck; rib fractures?",
                    "clinical_summary": "CT chest attached.", "studies": [study] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().expect("an id");
    sqlx::query("UPDATE consultation SET status = 'scheduled', expert_id = $1 WHERE id = $2")
        .bind(d.expert.id)
        .bind(id)
        .execute(app.db.pool())
        .await
        .expect("scheduled");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_study_shared_in_the_call_moves_in_step_on_both_screens_until_either_stops() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let (study, series) = ct_series(&app, &d.clinician.token, "A-100", SLICES, "Chest axial").await;
    let id = with_study(&app, &d, &study).await;
    // A clinician of another island, invited to the call: the record and
    // its images stay closed to them.
    let invitee = app.user("interpreter", Role::Clinician, d.c.island_b).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/consultations/{id}/invitees"),
            &d.expert.token,
            json!({ "user_id": invitee.id, "note": "interpreter (Minnan)" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .get(&format!("/dicomweb/studies/{study}/series"), &invitee.token)
        .await;
    assert!(
        status.is_client_error() || body == json!([]),
        "{status} {body}"
    );
    let shots = screenshots("shared-view");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "shared-view",
        json!({
            "base": app.url(""),
            "consultation": id,
            "study": study,
            "slices": SLICES,
            "clinician": user(&d.clinician),
            "expert": user(&d.expert),
            "invitee": user(&invitee),
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];

    // Shared: the same series, the first slice, on both screens, with who
    // shares it named on each side in that side's language.
    for who in ["clinician", "expert"] {
        let shown = &seen["shared"][who];
        assert_eq!(shown["series"], series.as_str(), "{result}");
        assert_eq!(shown["instance"], 1, "{result}");
        assert_eq!(shown["total"], SLICES, "{result}");
    }
    let title = |who: &str| seen[who].as_str().unwrap_or_default().to_owned();
    assert!(
        title("clinicianTitle").starts_with("You are sharing"),
        "{result}"
    );
    let expert_title = title("expertTitle");
    assert!(
        expert_title.contains(&d.clinician.username) && expert_title.contains("正在共享"),
        "{result}"
    );
    let wl = |v: &Value| (v["width"].as_f64(), v["level"].as_f64());
    let shared_wl = |who: &str| wl(&seen["shared"][who]["wl"]);
    assert_eq!(shared_wl("clinician"), shared_wl("expert"), "{result}");

    // The clinician's wheel moved both to the third instance.
    assert_eq!(seen["scrolled"]["clinician"]["instance"], 3, "{result}");
    assert_eq!(seen["scrolled"]["expert"]["instance"], 3, "{result}");

    // The expert's drag changed the window, and the clinician sees the same.
    let windowed = &seen["windowed"];
    assert_ne!(wl(&windowed["before"]), wl(&windowed["expert"]), "{result}");
    assert_eq!(
        wl(&windowed["clinician"]),
        wl(&windowed["expert"]),
        "{result}"
    );

    // After a reload the expert is back on the current view.
    let rejoined = &seen["rejoined"];
    assert_eq!(rejoined["series"], series.as_str(), "{result}");
    assert_eq!(rejoined["instance"], 3, "{result}");
    assert_eq!(wl(&rejoined["wl"]), wl(&windowed["expert"]), "{result}");

    // The invitee joined while it was shared: the viewer opened on the
    // study, named who shares it, and showed the server's refusal instead
    // of images; with the record closed, they have nothing to share.
    let guest = &seen["invitee"];
    assert!(
        guest["title"]
            .as_str()
            .is_some_and(|t| t.contains(&d.clinician.username)),
        "{result}"
    );
    assert!(
        guest["refusal"]
            .as_str()
            .is_some_and(|t| t.starts_with("The images could not be shown")
                || t == "No images of this study are available to you."),
        "{result}"
    );
    assert_eq!(guest["imagesShown"], false, "{result}");
    assert_eq!(guest["picker"], false, "{result}");

    // The expert stopped it; the clinician is told who.
    assert!(
        seen["stoppedNotice"]
            .as_str()
            .is_some_and(|n| n.contains(&d.expert.username) && n.contains("stopped sharing")),
        "{result}"
    );

    assert_eq!(screenshot_count(&result), 9, "{result}");
}
