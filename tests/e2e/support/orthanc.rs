//! Orthanc (Debian's, with its DICOMweb plugin) as a peer of the imaging
//! tests: started on free loopback ports with a storage of its own, and
//! driven through its REST API.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::TestApp;

const ORTHANC: &str = "/usr/sbin/Orthanc";
const DICOMWEB_PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";
/// Orthanc's own AE title.
pub const ORTHANC_AE: &str = "ORTHANC";

pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("bound").port()
}

/// Orthanc on two free loopback ports, with its storage in a directory of
/// its own, knowing Ferry as the DICOM modality `ferry` (AE `FERRY`) and as
/// the DICOMweb server `ferry`, reached with `token`. Its output goes to a
/// file, shown by [`Orthanc::log`] when a step fails.
pub struct Orthanc {
    pub http: u16,
    pub dicom: u16,
    pub client: reqwest::Client,
    _child: tokio::process::Child,
    dir: tempfile::TempDir,
}

impl Orthanc {
    pub async fn start(app: &TestApp, token: &str) -> Orthanc {
        let dir = tempfile::tempdir().expect("a directory");
        let storage = dir.path().join("storage");
        let (http, dicom) = (free_port(), free_port());
        let config = json!({
            "Name": "ferry-e2e",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "StorageCompression": false,
            "HttpPort": http,
            "DicomPort": dicom,
            "DicomAet": ORTHANC_AE,
            // Orthanc 1.10 cannot bind its ports to loopback alone: HTTP
            // answers loopback only, and DICOM stores only from the known
            // modality (Ferry) on 127.0.0.1.
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "DicomAlwaysAllowStore": false,
            "DicomCheckModalityHost": true,
            "DicomCheckCalledAet": false,
            "DicomModalities": {
                "ferry": { "AET": "FERRY", "Host": "127.0.0.1", "Port": app.dimse_addr.port() }
            },
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {
                "Enable": true,
                "Root": "/dicom-web/",
                "Servers": {
                    "ferry": {
                        "Url": app.url("/dicomweb"),
                        "HttpHeaders": { "Authorization": format!("Bearer {token}") }
                    }
                }
            },
            "ConcurrentJobs": 2,
        });
        let path = dir.path().join("orthanc.json");
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&config).expect("the configuration"),
        )
        .expect("write the configuration");
        let out = std::fs::File::create(dir.path().join("orthanc.log")).expect("the log file");
        let err = out.try_clone().expect("the log file again");
        let child = tokio::process::Command::from(ferry_test_tools::command(ORTHANC))
            .arg("--verbose")
            .arg(&path)
            .env("TCP_NODELAY", "1")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .expect("Orthanc starts");
        let orthanc = Orthanc {
            http,
            dicom,
            client: reqwest::Client::new(),
            _child: child,
            dir,
        };
        for _ in 0..300 {
            if let Ok(r) = orthanc.client.get(orthanc.url("/system")).send().await {
                if r.status().is_success() {
                    return orthanc;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Orthanc did not answer on port {http}:\n{}", orthanc.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http, path)
    }

    /// What Orthanc printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("orthanc.log")).unwrap_or_default()
    }

    pub async fn answer(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("Orthanc answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.answer(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.answer(self.client.post(self.url(path)).json(&body))
            .await
    }

    /// Asserts a 200 from Orthanc, with Orthanc's log when it is not.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, body).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "POST {path}: {answer}\nOrthanc's log:\n{}",
            self.log()
        );
        answer
    }

    /// The SOP Instance UIDs Orthanc holds in this study, sorted.
    pub async fn sop_uids(&self, study_uid: &str) -> Vec<String> {
        let (status, found) = self
            .post(
                "/tools/find",
                json!({
                    "Level": "Instance",
                    "Query": { "StudyInstanceUID": study_uid },
                    "Expand": true,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{found}\n{}", self.log());
        let mut uids: Vec<String> = found
            .as_array()
            .expect("an array of instances")
            .iter()
            .map(|i| {
                i["MainDicomTags"]["SOPInstanceUID"]
                    .as_str()
                    .expect("a SOP Instance UID")
                    .to_owned()
            })
            .collect();
        uids.sort();
        uids
    }

    /// How many instances Orthanc holds in all.
    pub async fn count(&self) -> usize {
        let (status, all) = self.get("/instances").await;
        assert_eq!(status, StatusCode::OK, "{all}");
        all.as_array().expect("an array").len()
    }
}
