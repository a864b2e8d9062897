//! Facilities: tiers, parents, time zones.

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn an_administrator_builds_the_hierarchy_and_everyone_reads_it() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let clinician = app.user("dr-lin", Role::Clinician, c.island_a).await;

    let (status, township) = app
        .post(
            "/api/v1/facilities",
            &admin.token,
            json!({
                "name": "Haian Township Health Centre", "tier": "primary", "parent_id": c.county,
                "time_zone": "Asia/Shanghai", "contact": "  +86 571 1234  "
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{township}");
    assert_eq!(township["tier"], "primary");
    assert_eq!(township["parent_id"], c.county);
    assert_eq!(township["contact"], "+86 571 1234");
    let township_id = township["id"].as_i64().expect("id");

    let (status, village) = app
        .post("/api/v1/facilities", &admin.token, json!({
            "name": "Shanhou Village Clinic", "tier": "village", "parent_id": township_id, "time_zone": "Asia/Urumqi"
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{village}");

    let (status, all) = app.get("/api/v1/facilities", &clinician.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().map(Vec::len), Some(6));

    let (status, body) = app
        .post("/api/v1/facilities", &admin.token, json!({ "name": "Haian Township Health Centre", "tier": "primary", "time_zone": "Asia/Shanghai" }))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "facility_name_taken");
}

#[tokio::test]
async fn changing_a_tier_may_not_leave_a_child_at_or_above_its_parent() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;

    // Demoting the county hospital to village would put two villages under a village.
    let (status, body) = app
        .patch(
            &format!("/api/v1/facilities/{}", c.county),
            &admin.token,
            json!({ "tier": "village" }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "children_tier");
    assert_eq!(
        body["error"]["details"]["children"],
        json!(["Island A", "Island B"])
    );

    // Demoting it to primary keeps the islands below it.
    let (status, body) = app
        .patch(
            &format!("/api/v1/facilities/{}", c.county),
            &admin.token,
            json!({ "tier": "primary" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tier"], "primary");

    // The parent's tier follows into the child row, so the database itself
    // refuses a child that is not below its parent.
    let bypass = sqlx::query("UPDATE facility SET tier = 'secondary' WHERE id = $1")
        .bind(c.island_a)
        .execute(app.db.pool())
        .await;
    assert!(
        bypass.is_err(),
        "a secondary facility under a primary one is refused by the schema"
    );
    let check: String = sqlx::query_scalar("SELECT parent_tier FROM facility WHERE id = $1")
        .bind(c.island_a)
        .fetch_one(app.db.pool())
        .await
        .expect("parent tier");
    assert_eq!(check, "primary");

    // Removing the parent with an explicit null.
    let (status, body) = app
        .patch(
            &format!("/api/v1/facilities/{}", c.island_b),
            &admin.token,
            json!({ "parent_id": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["parent_id"].is_null());

    let (status, body) = app
        .patch(
            &format!("/api/v1/facilities/{}", c.island_b),
            &admin.token,
            json!({ "parent_id": c.island_b }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parent_tier",
    );
}
