//! Find → hold → book, and everything that can happen to a booking after.

use jiff::civil::Weekday;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::scheduling::{
    add_rule, book, consultation, desk, local, next_weekday, referred_up, slots, starts,
};
use crate::support::{assert_error, spawn_app};

const SHANGHAI: &str = "Asia/Shanghai";

#[tokio::test]
async fn overlapping_slots_of_two_rules_can_never_both_be_booked() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let day = next_weekday(SHANGHAI, Weekday::Tuesday, 2);
    // An hour-long clinic 09:00–10:00 and half-hour slots 09:30–10:30.
    for (start, end, minutes) in [("09:00", "10:00", 60), ("09:30", "10:30", 30)] {
        add_rule(
            &app,
            &d.scheduler,
            d.expert.id,
            json!({ "weekday": 2, "start_time": start, "end_time": end, "slot_minutes": minutes, "service": "video" }),
        )
        .await;
    }
    let query = format!("expert_id={}&from={day}&to={day}", d.expert.id);
    assert_eq!(
        starts(&slots(&app, &d.clinician.token, &query).await),
        [
            local(SHANGHAI, day, 9, 0),
            local(SHANGHAI, day, 9, 30),
            local(SHANGHAI, day, 10, 0)
        ]
    );
    let first = consultation(&app, &d, "routine").await;
    let second = consultation(&app, &d, "routine").await;
    let (status, body) = book(
        &app,
        &d.clinician.token,
        d.expert.id,
        &local(SHANGHAI, day, 9, 0),
        first,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // 09:30 overlaps the booked hour: gone from the search, refused at booking
    // with the next free slots offered.
    assert_eq!(
        starts(&slots(&app, &d.clinician.token, &query).await),
        [local(SHANGHAI, day, 10, 0)]
    );
    let (status, body) = book(
        &app,
        &d.clinician.token,
        d.expert.id,
        &local(SHANGHAI, day, 9, 30),
        second,
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "slot_taken");
    assert_eq!(
        body["error"]["details"]["next_free"][0]["start"],
        local(SHANGHAI, day, 10, 0)
    );
    let (status, body) = book(
        &app,
        &d.clinician.token,
        d.expert.id,
        &local(SHANGHAI, day, 10, 0),
        second,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let overlapping: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM booking a JOIN booking b ON a.expert_id = b.expert_id AND a.id < b.id \
         AND a.start_at < b.end_at AND b.start_at < a.end_at WHERE a.status = 'booked' AND b.status = 'booked'",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("count");
    assert_eq!(overlapping, 0);
}

#[tokio::test]
async fn a_hold_is_confirmed_or_lapses_and_is_checked_again_at_booking() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let other = app
        .user(
            "other-doc",
            ferry_server::auth::Role::Clinician,
            d.c.island_a,
        )
        .await;
    let day = next_weekday(SHANGHAI, Weekday::Thursday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 4, "start_time": "09:00", "end_time": "10:00", "slot_minutes": 30, "service": "video" }),
    )
    .await;
    let nine = local(SHANGHAI, day, 9, 0);
    let (status, hold) = app
        .post(
            "/api/v1/bookings",
            &d.clinician.token,
            json!({ "expert_id": d.expert.id, "start": nine, "hold": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    assert_eq!(hold["status"], "held");
    assert!(hold["hold_expires_at"].is_string());
    let hold_id = hold["id"].as_i64().expect("id");

    // Held means taken for everyone else.
    let (status, body) = app
        .post(
            "/api/v1/bookings",
            &other.token,
            json!({ "expert_id": d.expert.id, "start": nine, "hold": true }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "slot_taken");

    // Confirmed for a consultation, the hold becomes a booking.
    let consultation_id = consultation(&app, &d, "routine").await;
    let (status, booked) = app
        .post(
            &format!("/api/v1/bookings/{hold_id}/confirm"),
            &d.clinician.token,
            json!({ "consultation_id": consultation_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{booked}");
    assert_eq!(booked["status"], "booked");
    let (_, c) = app
        .get(
            &format!("/api/v1/consultations/{consultation_id}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(c["status"], "scheduled");
    assert_eq!(c["expert_id"], d.expert.id);

    // A hold whose time is up frees the slot for the next clinician…
    let half_past = local(SHANGHAI, day, 9, 30);
    let (_, hold) = app
        .post(
            "/api/v1/bookings",
            &d.clinician.token,
            json!({ "expert_id": d.expert.id, "start": half_past, "hold": true }),
        )
        .await;
    let lapsed_id = hold["id"].as_i64().expect("id");
    sqlx::query("UPDATE booking SET hold_expires_at = 1 WHERE id = $1")
        .bind(lapsed_id)
        .execute(app.db.pool())
        .await
        .expect("age the hold");
    let (status, theirs) = app
        .post(
            "/api/v1/bookings",
            &other.token,
            json!({ "expert_id": d.expert.id, "start": half_past, "hold": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    // …and confirming the lapsed one is checked again and refused.
    let second = consultation(&app, &d, "routine").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{lapsed_id}/confirm"),
            &d.clinician.token,
            json!({ "consultation_id": second }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "slot_taken");
    let (_, c) = app
        .get(
            &format!("/api/v1/consultations/{second}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(c["status"], "requested", "nothing changed");
}

#[tokio::test]
async fn cancel_reschedule_decline_and_no_show() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let day = next_weekday(SHANGHAI, Weekday::Friday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 5, "start_time": "09:00", "end_time": "11:00", "slot_minutes": 30, "service": "video" }),
    )
    .await;
    let at = |h, m| local(SHANGHAI, day, h, m);
    let a = consultation(&app, &d, "routine").await;
    let b = consultation(&app, &d, "routine").await;
    let (_, booking_a) = book(&app, &d.clinician.token, d.expert.id, &at(9, 0), a).await;
    let (_, booking_b) = book(&app, &d.clinician.token, d.expert.id, &at(9, 30), b).await;
    let id_a = booking_a["id"].as_i64().expect("id");
    let id_b = booking_b["id"].as_i64().expect("id");

    // Reschedule onto a taken slot: refused, and nothing moved.
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{id_a}/reschedule"),
            &d.clinician.token,
            json!({ "start": at(9, 30) }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "slot_taken");
    let (_, still) = app
        .get(&format!("/api/v1/bookings/{id_a}"), &d.clinician.token)
        .await;
    assert_eq!(still["start"], at(9, 0));
    assert_eq!(app.count("slot_claim").await, 2);

    // Onto a free one: the new slot is taken and the old one freed together.
    let (status, moved) = app
        .post(
            &format!("/api/v1/bookings/{id_a}/reschedule"),
            &d.clinician.token,
            json!({ "start": at(10, 30) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["start"], at(10, 30));
    let query = format!("expert_id={}&from={day}&to={day}", d.expert.id);
    assert_eq!(
        starts(&slots(&app, &d.clinician.token, &query).await),
        [at(9, 0), at(10, 0)]
    );

    // Cancelled: the slot is free again and the consultation can be rebooked.
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{id_a}/cancel"),
            &d.clinician.token,
            json!({ "reason": "patient recovered" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    let (_, c) = app
        .get(&format!("/api/v1/consultations/{a}"), &d.clinician.token)
        .await;
    assert_eq!(c["status"], "requested");
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{id_a}/cancel"),
            &d.clinician.token,
            json!({ "reason": "again" }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "booking_not_active");

    // The expert declines with a reason; the consultation is declined.
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{id_b}/decline"),
            &d.clinician.token,
            json!({ "reason": "not mine" }),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{id_b}/decline"),
            &d.expert.token,
            json!({ "reason": "outside my field" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, c) = app
        .get(&format!("/api/v1/consultations/{b}"), &d.clinician.token)
        .await;
    assert_eq!(c["status"], "declined");
    assert_eq!(c["status_reason"], "outside my field");

    // A no-show is recorded only once the slot has begun.
    let (_, rebooked) = book(&app, &d.clinician.token, d.expert.id, &at(9, 0), a).await;
    let rebooked_id = rebooked["id"].as_i64().expect("id");
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{rebooked_id}/no-show"),
            &d.expert.token,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "not_started");
    sqlx::query("UPDATE booking SET start_at = start_at - $1, end_at = end_at - $1 WHERE id = $2")
        .bind(30 * 86_400_000_i64)
        .bind(rebooked_id)
        .execute(app.db.pool())
        .await
        .expect("move the booking into the past");
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{rebooked_id}/no-show"),
            &d.expert.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "no_show");
    let (_, notes) = app.get("/api/v1/notifications", &d.clinician.token).await;
    let kinds: Vec<&str> = notes
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"booking.declined") && kinds.contains(&"booking.no_show"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_shared_slot_takes_its_capacity_and_no_more() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let day = next_weekday(SHANGHAI, Weekday::Monday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 1, "start_time": "14:00", "end_time": "15:00", "slot_minutes": 60,
                "capacity": 2, "service": "async_review" }),
    )
    .await;
    let start = local(SHANGHAI, day, 14, 0);
    for expected in [
        StatusCode::CREATED,
        StatusCode::CREATED,
        StatusCode::CONFLICT,
    ] {
        let (status, body) = app
            .post(
                "/api/v1/consultations",
                &d.clinician.token,
                json!({ "patient_id": d.patient, "expert_id": d.expert.id, "urgency": "routine",
                        "service": "async_review", "reason": "second read of the chest film" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = book(
            &app,
            &d.clinician.token,
            d.expert.id,
            &start,
            body["id"].as_i64().expect("id"),
        )
        .await;
        assert_eq!(status, expected, "{body}");
    }
    // A video consultation cannot take an async-review slot.
    let video = consultation(&app, &d, "routine").await;
    let (status, _) = book(&app, &d.clinician.token, d.expert.id, &start, video).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn bad_booking_requests_change_nothing() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let day = next_weekday(SHANGHAI, Weekday::Monday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 1, "start_time": "09:00", "end_time": "10:00", "slot_minutes": 30, "service": "video" }),
    )
    .await;
    let routine = consultation(&app, &d, "routine").await;
    let urgent = consultation(&app, &d, "urgent").await;
    let cases = [
        (
            json!({ "expert_id": d.expert.id, "start": "tomorrow", "consultation_id": routine }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_instant",
        ),
        (
            json!({ "expert_id": d.expert.id, "start": local(SHANGHAI, day, 9, 0) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "consultation_required",
        ),
        (
            json!({ "expert_id": d.expert.id, "start": local(SHANGHAI, day, 9, 10), "consultation_id": routine }),
            StatusCode::CONFLICT,
            "slot_unavailable",
        ),
        (
            json!({ "expert_id": d.expert.id, "start": local(SHANGHAI, day, 9, 0), "consultation_id": urgent }),
            StatusCode::CONFLICT,
            "on_call_consultation",
        ),
        (
            json!({ "expert_id": 999_999, "start": local(SHANGHAI, day, 9, 0), "consultation_id": routine }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_expert",
        ),
        (
            json!({ "expert_id": d.expert.id, "start": "2020-01-01T09:00:00+08:00", "consultation_id": routine }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "slot_in_past",
        ),
    ];
    for (body, status, code) in cases {
        let (got, response) = app
            .post("/api/v1/bookings", &d.clinician.token, body.clone())
            .await;
        assert_error(got, &response, status, code);
    }
    assert_eq!(app.count("booking").await, 0);
    assert_eq!(app.count("slot_claim").await, 0);
    let (status, body) = app
        .post("/api/v1/bookings", &d.clinician.token, json!({ "expert_id": d.expert.id, "start": local(SHANGHAI, day, 9, 0), "colour": "red" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn slots_held_back_for_referrals_need_an_accepted_up_referral() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let receiving = app
        .user(
            "tertiary-doc",
            ferry_server::auth::Role::Clinician,
            d.c.tertiary,
        )
        .await;
    let day = next_weekday(SHANGHAI, Weekday::Wednesday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 3, "start_time": "16:00", "end_time": "17:00", "slot_minutes": 60,
                "service": "video", "referral_priority": true }),
    )
    .await;
    let start = local(SHANGHAI, day, 16, 0);
    let query = format!("expert_id={}&from={day}&to={day}", d.expert.id);
    assert!(starts(&slots(&app, &d.clinician.token, &query).await).is_empty());
    let reserved = slots(
        &app,
        &d.clinician.token,
        &format!("{query}&include_reserved=true"),
    )
    .await;
    assert_eq!(reserved["slots"][0]["referral_priority"], true);

    let consultation_id = consultation(&app, &d, "routine").await;
    let (status, body) = book(
        &app,
        &d.clinician.token,
        d.expert.id,
        &start,
        consultation_id,
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "slot_reserved_for_referrals",
    );

    let referral_id = referred_up(&app, &d).await;
    let with_referral = json!({ "expert_id": d.expert.id, "start": start,
                                "consultation_id": consultation_id, "referral_id": referral_id });
    let (status, body) = app
        .post(
            "/api/v1/bookings",
            &d.clinician.token,
            with_referral.clone(),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_referral",
    );

    let (status, body) = app
        .post(
            &format!("/api/v1/referrals/{referral_id}/accept"),
            &receiving.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post("/api/v1/bookings", &d.clinician.token, with_referral)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let linked: i64 =
        sqlx::query_scalar("SELECT referral_id FROM booking_referral WHERE booking_id = $1")
            .bind(body["id"].as_i64().expect("id"))
            .fetch_one(app.db.pool())
            .await
            .expect("the booking remembers its referral");
    assert_eq!(linked, referral_id);
}

#[tokio::test]
async fn a_taken_slot_offers_alternatives_of_the_service_the_consultation_asks_for() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let day = next_weekday(SHANGHAI, Weekday::Tuesday, 2);
    for (start, end, minutes, service) in [
        ("09:00", "09:30", 30, "video"),
        ("09:30", "11:30", 30, "async_review"),
    ] {
        add_rule(
            &app,
            &d.scheduler,
            d.expert.id,
            json!({ "weekday": 2, "start_time": start, "end_time": end, "slot_minutes": minutes, "service": service }),
        )
        .await;
    }
    let nine = local(SHANGHAI, day, 9, 0);
    let first = consultation(&app, &d, "routine").await;
    let second = consultation(&app, &d, "routine").await;
    let (status, body) = book(&app, &d.clinician.token, d.expert.id, &nine, first).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body) = book(&app, &d.clinician.token, d.expert.id, &nine, second).await;
    assert_error(status, &body, StatusCode::CONFLICT, "slot_taken");
    let offered = body["error"]["details"]["next_free"]
        .as_array()
        .expect("alternatives");
    assert!(!offered.is_empty(), "{body}");
    assert!(
        offered.iter().all(|slot| slot["service"] == "video"),
        "only video slots fit a video consultation: {body}"
    );
    // Each alternative can be booked as offered.
    let start = offered[0]["start"].as_str().expect("a start");
    let (status, body) = book(&app, &d.clinician.token, d.expert.id, start, second).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_slot_of_another_service_is_refused_at_booking_and_at_confirmation() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let day = next_weekday(SHANGHAI, Weekday::Wednesday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 3, "start_time": "14:00", "end_time": "15:00", "slot_minutes": 60,
                "service": "async_review" }),
    )
    .await;
    let start = local(SHANGHAI, day, 14, 0);
    let video = consultation(&app, &d, "routine").await;
    let (status, body) = book(&app, &d.clinician.token, d.expert.id, &start, video).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "service_mismatch",
    );
    assert_eq!(body["error"]["details"]["field"], "start", "{body}");

    // The refusal took nothing: the slot can still be held, but the hold
    // cannot be confirmed for the video consultation either.
    let (status, hold) = app
        .post(
            "/api/v1/bookings",
            &d.clinician.token,
            json!({ "expert_id": d.expert.id, "start": start, "hold": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let hold_id = hold["id"].as_i64().expect("id");
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{hold_id}/confirm"),
            &d.clinician.token,
            json!({ "consultation_id": video }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "service_mismatch",
    );
    assert_eq!(
        body["error"]["details"]["field"], "consultation_id",
        "{body}"
    );

    let (_, held) = app
        .get(&format!("/api/v1/bookings/{hold_id}"), &d.clinician.token)
        .await;
    assert_eq!(held["status"], "held", "{held}");
    assert!(held["consultation_id"].is_null(), "{held}");
    let (_, case) = app
        .get(
            &format!("/api/v1/consultations/{video}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(case["status"], "requested", "{case}");
    let (_, bookings) = app
        .get(
            &format!("/api/v1/bookings?consultation_id={video}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(bookings, json!([]), "{bookings}");
}
