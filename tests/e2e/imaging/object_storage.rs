//! The server configured for S3-compatible object storage (`s3_*` settings),
//! against a real S3 server run locally (`s3s-fs`, installed by `.ci/run`):
//! instances stored by STOW-RS land in the bucket under the prefix, nothing
//! lands under `dicom_dir`, and they come back byte for byte.

use std::path::Path;

use ferry_server::auth::Role;
use ferry_server::startup::Application;
use reqwest::StatusCode;

use crate::support::dicom_files::{stow, study};
use crate::support::s3::S3Server;
use crate::support::{spawn_app_with, test_settings, TestDb};

fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test]
async fn instances_go_to_the_bucket_under_the_prefix_and_come_back_byte_for_byte() {
    let s3 = S3Server::start().await;
    let app = spawn_app_with(|settings| s3.configure(settings)).await;
    let c = app.consortium().await;
    let clinician = app.user("clin-s3", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "MRN-S3");
    let bytes = std::fs::read(&sent.files[0]).expect("the file");

    let (status, body) = stow(&app, &clinician.token, bytes.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (series, sop, key): (String, String, String) = sqlx::query_as(
        "SELECT se.series_uid, i.sop_instance_uid, i.blob_key FROM dicom_instance i \
         JOIN dicom_series se ON se.id = i.series_id",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("one indexed instance");
    assert!(
        s3.root
            .path()
            .join("ferry/consortium-a")
            .join(&key)
            .is_file(),
        "the object {key} is in the bucket under the prefix"
    );
    assert_eq!(
        files_under(&app.data_dir.path().join("dicom/blobs")),
        0,
        "nothing is kept in local blob files"
    );

    let response = app
        .client
        .get(app.url(&format!(
            "/dicomweb/wado?requestType=WADO&studyUID={}&seriesUID={series}&objectUID={sop}\
             &contentType=application/dicom",
            sent.uid
        )))
        .bearer_auth(&clinician.token)
        .send()
        .await
        .expect("retrieve");
    assert_eq!(response.status(), StatusCode::OK);
    let got = response.bytes().await.expect("the body");
    assert!(got == bytes, "the object comes back byte for byte");

    // WADO-RS reads a study's small instances together, from the bucket too.
    let response = app
        .client
        .get(app.url(&format!("/dicomweb/studies/{}", sent.uid)))
        .header("accept", "multipart/related; type=\"application/dicom\"")
        .bearer_auth(&clinician.token)
        .send()
        .await
        .expect("retrieve the study");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("a content type")
        .to_owned();
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a boundary")
        .to_owned();
    let body = response.bytes().await.expect("the body");
    let opening = format!("--{boundary}\r\n");
    let closing = format!("\r\n--{boundary}--\r\n");
    assert!(body.starts_with(opening.as_bytes()) && body.ends_with(closing.as_bytes()));
    let headers_end = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the part's headers")
        + 4;
    let part = &body[headers_end..body.len() - closing.len()];
    assert!(
        part == bytes,
        "the study's one instance comes back byte for byte"
    );
    let headers = String::from_utf8_lossy(&body[..headers_end]);
    assert!(
        headers.contains(&format!("Content-Length: {}", bytes.len())),
        "{headers}"
    );
}

#[tokio::test]
async fn a_bucket_without_credentials_stops_the_server_at_start_saying_so() {
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let test_db = TestDb::new(data_dir.path()).await;
    let mut settings = test_settings(data_dir.path(), &test_db.url);
    settings.s3_bucket = Some("ferry".to_owned());

    let error = Application::build(settings)
        .await
        .err()
        .expect("the server refuses to start");

    let message = format!("{error:#}");
    assert!(
        message.contains("s3_access_key_id"),
        "the error names what is missing: {message}"
    );
}
