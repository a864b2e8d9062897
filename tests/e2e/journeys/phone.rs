//! The island clinician on a phone (390×844, touch), in English and in
//! Chinese, on the demo consortium: home, the menu, patient search, Mrs
//! Wang's page, the upload page, the consultation request, a case page and
//! the viewer. Nothing makes the page wider than the phone, the header is
//! one short line whose menu holds the screens, who is signed in and sign
//! out, Join, View and "Ask for a reading" lie within the screen at a
//! finger's height, and in the viewer a pinch zooms, a swipe steps through
//! the slices and a double tap puts the zoom back. On a laptop the header
//! and tables are as before, and every demo user's screens fit the phone.

use serde_json::{json, Value};

use crate::support::dicom_files::ct_series;
use crate::support::journeys::{journey, screenshot_count, screenshots};
use crate::support::{spawn_app, PASSWORD};

const PHONE_WIDTH: u64 = 390;
const DEMO_USERS: [&str; 6] = [
    "demo-admin",
    "demo-scheduler",
    "demo-clinician",
    "demo-county-clinician",
    "demo-expert",
    "demo-radiologist",
];
const SLICES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinician_works_on_a_phone_in_english_and_chinese() {
    let app = spawn_app().await;
    app.with_demo().await;
    let wang: i64 = sqlx::query_scalar("SELECT id FROM patient WHERE national_id = $1")
        .bind("330225195803121234")
        .fetch_one(app.db.pool())
        .await
        .expect("Mrs Wang");
    let login: Value = app
        .login("demo-clinician", PASSWORD)
        .await
        .json()
        .await
        .expect("a session");
    let token = login["token"].as_str().expect("a token");
    // A series of several slices, to swipe through.
    let (study, _) = ct_series(&app, token, "DJ-0001", SLICES, "Phone").await;
    let shots = screenshots("phone");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "phone",
        json!({
            "base": app.url(""),
            "clinician": { "username": "demo-clinician", "password": PASSWORD },
            "patient": { "id": wang, "record_number": "DJ-0001" },
            "study": study,
            "users": DEMO_USERS
                .iter()
                .map(|name| json!({ "username": name, "password": PASSWORD }))
                .collect::<Vec<_>>(),
            "screenshots": shots,
        }),
    )
    .await;

    for (lang, seen) in [
        ("en", &result["result"]["en"]),
        ("zh-CN", &result["result"]["zh"]),
    ] {
        assert_eq!(seen["lang"], lang, "{seen}");
        let screens = seen["screens"].as_array().expect("screens");
        assert_eq!(screens.len(), 8, "{seen}");
        for screen in screens {
            assert!(
                screen["page_width"].as_u64() <= Some(PHONE_WIDTH),
                "{lang}: {screen}"
            );
            assert!(screen["header_height"].as_u64() <= Some(60), "{screen}");
            for kind in ["join", "view", "ask"] {
                for action in screen[kind].as_array().expect("actions") {
                    assert!(action["right"].as_i64() <= Some(390), "{screen}");
                    assert!(action["left"].as_i64() >= Some(0), "{screen}");
                    assert!(action["height"].as_i64() >= Some(44), "{screen}");
                }
            }
        }
        let on = |name: &str, kind: &str| -> usize {
            screens
                .iter()
                .find(|s| s["where"].as_str().is_some_and(|w| w.ends_with(name)))
                .and_then(|s| s[kind].as_array())
                .map_or(0, Vec::len)
        };
        // Mrs Wang's urgent call is open at once: Join is on the home page.
        assert!(on(" home", "join") >= 1, "{seen}");
        // Her page: View and Ask for a reading for each study, one of them
        // the slices just stored, its rows labelled as cards.
        assert!(on(" patient", "view") >= 2, "{seen}");
        assert!(on(" patient", "ask") >= 2, "{seen}");
        assert!(seen["patient_labelled"].as_u64() > Some(4), "{seen}");

        // The menu holds the clinician's screens, who they are, sign out.
        let menu = &seen["menu"];
        let links: Vec<&str> = menu["links"]
            .as_array()
            .expect("links")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(links.contains(&"#/patients"), "{menu}");
        assert!(links.contains(&"#/upload"), "{menu}");
        assert_eq!(menu["expanded"], "true", "{menu}");
        assert!(
            menu["who"].as_str().is_some_and(|w| !w.is_empty()),
            "{menu}"
        );
        assert!(menu["signout"].as_f64() >= Some(44.0), "{menu}");

        // A pinch zoomed in, a swipe went on a slice or more, and a double
        // tap put the zoom back.
        let viewer = &seen["viewer"];
        let number = |step: &str, what: &str| viewer[step][what].as_i64().unwrap_or_default();
        assert_eq!(number("before", "zoom"), 100, "{viewer}");
        assert!(number("pinched", "zoom") >= 150, "{viewer}");
        assert!(
            number("swiped", "image") > number("before", "image"),
            "{viewer}"
        );
        assert!(number("swiped", "image") <= SLICES as i64, "{viewer}");
        assert_eq!(number("reset", "zoom"), 100, "{viewer}");
    }
    // On a laptop the header and the tables are as they were.
    let laptop = &result["result"]["laptop"];
    assert_eq!(laptop["nav_visible"], true, "{laptop}");
    assert!(laptop["nav_links"].as_u64() >= Some(3), "{laptop}");
    assert_eq!(laptop["who_visible"], true, "{laptop}");
    assert_eq!(laptop["menu_button_visible"], false, "{laptop}");
    assert_eq!(laptop["table_display"], "table", "{laptop}");
    // The mouse in the viewer: the wheel stepped a slice, a drag windowed,
    // a right drag upwards zoomed in.
    let mouse = &laptop["mouse"];
    assert_ne!(mouse["before"]["image"], mouse["after"]["image"], "{mouse}");
    assert_ne!(mouse["before"]["wl"], mouse["after"]["wl"], "{mouse}");
    let zoom = |when: &str| {
        mouse[when]["zoom"]
            .as_str()
            .and_then(|z| z.parse::<u32>().ok())
            .unwrap_or_default()
    };
    assert!(zoom("after") > zoom("before"), "{mouse}");
    // Every demo user's every screen fits the phone too.
    let sweep = result["result"]["sweep"].as_array().expect("the sweep");
    for user in DEMO_USERS {
        assert!(sweep.iter().any(|s| s["user"] == user), "{user}");
    }
    for screen in sweep {
        assert!(
            screen["page_width"].as_u64() <= Some(PHONE_WIDTH),
            "{screen}"
        );
    }
    assert_eq!(
        screenshot_count(&result),
        2 * 12 + 2 + sweep.len(),
        "{result}"
    );
}
