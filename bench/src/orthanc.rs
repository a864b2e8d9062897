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
        Self::start_with(http, dicom, serde_json::json!({})).await
    }

    /// As [`start`](Self::start), with `extra`'s keys added to (or
    /// replacing) the configuration's.
    pub async fn start_with(
        http: u16,
        dicom: u16,
        extra: serde_json::Value,
    ) -> anyhow::Result<Orthanc> {
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
        let mut config = config;
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
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

/// Orthanc 1.10 cannot listen on loopback only, so a benchmark that runs it
/// runs in a network namespace of its own that has nothing but `lo`: this
/// re-executes the benchmark under `unshare -n` (which needs root) and
/// says whether it did, in which case the caller is done.
pub async fn isolated() -> anyhow::Result<bool> {
    if std::env::var_os("FERRY_BENCH_NETNS").is_some() {
        return Ok(false);
    }
    let exe = std::env::current_exe()?;
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env("FERRY_BENCH_NETNS", "1")
        .status()
        .await
        .context("unshare -n (a benchmark beside Orthanc needs root)")?;
    anyhow::ensure!(status.success(), "the isolated run failed");
    Ok(true)
}
