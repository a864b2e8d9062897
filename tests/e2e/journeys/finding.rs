//! Finding people fast in a real browser, on the demo consortium: the
//! island clinician (English, laptop) and the county clinician (Chinese,
//! 390×844) find 王秀英 by initials, pinyin and a record number typed in
//! lower case, see her on "Today / my patients" once opened, and break the
//! glass from a search result for a patient of another island, told only
//! that someone outside their scope holds the number. The administrator
//! reviews both openings with what was opened. Checked against the
//! database.

use serde_json::json;

use crate::support::journeys::{journey, screenshot_count, screenshots};
use crate::support::{spawn_app, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clinicians_find_patients_by_pinyin_and_break_the_glass_from_a_search() {
    let app = spawn_app().await;
    app.with_demo().await;
    let shots = screenshots("finding");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "finding",
        json!({
            "base": app.url(""),
            "island": { "username": "demo-clinician", "password": PASSWORD },
            "county": { "username": "demo-county-clinician", "password": PASSWORD },
            "admin": { "username": "demo-admin", "password": PASSWORD },
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();

    for (lang, side) in [("en", &seen["en"]), ("zh-CN", &seen["zh"])] {
        assert_eq!(side["lang"], lang, "{side}");
        for (query, name) in side["found"].as_object().expect("found") {
            assert_eq!(name, "王秀英", "{lang}: {query}");
        }
        let today = side["today"]["names"].as_array().expect("today");
        assert_eq!(today.first(), Some(&json!("王秀英")), "{lang}: {side}");
    }
    assert_eq!(seen["en"]["found"].as_object().map(|f| f.len()), Some(4));
    assert_eq!(text(&seen["en"]["today"]["title"]), "Today / my patients");
    assert_eq!(text(&seen["zh"]["today"]["title"]), "今日 / 我的患者");

    // Told that someone outside holds the number, not who; then the page.
    let en = &seen["en"]["outside"];
    assert!(text(&en["said"]).contains("outside your scope"), "{en}");
    assert!(!text(&en["said"]).contains("陈美玲"), "{en}");
    assert_eq!(en["name"], "陈美玲");
    let zh = &seen["zh"]["outside"];
    assert!(text(&zh["said"]).contains("权限范围外"), "{zh}");
    assert!(!text(&zh["said"]).contains("林海"), "{zh}");
    assert_eq!(zh["name"], "林海");
    assert!(
        seen["zh"]["page_width"].as_u64() <= Some(390),
        "the phone's page is no wider than the phone: {}",
        seen["zh"]
    );

    // The administrator reviewed the newest grant in English, the other in
    // Chinese, and saw what each clinician opened.
    let review = &seen["review"];
    assert_eq!(review["en"]["grants"], 2, "{review}");
    assert!(text(&review["en"]["first"]).contains("林海"), "{review}");
    assert!(
        text(&review["en"]["opened"]).contains("opened the patient"),
        "{review}"
    );
    assert!(
        text(&review["en"]["reviewed"]).contains("Reviewed"),
        "{review}"
    );
    assert_eq!(text(&review["zh"]["title"]), "紧急访问");
    assert_eq!(review["zh"]["grants"], 1, "{review}");
    assert!(text(&review["zh"]["first"]).contains("陈美玲"), "{review}");
    assert!(
        text(&review["zh"]["opened"]).contains("打开患者"),
        "{review}"
    );
    assert!(text(&review["zh"]["reviewed"]).contains("审核"), "{review}");
    assert_eq!(screenshot_count(&result), 12);

    let grants: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT u.username, g.reason, g.review_note FROM break_glass_grant g \
         JOIN app_user u ON u.id = g.user_id ORDER BY g.id",
    )
    .fetch_all(app.db.pool())
    .await
    .expect("the grants");
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[0].0, "demo-clinician");
    assert_eq!(grants[0].2.as_deref(), Some("理由成立"));
    assert_eq!(grants[1].0, "demo-county-clinician");
    assert_eq!(grants[1].1, "胸痛急诊，患者意识不清，需查看既往病历");
    assert_eq!(
        grants[1].2.as_deref(),
        Some("Justified: emergency confirmed")
    );
}
