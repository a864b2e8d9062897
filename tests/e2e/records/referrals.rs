//! Referrals up and down: the state machine, the graded diagnosis catalogue's
//! rules, the receiving facility's scope, and bad input.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_error, spawn_app, Consortium, TestApp, TestUser};

/// A consortium with a small catalogue: hypertension treated at primary and
/// village level, acute myocardial infarction at tertiary and secondary.
async fn with_catalogue(app: &TestApp) -> Consortium {
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    for (code, tiers) in [
        ("I10", json!(["primary", "village"])),
        ("I21", json!(["tertiary", "secondary"])),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/catalogue",
                &admin.token,
                json!({ "code_from": code, "tiers": tiers }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    c
}

fn up(patient: i64, to: i64, code: &str) -> Value {
    json!({
        "patient_id": patient, "direction": "up", "to_facility_id": to,
        "reason": "needs a cardiologist", "diagnosis_codes": [code]
    })
}

fn down(patient: i64, to: i64, code: &str) -> Value {
    json!({
        "patient_id": patient, "direction": "down", "to_facility_id": to,
        "reason": "stable, back home", "diagnosis_codes": [code],
        "rehabilitation_plan": "walk daily; blood pressure weekly at the clinic"
    })
}

async fn refer(app: &TestApp, who: &TestUser, body: Value) -> (i64, Value) {
    let (status, referral) = app.post("/api/v1/referrals", &who.token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{referral}");
    (referral["id"].as_i64().expect("an id"), referral)
}

async fn act(app: &TestApp, who: &TestUser, id: i64, verb: &str) -> (StatusCode, Value) {
    let body = if verb == "reject" {
        json!({ "reason": "no bed in cardiology this week" })
    } else {
        json!({})
    };
    app.post(&format!("/api/v1/referrals/{id}/{verb}"), &who.token, body)
        .await
}

async fn notifications(app: &TestApp, who: &TestUser) -> Vec<String> {
    let (status, list) = app.get("/api/v1/notifications", &who.token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .expect("a list")
        .iter()
        .map(|n| n["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_referral_moves_through_every_allowed_transition_and_no_other() {
    let app = spawn_app().await;
    let c = with_catalogue(&app).await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;

    // requested → accepted → arrived → discharged, each by the receiver.
    let (id, created) = refer(&app, &island, up(patient, c.county, "i21.4")).await;
    assert_eq!(created["status"], "requested");
    assert_eq!(created["direction"], "up");
    assert_eq!(created["from_facility_id"], c.island_a);
    assert_eq!(created["diagnosis_codes"], json!(["I21.4"]));
    assert_eq!(created["warnings"], json!([]));
    assert_eq!(notifications(&app, &county).await, ["referral.created"]);

    let (status, body) = act(&app, &county, id, "arrive").await;
    assert_error(status, &body, StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(
        body["error"]["details"]["allowed"],
        json!(["accepted", "rejected", "cancelled"])
    );
    let (status, body) = act(&app, &island, id, "accept").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    for (verb, status_after) in [
        ("accept", "accepted"),
        ("arrive", "arrived"),
        ("discharge", "discharged"),
    ] {
        let (status, body) = act(&app, &county, id, verb).await;
        assert_eq!(status, StatusCode::OK, "{verb}: {body}");
        assert_eq!(body["status"], status_after, "{verb}");
    }
    let (_, done) = app
        .get(&format!("/api/v1/referrals/{id}"), &island.token)
        .await;
    assert_eq!(done["decided_by"], county.id);
    for stamp in ["decided_at", "arrived_at", "discharged_at"] {
        assert!(done[stamp].is_string(), "{stamp}: {done}");
    }
    assert_eq!(notifications(&app, &island).await, ["referral.decided"]);
    for verb in ["accept", "reject", "arrive", "discharge", "cancel"] {
        let who = if verb == "cancel" { &island } else { &county };
        let (status, body) = act(&app, who, id, verb).await;
        assert_error(status, &body, StatusCode::CONFLICT, "invalid_transition");
        assert_eq!(body["error"]["details"]["allowed"], json!([]), "{verb}");
    }

    // requested → rejected, with a reason the requester hears.
    let (id, _) = refer(&app, &island, up(patient, c.county, "I21")).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/referrals/{id}/reject"),
            &county.token,
            json!({ "reason": "  " }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    let (status, body) = act(&app, &county, id, "reject").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["decision_note"], "no bed in cardiology this week");
    let (status, body) = act(&app, &county, id, "accept").await;
    assert_error(status, &body, StatusCode::CONFLICT, "invalid_transition");

    // requested → cancelled and accepted → cancelled, by the sender only.
    let (id, _) = refer(&app, &island, up(patient, c.county, "I21")).await;
    let (status, body) = act(&app, &county, id, "cancel").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = act(&app, &island, id, "cancel").await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("cancelled"))
    );
    let (id, _) = refer(&app, &island, up(patient, c.county, "I21")).await;
    act(&app, &county, id, "accept").await;
    let (status, body) = act(&app, &island, id, "cancel").await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("cancelled"))
    );

    // arrived → cancelled is not allowed: only discharge ends it.
    let (id, _) = refer(&app, &island, up(patient, c.county, "I21")).await;
    act(&app, &county, id, "accept").await;
    act(&app, &county, id, "arrive").await;
    let (status, body) = act(&app, &island, id, "cancel").await;
    assert_error(status, &body, StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(body["error"]["details"]["allowed"], json!(["discharged"]));
}

#[tokio::test]
async fn an_up_referral_for_a_condition_the_referring_tier_treats_needs_a_justification() {
    let app = spawn_app().await;
    let c = with_catalogue(&app).await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;

    // The catalogue has village clinics treat hypertension.
    let (status, body) = app
        .post(
            "/api/v1/referrals",
            &island.token,
            up(patient, c.county, "I10"),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "justification_required",
    );
    assert_eq!(body["error"]["details"]["field"], "justification");
    assert_eq!(app.count("referral").await, 0);

    let mut justified = up(patient, c.county, "I10");
    justified["justification"] =
        json!("resistant to three drugs; needs a work-up for a secondary cause");
    let (_, created) = refer(&app, &island, justified).await;
    assert!(created["justification"]
        .as_str()
        .is_some_and(|j| j.starts_with("resistant")));

    // A condition for higher tiers, or one the catalogue does not know, needs none.
    refer(&app, &island, up(patient, c.tertiary, "I21.0")).await;
    refer(&app, &island, up(patient, c.county, "J18")).await;
}

#[tokio::test]
async fn a_down_referral_to_a_tier_not_listed_goes_ahead_with_a_warning() {
    let app = spawn_app().await;
    let c = with_catalogue(&app).await;
    let patient = app.patient_at(c.county, "330225195803121234", "C-1").await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;

    let (_, created) = refer(&app, &county, down(patient, c.island_a, "I21")).await;
    let warnings = created["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{created}");
    assert_eq!(warnings[0]["code"], "tier_not_listed");
    assert!(warnings[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("I21") && m.contains("village")));
    assert_eq!(created["status"], "requested");

    let (_, created) = refer(&app, &county, down(patient, c.island_a, "I10")).await;
    assert_eq!(created["warnings"], json!([]));

    let mut no_plan = down(patient, c.island_a, "I10");
    no_plan["rehabilitation_plan"] = json!(" ");
    let (status, body) = app.post("/api/v1/referrals", &county.token, no_plan).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "rehabilitation_plan_required",
    );
    assert_eq!(body["error"]["details"]["field"], "rehabilitation_plan");
}

#[tokio::test]
async fn bad_referrals_are_refused_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let c = with_catalogue(&app).await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;

    let mut unknown_field = up(patient, c.county, "I21");
    unknown_field["priority"] = json!("high");
    let mut bad_code = up(patient, c.county, "I21");
    bad_code["diagnosis_codes"] = json!(["I21", "heart attack"]);
    let mut no_codes = up(patient, c.county, "I21");
    no_codes["diagnosis_codes"] = json!([]);
    let mut no_reason = up(patient, c.county, "I21");
    no_reason["reason"] = json!("");
    let mut wrong_way = up(patient, c.county, "I21");
    wrong_way["direction"] = json!("down");
    for (case, body, code, field) in [
        ("unknown field", unknown_field, "invalid_body", None),
        (
            "bad code",
            bad_code,
            "invalid_icd10",
            Some("diagnosis_codes[1]"),
        ),
        (
            "no codes",
            no_codes,
            "invalid_diagnosis_codes",
            Some("diagnosis_codes"),
        ),
        ("no reason", no_reason, "invalid_field", Some("reason")),
        (
            "down to a higher tier",
            wrong_way,
            "direction_mismatch",
            Some("direction"),
        ),
        (
            "same tier",
            up(patient, c.island_b, "I21"),
            "direction_mismatch",
            Some("direction"),
        ),
        (
            "own facility",
            up(patient, c.island_a, "I21"),
            "same_facility",
            Some("to_facility_id"),
        ),
        (
            "unknown facility",
            up(patient, 999_999, "I21"),
            "unknown_facility",
            Some("to_facility_id"),
        ),
    ] {
        let (status, body) = app.post("/api/v1/referrals", &island.token, body).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, code);
        if let Some(field) = field {
            assert_eq!(body["error"]["details"]["field"], field, "{case}");
        }
    }
    let (status, body) = app
        .post(
            "/api/v1/referrals",
            &island.token,
            up(999_999, c.county, "I21"),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.get("/api/v1/referrals/999999", &island.token).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .get("/api/v1/referrals?status=lost", &island.token)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    assert_eq!(app.count("referral").await, 0);
    assert_eq!(app.count("notification").await, 0);
}

#[tokio::test]
async fn the_receiving_facility_opens_the_patient_while_the_referral_is_live() {
    let app = spawn_app().await;
    let c = with_catalogue(&app).await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;
    let elsewhere = app.user("dr-he", Role::Clinician, c.island_b).await;
    let path = format!("/api/v1/patients/{patient}");

    let (status, _) = app.get(&path, &county.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not before the referral");
    let (id, _) = refer(&app, &island, up(patient, c.county, "I21")).await;
    let (status, body) = app.get(&path, &county.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, found) = app
        .get("/api/v1/patients?q=330225195803121234", &county.token)
        .await;
    assert_eq!(
        (status, found.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let access: Option<String> = sqlx::query_scalar(
        "SELECT detail FROM audit_event WHERE subtype = 'patient.read' AND actor_user_id = $1 \
         AND outcome = 'success'",
    )
    .bind(county.id)
    .fetch_optional(app.db.pool())
    .await
    .expect("the read is audited");
    assert!(access.is_some_and(|d| d.contains("\"referral\"")));

    // Another facility sees neither the patient nor the referral.
    let (status, _) = app.get(&path, &elsewhere.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .get(&format!("/api/v1/referrals/{id}"), &elsewhere.token)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (_, listed) = app.get("/api/v1/referrals", &elsewhere.token).await;
    assert_eq!(listed, json!([]));

    // A rejected referral no longer opens the patient.
    act(&app, &county, id, "reject").await;
    let (status, _) = app.get(&path, &county.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not after the rejection");
}

#[tokio::test]
async fn each_facility_lists_what_it_sent_and_received_with_filters() {
    let app = spawn_app().await;
    let c = with_catalogue(&app).await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    app.patient_at(c.county, "330225195803121234", "C-1").await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;

    let (sent_up, _) = refer(&app, &island, up(patient, c.county, "I21")).await;
    let (sent_down, _) = refer(&app, &county, down(patient, c.island_a, "I10")).await;
    act(&app, &island, sent_down, "accept").await;

    let ids = |list: &Value| -> Vec<i64> {
        list.as_array()
            .expect("a list")
            .iter()
            .filter_map(|r| r["id"].as_i64())
            .collect()
    };
    let (_, all) = app.get("/api/v1/referrals", &county.token).await;
    assert_eq!(ids(&all), [sent_down, sent_up], "newest first");
    let (_, ups) = app
        .get("/api/v1/referrals?direction=up", &county.token)
        .await;
    assert_eq!(ids(&ups), [sent_up]);
    let (_, accepted) = app
        .get(
            "/api/v1/referrals?status=accepted&direction=down",
            &island.token,
        )
        .await;
    assert_eq!(ids(&accepted), [sent_down]);
    let (_, none) = app
        .get("/api/v1/referrals?status=arrived", &island.token)
        .await;
    assert_eq!(ids(&none), Vec::<i64>::new());

    let expert = app.user("expert", Role::Expert, c.county).await;
    let (status, body) = app.get("/api/v1/referrals", &expert.token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn racing_decisions_on_one_referral_leave_exactly_one_winner() {
    let app = spawn_app().await;
    let c = with_catalogue(&app).await;
    let patient = app
        .patient_at(c.island_a, "330225195803121234", "A-1")
        .await;
    let island = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let county = app.user("dr-wu", Role::Clinician, c.county).await;
    let (id, _) = refer(&app, &island, up(patient, c.county, "I21")).await;

    let mut racers = tokio::task::JoinSet::new();
    for n in 0..8 {
        let verb = if n % 2 == 0 { "accept" } else { "reject" };
        let request = app
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/referrals/{id}/{verb}"),
                Some(&county.token),
            )
            .json(&json!({ "reason": "no bed" }));
        racers.spawn(async move { crate::support::send(request).await.0 });
    }
    let mut statuses = Vec::new();
    while let Some(status) = racers.join_next().await {
        statuses.push(status.expect("the racer finishes"));
    }
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let lost = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, lost), (1, 7), "{statuses:?}");
    let decisions: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype IN ('referral.accept', 'referral.reject')",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("a count");
    assert_eq!(decisions, 1, "one decision, audited once");
}
