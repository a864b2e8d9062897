//! The wrong-patient journey (issue 29, item 1) in a real browser: with the
//! answers for patient B held back ~4 s, a clinician who typed on patient
//! A's consultation request, or chose a slot on A's booking screen, and
//! then went to B's, sees a loading state and no form until B's data is
//! there, then B's banner; nothing is ever created for A. Run in English,
//! in Chinese, and on a phone (390×844). What the browser showed is then
//! checked against what the server holds. The server's own check (a booking
//! whose `patient_id` is not its consultation's) is tested without a browser.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::scheduling::{add_daily_rules, desk, Desk};
use crate::support::{assert_error, spawn_app, TestApp};

/// How long the answers for the patient just opened are held back.
const DELAY_MS: u64 = 4000;

async fn register(
    app: &TestApp,
    d: &Desk,
    family: &str,
    given: &str,
    born: &str,
    record: &str,
) -> Value {
    let (status, body) = app
        .post(
            "/api/v1/patients",
            &d.clinician.token,
            json!({ "family_name": family, "given_name": given, "sex": "female",
                    "birth_date": born, "record_number": record, "new_person": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn routine_consultation(app: &TestApp, d: &Desk, patient: i64) -> i64 {
    let (status, body) = app
        .post(
            "/api/v1/consultations",
            &d.clinician.token,
            json!({ "patient_id": patient, "expert_id": d.expert.id, "urgency": "routine",
                    "reason": "chest pain on exertion", "clinical_summary": "" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().expect("an id")
}

async fn consultations_of(app: &TestApp, d: &Desk, patient: i64) -> Vec<Value> {
    let (status, body) = app
        .get(
            &format!("/api/v1/consultations?patient_id={patient}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a list").clone()
}

async fn bookings_of(app: &TestApp, d: &Desk, consultation: i64) -> Vec<Value> {
    let (status, body) = app
        .get(
            &format!("/api/v1/bookings?consultation_id={consultation}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a list").clone()
}

async fn run(name: &str, locale: &str, viewport: Value) {
    let app = spawn_app().await;
    let d = desk(&app).await;
    // Hourly slots all day, every day, so this week always has free ones.
    add_daily_rules(&app, &d, "00:00", "23:00").await;
    let a = register(&app, &d, "王", "秀英", "1958-03-12", "WP-A-1").await;
    let b = register(&app, &d, "李", "建国", "1949-10-01", "WP-B-2").await;
    let (a_id, b_id) = (a["id"].as_i64().expect("A"), b["id"].as_i64().expect("B"));
    let book_a = routine_consultation(&app, &d, a_id).await;
    let book_b = routine_consultation(&app, &d, b_id).await;
    let shots = screenshots(name);
    let _ = std::fs::remove_dir_all(&shots);

    let result = journey(
        "wrong-patient",
        json!({
            "base": app.url(""),
            "clinician": user(&d.clinician),
            "locale": locale,
            "viewport": viewport,
            "a": { "id": a_id, "name": "王秀英", "record": "WP-A-1" },
            "b": { "id": b_id, "name": "李建国", "record": "WP-B-2" },
            "book_a": book_a,
            "book_b": book_b,
            "delay_ms": DELAY_MS,
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];
    let record_word = if locale == "zh-CN" {
        "病历号"
    } else {
        "Record no."
    };
    let age_a = if locale == "zh-CN" { "岁" } else { "years" };

    // The banners named each patient by name, age and record number.
    let banner_a = seen["banner_a"].as_str().expect("A's banner");
    assert!(
        banner_a.contains("王秀英") && banner_a.contains("WP-A-1"),
        "{seen}"
    );
    assert!(
        banner_a.contains(record_word) && banner_a.contains(age_a),
        "{seen}"
    );
    let banner_b = seen["banner_b"].as_str().expect("B's banner");
    assert!(
        banner_b.contains("李建国") && banner_b.contains("WP-B-2"),
        "{seen}"
    );
    assert!(!banner_b.contains("王秀英"), "{seen}");

    // While B's answers were held back: loading, no form, no banner of A.
    assert_eq!(seen["consult_loading"], true, "{seen}");
    assert_eq!(seen["consult_forms_while_loading"], 0, "{seen}");
    assert_eq!(seen["consult_banner_while_loading"], Value::Null, "{seen}");
    assert_eq!(seen["stale_submit_connected"], false, "{seen}");
    // B's form came empty, under B's one banner.
    assert_eq!(seen["consult_reason_b"], "", "{seen}");
    assert_eq!(seen["consult_banners"], 1, "{seen}");
    // A's late answer did not draw over B's screen.
    assert_eq!(seen["late_banner"], b_id, "{seen}");
    assert_eq!(seen["late_banners"], 1, "{seen}");
    assert_eq!(seen["late_forms"], 1, "{seen}");
    // The booking screen: the same.
    assert_eq!(seen["book_loading"], true, "{seen}");
    assert_eq!(seen["book_buttons_while_loading"], 0, "{seen}");
    assert_eq!(seen["book_banner_while_loading"], Value::Null, "{seen}");
    assert_eq!(seen["stale_book_connected"], false, "{seen}");
    assert!(
        seen["book_banner_b"]
            .as_str()
            .is_some_and(|t| t.contains("李建国") && t.contains("WP-B-2")),
        "{seen}"
    );
    assert_eq!(seen["book_submit_visible_b"], false, "{seen}");
    assert_eq!(seen["book_banner_after"], b_id, "{seen}");
    // The other language drew the whole screen again.
    let other_word = if locale == "zh-CN" {
        "Record no."
    } else {
        "病历号"
    };
    assert!(
        seen["relabelled_banner"]
            .as_str()
            .is_some_and(|t| t.contains(other_word) && !t.contains(record_word)),
        "{seen}"
    );

    // The browser sent exactly one request and one booking, both for B.
    let posts = seen["posts"].as_array().expect("posts");
    assert_eq!(posts.len(), 2, "{seen}");
    assert_eq!(posts[0]["path"], "/api/v1/consultations", "{seen}");
    assert_eq!(posts[0]["body"]["patient_id"], b_id, "{seen}");
    assert_eq!(posts[1]["path"], "/api/v1/bookings", "{seen}");
    assert_eq!(posts[1]["body"]["consultation_id"], book_b, "{seen}");
    assert_eq!(posts[1]["body"]["patient_id"], b_id, "{seen}");

    // On the server: A has only the consultation made before, unbooked; B
    // has that one (now booked) and the one sent from the browser.
    let of_a = consultations_of(&app, &d, a_id).await;
    assert_eq!(of_a.len(), 1, "{of_a:?}");
    assert_eq!(of_a[0]["id"], book_a, "{of_a:?}");
    assert_eq!(of_a[0]["status"], "requested", "{of_a:?}");
    assert!(bookings_of(&app, &d, book_a).await.is_empty());
    let of_b = consultations_of(&app, &d, b_id).await;
    let created = seen["consult_created"]
        .as_i64()
        .expect("the new consultation");
    let mut ids: Vec<i64> = of_b.iter().filter_map(|c| c["id"].as_i64()).collect();
    ids.sort_unstable();
    let mut want = vec![book_b, created];
    want.sort_unstable();
    assert_eq!(ids, want, "{of_b:?}");
    assert!(of_b
        .iter()
        .all(|c| c["patient_id"] == b_id && c["patient_name"] == "李建国"));
    let booked = bookings_of(&app, &d, book_b).await;
    assert!(booked.iter().any(|b| b["status"] == "booked"), "{booked:?}");
    assert!(screenshot_count(&result) >= 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_never_lets_a_screen_act_on_the_patient_left_behind() {
    run(
        "wrong-patient-en",
        "en",
        json!({ "width": 1024, "height": 768 }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_never_lets_a_screen_act_on_the_patient_left_behind_in_chinese() {
    run(
        "wrong-patient-zh",
        "zh-CN",
        json!({ "width": 1024, "height": 768 }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_never_lets_a_screen_act_on_the_patient_left_behind_on_a_phone() {
    run(
        "wrong-patient-phone",
        "zh-CN",
        json!({ "width": 390, "height": 844 }),
    )
    .await;
}

/// The server's side: a booking that names a patient other than its
/// consultation's is refused with 409 `patient_mismatch`, and books nothing.
#[tokio::test]
async fn a_booking_naming_another_patient_is_refused() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    add_daily_rules(&app, &d, "00:00", "23:00").await;
    let other = register(&app, &d, "李", "建国", "1949-10-01", "WP-B-2").await;
    let other = other["id"].as_i64().expect("an id");
    let consultation = routine_consultation(&app, &d, d.patient).await;
    let (status, search) = app
        .get(
            &format!(
                "/api/v1/slots?expert_id={}&from={}&to={}",
                d.expert.id,
                jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::from_hours(24))
                    .expect("tomorrow"),
                jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::from_hours(72))
                    .expect("in three days"),
            ),
            &d.clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{search}");
    let start = search["slots"][0]["start"]
        .as_str()
        .expect("a free slot")
        .to_owned();
    let (status, body) = app
        .post(
            "/api/v1/bookings",
            &d.clinician.token,
            json!({ "expert_id": d.expert.id, "start": start, "consultation_id": consultation,
                    "patient_id": other }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "patient_mismatch");
    assert!(bookings_of(&app, &d, consultation).await.is_empty());
    // Naming the consultation's own patient books it.
    let (status, body) = app
        .post(
            "/api/v1/bookings",
            &d.clinician.token,
            json!({ "expert_id": d.expert.id, "start": start, "consultation_id": consultation,
                    "patient_id": d.patient }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
