//! A registrar at the county hospital registers a patient the island clinic
//! already knows, in Chinese, in a real browser on the demo consortium:
//! the consortium offers the island's record without its details, refuses
//! "the same person" without proof, and joins the registration to that
//! person once the identity card's number is typed. Checked against the
//! database and the audit trail.

use serde_json::{json, Value};

use crate::support::journeys::{journey, screenshot_count, screenshots};
use crate::support::{spawn_app, PASSWORD};

const NATIONAL_ID: &str = "330225201004090038";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registrar_is_offered_the_island_record_and_joins_it_with_the_id_card() {
    let app = spawn_app().await;
    app.with_demo().await;
    let pool = app.db.pool();
    let zhang: i64 = sqlx::query_scalar("SELECT id FROM patient WHERE national_id = $1")
        .bind(NATIONAL_ID)
        .fetch_one(pool)
        .await
        .expect("张小宇");
    let patients_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM patient")
        .fetch_one(pool)
        .await
        .expect("a count");
    let shots = screenshots("patient-index");
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "patient-index",
        json!({
            "base": app.url(""),
            "registrar": { "username": "demo-county-clinician", "password": PASSWORD },
            "person": {
                "family_name": "张", "given_name": "小宇", "sex": "male",
                "birth_date": "2010-04-09", "record_number": "HA-2026-0042",
            },
            "national_id": NATIONAL_ID,
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    let text = |key: &str| seen[key].as_str().unwrap_or_default().to_owned();
    assert_eq!(seen["candidates"], 1, "{seen}");
    assert!(text("offer").contains("其他 1 家成员机构有档案"), "{seen}");
    assert!(text("offer").contains("姓名"), "{seen}");
    assert!(!text("offer").contains("DJ-0003"), "{seen}");
    assert!(!text("offer").contains("Dongji"), "{seen}");
    assert!(text("refused").contains("身份证号"), "{seen}");
    assert!(
        text("url").ends_with(&format!("#/patients/{zhang}")),
        "{seen}"
    );
    assert_eq!(text("name"), "张小宇");
    assert!(text("records").contains("HA-2026-0042"), "{seen}");
    assert!(text("records").contains("DJ-0003"), "{seen}");
    assert_eq!(screenshot_count(&result), 2);

    let patients_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM patient")
        .fetch_one(pool)
        .await
        .expect("a count");
    assert_eq!(patients_after, patients_before, "no second person");
    let trail: Vec<(String, String)> = sqlx::query_as(
        "SELECT e.subtype, e.detail FROM audit_event e JOIN app_user u ON u.id = e.actor_user_id \
         WHERE u.username = 'demo-county-clinician' AND e.subtype LIKE 'patient.%' ORDER BY e.seq",
    )
    .fetch_all(pool)
    .await
    .expect("the audit trail");
    let subtypes: Vec<&str> = trail.iter().map(|(s, _)| s.as_str()).collect();
    assert!(subtypes.contains(&"patient.candidates"), "{subtypes:?}");
    let (_, link) = trail
        .iter()
        .find(|(s, _)| s == "patient.link")
        .expect("the registration linked");
    let link: Value = serde_json::from_str(link).expect("JSON");
    assert_eq!(link["by"], "national_id");
}
