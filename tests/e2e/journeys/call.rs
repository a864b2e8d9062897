//! The call journey: clinician and expert join a call from the web client
//! and see each other.

use serde_json::json;

use crate::support::calls::accepted;
use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::scheduling::desk;
use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clinician_and_expert_join_the_call_from_the_web_client_and_see_each_other() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let shots = screenshots("call");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "call",
        json!({
            "base": app.url(""),
            "consultation": id,
            "clinician": user(&d.clinician),
            "expert": user(&d.expert),
            "screenshots": shots,
        }),
    )
    .await;

    for who in ["clinician", "expert"] {
        let seen = &result["result"]["seen"][who];
        assert!(seen["width"].as_u64().is_some_and(|w| w > 0), "{result}");
    }
    assert_eq!(screenshot_count(&result), 5, "{result}");
}
