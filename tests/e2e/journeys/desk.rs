//! The scheduler's and the administrator's journeys through the web client:
//! leave over booked days, with the bookings moved out of its way, and the
//! operating figures drawn as charts.

use ferry_server::auth::Role;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::journeys::{journey, screenshot_count, screenshots, user};
use crate::support::scheduling::{add_rule, book, consultation, desk, local, next_weekday};
use crate::support::spawn_app;

const SHANGHAI: &str = "Asia/Shanghai";

fn instant(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|_| panic!("an RFC 3339 instant: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_enters_leave_over_booked_days_and_moves_the_bookings_out_of_its_way() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    for weekday in 1..=5 {
        add_rule(
            &app,
            &d.scheduler,
            d.expert.id,
            json!({ "weekday": weekday, "start_time": "09:00", "end_time": "12:00",
                    "slot_minutes": 60, "service": "video" }),
        )
        .await;
    }
    // A week from now or later, so the scheduler has to go to it.
    let monday = next_weekday(SHANGHAI, Weekday::Monday, 7);
    let tuesday = monday.tomorrow().expect("a date");
    let wednesday = tuesday.tomorrow().expect("a date");
    let mut bookings = Vec::new();
    for (day, hour) in [(monday, 9), (tuesday, 10)] {
        let id = consultation(&app, &d, "routine").await;
        let (status, booking) = book(
            &app,
            &d.clinician.token,
            d.expert.id,
            &local(SHANGHAI, day, hour, 0),
            id,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        bookings.push(booking["id"].as_i64().expect("an id"));
    }
    let shots = screenshots("scheduler");
    let _ = std::fs::remove_dir_all(&shots);

    let leave_ends = local(SHANGHAI, wednesday, 0, 0);
    let result = journey(
        "scheduler",
        json!({
            "base": app.url(""),
            "scheduler": user(&d.scheduler),
            "expert": d.expert.id,
            "week": monday.to_string(),
            "leave": {
                "from": format!("{monday}T00:00"),
                "to": format!("{wednesday}T00:00"),
                "to_instant": leave_ends,
            },
            "bookings": bookings,
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];

    assert!(
        seen["refused"]
            .as_str()
            .is_some_and(|m| m.contains("the end must come after the start")),
        "{result}"
    );
    assert!(
        seen["warning"]
            .as_str()
            .is_some_and(|m| m.contains("2 booked slot(s)")),
        "{result}"
    );
    assert_eq!(
        seen["onLeave"],
        json!([monday.to_string(), tuesday.to_string()]),
        "{result}"
    );
    // Each booking is where the screen said it went: booked, after the leave,
    // and on the Wednesday the board showed.
    let moved = seen["moved"].as_array().expect("moved");
    assert_eq!(moved.len(), 2, "{result}");
    let mut starts = Vec::new();
    for (shown, id) in moved.iter().zip(&bookings) {
        assert_eq!(shown["id"].as_i64(), Some(*id), "{result}");
        let (status, booking) = app
            .get(&format!("/api/v1/bookings/{id}"), &d.scheduler.token)
            .await;
        assert_eq!(status, StatusCode::OK, "{booking}");
        assert_eq!(booking["status"], "booked", "{booking}");
        let start = instant(booking["start"].as_str().expect("a start"));
        assert_eq!(
            start,
            instant(shown["start"].as_str().expect("a start")),
            "{result}"
        );
        assert!(start >= instant(&leave_ends), "{booking}");
        starts.push(start);
    }
    assert_ne!(starts[0], starts[1]);
    for shown in seen["board"].as_array().expect("board") {
        assert_eq!(shown["date"], wednesday.to_string(), "{result}");
    }
    let (_, roster) = app
        .get(
            &format!("/api/v1/experts/{}/roster", d.expert.id),
            &d.scheduler.token,
        )
        .await;
    let leave: Vec<&Value> = roster["exceptions"]
        .as_array()
        .expect("exceptions")
        .iter()
        .filter(|e| e["kind"] == "leave")
        .collect();
    assert_eq!(leave.len(), 1, "{roster}");
    assert_eq!(
        instant(leave[0]["starts_at"].as_str().expect("a start")),
        instant(&local(SHANGHAI, monday, 0, 0))
    );
    assert_eq!(
        instant(leave[0]["ends_at"].as_str().expect("an end")),
        instant(&leave_ends)
    );
    assert_eq!(screenshot_count(&result), 6, "{result}");
}

fn month(date: Date) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_reads_referrals_up_and_down_per_month_off_the_chart() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("consortium-admin", Role::Admin, c.tertiary).await;
    let island = app.user("island-doc", Role::Clinician, c.island_a).await;
    let county = app.user("county-doc", Role::Clinician, c.county).await;
    let patient = app
        .patient_at(c.island_a, "110101195803120023", "A-100")
        .await;
    app.patient_at(c.county, "110101195803120023", "C-100")
        .await;
    let refer = |token: String, body: Value| {
        let app = &app;
        async move {
            let (status, referral) = app.post("/api/v1/referrals", &token, body).await;
            assert_eq!(status, StatusCode::CREATED, "{referral}");
            referral["id"].as_i64().expect("an id")
        }
    };
    let up = json!({ "patient_id": patient, "direction": "up", "to_facility_id": c.county,
                     "reason": "needs a cardiologist", "diagnosis_codes": ["I21"] });
    let down = json!({ "patient_id": patient, "direction": "down", "to_facility_id": c.island_a,
                       "reason": "stable, back home", "diagnosis_codes": ["I10"],
                       "rehabilitation_plan": "walk daily; blood pressure weekly at the clinic" });
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    for _ in 0..3 {
        ups.push(refer(island.token.clone(), up.clone()).await);
        downs.push(refer(county.token.clone(), down.clone()).await);
    }
    // Last month: one up and two down; this month: two up and one down.
    let tz = TimeZone::get(SHANGHAI).expect("a zone");
    let this_month = Timestamp::now()
        .to_zoned(tz.clone())
        .date()
        .first_of_month();
    let last_month = this_month - 10.days();
    let then = last_month
        .at(12, 0, 0, 0)
        .to_zoned(tz)
        .expect("a time")
        .timestamp()
        .as_millisecond();
    for id in [ups[0], downs[0], downs[1]] {
        sqlx::query("UPDATE referral SET created_at = $1 WHERE id = $2")
            .bind(then)
            .bind(id)
            .execute(app.db.pool())
            .await
            .expect("backdate a referral");
    }
    let shots = screenshots("admin");
    let _ = std::fs::remove_dir_all(&shots);
    let (from, to) = (month(last_month), month(this_month));

    let result = journey(
        "admin",
        json!({
            "base": app.url(""),
            "admin": user(&admin),
            "from": from,
            "to": to,
            "facility": "Lujia Island Clinic",
            "screenshots": shots,
        }),
    )
    .await;
    let seen = &result["result"];

    assert!(
        seen["refused"]
            .as_str()
            .is_some_and(|m| m.contains("This time zone is not known")),
        "{result}"
    );
    let (_, facilities) = app.get("/api/v1/facilities", &admin.token).await;
    assert!(
        facilities
            .as_array()
            .expect("facilities")
            .iter()
            .any(|f| f["name"] == "Lujia Island Clinic" && f["tier"] == "village"),
        "{facilities}"
    );
    // Two bars a month, each carrying its number as a label the eye can read.
    let bars: Vec<(String, String, i64, String)> = seen["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| {
            (
                b["month"].as_str().unwrap_or_default().to_owned(),
                b["series"].as_str().unwrap_or_default().to_owned(),
                b["value"].as_i64().unwrap_or(-1),
                b["label"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want = |m: &str, s: &str, v: i64| (m.to_owned(), s.to_owned(), v, v.to_string());
    assert_eq!(
        bars,
        vec![
            want(&from, "up", 1),
            want(&from, "down", 2),
            want(&to, "up", 2),
            want(&to, "down", 1),
        ],
        "{result}"
    );
    for bar in seen["bars"].as_array().expect("bars") {
        assert!(bar["height"].as_f64().is_some_and(|h| h > 0.0), "{bar}");
    }
    let heights: Vec<f64> = seen["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| b["height"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(
        (heights[1] - 2.0 * heights[0]).abs() < 0.01,
        "a bar of 2 is twice a bar of 1: {heights:?}"
    );
    assert_eq!(seen["months"].as_array().map(Vec::len), Some(2), "{result}");
    assert_eq!(
        seen["table"],
        json!([
            { "month": from, "cells": ["1", "2"] },
            { "month": to, "cells": ["2", "1"] },
        ]),
        "{result}"
    );
    assert!(
        seen["legend"].as_str().is_some_and(|l| l.contains("上转")),
        "{result}"
    );
    let (_, figures) = app
        .get(
            &format!("/api/v1/figures?from={from}&to={to}"),
            &admin.token,
        )
        .await;
    let sent = |key: &str| -> i64 {
        figures["referrals"]
            .as_array()
            .expect("referrals")
            .iter()
            .map(|r| r[key].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!((sent("up_sent"), sent("down_sent")), (3, 3), "{figures}");
    assert_eq!(screenshot_count(&result), 5, "{result}");
}
