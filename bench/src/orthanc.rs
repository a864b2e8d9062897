//! Orthanc as the peer of the imaging benchmark: Debian's `orthanc` with the
//! DICOMweb plugin, its own storage and index directory, both durable
//! (`SyncStorageArea`), TCP_NODELAY set for its DICOM sockets, on loopback
//! ports of our choosing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

pub const BINARY: &str = "/usr/sbin/Orthanc";
pub const DICOMWEB_PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

pub struct Orthanc {
    pub http: u16,
    pub dicom: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Orthanc {
    pub async fn start(http: u16, dicom: u16) -> anyhow::Result<Orthanc> {
        anyhow::ensure!(
            Path::new(BINARY).exists() && Path::new(DICOMWEB_PLUGIN).exists(),
            "Orthanc is not installed: apt-get install orthanc orthanc-dicomweb"
        );
        let dir = tempfile::tempdir()?;
        let storage: PathBuf = dir.path().join("storage");
        let config = serde_json::json!({
            "Name": "bench",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "StorageCompression": false,
            "SyncStorageArea": true,
            "HttpPort": http,
            "DicomPort": dicom,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "DicomAlwaysAllowStore": true,
            "DicomCheckCalledAet": false,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": { "Enable": true, "Root": "/dicom-web/" },
            "ConcurrentJobs": 2,
        });
        let path = dir.path().join("orthanc.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
        let child = Command::new(BINARY)
            .arg(&path)
            .env("TCP_NODELAY", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start Orthanc")?;
        let orthanc = Orthanc {
            http,
            dicom,
            child,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = client.get(orthanc.url("/system")).send().await {
                if r.status().is_success() {
                    return Ok(orthanc);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("Orthanc did not answer on port {http}")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http, path)
    }

    /// Instances Orthanc holds.
    pub async fn count(&self) -> anyhow::Result<u64> {
        let stats: serde_json::Value = reqwest::get(self.url("/statistics")).await?.json().await?;
        stats["CountInstances"]
            .as_u64()
            .context("CountInstances in /statistics")
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}
