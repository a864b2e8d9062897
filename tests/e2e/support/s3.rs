//! A real S3 server run locally for the tests of object storage
//! (`s3s-fs`, installed by `tools/install-test-tools`), with a bucket
//! `ferry` in a temporary directory.

use std::path::PathBuf;
use std::time::Duration;

use ferry_server::config::Settings;
use secrecy::SecretString;
use tokio::process::{Child, Command};

use crate::support::wait_until;

const ACCESS_KEY: &str = "ferry-e2e";
const SECRET_KEY: &str = "ferry-e2e-secret-key";
const PREFIX: &str = "consortium-a";

/// `s3s-fs` on a free port with a bucket `ferry` under `root`; killed on drop.
pub struct S3Server {
    pub endpoint: String,
    pub root: tempfile::TempDir,
    _child: Child,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let root = tempfile::tempdir().expect("a root");
        std::fs::create_dir(root.path().join("ferry")).expect("the bucket");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::from(ferry_test_tools::s3s_fs(
            root.path(),
            port,
            ACCESS_KEY,
            SECRET_KEY,
        ))
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

    pub fn configure(&self, settings: &mut Settings) {
        settings.s3_bucket = Some("ferry".to_owned());
        settings.s3_endpoint = Some(self.endpoint.clone());
        settings.s3_access_key_id = Some(ACCESS_KEY.to_owned());
        settings.s3_secret_access_key = Some(SecretString::from(SECRET_KEY));
        settings.s3_prefix = PREFIX.to_owned();
    }

    /// The same settings as `FERRY_*` variables, for a server run as a
    /// child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("FERRY_S3_BUCKET", "ferry".to_owned()),
            ("FERRY_S3_ENDPOINT", self.endpoint.clone()),
            ("FERRY_S3_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("FERRY_S3_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("FERRY_S3_PREFIX", PREFIX.to_owned()),
        ]
    }

    /// Where an object of `key` under the prefix lies in the bucket.
    pub fn object(&self, key: &str) -> PathBuf {
        self.root.path().join("ferry").join(PREFIX).join(key)
    }
}
