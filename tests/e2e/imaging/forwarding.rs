//! Forwarding to another PACS (dcmtk's `storescp` plays the tertiary
//! hospital's) through the durable outbox: by facility and modality, or
//! by the reading route a reading request took, retried while the
//! destination is down, watched by administrators, and complete after the
//! forwarding node is killed with SIGKILL mid-way.

use std::collections::BTreeSet;
use std::time::Duration;

use dicom_dictionary_std::tags;
use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::child_server::spawn_server;
use crate::support::dicom_files::{
    dcmtk, port, received, register_modality, storescp, stow, study,
};
use crate::support::orthanc::free_port;
use crate::support::reading;
use crate::support::{spawn_app, spawn_app_with, wait_until, TestApp};

/// Registers the tertiary PACS as a destination and a rule forwarding
/// island A's instances (of `modality`, if given) to it.
async fn forward_to(
    app: &TestApp,
    admin: &str,
    (tertiary, facility): (i64, i64),
    pacs_port: u16,
    modality: Option<&str>,
) -> i64 {
    let (status, destination) = app
        .post(
            &format!("/api/v1/facilities/{tertiary}/dicom-destinations"),
            admin,
            json!({ "ae_title": "TERTIARY-PACS", "host": "127.0.0.1", "port": pacs_port }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{destination}");
    let (status, rule) = app
        .post(
            "/api/v1/forwarding-rules",
            admin,
            json!({ "facility_id": facility, "modality": modality, "destination_id": destination["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    rule["id"].as_i64().expect("an id")
}

async fn outbox(app: &TestApp, admin: &str, state: &str) -> Value {
    let (status, outbox) = app
        .get(&format!("/api/v1/forwarding-outbox?state={state}"), admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{outbox}");
    outbox
}

#[tokio::test]
async fn instances_go_on_to_the_tertiary_pacs_and_wait_out_its_outage() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let (_, admin) = register_modality(&app, &c, "ISLAND-CT").await;
    let clinician = app.user("clin", Role::Clinician, c.island_a).await;
    let pacs_port = free_port();
    forward_to(
        &app,
        &admin,
        (c.tertiary, c.island_a),
        pacs_port,
        Some("CT"),
    )
    .await;
    let (status, _) = app.get("/api/v1/forwarding-outbox", &clinician.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The PACS is down when the study comes in.
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm", "MR_small.dcm"], "MRN-1");
    let port = port(&app);
    let mut args = vec!["-aet", "ISLAND-CT", "-aec", "FERRY", "127.0.0.1", &port];
    args.extend(sent.files.iter().map(|p| p.to_str().expect("UTF-8")));
    let out = dcmtk("storescu", &args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failing = wait_until(
        "the first attempt fails",
        Duration::from_secs(20),
        async || {
            let o = outbox(&app, &admin, "failing").await;
            (o["failing"] == 1).then_some(o)
        },
    )
    .await;
    assert_eq!(failing["pending"], 1, "only the CT is forwarded: {failing}");
    let entry = &failing["entries"][0];
    assert_eq!(entry["destination"], "TERTIARY-PACS");
    assert_eq!(entry["study_instance_uid"], sent.uid.as_str());
    assert_eq!(entry["last_error_kind"], "unreachable", "{entry}");
    assert!(
        entry["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{entry}"
    );

    // Up again: the retry delivers it.
    let into = tempfile::tempdir().expect("a directory");
    let _pacs = storescp(into.path(), "TERTIARY-PACS", pacs_port, 0).await;
    let done = wait_until("the retry delivers", Duration::from_secs(30), async || {
        let o = outbox(&app, &admin, "sent").await;
        (o["sent"] == 1).then_some(o)
    })
    .await;
    assert_eq!(done["pending"], 0, "{done}");
    let ct_sop = &done["entries"][0]["sop_instance_uid"];
    assert_eq!(
        received(into.path()),
        BTreeSet::from([ct_sop.as_str().expect("a UID").to_owned()])
    );
}

#[tokio::test]
async fn a_node_killed_mid_way_leaves_nothing_unsent() {
    // This in-process node keeps the accounts; it does not forward.
    let app = spawn_app_with(|s| s.forwarding = false).await;
    let c = app.consortium().await;
    let (_, admin) = register_modality(&app, &c, "ISLAND-CT").await;
    let pacs_port = free_port();
    let into = tempfile::tempdir().expect("a directory");
    // Slow at first, so that the node is killed with most still to send.
    let mut pacs = storescp(into.path(), "TERTIARY-PACS", pacs_port, 1).await;
    forward_to(&app, &admin, (c.tertiary, c.island_a), pacs_port, None).await;

    // The forwarding node, with the blobs in its own directory.
    let data = tempfile::tempdir().expect("a directory");
    let env = [("FERRY_FORWARDING_LEASE_SECONDS", "2")];
    let mut first = spawn_server(data.path(), &app.test_db.url, &env).await;
    let files = tempfile::tempdir().expect("a directory");
    let mut all = BTreeSet::new();
    let mut paths = Vec::new();
    for n in 0..40 {
        let one = study(files.path(), &["CT_small.dcm"], &format!("MRN-{n}"));
        paths.extend(one.files);
    }
    for path in &paths {
        let object = dicom_object::open_file(path).expect("a file");
        all.insert(
            object
                .element(tags::SOP_INSTANCE_UID)
                .expect("a UID")
                .to_str()
                .expect("text")
                .trim_end_matches('\0')
                .to_owned(),
        );
    }
    let mut args = vec![
        "-aet",
        "ISLAND-CT",
        "-aec",
        "FERRY",
        "127.0.0.1",
        first.dimse_port.as_str(),
    ];
    args.extend(paths.iter().map(|p| p.to_str().expect("UTF-8")));
    let out = dcmtk("storescu", &args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Killed once some, not all, are sent.
    let sent_count = async || -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM dicom_outbox WHERE state = 'sent'")
            .fetch_one(app.db.pool())
            .await
            .expect("a count")
    };
    wait_until("forwarding begins", Duration::from_secs(30), async || {
        (sent_count().await > 0).then_some(())
    })
    .await;
    first.process.start_kill().expect("SIGKILL");
    let _ = first.process.wait().await;
    let before = sent_count().await;
    assert!(before < 40, "all {before} were sent before the kill");
    let _ = pacs.kill().await;
    let _pacs = storescp(into.path(), "TERTIARY-PACS", pacs_port, 0).await;

    let _second = spawn_server(data.path(), &app.test_db.url, &env).await;
    wait_until(
        "every instance is sent",
        Duration::from_secs(60),
        async || (sent_count().await == 40).then_some(()),
    )
    .await;
    assert_eq!(received(into.path()), all, "sent {before} before the kill");
    let unsent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dicom_outbox WHERE state <> 'sent'")
        .fetch_one(app.db.pool())
        .await
        .expect("a count");
    assert_eq!(unsent, 0);
}

/// Every stored instance has been weighed against the rules.
async fn all_considered(app: &TestApp) {
    wait_until(
        "every instance is considered",
        Duration::from_secs(20),
        async || {
            let left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM dicom_instance WHERE forward_considered IS NULL",
            )
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
            (left == 0).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_rule_on_a_reading_route_forwards_a_study_once_a_reading_is_routed_by_it() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    app.patient_at(c.island_a, "110101199001010015", "A-1")
        .await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let clinician = app.user("island-clin", Role::Clinician, c.island_a).await;
    app.user("reader", Role::Radiologist, c.tertiary).await;
    app.user("county-reader", Role::Radiologist, c.county).await;
    let ct_route = reading::route(
        &app,
        &admin,
        json!({ "reading_facility_id": c.tertiary, "modality": "CT" }),
    )
    .await;
    reading::route(
        &app,
        &admin,
        json!({ "reading_facility_id": c.county, "modality": "MR" }),
    )
    .await;
    let pacs_port = free_port();
    let into = tempfile::tempdir().expect("a directory");
    let _pacs = storescp(into.path(), "TERTIARY-PACS", pacs_port, 0).await;
    let (status, destination) = app
        .post(
            &format!("/api/v1/facilities/{}/dicom-destinations", c.tertiary),
            &admin.token,
            json!({ "ae_title": "TERTIARY-PACS", "host": "127.0.0.1", "port": pacs_port }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{destination}");
    let (status, rule) = app
        .post(
            "/api/v1/forwarding-rules",
            &admin.token,
            json!({ "reading_route_id": ct_route, "destination_id": destination["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_eq!(rule["reading_route_id"], ct_route);

    // Stored, with no reading asked for: nothing goes.
    // One directory each: the files are named by Patient ID.
    let (ct_files, mr_files) = (
        tempfile::tempdir().expect("a directory"),
        tempfile::tempdir().expect("a directory"),
    );
    let ct = study(ct_files.path(), &["CT_small.dcm", "CT_small.dcm"], "A-1");
    let mr = study(mr_files.path(), &["MR_small.dcm"], "A-1");
    for path in [&ct.files[0], &mr.files[0]] {
        let (status, body) =
            stow(&app, &clinician.token, std::fs::read(path).expect("a file")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    all_considered(&app).await;
    let idle = outbox(&app, &admin.token, "pending").await;
    assert_eq!(
        (idle["pending"].clone(), idle["sent"].clone()),
        (json!(0), json!(0)),
        "{idle}"
    );

    // The MR's reading goes the county's way, which no rule forwards.
    let (status, body) = reading::ask(&app, &clinician, &mr.uid, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["reading_facility_id"], c.county, "{body}");
    // The CT's goes the tertiary route: the study is queued with it.
    let (status, body) = reading::ask(&app, &clinician, &ct.uid, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first = wait_until("the CT is forwarded", Duration::from_secs(30), async || {
        let o = outbox(&app, &admin.token, "sent").await;
        (o["sent"] == 1).then_some(o)
    })
    .await;
    assert_eq!(
        first["entries"][0]["study_instance_uid"],
        ct.uid.as_str(),
        "{first}"
    );

    // A late instance of the same study follows by the same rule.
    let (status, body) = stow(
        &app,
        &clinician.token,
        std::fs::read(&ct.files[1]).expect("a file"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let both = wait_until(
        "the late CT is forwarded",
        Duration::from_secs(30),
        async || {
            let o = outbox(&app, &admin.token, "sent").await;
            (o["sent"] == 2).then_some(o)
        },
    )
    .await;
    assert_eq!(both["pending"], 0, "{both}");
    let sops: BTreeSet<String> = both["entries"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|e| e["sop_instance_uid"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(received(into.path()), sops);
    assert!(
        both["entries"]
            .as_array()
            .expect("rows")
            .iter()
            .all(|e| e["study_instance_uid"] == ct.uid.as_str()),
        "only the CT study goes: {both}"
    );
}

#[tokio::test]
async fn a_bad_forwarding_rule_is_refused_with_its_field_and_none_is_made() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let (status, destination) = app
        .post(
            &format!("/api/v1/facilities/{}/dicom-destinations", c.tertiary),
            &admin.token,
            json!({ "ae_title": "TERTIARY-PACS", "host": "127.0.0.1", "port": 11112 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{destination}");
    let good = destination["id"].as_i64().expect("an id");
    for (body, field) in [
        (json!({ "destination_id": 999_999 }), "destination_id"),
        (
            json!({ "destination_id": good, "facility_id": 999_999 }),
            "facility_id",
        ),
        (
            json!({ "destination_id": good, "reading_route_id": 999_999 }),
            "reading_route_id",
        ),
        (
            json!({ "destination_id": good, "modality": "not a modality" }),
            "modality",
        ),
        (
            json!({ "destination_id": good, "modality": "" }),
            "modality",
        ),
    ] {
        let (status, error) = app
            .post("/api/v1/forwarding-rules", &admin.token, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["error"]["details"]["field"], field, "{body}: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
    for body in [
        json!({ "destination_id": "one" }),
        json!({ "facility_id": c.island_a }),
        json!({ "destination_id": good, "route": 1 }),
    ] {
        let (status, error) = app
            .post("/api/v1/forwarding-rules", &admin.token, body.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert!(error["error"]["code"].is_string(), "{error}");
    }
    let (status, rules) = app.get("/api/v1/forwarding-rules", &admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rules, json!([]));
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dicom_forward_rule")
        .fetch_one(app.db.pool())
        .await
        .expect("a count");
    assert_eq!(count, 0);
}
