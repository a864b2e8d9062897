//! Facilities: tiers, parents, time zones.

use ferry_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{assert_error, spawn_app};

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

#[tokio::test]
async fn an_administrator_registers_a_facilitys_modalities_by_unique_ae_title() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let island_doc = app.user("island-doc", Role::Clinician, c.island_a).await;
    let path = format!("/api/v1/facilities/{}/modalities", c.island_a);

    let (status, created) = app
        .post(
            &path,
            &admin.token,
            json!({ "ae_title": "  US-CART-1 ", "description": "ultrasound" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["ae_title"], "US-CART-1", "stored trimmed");
    assert_eq!(created["facility_id"], c.island_a);

    let other = format!("/api/v1/facilities/{}/modalities", c.island_b);
    let (status, body) = app
        .post(&other, &admin.token, json!({ "ae_title": "US-CART-1" }))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "ae_title_taken");
    for bad in ["", "SEVENTEEN-CHARS-X", "BACK\\SLASH"] {
        let (status, body) = app
            .post(&path, &admin.token, json!({ "ae_title": bad }))
            .await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ae_title",
        );
    }
    assert_eq!(app.count("modality").await, 1, "refusals wrote nothing");

    let (status, listed) = app.get(&path, &island_doc.token).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["ae_title"], "US-CART-1");

    let id = created["id"].as_i64().expect("an id");
    let response = app
        .request(
            Method::DELETE,
            &format!("/api/v1/modalities/{id}"),
            Some(&admin.token),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("modality").await, 0);
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype IN ('modality.create', 'modality.delete')",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("a count");
    assert_eq!(audited, 2);
}
