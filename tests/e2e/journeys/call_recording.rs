//! A recorded call played back in the browser: the recording made with
//! both sides' consent is listed on the consultation's page and played
//! there (VP8 decoded in the page, Opus in <audio>), each file fetched
//! through the audited download.

use serde_json::json;

use crate::support::calls::accepted;
use crate::support::journeys::{journey, screenshot_count, screenshots};
use crate::support::scheduling::desk;
use crate::support::{spawn_app, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_is_listed_and_played_on_the_consultations_page() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    for (user, name) in [
        (d.clinician.id, "Dr. Lin Hai"),
        (d.expert.id, "王建华 主任"),
    ] {
        sqlx::query("UPDATE app_user SET display_name = $1 WHERE id = $2")
            .bind(name)
            .bind(user)
            .execute(app.db.pool())
            .await
            .expect("renamed");
    }
    let shots = screenshots("call-recording");
    let _ = std::fs::remove_dir_all(&shots);
    let result = journey(
        "call-recording",
        json!({
            "base": app.url(""),
            "consultation": id,
            "clinician": { "username": d.clinician.username, "password": PASSWORD, "display_name": "Dr. Lin Hai" },
            "expert": { "username": d.expert.username, "password": PASSWORD, "display_name": "王建华 主任" },
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    for canvas in seen["canvases"].as_array().expect("canvases") {
        assert!(canvas["width"].as_u64().is_some_and(|w| w > 0), "{seen}");
    }
    // Playing fetched each of the four files through the audited download.
    let downloads: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = 'recording.downloaded' AND actor_user_id = $1",
    )
    .bind(d.clinician.id)
    .fetch_one(app.db.pool())
    .await
    .expect("counted");
    assert_eq!(downloads, 4, "{seen}");
    assert_eq!(screenshot_count(&result), 2, "{result}");
}
