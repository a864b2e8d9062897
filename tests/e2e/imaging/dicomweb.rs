//! DICOMweb under `/dicomweb` with the API's bearer tokens: a real client
//! (the Python dicomweb-client, as a child process) stores and searches;
//! scopes and roles decide who sees and who may store; CORS is opt-in.

use ferry_server::auth::Role;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use crate::support::dicom_files::{audit_events, stow, stow_coded, study};
use crate::support::{spawn_app, spawn_app_with, TestApp, PASSWORD};

const CLIENT_SCRIPT: &str = r#"
import json, sys
import pydicom
from dicomweb_client.api import DICOMwebClient
url, token, study_uid = sys.argv[1:4]
client = DICOMwebClient(url=url, headers={"Authorization": "Bearer " + token})
client.store_instances(datasets=[pydicom.dcmread(p) for p in sys.argv[4:]])
studies = client.search_for_studies(search_filters={"StudyInstanceUID": study_uid})
series = client.search_for_series(study_instance_uid=study_uid)
instances = client.search_for_instances(study_instance_uid=study_uid)
print(json.dumps({"studies": len(studies), "series": len(series), "instances": len(instances)}))
"#;

#[tokio::test]
async fn dicomweb_client_stores_a_study_and_searches_studies_series_and_instances() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm", "MR_small.dcm"], "MRN-42");
    let mut args = vec![
        "-c".to_owned(),
        CLIENT_SCRIPT.to_owned(),
        app.url("/dicomweb"),
        clinician.token.clone(),
        sent.uid.clone(),
    ];
    args.extend(sent.files.iter().map(|p| p.display().to_string()));

    let output = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args(&args)
        .output()
        .await
        .expect("python3 runs");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let counts: Value = serde_json::from_slice(&output.stdout).expect("the script's JSON");
    assert_eq!(
        counts,
        serde_json::json!({ "studies": 1, "series": 2, "instances": 2 })
    );
    assert_eq!(audit_events(&app, "dicom.store", &sent.uid).await, 1);
    assert!(audit_events(&app, "dicom.search", &sent.uid).await >= 3);
    let facility: i64 =
        sqlx::query_scalar("SELECT facility_id FROM dicom_study WHERE study_uid = $1")
            .bind(&sent.uid)
            .fetch_one(app.db.pool())
            .await
            .expect("the study row");
    assert_eq!(facility, c.island_a);
}

#[tokio::test]
async fn other_facilities_admins_and_schedulers_see_nothing_and_only_care_roles_store() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let radiologist = app.user("rad-a", Role::Radiologist, c.island_a).await;
    let other = app.user("clin-b", Role::Clinician, c.island_b).await;
    let admin = app.user("admin", Role::Admin, c.island_a).await;
    let scheduler = app.user("sched", Role::Scheduler, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "MRN-9");
    let bytes = std::fs::read(&sent.files[0]).expect("the file");

    let (status, body) = stow(&app, &scheduler.token, bytes.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = stow(&app, &clinician.token, bytes.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The identical instance again: already stored, still a success.
    let (status, body) = stow(&app, &clinician.token, bytes).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (who, token, expected) in [
        ("clinician", &clinician.token, 1),
        ("radiologist of the facility", &radiologist.token, 1),
        ("clinician elsewhere", &other.token, 0),
        ("admin", &admin.token, 0),
        ("scheduler", &scheduler.token, 0),
    ] {
        let (status, studies) = app.get("/dicomweb/studies", token).await;
        assert_eq!(status, StatusCode::OK, "{who}: {studies}");
        assert_eq!(
            studies.as_array().map(Vec::len),
            Some(expected),
            "{who}: {studies}"
        );
    }
}

/// An instance whose file is gone from the store (a disk restored from an
/// older backup, say) makes the study's retrieval a 500 with Ferry's error
/// body, not a 200 whose multipart body breaks off.
#[tokio::test]
async fn a_study_whose_file_is_gone_is_answered_with_an_error_not_a_broken_body() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin-gone", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "MRN-GONE");
    let bytes = std::fs::read(&sent.files[0]).expect("the file");
    let (status, body) = stow(&app, &clinician.token, bytes).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key: String = sqlx::query_scalar("SELECT blob_key FROM dicom_instance")
        .fetch_one(app.db.pool())
        .await
        .expect("the instance's blob");
    std::fs::remove_file(app.data_dir.path().join("dicom/blobs").join(&key))
        .expect("the blob file removed");

    let response = app
        .client
        .get(app.url(&format!("/dicomweb/studies/{}", sent.uid)))
        .header(
            header::ACCEPT,
            "multipart/related; type=\"application/dicom\"",
        )
        .bearer_auth(&clinician.token)
        .send()
        .await
        .expect("retrieve");
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    crate::support::assert_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, "internal");
}

/// A clinic on a slow link sends its study gzipped: stored as the
/// instance itself. A body that is not gzip as it claims, or in a coding
/// the store does not take, is refused with its reason and stores nothing.
#[tokio::test]
async fn a_stow_body_sent_with_gzip_is_stored_inflated_and_other_codings_are_refused() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin-gz", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "MRN-GZ");
    let bytes = std::fs::read(&sent.files[0]).expect("the file");
    let stored = || async {
        let sizes: Vec<i64> = sqlx::query_scalar("SELECT size FROM dicom_instance")
            .fetch_all(app.db.pool())
            .await
            .expect("sizes");
        sizes
    };

    let (status, body) = stow_coded(&app, &clinician.token, bytes.clone(), Some("br")).await;
    crate::support::assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("gzip")),
        "{body}"
    );
    // Claimed gzip, sent plain.
    let (status, body) = stow_coded(&app, &clinician.token, bytes.clone(), Some("x-gzip")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        stored().await.is_empty(),
        "nothing stored from refused bodies"
    );

    let (status, body) = stow_coded(&app, &clinician.token, bytes.clone(), Some("gzip")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        stored().await,
        vec![bytes.len() as i64],
        "the instance as it was, inflated"
    );
    let (status, studies) = app
        .get(
            &format!("/dicomweb/studies?StudyInstanceUID={}", sent.uid),
            &clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{studies}");
    assert_eq!(studies.as_array().map(Vec::len), Some(1), "{studies}");
}

#[tokio::test]
async fn cors_headers_are_sent_only_to_configured_origins() {
    let plain = spawn_app().await;
    let with_cors = spawn_app_with(|s| {
        s.dicomweb_cors_origins = vec!["https://viewer.example".to_owned()];
    })
    .await;
    let preflight = |app: &TestApp, origin: &str| {
        app.request(Method::OPTIONS, "/dicomweb/studies", None)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization,x-requested-with,cache-control",
            )
            .send()
    };

    let allowed = preflight(&with_cors, "https://viewer.example")
        .await
        .expect("an answer");
    let other = preflight(&with_cors, "https://elsewhere.example")
        .await
        .expect("an answer");
    let off = preflight(&plain, "https://viewer.example")
        .await
        .expect("an answer");

    assert_eq!(
        allowed
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.as_bytes()),
        Some(&b"https://viewer.example"[..])
    );
    assert_eq!(
        allowed
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let allowed_headers = allowed
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    for wanted in [
        "authorization",
        "x-requested-with",
        "cache-control",
        "range",
    ] {
        assert!(allowed_headers.contains(wanted), "{allowed_headers}");
    }
    assert!(other
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
    assert!(off
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
}

#[tokio::test]
async fn demo_studies_are_seeded_once_and_the_demo_expert_sees_only_the_attached_ones() {
    let app = spawn_app().await;
    ferry_server::demo::seed(&app.db, Some(PASSWORD.to_owned()))
        .await
        .expect("seed")
        .expect("seeded");

    let stored = ferry_server::demo::studies::seed_studies(&app.imaging)
        .await
        .expect("the demo studies");
    let again = ferry_server::demo::studies::seed_studies(&app.imaging)
        .await
        .expect("a second start");

    assert_eq!((stored, again), (4, 0));
    assert_eq!(app.count("dicom_study").await, 4);
    let expert = token(&app, "demo-expert").await;
    let (status, studies) = app.get("/dicomweb/studies", &expert).await;
    assert_eq!(status, StatusCode::OK, "{studies}");
    let mut seen: Vec<(String, String)> = studies
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| {
            (
                s["00100020"]["Value"][0].as_str().unwrap_or("").to_owned(),
                s["00080061"]["Value"][0].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    seen.sort();
    // The ECG of the consultation waiting to be booked and the head CT of
    // Mrs Wang's, whose call is open at once; not the Xinyu clinic's CT.
    assert_eq!(
        seen,
        [
            ("DJ-0001".to_owned(), "CT".to_owned()),
            ("DJ-0002".to_owned(), "ECG".to_owned())
        ]
    );
    let clinician = token(&app, "demo-clinician").await;
    let (_, studies) = app.get("/dicomweb/studies", &clinician).await;
    assert_eq!(
        studies.as_array().map(Vec::len),
        Some(2),
        "the island clinic's two, not the county's CT of Mrs Wang without her consent"
    );
    let county = token(&app, "demo-county-clinician").await;
    let (_, studies) = app.get("/dicomweb/studies", &county).await;
    assert_eq!(
        studies.as_array().map(Vec::len),
        Some(1),
        "the county's own"
    );

    // Mrs Wang consents: the island reads her county CT too.
    let wang: i64 = sqlx::query_scalar("SELECT id FROM patient WHERE national_id = $1")
        .bind("330225195803121234")
        .fetch_one(app.db.pool())
        .await
        .expect("Mrs Wang");
    let (status, consent) = app
        .post(
            &format!("/api/v1/patients/{wang}/sharing-consents"),
            &clinician,
            serde_json::json!({ "scope": "consortium", "given_by": "patient",
                                "form_reference": "demo form 1" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{consent}");
    let (_, studies) = app.get("/dicomweb/studies", &clinician).await;
    assert_eq!(studies.as_array().map(Vec::len), Some(3), "{studies}");
}

async fn token(app: &TestApp, username: &str) -> String {
    let response = app.login(username, PASSWORD).await;
    let body: Value = response.json().await.expect("json");
    body["token"].as_str().expect("a token").to_owned()
}
