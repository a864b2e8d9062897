//! The server configured for S3-compatible object storage (`s3_*` settings),
//! against a real S3 server run locally (`s3s-fs`, installed by `.ci/run`):
//! instances stored by STOW-RS land in the bucket under the prefix, nothing
//! lands under `dicom_dir`, and they come back byte for byte.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_server::auth::Role;
use ferry_server::config::Settings;
use ferry_server::startup::Application;
use reqwest::StatusCode;
use secrecy::SecretString;
use tokio::process::{Child, Command};

use crate::support::dicom_files::{stow, study};
use crate::support::wait_until;
use crate::support::{spawn_app_with, test_settings, TestDb};

const ACCESS_KEY: &str = "ferry-e2e";
const SECRET_KEY: &str = "ferry-e2e-secret-key";

/// `s3s-fs` on a free port with a bucket `ferry` under `root`; killed on drop.
struct S3Server {
    endpoint: String,
    root: tempfile::TempDir,
    _child: Child,
}

impl S3Server {
    async fn start() -> S3Server {
        let binary = std::env::var_os("FERRY_TEST_S3S_FS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
                PathBuf::from(home).join(".cache/s3s/bin/s3s-fs")
            });
        assert!(
            binary.exists(),
            "{} is missing: cargo install --locked s3s-fs --version 0.14.1 --features binary --root ~/.cache/s3s",
            binary.display()
        );
        let root = tempfile::tempdir().expect("a root");
        std::fs::create_dir(root.path().join("ferry")).expect("the bucket");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::from(ferry_test_tools::command(&binary))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("s3s-fs starts");
        wait_until(
            "s3s-fs accepts connections",
            Duration::from_secs(5),
            async || {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            },
        )
        .await;
        S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
            _child: child,
        }
    }

    fn configure(&self, settings: &mut Settings) {
        settings.s3_bucket = Some("ferry".to_owned());
        settings.s3_endpoint = Some(self.endpoint.clone());
        settings.s3_access_key_id = Some(ACCESS_KEY.to_owned());
        settings.s3_secret_access_key = Some(SecretString::from(SECRET_KEY));
        settings.s3_prefix = "consortium-a".to_owned();
    }
}

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
