//! Chinese through and through: each demo user (clinician, expert,
//! radiologist, scheduler, administrator) walks every screen of the menu and
//! the detail pages they link to, in Chinese, switching to English and back
//! on each screen, then again with an English browser; no visible word may be
//! of the other language, and no catalogue key or error code may show. The
//! rule (data the server sent is exempt, codes in capitals are allowed in
//! Chinese) is written at the top of `tests/browser/journeys/languages.cjs`.
//! One test per role, so each walk stays within a journey's time.

use serde_json::{json, Value};

use crate::support::journeys::{journey, screenshot_count, screenshots};
use crate::support::{spawn_app, PASSWORD};

/// Walks `username`'s screens on the demo consortium; the screens walked in
/// each language, after checking nothing of the other language showed.
async fn walk(username: &str) -> Value {
    let app = spawn_app().await;
    app.with_demo().await;
    let shots = screenshots(&format!("languages/{username}"));
    let _ = std::fs::remove_dir_all(&shots);
    let result = journey(
        "languages",
        json!({
            "base": app.url(""),
            "users": [{ "username": username, "password": PASSWORD }],
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    let problems = seen["problems"].as_array().expect("the problems found");
    assert!(
        problems.is_empty(),
        "{username}: words of the other language, keys or codes on screen ({}):\n{}",
        problems.len(),
        problems
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let visited = seen["visited"].as_object().expect("the screens walked");
    assert_eq!(visited.len(), 2, "one walk per language: {seen}");
    for (who, screens) in visited {
        let screens = screens.as_array().expect("a list");
        // Home and the menu's screens at least.
        assert!(screens.len() >= 3, "{who} walked only {screens:?}");
    }
    assert!(screenshot_count(&result) >= 6);
    seen["visited"][format!("{username} zh-CN")].clone()
}

fn reached(walked: &Value, kind: &str) -> bool {
    walked.as_array().is_some_and(|s| {
        s.iter()
            .any(|h| h.as_str().is_some_and(|h| h.starts_with(kind)))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinician_sees_every_screen_in_one_language_at_a_time() {
    let walked = walk("demo-clinician").await;
    for kind in ["#/patients/", "#/consultations/", "#/upload"] {
        assert!(reached(&walked, kind), "{kind} not reached: {walked}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expert_sees_every_screen_in_one_language_at_a_time() {
    let walked = walk("demo-expert").await;
    assert!(reached(&walked, "#/consultations/"), "{walked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_radiologist_sees_every_screen_in_one_language_at_a_time() {
    let walked = walk("demo-radiologist").await;
    assert!(reached(&walked, "#/worklist"), "{walked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_sees_every_screen_in_one_language_at_a_time() {
    let walked = walk("demo-scheduler").await;
    for kind in ["#/roster", "#/bookings"] {
        assert!(reached(&walked, kind), "{kind} not reached: {walked}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_sees_every_screen_in_one_language_at_a_time() {
    let walked = walk("demo-admin").await;
    for kind in ["#/admin/audit", "#/admin/users"] {
        assert!(reached(&walked, kind), "{kind} not reached: {walked}");
    }
}
