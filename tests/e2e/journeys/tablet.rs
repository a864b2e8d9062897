//! The demo consortium on a tablet: every demo user signs in on a 768×1024
//! screen and opens each screen of their menu. Nothing shows an error and
//! nothing makes the page wider than the screen. It is also the check that
//! a new user clicking through the demo meets working screens.

use serde_json::{json, Value};

use crate::support::journeys::{journey, screenshot_count, screenshots};
use crate::support::{spawn_app, PASSWORD};

const DEMO_USERS: [&str; 6] = [
    "demo-admin",
    "demo-scheduler",
    "demo-clinician",
    "demo-county-clinician",
    "demo-expert",
    "demo-radiologist",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_demo_user_opens_each_screen_of_their_menu_on_a_tablet() {
    let app = spawn_app().await;
    app.with_demo().await;
    let shots = screenshots("tablet");
    let _ = std::fs::remove_dir_all(&shots);
    let users: Vec<Value> = DEMO_USERS
        .iter()
        .map(|name| json!({ "username": name, "password": PASSWORD, "display_name": name }))
        .collect();

    let result = journey(
        "tablet",
        json!({ "base": app.url(""), "users": users, "screenshots": shots }),
    )
    .await;

    let seen = &result["result"]["seen"];
    let hrefs = |user: &str| -> Vec<String> {
        seen[user]
            .as_array()
            .expect("screens")
            .iter()
            .filter_map(|s| s["href"].as_str().map(str::to_owned))
            .collect()
    };
    // Each role finds its own screens in the menu.
    for (user, expected) in [
        ("demo-admin", "#/figures"),
        ("demo-admin", "#/admin/facilities"),
        ("demo-scheduler", "#/roster"),
        ("demo-scheduler", "#/bookings"),
        ("demo-clinician", "#/patients"),
        ("demo-clinician", "#/upload"),
        ("demo-radiologist", "#/worklist"),
    ] {
        assert!(
            hrefs(user).iter().any(|h| h == expected),
            "{user} has no {expected} in the menu: {:?}",
            hrefs(user)
        );
    }
    assert!(!hrefs("demo-clinician")
        .iter()
        .any(|h| h.starts_with("#/admin")));
    for user in DEMO_USERS {
        for screen in seen[user].as_array().expect("screens") {
            assert!(
                screen["page_width"].as_u64() <= screen["screen_width"].as_u64(),
                "{user}: {screen}"
            );
        }
    }
    assert!(screenshot_count(&result) >= 6 + 7, "{result}");
}
