//! The on-call desk's offers: a scheduler offers a waiting urgent request to
//! one of their experts, who alone may take it while it is offered, or
//! declines it back into the queue; and the bookings list names whose
//! booking it is, only to those who see the booking.

use ferry_server::auth::Role;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::reading::kinds;
use crate::support::scheduling::{add_rule, book, consultation, desk, local, next_weekday};
use crate::support::spawn_app;

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_offered_request_is_the_offered_experts_to_take_or_decline_back_to_the_queue() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let urgent = consultation(&app, &d, "urgent").await;
    let routine = consultation(&app, &d, "routine").await;
    // Another expert of the hospital, on call for the specialty, and an
    // expert of another facility.
    let colleague = app.user("dr-colleague", Role::Expert, d.c.tertiary).await;
    let now = Timestamp::now().as_millisecond();
    let (status, shift) = app
        .post(
            "/api/v1/on-call/shifts",
            &d.scheduler.token,
            json!({ "expert_id": colleague.id, "specialty": "cardiology",
                    "starts_at": Timestamp::from_millisecond(now - 60_000).expect("an instant").to_string(),
                    "ends_at": Timestamp::from_millisecond(now + 3_600_000).expect("an instant").to_string() }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{shift}");
    let elsewhere = app.user("dr-county", Role::Expert, d.c.county).await;
    let assign = |id: i64, expert: i64| {
        let app = &app;
        let token = d.scheduler.token.clone();
        async move {
            app.post(
                &format!("/api/v1/consultations/{id}/assign"),
                &token,
                json!({ "expert_id": expert }),
            )
            .await
        }
    };

    let (status, body) = assign(urgent, elsewhere.id).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = assign(routine, d.expert.id).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "use_booking"),
        "{body}"
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/consultations/{urgent}/assign"),
            &d.clinician.token,
            json!({ "expert_id": d.expert.id }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, offered) = assign(urgent, d.expert.id).await;
    assert_eq!(status, StatusCode::OK, "{offered}");
    assert_eq!(offered["status"], "requested", "{offered}");
    assert_eq!(offered["expert_id"], d.expert.id, "{offered}");
    assert_eq!(offered["patient_record_number"], "A-100", "{offered}");

    // Offered to one: it leaves the other on-call expert's queue, and they
    // cannot take it; the one it was offered to finds it, though not on call.
    let queue_of = |token: String| {
        let app = &app;
        async move {
            let (status, queue) = app.get("/api/v1/on-call/queue", &token).await;
            assert_eq!(status, StatusCode::OK, "{queue}");
            queue
                .as_array()
                .expect("a list")
                .iter()
                .filter_map(|c| c["id"].as_i64())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(queue_of(colleague.token.clone()).await, Vec::<i64>::new());
    assert_eq!(queue_of(d.expert.token.clone()).await, vec![urgent]);
    let (status, body) = app
        .post(
            &format!("/api/v1/consultations/{urgent}/accept"),
            &colleague.token,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_accepted"),
        "{body}"
    );
    assert!(kinds(&app, &d.expert)
        .await
        .contains(&"consultation.offered".to_owned()));

    // Only the expert it was offered to declines it, with a reason; it goes
    // back to the queue for whoever is on call.
    let (status, body) = app
        .post(
            &format!("/api/v1/consultations/{urgent}/decline-offer"),
            &colleague.token,
            json!({ "reason": "not mine" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/v1/consultations/{urgent}/decline-offer"),
            &d.expert.token,
            json!({ "reason": "" }),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "reason_required"),
        "{body}"
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/consultations/{urgent}/decline-offer"),
            &d.expert.token,
            json!({ "reason": "in theatre until noon" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, back) = app
        .get(
            &format!("/api/v1/consultations/{urgent}"),
            &d.scheduler.token,
        )
        .await;
    assert_eq!(back["status"], "requested", "{back}");
    assert_eq!(back["expert_id"], Value::Null, "{back}");
    assert!(kinds(&app, &d.scheduler)
        .await
        .contains(&"consultation.offer_declined".to_owned()));
    assert_eq!(queue_of(colleague.token.clone()).await, vec![urgent]);
    let (status, taken) = app
        .post(
            &format!("/api/v1/consultations/{urgent}/accept"),
            &colleague.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    let (status, body) = assign(urgent, d.expert.id).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_accepted"),
        "{body}"
    );
}

#[tokio::test]
async fn a_booking_names_its_patient_and_clinic_to_those_who_see_it() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 3, "start_time": "09:00", "end_time": "10:00",
                "slot_minutes": 60, "service": "video" }),
    )
    .await;
    let day = next_weekday("Asia/Shanghai", jiff::civil::Weekday::Wednesday, 1);
    let id = consultation(&app, &d, "routine").await;
    let (status, booking) = book(
        &app,
        &d.clinician.token,
        d.expert.id,
        &local("Asia/Shanghai", day, 9, 0),
        id,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let (_, clinic) = app
        .get(
            &format!("/api/v1/facilities/{}", d.c.island_a),
            &d.clinician.token,
        )
        .await;
    for token in [&d.scheduler.token, &d.expert.token, &d.clinician.token] {
        let (status, list) = app
            .get(&format!("/api/v1/bookings?consultation_id={id}"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let patient = &list[0]["patient"];
        assert_eq!(patient["name"], "Wang Xiuying", "{list}");
        assert_eq!(patient["record_number"], "A-100", "{list}");
        assert_eq!(patient["patient_id"], d.patient, "{list}");
        assert_eq!(
            patient["requesting_facility_name"], clinic["name"],
            "{list}"
        );
    }
    // A scheduler elsewhere sees neither the booking nor whose it is.
    let other = app.user("sched-county", Role::Scheduler, d.c.county).await;
    let (status, list) = app
        .get(
            &format!("/api/v1/bookings?consultation_id={id}"),
            &other.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list, json!([]));
}
