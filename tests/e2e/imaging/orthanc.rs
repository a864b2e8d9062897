//! Orthanc (Debian's 1.10, with its DICOMweb plugin) as a real peer of
//! Ferry: the destination of a modality's C-MOVE, a PACS that finds a study
//! at Ferry and moves it to itself, a STOW-RS sender and a WADO-RS
//! retriever; and the Python dicomweb-client reading the frames of a
//! big-endian instance and an ECG's samples as bulk data.

use std::path::{Path, PathBuf};
use std::process::Output;

use dicom_dictionary_std::tags;
use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::dicom_files::{dcmtk, fixture, port, register_modality, stow, study, Study};
use crate::support::orthanc::{free_port, Orthanc, ORTHANC_AE};
use crate::support::{spawn_app, spawn_app_with, Consortium, TestApp};

fn log(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

/// The SOP Instance UIDs of these files, sorted.
fn sop_uids_of(files: &[PathBuf]) -> Vec<String> {
    let mut uids: Vec<String> = files
        .iter()
        .map(|path| {
            dicom_object::open_file(path)
                .expect("a DICOM file")
                .element(tags::SOP_INSTANCE_UID)
                .expect("a SOP Instance UID")
                .to_str()
                .expect("text")
                .trim_end_matches('\0')
                .to_owned()
        })
        .collect();
    uids.sort();
    uids
}

/// Registers Orthanc as a C-MOVE destination of island A.
async fn register_destination(app: &TestApp, c: &Consortium, admin: &str, orthanc: &Orthanc) {
    let (status, body) = app
        .post(
            &format!("/api/v1/facilities/{}/dicom-destinations", c.island_a),
            admin,
            json!({ "ae_title": ORTHANC_AE, "host": "127.0.0.1", "port": orthanc.dicom }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Sends these files to Ferry with dcmtk's storescu as `calling`.
async fn storescu(app: &TestApp, calling: &str, files: &[PathBuf]) {
    let port = port(app);
    let mut args = vec!["-aet", calling, "-aec", "FERRY", "127.0.0.1", &port];
    args.extend(files.iter().map(|p| p.to_str().expect("UTF-8")));
    let stored = dcmtk("storescu", &args).await;
    assert!(stored.status.success(), "{}", log(&stored));
}

/// A study of `fixtures` for `patient_id`, written into `dir`.
fn new_study(dir: &Path, fixtures: &[&str], patient_id: &str) -> (Study, Vec<String>) {
    let sent = study(dir, fixtures, patient_id);
    let uids = sop_uids_of(&sent.files);
    (sent, uids)
}

#[tokio::test]
async fn orthanc_as_a_move_destination_receives_exactly_the_study_moved() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let (_, admin) = register_modality(&app, &c, "ISLAND-CT").await;
    app.patient_at(c.island_a, "110101195803120023", "MRN-7731")
        .await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let orthanc = Orthanc::start(&app, &clinician.token).await;
    register_destination(&app, &c, &admin, &orthanc).await;

    let moved_dir = tempfile::tempdir().expect("a directory");
    let (moved, expected) = new_study(
        moved_dir.path(),
        &["CT_small.dcm", "MR_small.dcm"],
        "MRN-7731",
    );
    // A second study of the same patient, not asked for.
    let kept_dir = tempfile::tempdir().expect("a directory");
    let (kept, _) = new_study(kept_dir.path(), &["CT_small.dcm"], "MRN-7731");
    storescu(&app, "ISLAND-CT", &moved.files).await;
    storescu(&app, "ISLAND-CT", &kept.files).await;

    let study_key = format!("StudyInstanceUID={}", moved.uid);
    let port = port(&app);
    let out = dcmtk(
        "movescu",
        &[
            "-v",
            "-S",
            "-aet",
            "ISLAND-CT",
            "-aec",
            "FERRY",
            "-aem",
            ORTHANC_AE,
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            &study_key,
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    assert!(
        log(&out).contains("Received Final Move Response (Success)"),
        "{}\nOrthanc's log:\n{}",
        log(&out),
        orthanc.log()
    );
    assert_eq!(
        orthanc.sop_uids(&moved.uid).await,
        expected,
        "{}",
        orthanc.log()
    );
    assert_eq!(orthanc.count().await, expected.len(), "{}", orthanc.log());
}

#[tokio::test]
async fn orthanc_finds_a_study_at_ferry_and_moves_it_to_itself() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let (_, admin) = register_modality(&app, &c, "ISLAND-CT").await;
    // Orthanc calls Ferry, so its title is a modality of island A, and
    // receives the move, so it is a destination of island A too.
    let (status, body) = app
        .post(
            &format!("/api/v1/facilities/{}/modalities", c.island_a),
            &admin,
            json!({ "ae_title": ORTHANC_AE }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.patient_at(c.island_a, "110101195803120023", "MRN-7731")
        .await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let orthanc = Orthanc::start(&app, &clinician.token).await;
    register_destination(&app, &c, &admin, &orthanc).await;
    let files = tempfile::tempdir().expect("a directory");
    let (sent, expected) = new_study(files.path(), &["CT_small.dcm", "MR_small.dcm"], "MRN-7731");
    storescu(&app, "ISLAND-CT", &sent.files).await;

    // C-FIND from Orthanc.
    let query = orthanc
        .post_ok(
            "/modalities/ferry/query",
            json!({
                "Level": "Study",
                "Query": { "PatientID": "MRN-7731", "StudyDescription": "" },
            }),
        )
        .await;
    let id = query["ID"].as_str().expect("a query id");
    let (status, answers) = orthanc.get(&format!("/queries/{id}/answers")).await;
    assert_eq!(status, StatusCode::OK, "{answers}");
    assert_eq!(
        answers.as_array().map(Vec::len),
        Some(1),
        "{answers}\nOrthanc's log:\n{}",
        orthanc.log()
    );
    let (status, answer) = orthanc
        .get(&format!("/queries/{id}/answers/0/content?simplify"))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["StudyInstanceUID"], sent.uid.as_str(), "{answer}");
    assert_eq!(answer["PatientID"], "MRN-7731", "{answer}");

    // C-MOVE from Orthanc, to itself.
    orthanc
        .post_ok(
            &format!("/queries/{id}/retrieve"),
            json!({ "TargetAet": ORTHANC_AE, "Synchronous": true }),
        )
        .await;
    assert_eq!(
        orthanc.sop_uids(&sent.uid).await,
        expected,
        "{}",
        orthanc.log()
    );
}

#[tokio::test]
async fn orthanc_stores_into_ferry_with_stow_rs_and_retrieves_from_it_with_wado_rs() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let orthanc = Orthanc::start(&app, &clinician.token).await;

    // Orthanc's STOW-RS to Ferry, with its long multipart boundary.
    let files = tempfile::tempdir().expect("a directory");
    let (uploaded, expected) =
        new_study(files.path(), &["CT_small.dcm", "MR_small.dcm"], "MRN-7731");
    let mut orthanc_study = None;
    for file in &uploaded.files {
        let (status, instance) = orthanc
            .answer(
                orthanc
                    .client
                    .post(orthanc.url("/instances"))
                    .body(std::fs::read(file).expect("the file")),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{instance}\n{}", orthanc.log());
        orthanc_study = instance["ParentStudy"].as_str().map(str::to_owned);
    }
    let orthanc_study = orthanc_study.expect("Orthanc's id of the study");
    orthanc
        .post_ok(
            "/dicom-web/servers/ferry/stow",
            json!({ "Resources": [orthanc_study] }),
        )
        .await;
    let (status, studies) = app
        .get(
            &format!("/dicomweb/studies?StudyInstanceUID={}", uploaded.uid),
            &clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{studies}\n{}", orthanc.log());
    assert_eq!(studies.as_array().map(Vec::len), Some(1), "{studies}");
    let (status, instances) = app
        .get(
            &format!("/dicomweb/studies/{}/instances", uploaded.uid),
            &clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{instances}");
    let mut stored: Vec<String> = instances
        .as_array()
        .expect("an array")
        .iter()
        .map(|i| {
            i["00080018"]["Value"][0]
                .as_str()
                .expect("a SOP Instance UID")
                .to_owned()
        })
        .collect();
    stored.sort();
    assert_eq!(stored, expected);
    let facility: i64 =
        sqlx::query_scalar("SELECT facility_id FROM dicom_study WHERE study_uid = $1")
            .bind(&uploaded.uid)
            .fetch_one(app.db.pool())
            .await
            .expect("the study row");
    assert_eq!(facility, c.island_a);

    // Orthanc's WADO-RS retrieve of a study Ferry holds and Orthanc does not.
    let more = tempfile::tempdir().expect("a directory");
    let (held, expected) = new_study(
        more.path(),
        &["CT_small.dcm", "MR_small.dcm", "waveform_ecg_rhythm.dcm"],
        "MRN-7732",
    );
    for file in &held.files {
        let (status, body) = stow(
            &app,
            &clinician.token,
            std::fs::read(file).expect("the file"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert!(orthanc.sop_uids(&held.uid).await.is_empty());
    orthanc
        .post_ok(
            "/dicom-web/servers/ferry/retrieve",
            json!({ "Resources": [{ "Study": held.uid }] }),
        )
        .await;
    assert_eq!(
        orthanc.sop_uids(&held.uid).await,
        expected,
        "{}",
        orthanc.log()
    );
}

const FRAMES_AND_SAMPLES: &str = r#"
import json, sys
import pydicom, requests
from dicomweb_client.api import DICOMwebClient

url, token, big, little, ecg_path = sys.argv[1:6]
session = requests.Session()
session.headers.update({"Authorization": "Bearer " + token})
client = DICOMwebClient(url=url, session=session)

def first_difference(a, b):
    for n, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return n
    return None if len(a) == len(b) else min(len(a), len(b))

be = pydicom.dcmread(big)
le = pydicom.dcmread(little)
frames = client.retrieve_instance_frames(
    be.StudyInstanceUID, be.SeriesInstanceUID, be.SOPInstanceUID, frame_numbers=[1]
)

ecg = pydicom.dcmread(ecg_path)
metadata = client.retrieve_instance_metadata(
    ecg.StudyInstanceUID, ecg.SeriesInstanceUID, ecg.SOPInstanceUID
)
uri = metadata["54000100"]["Value"][0]["54001010"]["BulkDataURI"]
samples = client.retrieve_bulkdata(uri)
want = ecg.WaveformSequence[0].WaveformData

print(json.dumps({
    "frames": len(frames),
    "frame_bytes": len(frames[0]),
    "pixel_bytes": len(le.PixelData),
    "frame_first_difference": first_difference(frames[0], le.PixelData),
    "bulk_data_uri": uri,
    "sample_parts": len(samples),
    "sample_bytes": len(samples[0]),
    "waveform_bytes": len(want),
    "samples_first_difference": first_difference(samples[0], want),
}))
"#;

#[tokio::test]
async fn dicomweb_client_reads_big_endian_frames_as_little_endian_and_an_ecgs_samples() {
    // dicomweb-client sends `Host` without the port, so the server is told
    // where it is reached, as a deployment on a non-default port would be.
    let port = free_port();
    let app = spawn_app_with(|s| {
        s.listen = format!("127.0.0.1:{port}").parse().expect("an address");
        s.public_url = Some(format!("http://127.0.0.1:{port}"));
    })
    .await;
    let c = app.consortium().await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    for name in ["MR_small_bigendian.dcm", "waveform_ecg_rhythm.dcm"] {
        let (status, body) = stow(
            &app,
            &clinician.token,
            std::fs::read(fixture(name)).expect("the fixture"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
    }
    let out = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args([
            "-c",
            FRAMES_AND_SAMPLES,
            &app.url("/dicomweb"),
            &clinician.token,
        ])
        .arg(fixture("MR_small_bigendian.dcm"))
        .arg(fixture("MR_small.dcm"))
        .arg(fixture("waveform_ecg_rhythm.dcm"))
        .output()
        .await
        .expect("python3 runs");
    assert!(out.status.success(), "{}", log(&out));
    let seen: Value = serde_json::from_slice(&out.stdout).expect("the script's JSON");
    // One frame, the little-endian twin's pixel data byte for byte.
    assert_eq!(seen["frames"], 1, "{seen}");
    assert_eq!(seen["frame_bytes"], 8192, "{seen}");
    assert_eq!(seen["frame_bytes"], seen["pixel_bytes"], "{seen}");
    assert_eq!(seen["frame_first_difference"], Value::Null, "{seen}");
    // The samples of the first waveform, found through its bulk data URI.
    let uri = seen["bulk_data_uri"].as_str().expect("a URI");
    assert!(uri.starts_with(&app.url("/dicomweb/studies/")), "{seen}");
    assert!(uri.ends_with("/bulk/54000100.0.54001010"), "{seen}");
    assert_eq!(seen["sample_parts"], 1, "{seen}");
    assert_eq!(seen["sample_bytes"], seen["waveform_bytes"], "{seen}");
    assert_eq!(seen["samples_first_difference"], Value::Null, "{seen}");
}
