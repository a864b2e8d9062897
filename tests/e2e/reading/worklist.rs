//! Remote reading: routing rules, the worklist and its claim race, release
//! and reassignment, FHIR Task, what readers may see, and the demo worklist.
//! Reports, their SRs and critical results are in `reading_reports`.

use ferry_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, send, spawn_app, TestUser, PASSWORD};

use crate::support::reading::{ask, desk, kinds, route, stored_study};

#[tokio::test]
async fn routing_rules_send_each_request_to_the_most_specific_worklist() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let clinician = app.user("clin", Role::Clinician, c.island_a).await;
    let ct = stored_study(&app, &clinician, "CT_small.dcm", "A-1").await;
    let mr = stored_study(&app, &clinician, "MR_small.dcm", "A-2").await;
    let ct_again = stored_study(&app, &clinician, "CT_small.dcm", "A-3").await;

    let (status, body) = ask(&app, &clinician, &ct, json!({})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_reading_route",
    );
    assert_eq!(app.count("reading_request").await, 0);

    let anything = route(&app, &admin, json!({ "reading_facility_id": c.tertiary })).await;
    let ct_here = route(
        &app,
        &admin,
        json!({ "reading_facility_id": c.county, "sending_facility_id": c.island_a, "modality": "ct" }),
    )
    .await;
    let ct_head = route(
        &app,
        &admin,
        json!({ "reading_facility_id": c.island_b, "modality": "CT", "body_part": "head", "precedence": 5 }),
    )
    .await;
    let (status, body) = app
        .post(
            "/api/v1/reading-routes",
            &admin.token,
            json!({ "reading_facility_id": 999_999 }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_facility",
    );

    // The facility + modality rule and the modality + body part rule both
    // name two conditions: the lower precedence wins.
    let (status, head) = ask(&app, &clinician, &ct, json!({ "body_part": "HEAD" })).await;
    assert_eq!(status, StatusCode::CREATED, "{head}");
    assert_eq!(head["reading_facility_id"], c.island_b);
    assert_eq!(head["route_id"], ct_head);
    assert_eq!(head["modality"], "CT", "taken from the study");
    let (_, chest) = ask(&app, &clinician, &ct_again, json!({ "body_part": "chest" })).await;
    assert_eq!(chest["reading_facility_id"], c.county, "{chest}");
    assert_eq!(chest["route_id"], ct_here);
    let (_, other) = ask(&app, &clinician, &mr, json!({})).await;
    assert_eq!(other["reading_facility_id"], c.tertiary, "{other}");
    assert_eq!(other["route_id"], anything);

    let (status, body) = ask(&app, &clinician, &mr, json!({})).await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "reading_already_requested",
    );

    // A named reader takes the request to their own facility's worklist.
    let named = app.user("named", Role::Radiologist, c.county).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/reading-requests/{}/cancel", other["id"]),
            &clinician.token,
            json!({ "reason": "asked the wrong reader" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, reserved) = ask(&app, &clinician, &mr, json!({ "reader_id": named.id })).await;
    assert_eq!(reserved["reading_facility_id"], c.county, "{reserved}");
    assert_eq!(reserved["requested_reader_id"], named.id);
    assert!(kinds(&app, &named)
        .await
        .contains(&"reading.requested".to_owned()));
    let someone = app.user("someone", Role::Radiologist, c.county).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/reading-requests/{}/claim", reserved["id"]),
            &someone.token,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "reserved_for_reader");

    // A study outside the clinician's scope is not found, and changes nothing.
    let stranger = app.user("stranger", Role::Clinician, c.island_b).await;
    let before = app.count("reading_request").await;
    let (status, body) = ask(&app, &stranger, &ct, json!({ "body_part": "knee" })).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = ask(&app, &clinician, "not a uid", json!({})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(app.count("reading_request").await, before);
}

#[tokio::test]
async fn twenty_readers_race_for_one_request_and_exactly_one_wins() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (_, request) = ask(&app, &d.clinician, &uid, json!({ "priority": "stat" })).await;
    let id = request["id"].as_i64().expect("an id");
    let mut readers = Vec::new();
    for n in 0..20 {
        readers.push(
            app.user(&format!("reader-{n}"), Role::Radiologist, d.c.tertiary)
                .await,
        );
    }

    let attempts = readers.iter().map(|reader| {
        send(app.request(
            Method::POST,
            &format!("/api/v1/reading-requests/{id}/claim"),
            Some(&reader.token),
        ))
    });
    let results = futures_util::future::join_all(attempts).await;

    let won: Vec<usize> = (0..20)
        .filter(|n| results[*n].0 == StatusCode::OK)
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for (n, (status, body)) in results.iter().enumerate() {
        if n != won[0] {
            assert_error(*status, body, StatusCode::CONFLICT, "already_claimed");
        }
    }
    let winner = &readers[won[0]];
    let (_, now) = app
        .get(&format!("/api/v1/reading-requests/{id}"), &winner.token)
        .await;
    assert_eq!(now["status"], "accepted");
    assert_eq!(now["reader_id"], winner.id);

    // Only the holder releases; then anyone may claim again.
    let loser = &readers[(won[0] + 1) % 20];
    let path = format!("/api/v1/reading-requests/{id}/release");
    let (status, body) = app.post(&path, &loser.token, json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "cannot_release");
    let (status, released) = app.post(&path, &winner.token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["status"], "requested");
    assert!(released["reader_id"].is_null());

    // A lead reassigns; a reader who is not a lead may not.
    let reassign = format!("/api/v1/reading-requests/{id}/reassign");
    let (status, body) = app
        .post(&reassign, &loser.token, json!({ "reader_id": winner.id }))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _) = send(
        app.request(
            Method::PUT,
            &format!("/api/v1/reading-leads/{}", d.reader.id),
            Some(&d.admin.token),
        )
        .json(&json!({ "lead": true })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .post(
            &reassign,
            &d.reader.token,
            json!({ "reader_id": d.clinician.id }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_a_reader_here",
    );
    let (status, moved) = app
        .post(&reassign, &d.reader.token, json!({ "reader_id": loser.id }))
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["reader_id"], loser.id);
    assert_eq!(moved["status"], "accepted");
    assert!(kinds(&app, loser)
        .await
        .contains(&"reading.assigned".to_owned()));
}

#[tokio::test]
async fn the_worklist_puts_stat_first_and_counts_down_to_each_target() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let routine = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let stat = stored_study(&app, &d.clinician, "MR_small.dcm", "A-1").await;
    ask(
        &app,
        &d.clinician,
        &routine,
        json!({ "body_part": "chest" }),
    )
    .await;
    let (_, asked) = ask(&app, &d.clinician, &stat, json!({ "priority": "stat" })).await;

    let (status, list) = app.get("/api/v1/worklist", &d.reader.token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().expect("a list").clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["priority"], "stat");
    assert_eq!(list[1]["priority"], "routine");
    let left = |r: &Value| r["minutes_left"].as_i64().expect("minutes left");
    assert!((58..=60).contains(&left(&list[0])), "{}", list[0]);
    assert!((1438..=1440).contains(&left(&list[1])), "{}", list[1]);

    let (_, mr) = app
        .get("/api/v1/worklist?modality=MR", &d.reader.token)
        .await;
    assert_eq!(mr.as_array().map(Vec::len), Some(1));
    assert_eq!(mr[0]["id"], asked["id"]);
    let (_, chest) = app
        .get(
            &format!(
                "/api/v1/worklist?body_part=CHEST&sending_facility_id={}",
                d.c.island_a
            ),
            &d.reader.token,
        )
        .await;
    assert_eq!(chest.as_array().map(Vec::len), Some(1), "{chest}");
    let (status, body) = app
        .get("/api/v1/worklist?status=bogus", &d.reader.token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app.get("/api/v1/worklist", &d.clinician.token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    // The worklist reads as FHIR Task too.
    let response = app
        .request(
            Method::GET,
            "/api/v1/fhir/Task?status=requested",
            Some(&d.reader.token),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let bundle: Value = response.json().await.expect("json");
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["total"], 2);
    let task = &bundle["entry"][0]["resource"];
    assert_eq!(task["resourceType"], "Task");
    assert_eq!(task["status"], "requested");
    assert_eq!(task["priority"], "stat");
    assert_eq!(task["intent"], "order");
    assert_eq!(
        task["focus"]["identifier"]["value"],
        format!("urn:oid:{stat}")
    );
}

#[tokio::test]
async fn a_reader_sees_the_studies_and_patients_routed_to_their_worklist_and_no_others() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let patient: i64 =
        sqlx::query_scalar("SELECT patient_id FROM patient_record WHERE record_number = 'A-1'")
            .fetch_one(app.db.pool())
            .await
            .expect("the patient");
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (_, studies) = app.get("/dicomweb/studies", &d.reader.token).await;
    assert_eq!(studies, json!([]));
    let (status, _) = app
        .get(&format!("/api/v1/patients/{patient}"), &d.reader.token)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    ask(&app, &d.clinician, &uid, json!({})).await;
    let (_, studies) = app.get("/dicomweb/studies", &d.reader.token).await;
    assert_eq!(studies.as_array().map(Vec::len), Some(1), "{studies}");
    let (status, body) = app
        .get(&format!("/api/v1/patients/{patient}"), &d.reader.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let elsewhere = app.user("elsewhere", Role::Radiologist, d.c.county).await;
    let (_, studies) = app.get("/dicomweb/studies", &elsewhere.token).await;
    assert_eq!(studies, json!([]), "another facility's reader sees nothing");
}

#[tokio::test]
async fn the_demo_radiologist_finds_island_studies_on_the_worklist_and_can_sign_at_once() {
    let app = spawn_app().await;
    app.with_demo().await;
    let response = app.login("demo-radiologist", PASSWORD).await;
    let body: Value = response.json().await.expect("json");
    let reader = TestUser {
        id: body["user"]["id"].as_i64().unwrap_or_default(),
        username: "demo-radiologist".to_owned(),
        token: body["token"].as_str().expect("a token").to_owned(),
    };
    let (status, list) = app.get("/api/v1/worklist", &reader.token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().expect("a list").clone();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["priority"], "urgent");
    assert_eq!(list[0]["modality"], "CT");
    assert_eq!(list[0]["requesting_facility_name"], "东极岛卫生室");
    assert_eq!(list[1]["modality"], "ECG");
    let id = list[0]["id"].as_i64().expect("an id");
    let (status, _) = app
        .post(
            &format!("/api/v1/reading-requests/{id}/claim"),
            &reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, draft) = app
        .post(
            &format!("/api/v1/reading-requests/{id}/reports"),
            &reader.token,
            json!({ "findings": "No intracranial haemorrhage.", "impression": "Normal head CT." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let (status, signed) = app
        .post(
            &format!("/api/v1/reading-reports/{}/sign", draft["id"]),
            &reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(signed["sr_filed"], true);

    // The ECG on the worklist renders as a labelled 12-lead plot.
    let ecg_study = list[1]["study_instance_uid"].as_str().expect("a UID");
    let (_, instances) = app
        .get(
            &format!("/dicomweb/studies/{ecg_study}/instances"),
            &reader.token,
        )
        .await;
    let series = instances[0]["0020000E"]["Value"][0]
        .as_str()
        .expect("series");
    let sop = instances[0]["00080018"]["Value"][0]
        .as_str()
        .expect("instance");
    let response = app
        .request(
            Method::GET,
            &format!("/dicomweb/studies/{ecg_study}/series/{series}/instances/{sop}/rendered"),
            Some(&reader.token),
        )
        .header("accept", "image/svg+xml")
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let svg = response.text().await.expect("the plot");
    let mut labels: Vec<&str> = svg
        .split(r#"class="lead-label""#)
        .skip(1)
        .filter_map(|rest| rest.split('>').nth(1)?.split('<').next())
        .collect();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(
        labels,
        ["I", "II", "III", "V1", "V2", "V3", "V4", "V5", "V6", "aVF", "aVL", "aVR"]
    );

    // The ECG request drafts from the ECG template.
    let ecg = list[1]["id"].as_i64().expect("an id");
    app.post(
        &format!("/api/v1/reading-requests/{ecg}/claim"),
        &reader.token,
        json!({}),
    )
    .await;
    let (_, draft) = app
        .post(
            &format!("/api/v1/reading-requests/{ecg}/reports"),
            &reader.token,
            json!({}),
        )
        .await;
    assert_eq!(draft["template"], "ecg", "{draft}");
    assert!(draft["findings"]
        .as_str()
        .is_some_and(|f| f.contains("Rhythm:")));
}
