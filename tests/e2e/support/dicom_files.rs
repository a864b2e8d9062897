//! DICOM files for the imaging tests: fixtures copied with fresh UIDs and a
//! chosen Patient ID, written where a real client (dcmtk, dicomweb-client)
//! can read them, and the clients themselves run as child processes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use futures_util::StreamExt;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use crate::support::{send, Consortium, TestApp};

/// A fixture file's path.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dicom")
        .join(name)
}

/// A fresh UID under the UUID-derived root `2.25`.
pub fn fresh_uid() -> String {
    format!("2.25.{}", uuid::Uuid::new_v4().as_u128())
}

/// One study written as files: the fixtures named, each with a fresh SOP
/// Instance UID, all in one fresh study (one series per file) for `patient_id`.
pub struct Study {
    pub uid: String,
    pub files: Vec<PathBuf>,
}

pub fn study(dir: &Path, fixtures: &[&str], patient_id: &str) -> Study {
    let uid = fresh_uid();
    let files = fixtures
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let mut object = dicom_object::open_file(fixture(name)).expect("the fixture parses");
            let sop = fresh_uid();
            for (tag, vr, value) in [
                (tags::STUDY_INSTANCE_UID, VR::UI, uid.as_str()),
                (tags::SERIES_INSTANCE_UID, VR::UI, &fresh_uid()),
                (tags::SOP_INSTANCE_UID, VR::UI, &sop),
                (tags::PATIENT_ID, VR::LO, patient_id),
            ] {
                object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
            }
            object.update_meta(|meta| meta.media_storage_sop_instance_uid = sop.clone());
            let path = dir.join(format!("{patient_id}-{n}.dcm"));
            object.write_to_file(&path).expect("the copy is written");
            path
        })
        .collect();
    Study { uid, files }
}

/// Runs a dcmtk tool (always the system one: pynetdicom installs commands
/// of the same names) and returns its output.
pub async fn dcmtk(tool: &str, args: &[&str]) -> Output {
    tokio::process::Command::from(ferry_test_tools::command(format!("/usr/bin/{tool}")))
        .args(args)
        // Small PDUs otherwise wait on Nagle's algorithm.
        .env("TCP_NODELAY", "1")
        .output()
        .await
        .expect("dcmtk is installed")
}

/// The DIMSE port of the app, as text for dcmtk's arguments.
pub fn port(app: &TestApp) -> String {
    app.dimse_addr.port().to_string()
}

/// Registers a modality at island A through the API; returns its id.
pub async fn register_modality(app: &TestApp, c: &Consortium, ae_title: &str) -> (i64, String) {
    let admin = app
        .user(
            &format!("admin-{ae_title}").to_lowercase(),
            ferry_server::auth::Role::Admin,
            c.tertiary,
        )
        .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/facilities/{}/modalities", c.island_a),
            &admin.token,
            serde_json::json!({ "ae_title": ae_title }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    (body["id"].as_i64().expect("an id"), admin.token)
}

/// How many audit events of this subtype name this study.
pub async fn audit_events(app: &TestApp, subtype: &str, study_uid: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE subtype = $1 AND entity_id = $2")
        .bind(subtype)
        .bind(study_uid)
        .fetch_one(app.db.pool())
        .await
        .expect("a count")
}

/// One STOW-RS request carrying one file, as `multipart/related`.
pub async fn stow(app: &TestApp, token: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    stow_coded(app, token, bytes, None).await
}

/// As [`stow`], with the body in `coding` (`Content-Encoding`): `gzip`
/// compresses it; any other name is sent on a body left as it is.
pub async fn stow_coded(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    coding: Option<&str>,
) -> (StatusCode, Value) {
    let boundary = "ferry-test-boundary";
    let mut body = format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let mut request = app
        .request(Method::POST, "/dicomweb/studies", Some(token))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
        )
        .header(header::ACCEPT, "application/dicom+json");
    if let Some(coding) = coding {
        request = request.header(header::CONTENT_ENCODING, coding);
        if coding == "gzip" {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&body).expect("compressed");
            body = gz.finish().expect("compressed");
        }
    }
    send(request.body(body)).await
}

/// A CT series of `slices` instances made from pydicom's CT_small for the
/// patient whose record number is `patient_id`, numbered from 1, each
/// slice's rows rolled so the slices differ on screen. Stored by STOW-RS;
/// returns the study and series UIDs.
pub async fn ct_series(
    app: &TestApp,
    token: &str,
    patient_id: &str,
    slices: usize,
    description: &str,
) -> (String, String) {
    let study = fresh_uid();
    let series = fresh_uid();
    for n in 1..=slices {
        let mut object =
            dicom_object::open_file(fixture("CT_small.dcm")).expect("the fixture parses");
        let sop = fresh_uid();
        for (tag, vr, value) in [
            (tags::STUDY_INSTANCE_UID, VR::UI, study.as_str()),
            (tags::SERIES_INSTANCE_UID, VR::UI, &series),
            (tags::SOP_INSTANCE_UID, VR::UI, &sop),
            (tags::PATIENT_ID, VR::LO, patient_id),
            (tags::INSTANCE_NUMBER, VR::IS, &n.to_string()),
            (tags::SERIES_DESCRIPTION, VR::LO, description),
        ] {
            object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        }
        let mut pixels = object
            .element(tags::PIXEL_DATA)
            .expect("pixel data")
            .to_bytes()
            .expect("native pixel data")
            .into_owned();
        // Eight rows of 128 two-byte pixels per slice.
        pixels.rotate_left(n * 8 * 128 * 2);
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::from(pixels),
        ));
        object.update_meta(|meta| meta.media_storage_sop_instance_uid = sop.clone());
        let mut bytes = Vec::new();
        object.write_all(&mut bytes).expect("the copy is written");
        let (status, body) = stow(app, token, bytes).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    (study, series)
}

/// Uploads `files` one STOW-RS request each, four at a time; returns those
/// answered 200. `acked` counts them as they come.
pub async fn upload(
    base: String,
    token: String,
    files: Vec<PathBuf>,
    acked: Arc<AtomicUsize>,
) -> Vec<PathBuf> {
    let client = reqwest::Client::new();
    futures_util::stream::iter(files)
        .map(|path| {
            let (client, base, token, acked) = (&client, &base, &token, &acked);
            async move {
                let boundary = "crash-boundary";
                let mut body =
                    format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
                body.extend(std::fs::read(&path).expect("the file"));
                body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
                let status = client
                    .post(format!("{base}/dicomweb/studies"))
                    .bearer_auth(token)
                    .header(
                        header::CONTENT_TYPE,
                        format!(
                            "multipart/related; type=\"application/dicom\"; boundary={boundary}"
                        ),
                    )
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status());
                let ok = matches!(status, Ok(StatusCode::OK));
                if ok {
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                ok.then_some(path)
            }
        })
        .buffer_unordered(4)
        .filter_map(|ok| async move { ok })
        .collect()
        .await
}

/// The SOP Instance UIDs of the DICOM files in `dir`.
pub fn received(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| dicom_object::open_file(e.ok()?.path()).ok())
                .filter_map(|o| {
                    Some(
                        o.element(tags::SOP_INSTANCE_UID)
                            .ok()?
                            .to_str()
                            .ok()?
                            .trim_end_matches('\0')
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// dcmtk's storescp as `title` on `port`, storing into `dir`, taking
/// `slow` seconds over each instance.
pub async fn storescp(dir: &Path, title: &str, port: u16, slow: u32) -> tokio::process::Child {
    storescp_with(dir, title, port, &["--sleep-during", &slow.to_string()]).await
}

/// dcmtk's storescp as `title` on `port`, storing into `dir`, with
/// `options` (TLS, say); returned once it listens.
pub async fn storescp_with(
    dir: &Path,
    title: &str,
    port: u16,
    options: &[&str],
) -> tokio::process::Child {
    let child = tokio::process::Command::from(ferry_test_tools::command("/usr/bin/storescp"))
        .args(["-aet", title])
        .args(options)
        .arg("-od")
        .arg(dir)
        .arg(port.to_string())
        .kill_on_drop(true)
        .spawn()
        .expect("storescp starts");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("storescp did not listen on {port}");
}
