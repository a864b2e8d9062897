//! Rosters and slot search across time zones, and roster changes that meet
//! booked slots.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::scheduling::{
    add_rule, book, consultation, desk, iso_weekday, local, next_weekday, set_zone, slots, starts,
};
use crate::support::{assert_error, spawn_app, spawn_app_with};

const NEW_YORK: &str = "America/New_York";
const SHANGHAI: &str = "Asia/Shanghai";

fn in_zone(rfc3339: &str, zone: &str) -> String {
    let ts: Timestamp = rfc3339.parse().expect("an instant");
    let tz = TimeZone::get(zone).expect("a zone");
    ts.display_with_offset(tz.to_offset(ts)).to_string()
}

#[tokio::test]
async fn an_evening_window_in_new_york_crosses_midnight_utc_and_reads_in_the_callers_zone() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    set_zone(&app, d.c.tertiary, NEW_YORK).await;
    let friday = next_weekday(NEW_YORK, Weekday::Friday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": iso_weekday(Weekday::Friday), "start_time": "17:00", "end_time": "21:00",
                "slot_minutes": 60, "service": "video" }),
    )
    .await;

    // In the expert's zone: four slots on Friday evening.
    let found = slots(
        &app,
        &d.clinician.token,
        &format!(
            "expert_id={}&from={friday}&to={friday}&tz={NEW_YORK}",
            d.expert.id
        ),
    )
    .await;
    let expected: Vec<String> = (17..21).map(|h| local(NEW_YORK, friday, h, 0)).collect();
    assert_eq!(starts(&found), expected);
    assert_eq!(found["time_zone"], NEW_YORK);
    // 19:00 in New York is already Saturday in UTC.
    let utc_date = expected[2]
        .parse::<Timestamp>()
        .expect("instant")
        .to_zoned(TimeZone::UTC)
        .date();
    assert_eq!(utc_date, friday.tomorrow().expect("a date"));

    // The island clinician, east of UTC, reads the same slots on Saturday morning.
    let found = slots(
        &app,
        &d.clinician.token,
        &format!(
            "expert_id={}&from={}&to={}",
            d.expert.id,
            urlencode(&local(NEW_YORK, friday, 0, 0)),
            urlencode(&local(NEW_YORK, friday.tomorrow().expect("a date"), 0, 0))
        ),
    )
    .await;
    let shanghai: Vec<String> = expected.iter().map(|s| in_zone(s, SHANGHAI)).collect();
    assert_eq!(starts(&found), shanghai);
    assert!(shanghai[0].ends_with("+08:00"), "{shanghai:?}");
    assert_eq!(found["time_zone"], SHANGHAI);
}

pub fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// The next two clock changes in New York: (spring forward, fall back) as
/// local dates, whichever order they come in.
fn next_transitions() -> (jiff::civil::Date, jiff::civil::Date) {
    let tz = TimeZone::get(NEW_YORK).expect("a zone");
    let mut spring = None;
    let mut fall = None;
    let mut previous = tz.to_offset(Timestamp::now());
    for transition in tz.following(Timestamp::now()).take(4) {
        let date = transition.timestamp().to_zoned(tz.clone()).date();
        if transition.offset() > previous {
            spring.get_or_insert(date);
        } else {
            fall.get_or_insert(date);
        }
        previous = transition.offset();
    }
    (
        spring.expect("a spring transition"),
        fall.expect("a fall transition"),
    )
}

#[tokio::test]
async fn both_dst_transitions_in_new_york_give_the_real_hours() {
    let app = spawn_app_with(|s| s.slot_horizon_days = 800).await;
    let d = desk(&app).await;
    set_zone(&app, d.c.tertiary, NEW_YORK).await;
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 7, "start_time": "01:00", "end_time": "04:00", "slot_minutes": 60, "service": "video" }),
    )
    .await;
    let (spring, fall) = next_transitions();
    let query = |date| {
        format!(
            "expert_id={}&from={date}&to={date}&tz={NEW_YORK}",
            d.expert.id
        )
    };

    // 02:00–03:00 does not exist: two real hours, the second slot at 03:00 EDT.
    let found = slots(&app, &d.clinician.token, &query(spring)).await;
    assert_eq!(
        starts(&found),
        [
            format!("{spring}T01:00:00-05:00"),
            format!("{spring}T03:00:00-04:00")
        ]
    );

    // 01:00–02:00 happens twice: four real hours.
    let found = slots(&app, &d.clinician.token, &query(fall)).await;
    assert_eq!(
        starts(&found),
        [
            format!("{fall}T01:00:00-04:00"),
            format!("{fall}T01:00:00-05:00"),
            format!("{fall}T02:00:00-05:00"),
            format!("{fall}T03:00:00-05:00"),
        ]
    );
    for slot in found["slots"].as_array().expect("slots") {
        let start: Timestamp = slot["start"]
            .as_str()
            .expect("start")
            .parse()
            .expect("instant");
        let end: Timestamp = slot["end"].as_str().expect("end").parse().expect("instant");
        assert_eq!(
            end.as_millisecond() - start.as_millisecond(),
            3_600_000,
            "{slot}"
        );
    }
}

#[tokio::test]
async fn a_server_in_another_zone_answers_the_same() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let monday = next_weekday(SHANGHAI, Weekday::Monday, 2);
    add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 1, "start_time": "13:00", "end_time": "15:00", "slot_minutes": 30, "service": "video" }),
    )
    .await;
    let query = format!("expert_id={}&from={monday}&to={monday}", d.expert.id);
    let here = slots(&app, &d.clinician.token, &query).await;
    assert_eq!(starts(&here).len(), 4);

    // A data directory of its own: `app` holds the lock on its own.
    let child_dir = tempfile::tempdir().expect("a directory");
    let (_child, base) = crate::support::child_server::start_child_with(
        child_dir.path(),
        &app.test_db.url,
        &[("TZ", "Pacific/Kiritimati")],
    )
    .await;
    let there: Value = app
        .client
        .get(format!("{base}/api/v1/slots?{query}"))
        .bearer_auth(&d.clinician.token)
        .send()
        .await
        .expect("the child answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(starts(&there), starts(&here));
    assert_eq!(starts(&here)[0], local(SHANGHAI, monday, 13, 0));
}

#[tokio::test]
async fn leave_and_rule_changes_never_drop_a_booking_silently() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let day = next_weekday(SHANGHAI, Weekday::Wednesday, 2);
    let rule = add_rule(
        &app,
        &d.scheduler,
        d.expert.id,
        json!({ "weekday": 3, "start_time": "09:00", "end_time": "12:00", "slot_minutes": 30, "service": "video" }),
    )
    .await;
    let rule_id = rule["rule"]["id"].as_i64().expect("rule id");
    let consultation_id = consultation(&app, &d, "routine").await;
    let nine = local(SHANGHAI, day, 9, 0);
    let (status, booking) = book(
        &app,
        &d.clinician.token,
        d.expert.id,
        &nine,
        consultation_id,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let booking_id = booking["id"].as_i64().expect("booking id");
    let query = format!("expert_id={}&from={day}&to={day}", d.expert.id);
    assert_eq!(
        starts(&slots(&app, &d.clinician.token, &query).await).len(),
        5
    );

    // Leave over the booked slot is refused, with the booking named.
    let leave = |from: &str, to: &str, move_bookings: bool| json!({ "kind": "leave", "starts_at": from, "ends_at": to, "reason": "conference", "move_bookings": move_bookings });
    let path = format!("/api/v1/experts/{}/roster/exceptions", d.expert.id);
    let (status, body) = app
        .post(
            &path,
            &d.scheduler.token,
            leave(&nine, &local(SHANGHAI, day, 10, 0), false),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "bookings_affected");
    assert_eq!(body["error"]["details"]["bookings"][0]["id"], booking_id);
    assert_eq!(
        app.count("roster_exception").await,
        0,
        "nothing was written"
    );

    // So is a rule change that moves the window off it.
    let (status, body) = app
        .patch(
            &format!("/api/v1/roster-rules/{rule_id}"),
            &d.scheduler.token,
            json!({ "start_time": "10:00" }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "bookings_affected");
    assert_eq!(body["error"]["details"]["bookings"][0]["id"], booking_id);
    let (_, roster) = app
        .get(
            &format!("/api/v1/experts/{}/roster", d.expert.id),
            &d.scheduler.token,
        )
        .await;
    assert_eq!(
        roster["rules"][0]["start_time"], "09:00",
        "the rule is unchanged"
    );

    // Leave elsewhere removes the slots it covers.
    let (status, body) = app
        .post(
            &path,
            &d.scheduler.token,
            leave(
                &local(SHANGHAI, day, 10, 0),
                &local(SHANGHAI, day, 11, 0),
                false,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        starts(&slots(&app, &d.clinician.token, &query).await),
        [
            local(SHANGHAI, day, 9, 30),
            local(SHANGHAI, day, 11, 0),
            local(SHANGHAI, day, 11, 30)
        ]
    );

    // Asked to, the scheduler's leave moves the booking to the next free slot
    // and tells both sides.
    let (status, body) = app
        .post(
            &path,
            &d.scheduler.token,
            leave(&nine, &local(SHANGHAI, day, 9, 30), true),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["moved_bookings"], json!([booking_id]));
    let (_, moved) = app
        .get(
            &format!("/api/v1/bookings/{booking_id}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(moved["start"], local(SHANGHAI, day, 9, 30));
    assert_eq!(moved["status"], "booked");
    for user in [&d.clinician, &d.expert] {
        let (_, notes) = app.get("/api/v1/notifications", &user.token).await;
        assert!(
            notes
                .as_array()
                .expect("list")
                .iter()
                .any(|n| n["kind"] == "booking.moved" && n["payload"]["booking_id"] == booking_id),
            "{} was told: {notes}",
            user.username
        );
    }
}

#[tokio::test]
async fn only_the_experts_own_schedulers_change_a_roster() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let other = app
        .user(
            "county-sched",
            ferry_server::auth::Role::Scheduler,
            d.c.county,
        )
        .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/experts/{}/roster/rules", d.expert.id),
            &other.token,
            json!({ "weekday": 1, "start_time": "09:00", "end_time": "10:00", "slot_minutes": 30,
                    "service": "video", "valid_from": "2026-01-01" }),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    for (field, rule) in [
        ("weekday", json!({ "weekday": 8 })),
        ("start_time", json!({ "start_time": "9am" })),
        ("slot_minutes", json!({ "slot_minutes": 2 })),
        (
            "valid_to",
            json!({ "valid_from": "2026-02-01", "valid_to": "2026-01-01" }),
        ),
    ] {
        let mut body = json!({ "weekday": 1, "start_time": "09:00", "end_time": "10:00", "slot_minutes": 30,
                               "service": "video", "valid_from": "2026-01-01" });
        for (k, v) in rule.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (status, body) = app
            .post(
                &format!("/api/v1/experts/{}/roster/rules", d.expert.id),
                &d.scheduler.token,
                body,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(body["error"]["details"]["field"], field, "{body}");
    }
    assert_eq!(app.count("roster_rule").await, 0);
}
