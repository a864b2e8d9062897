//! Tests against real DICOM peers: dcmtk's command-line tools and
//! pynetdicom, run as child processes against a listener on 127.0.0.1:0.
//! A missing tool fails the test with the install command; nothing is
//! skipped.

mod conformance;
mod dcmtk;
mod lifecycle;
mod pynetdicom;
mod retrieve;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use dicom_core::header::Header;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{open_file, InMemDicomObject};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{
    serve, Admission, BoxFuture, DimseConfig, DimseService, FindFailure, FindRequest,
    MoveDestination, Outgoing, QueryLevel, Refusal, RetrieveRequest, StoreOutcome, StoreRequest,
};

/// Calling AE titles the test service knows.
const KNOWN_AES: &[&str] = &["DEMO-MODALITY", "PYNETDICOM"];

/// What the test service received for one C-STORE.
#[derive(Debug, Clone)]
pub(super) struct Received {
    pub(super) sop_class_uid: String,
    pub(super) sop_instance_uid: String,
    pub(super) transfer_syntax: String,
    pub(super) facility_id: String,
    /// Where the staged file was persisted, inside the service's directory.
    pub(super) path: PathBuf,
}

/// A [`DimseService`] that keeps what it receives in a temporary directory
/// and answers C-FIND from those files.
pub(super) struct TestService {
    dir: tempfile::TempDir,
    received: Mutex<Vec<Received>>,
    /// C-MOVE destinations by AE title.
    destinations: Mutex<Vec<MoveDestination>>,
}

impl TestService {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            received: Mutex::new(Vec::new()),
            destinations: Mutex::new(Vec::new()),
        })
    }

    /// Lets C-MOVE send to `ae_title` at 127.0.0.1:`port`.
    pub(super) fn add_destination(&self, ae_title: &str, port: u16) {
        self.destinations
            .lock()
            .expect("not poisoned")
            .push(MoveDestination {
                ae_title: ae_title.to_owned(),
                host: "127.0.0.1".to_owned(),
                port,
                tls: false,
            });
    }

    /// The received instances a retrieve identifier names by its unique
    /// keys.
    fn named(&self, request: &RetrieveRequest) -> Vec<Outgoing> {
        let wanted = |tag: Tag| -> Vec<String> {
            request
                .identifier
                .element(tag)
                .ok()
                .and_then(|e| e.to_str().ok())
                .map(|v| {
                    v.split('\\')
                        .map(|s| s.trim_matches([' ', '\0']).to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let keys = [
            tags::PATIENT_ID,
            tags::STUDY_INSTANCE_UID,
            tags::SERIES_INSTANCE_UID,
            tags::SOP_INSTANCE_UID,
        ];
        self.received()
            .into_iter()
            .filter(|received| {
                let instance = open_file(&received.path).expect("stored files open");
                keys.iter().all(|&tag| {
                    let asked = wanted(tag);
                    let value = instance
                        .element(tag)
                        .ok()
                        .and_then(|e| e.to_str().ok())
                        .map(|v| v.trim_matches([' ', '\0']).to_string())
                        .unwrap_or_default();
                    asked.is_empty() || asked.contains(&value)
                })
            })
            .map(|received| Outgoing {
                sop_class_uid: received.sop_class_uid,
                sop_instance_uid: received.sop_instance_uid,
                transfer_syntax: received.transfer_syntax,
                key: received.path.to_string_lossy().into_owned(),
            })
            .collect()
    }

    pub(super) fn received(&self) -> Vec<Received> {
        self.received.lock().expect("not poisoned").clone()
    }

    fn answer(&self, request: &FindRequest) -> Result<Vec<InMemDicomObject>, FindFailure> {
        let wanted = |tag: Tag| -> Option<String> {
            let value = request.identifier.element(tag).ok()?.to_str().ok()?;
            let value = value.trim_matches([' ', '\0']).to_string();
            (!value.is_empty()).then_some(value)
        };
        match wanted(tags::PATIENT_ID).as_deref() {
            Some("FAIL") => return Err(FindFailure::UnableToProcess("asked to fail".into())),
            Some("MANY") => return Ok(many_answers()),
            _ => {}
        }
        let unique_key = match request.level {
            QueryLevel::Patient => tags::PATIENT_ID,
            QueryLevel::Study => tags::STUDY_INSTANCE_UID,
            QueryLevel::Series => tags::SERIES_INSTANCE_UID,
            QueryLevel::Image => tags::SOP_INSTANCE_UID,
        };
        let match_keys = [
            tags::PATIENT_ID,
            tags::STUDY_INSTANCE_UID,
            tags::SERIES_INSTANCE_UID,
            tags::SOP_INSTANCE_UID,
        ];
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for received in self.received() {
            let instance = open_file(&received.path).expect("stored files open");
            let value = |tag: Tag| -> String {
                instance
                    .element(tag)
                    .ok()
                    .and_then(|e| e.to_str().ok())
                    .map(|v| v.trim_matches([' ', '\0']).to_string())
                    .unwrap_or_default()
            };
            let matches = match_keys
                .iter()
                .all(|&tag| wanted(tag).is_none_or(|w| w == value(tag)));
            if !matches || !seen.insert(value(unique_key)) {
                continue;
            }
            // Return every key the identifier asked for, filled from the
            // instance (empty when the instance lacks it).
            let mut answer = InMemDicomObject::new_empty();
            for element in request.identifier.iter() {
                let tag = element.tag();
                answer.put(DataElement::new(
                    tag,
                    element.vr(),
                    PrimitiveValue::from(value(tag)),
                ));
            }
            out.push(answer);
        }
        Ok(out)
    }
}

/// More and bigger answers than socket buffers hold (3000 x 10 KiB), so
/// the listener is still sending when a C-CANCEL-RQ arrives.
fn many_answers() -> Vec<InMemDicomObject> {
    let comment = "x".repeat(10 * 1024);
    (0..3000)
        .map(|n| {
            InMemDicomObject::from_element_iter([
                DataElement::new(
                    tags::PATIENT_ID,
                    VR::LO,
                    PrimitiveValue::from(format!("P{n:05}")),
                ),
                DataElement::new(
                    tags::PATIENT_COMMENTS,
                    VR::LT,
                    PrimitiveValue::from(comment.clone()),
                ),
            ])
        })
        .collect()
}

impl DimseService for TestService {
    fn admit<'a>(
        &'a self,
        calling_ae: &'a str,
        _called: &'a str,
        peer: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, Refusal>> {
        let decision = if KNOWN_AES.contains(&calling_ae) {
            Ok(Admission::new("demo-facility", calling_ae, peer))
        } else {
            Err(Refusal::CallingAeNotRecognized)
        };
        Box::pin(std::future::ready(decision))
    }

    fn store<'a>(
        &'a self,
        admission: &'a Admission,
        request: StoreRequest,
    ) -> BoxFuture<'a, StoreOutcome> {
        Box::pin(async move {
            let mut received = self.received.lock().expect("not poisoned");
            let path = self.dir.path().join(format!("{}.dcm", received.len()));
            if let Err(e) = request.file.persist(&path) {
                return StoreOutcome::OutOfResources(e.to_string());
            }
            received.push(Received {
                sop_class_uid: request.sop_class_uid,
                sop_instance_uid: request.sop_instance_uid,
                transfer_syntax: request.transfer_syntax,
                facility_id: admission.facility_id().to_string(),
                path,
            });
            StoreOutcome::Stored
        })
    }

    fn find<'a>(
        &'a self,
        _admission: &'a Admission,
        request: FindRequest,
    ) -> BoxFuture<'a, Result<Vec<InMemDicomObject>, FindFailure>> {
        Box::pin(async move { self.answer(&request) })
    }

    fn retrieve<'a>(
        &'a self,
        _admission: &'a Admission,
        request: RetrieveRequest,
    ) -> BoxFuture<'a, Result<Vec<Outgoing>, FindFailure>> {
        Box::pin(async move { Ok(self.named(&request)) })
    }

    fn read_outgoing<'a>(
        &'a self,
        _admission: &'a Admission,
        instance: &'a Outgoing,
    ) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move { std::fs::read(&instance.key).map_err(|e| e.to_string()) })
    }

    fn move_destination<'a>(
        &'a self,
        _admission: &'a Admission,
        ae_title: &'a str,
    ) -> BoxFuture<'a, Option<MoveDestination>> {
        let found = self
            .destinations
            .lock()
            .expect("not poisoned")
            .iter()
            .find(|d| d.ae_title == ae_title)
            .cloned();
        Box::pin(std::future::ready(found))
    }
}

/// A listener running in the background.
pub(super) struct Scp {
    pub(super) port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Scp {
    pub(super) async fn start(service: Arc<TestService>) -> Self {
        Self::start_with(service, DimseConfig::default()).await
    }

    pub(super) async fn start_with(service: Arc<TestService>, config: DimseConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("bound").port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, service, config, async {
            let _ = stopped.await;
        }));
        Self {
            port,
            stop: Some(stop),
            task,
        }
    }

    /// Asks the listener to stop and waits until `serve` has returned.
    pub(super) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("serve does not panic");
    }
}

/// The path of a dcmtk tool, or a failure that says how to get it.
pub(super) fn dcmtk(tool: &str) -> PathBuf {
    ferry_test_tools::require();
    // pynetdicom installs tools of the same names earlier on PATH, so the
    // dcmtk ones are always called by their full path.
    let path = Path::new("/usr/bin").join(tool);
    assert!(
        path.exists(),
        "dcmtk's {tool} is missing at {}: install it with `apt-get install -y dcmtk`",
        path.display()
    );
    path
}

/// Runs a dcmtk tool with TCP_NODELAY=1 (dcmtk reads it from the
/// environment; without it every message waits on Nagle).
pub(super) async fn run_dcmtk(tool: &str, args: &[&str]) -> Output {
    tokio::process::Command::from(ferry_test_tools::command(dcmtk(tool)))
        .args(args)
        .env("TCP_NODELAY", "1")
        .output()
        .await
        .expect("the tool runs")
}

/// pydicom's bundled test files directory.
pub(super) fn test_files() -> PathBuf {
    let output = ferry_test_tools::command("python3")
        .args([
            "-c",
            "import pydicom, os; print(os.path.join(os.path.dirname(pydicom.__file__), 'data', 'test_files'))",
        ])
        .output()
        .expect("python3 is needed to find the sample files: apt-get install -y python3");
    assert!(
        output.status.success(),
        "pydicom is needed for its sample files: pip install pydicom ({})",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(
        dir.is_dir(),
        "pydicom's test files are not at {}",
        dir.display()
    );
    dir
}

/// Pixel data as raw bytes: one entry per fragment when encapsulated.
pub(super) fn pixel_data(obj: &InMemDicomObject) -> Vec<Vec<u8>> {
    let element = obj.element(tags::PIXEL_DATA).expect("pixel data");
    match element.value().fragments() {
        Some(fragments) => fragments.to_vec(),
        None => vec![element.to_bytes().expect("native pixel data").into_owned()],
    }
}

/// A string attribute, trimmed of padding.
pub(super) fn string(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|v| v.trim_matches([' ', '\0']).to_string())
        .unwrap_or_default()
}

/// Makes a copy of `source` with a new SOP Instance UID (and the same
/// everything else) in `dir`.
pub(super) fn copy_with_new_uid(source: &Path, dir: &Path, n: usize) -> PathBuf {
    let mut obj = open_file(source).expect("sample opens");
    let uid = format!("2.25.{}{:06}", 1_000_000 + std::process::id(), n);
    obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(uid.clone()),
    ));
    obj.update_meta(|meta| meta.media_storage_sop_instance_uid = uid);
    let path = dir.join(format!("copy{n:04}.dcm"));
    obj.write_to_file(&path).expect("copy written");
    path
}
