//! The several-node configuration of both peers, for `--store several-node`:
//! a PostgreSQL index for each (Ferry's own database, Orthanc's through
//! Debian's `orthanc-postgresql` plugin) on one private PostgreSQL server,
//! and Ferry's files in an S3 bucket served by `s3s-fs`. Orthanc keeps its
//! files on the local disk, as its PostgreSQL index plugin is meant to be
//! run; its storage plugin would put them in PostgreSQL instead.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use ferry_server::config::Settings;
use secrecy::SecretString;
use tokio::process::{Child, Command};

use crate::postgres::PrivatePostgres;

pub const POSTGRESQL_INDEX_PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so";
const ORTHANC_DATABASE: &str = "orthanc";
const ACCESS_KEY: &str = "ferry-bench";
const SECRET_KEY: &str = "ferry-bench-secret-key";
const BUCKET: &str = "ferry";

pub struct SeveralNode {
    pub postgres: PrivatePostgres,
    s3_endpoint: String,
    _s3: Child,
    _bucket_root: tempfile::TempDir,
}

impl SeveralNode {
    pub async fn start(free: impl Fn() -> anyhow::Result<u16>) -> anyhow::Result<SeveralNode> {
        anyhow::ensure!(
            Path::new(POSTGRESQL_INDEX_PLUGIN).exists(),
            "Orthanc's PostgreSQL index plugin is not installed: apt-get install orthanc-postgresql"
        );
        let postgres = PrivatePostgres::start(free()?).await?;
        postgres.create_database(ORTHANC_DATABASE).await?;
        let root = tempfile::tempdir()?;
        std::fs::create_dir(root.path().join(BUCKET))?;
        let port = free()?;
        let s3 = Command::from(ferry_test_tools::s3s_fs(
            root.path(),
            port,
            ACCESS_KEY,
            SECRET_KEY,
        ))
        .kill_on_drop(true)
        .spawn()
        .context("start s3s-fs")?;
        let mut up = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::ensure!(up, "s3s-fs did not answer on port {port}");
        Ok(SeveralNode {
            postgres,
            s3_endpoint: format!("http://127.0.0.1:{port}"),
            _s3: s3,
            _bucket_root: root,
        })
    }

    /// Ferry's settings for the bucket.
    pub fn configure(&self, settings: &mut Settings) {
        settings.s3_bucket = Some(BUCKET.to_owned());
        settings.s3_endpoint = Some(self.s3_endpoint.clone());
        settings.s3_access_key_id = Some(ACCESS_KEY.to_owned());
        settings.s3_secret_access_key = Some(SecretString::from(SECRET_KEY));
    }

    /// What Orthanc's configuration gains: the plugin and its database.
    pub fn orthanc(&self) -> serde_json::Value {
        serde_json::json!({
            "Plugins": [crate::orthanc::DICOMWEB_PLUGIN, POSTGRESQL_INDEX_PLUGIN],
            "PostgreSQL": {
                "EnableIndex": true,
                "EnableStorage": false,
                "Host": "127.0.0.1",
                "Port": self.postgres.port,
                "Database": ORTHANC_DATABASE,
                "Username": "postgres",
                "Password": "",
                "EnableSsl": false,
                "Lock": false,
            },
        })
    }
}
