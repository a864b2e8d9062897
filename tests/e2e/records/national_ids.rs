//! Resident identity numbers (GB 11643) are checked wherever one enters:
//! registration, correction, and break-the-glass lookup.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_error, resident_id, spawn_app, TestApp};

fn registration(national_id: &str, record_number: &str) -> Value {
    json!({
        "national_id": national_id, "family_name": "赵", "given_name": "敏",
        "sex": "female", "birth_date": "1949-12-31", "record_number": record_number
    })
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(app.db.pool())
        .await
        .expect("a count")
}

fn assert_refused(status: StatusCode, body: &Value, reason: &str) {
    assert_error(
        status,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_national_id",
    );
    assert_eq!(body["error"]["details"]["field"], "national_id", "{body}");
    assert_eq!(body["error"]["details"]["reason"], reason, "{body}");
}

#[tokio::test]
async fn registering_with_a_malformed_number_is_422_with_the_rule_and_writes_nothing() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let before = (
        count(&app, "patient").await,
        count(&app, "patient_record").await,
    );

    let cases = [
        ("33022519580312123".to_owned(), "length"),
        ("3302251958031212345".to_owned(), "length"),
        ("33022519580312123A".to_owned(), "characters"),
        ("3302251958 3121234".to_owned(), "characters"),
        (resident_id("11010519490230002"), "birth_date"), // 30 February
        (resident_id("11010519491331002"), "birth_date"), // month 13
        (resident_id("11010520990101002"), "birth_date"), // in the future
        ("330225195803121235".to_owned(), "check_digit"),
    ];
    for (n, (national_id, reason)) in cases.iter().enumerate() {
        let (status, body) = app
            .post(
                "/api/v1/patients",
                &clinician.token,
                registration(national_id, &format!("DJ-{n}")),
            )
            .await;
        assert_refused(status, &body, reason);
    }
    assert_eq!(
        (
            count(&app, "patient").await,
            count(&app, "patient_record").await
        ),
        before,
        "no patient and no record written"
    );
}

#[tokio::test]
async fn a_lower_case_x_is_stored_upper_case_and_found_either_way() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;
    let er = app.user("er-doctor", Role::Clinician, c.county).await;
    let upper = resident_id("11010519491231002");
    assert!(upper.ends_with('X'), "the published example ends in X");

    let (status, created) = app
        .post(
            "/api/v1/patients",
            &clinician.token,
            registration(&format!(" {} ", upper.to_lowercase()), "DJ-1"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["national_id"], upper.as_str());

    // A correction to a malformed number is refused and changes nothing.
    let (status, body) = app
        .patch(
            &format!("/api/v1/patients/{}", created["id"]),
            &clinician.token,
            json!({ "national_id": "11010519491231002" }),
        )
        .await;
    assert_refused(status, &body, "length");
    let (_, unchanged) = app
        .get(
            &format!("/api/v1/patients/{}", created["id"]),
            &clinician.token,
        )
        .await;
    assert_eq!(unchanged["national_id"], upper.as_str(), "{unchanged}");

    // Break-the-glass names the patient the same way: normalised, or refused.
    let reason = "unconscious after a fall, island clinic closed";
    let (status, body) = app
        .post(
            "/api/v1/break-glass",
            &er.token,
            json!({ "national_id": "110105194912310021", "reason": reason }),
        )
        .await;
    assert_refused(status, &body, "check_digit");
    assert_eq!(count(&app, "break_glass_grant").await, 0);
    let (status, grant) = app
        .post(
            "/api/v1/break-glass",
            &er.token,
            json!({ "national_id": upper.to_lowercase(), "reason": reason }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_eq!(grant["patient_id"], created["id"]);

    // A search finds the patient by the number however its X is typed.
    for typed in [
        upper.clone(),
        upper.to_lowercase(),
        format!(" {} ", upper.to_lowercase()),
    ] {
        let (status, found) = app
            .get(
                &format!("/api/v1/patients?q={}", typed.replace(' ', "%20")),
                &clinician.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(
            found[0]["id"], created["id"],
            "searching {typed:?}: {found}"
        );
    }
}
