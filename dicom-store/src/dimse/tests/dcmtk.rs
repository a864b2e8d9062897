//! dcmtk's echoscu, storescu, dcmsend and findscu against our listener.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use dicom_dictionary_std::tags;
use dicom_object::open_file;

use super::{copy_with_new_uid, pixel_data, run_dcmtk, string, test_files, Scp, TestService};

fn port_args(scp: &Scp) -> String {
    scp.port.to_string()
}

#[tokio::test]
async fn echoscu_with_a_known_calling_ae_succeeds() {
    let scp = Scp::start(TestService::new()).await;
    let port = port_args(&scp);

    let out = run_dcmtk(
        "echoscu",
        &["-aet", "DEMO-MODALITY", "-aec", "FERRY", "127.0.0.1", &port],
    )
    .await;

    assert!(
        out.status.success(),
        "echoscu failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    scp.stop().await;
}

#[tokio::test]
async fn an_unknown_calling_ae_is_rejected_with_the_reason() {
    let scp = Scp::start(TestService::new()).await;
    let port = port_args(&scp);

    let out = run_dcmtk(
        "echoscu",
        &["-aet", "STRANGER", "-aec", "FERRY", "127.0.0.1", &port],
    )
    .await;

    assert!(!out.status.success(), "echoscu should fail");
    let log = String::from_utf8_lossy(&out.stderr).to_lowercase()
        + &String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(log.contains("association rejected"), "{log}");
    assert!(log.contains("calling ae title not recognized"), "{log}");
    scp.stop().await;
}

#[tokio::test]
async fn a_wrong_called_ae_is_rejected_with_the_reason() {
    let scp = Scp::start(TestService::new()).await;
    let port = port_args(&scp);

    let out = run_dcmtk(
        "echoscu",
        &[
            "-aet",
            "DEMO-MODALITY",
            "-aec",
            "NOT-FERRY",
            "127.0.0.1",
            &port,
        ],
    )
    .await;

    assert!(!out.status.success(), "echoscu should fail");
    let log = String::from_utf8_lossy(&out.stderr).to_lowercase()
        + &String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(log.contains("called ae title not recognized"), "{log}");
    scp.stop().await;
}

/// Sends `files` with `tool` and checks the service got each data set
/// intact: same SOP Instance UID and identical pixel data.
async fn send_and_compare(tool: &str, extra: &[&str], files: &[&str], keep_syntax: bool) {
    let service = TestService::new();
    let scp = Scp::start(service.clone()).await;
    let port = port_args(&scp);
    let dir = test_files();
    let paths: Vec<String> = files
        .iter()
        .map(|f| dir.join(f).to_string_lossy().into_owned())
        .collect();
    let mut args: Vec<&str> = vec!["-aet", "DEMO-MODALITY", "-aec", "FERRY"];
    args.extend_from_slice(extra);
    args.extend(["127.0.0.1", port.as_str()]);
    args.extend(paths.iter().map(String::as_str));

    let out = run_dcmtk(tool, &args).await;

    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = service.received();
    assert_eq!(received.len(), files.len());
    for (path, got) in paths.iter().zip(&received) {
        let original = open_file(path).expect("sample opens");
        let stored = open_file(&got.path).expect("the staged Part 10 file opens");
        assert_eq!(
            got.sop_instance_uid,
            string(&original, tags::SOP_INSTANCE_UID)
        );
        assert_eq!(
            string(&stored, tags::SOP_INSTANCE_UID),
            got.sop_instance_uid
        );
        assert_eq!(got.sop_class_uid, string(&original, tags::SOP_CLASS_UID));
        assert_eq!(
            stored.meta().transfer_syntax().trim_end_matches('\0'),
            got.transfer_syntax
        );
        if keep_syntax {
            assert_eq!(
                got.transfer_syntax,
                original.meta().transfer_syntax().trim_end_matches('\0')
            );
        }
        assert_eq!(got.facility_id, "demo-facility");
        assert!(
            pixel_data(&stored) == pixel_data(&original),
            "pixel data differs for {path}"
        );
    }
    scp.stop().await;
}

#[tokio::test]
async fn storescu_stores_explicit_and_implicit_little_endian_intact() {
    send_and_compare(
        "storescu",
        &[],
        &["CT_small.dcm", "MR_small_implicit.dcm"],
        false,
    )
    .await;
}

/// Larger than the 256 KiB of a data set that is held in memory, so this
/// one goes to the staging file as it arrives.
#[tokio::test]
async fn storescu_stores_an_instance_larger_than_the_memory_buffer_intact() {
    send_and_compare("storescu", &[], &["examples_overlay.dcm"], false).await;
}

#[tokio::test]
async fn storescu_proposing_implicit_only_is_stored_in_implicit() {
    send_and_compare("storescu", &["-xi"], &["MR_small_implicit.dcm"], true).await;
}

#[tokio::test]
async fn dcmsend_stores_rle_jpeg_baseline_and_jpeg_2000_as_received() {
    send_and_compare(
        "dcmsend",
        &[],
        &["MR_small_RLE.dcm", "examples_ybr_color.dcm", "JPEG2000.dcm"],
        true,
    )
    .await;
}

/// Runs findscu with `keys` and returns the responses it extracted.
async fn findscu(scp: &Scp, model: &str, keys: &[&str]) -> Vec<dicom_object::DefaultDicomObject> {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let port = port_args(scp);
    let out_path = out_dir.path().to_string_lossy().into_owned();
    let mut args = vec![
        model,
        "-aet",
        "DEMO-MODALITY",
        "-aec",
        "FERRY",
        "-X",
        "-od",
        &out_path,
    ];
    for key in keys {
        args.extend(["-k", key]);
    }
    args.extend(["127.0.0.1", port.as_str()]);

    let out = run_dcmtk("findscu", &args).await;

    assert!(
        out.status.success(),
        "findscu failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<_> = std::fs::read_dir(out_dir.path())
        .expect("output dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| open_file(p).expect("response file opens"))
        .collect()
}

pub(super) async fn store_samples(scp: &Scp, files: &[&str]) {
    let dir = test_files();
    let port = port_args(scp);
    let paths: Vec<String> = files
        .iter()
        .map(|f| dir.join(f).to_string_lossy().into_owned())
        .collect();
    let mut args = vec![
        "-aet",
        "DEMO-MODALITY",
        "-aec",
        "FERRY",
        "127.0.0.1",
        port.as_str(),
    ];
    args.extend(paths.iter().map(String::as_str));
    let out = run_dcmtk("storescu", &args).await;
    assert!(
        out.status.success(),
        "storescu failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn uids(responses: &[dicom_object::DefaultDicomObject], tag: dicom_core::Tag) -> BTreeSet<String> {
    responses.iter().map(|r| string(r, tag)).collect()
}

#[tokio::test]
async fn findscu_finds_studies_series_and_images() {
    let service = TestService::new();
    let scp = Scp::start(service.clone()).await;
    store_samples(&scp, &["CT_small.dcm", "MR_small.dcm"]).await;
    let stored: Vec<_> = service
        .received()
        .iter()
        .map(|r| open_file(&r.path).expect("stored"))
        .collect();
    let ct = &stored[0];

    let studies = findscu(
        &scp,
        "-S",
        &["QueryRetrieveLevel=STUDY", "StudyInstanceUID", "PatientID"],
    )
    .await;
    assert_eq!(
        uids(&studies, tags::STUDY_INSTANCE_UID),
        uids(&stored, tags::STUDY_INSTANCE_UID)
    );
    assert!(studies
        .iter()
        .all(|s| string(s, tags::QUERY_RETRIEVE_LEVEL) == "STUDY"));

    let study = string(ct, tags::STUDY_INSTANCE_UID);
    let series = findscu(
        &scp,
        "-S",
        &[
            "QueryRetrieveLevel=SERIES",
            &format!("StudyInstanceUID={study}"),
            "SeriesInstanceUID",
            "Modality",
        ],
    )
    .await;
    assert_eq!(series.len(), 1);
    assert_eq!(
        string(&series[0], tags::SERIES_INSTANCE_UID),
        string(ct, tags::SERIES_INSTANCE_UID)
    );
    assert_eq!(string(&series[0], tags::MODALITY), "CT");

    let series_uid = string(ct, tags::SERIES_INSTANCE_UID);
    let images = findscu(
        &scp,
        "-S",
        &[
            "QueryRetrieveLevel=IMAGE",
            &format!("StudyInstanceUID={study}"),
            &format!("SeriesInstanceUID={series_uid}"),
            "SOPInstanceUID",
        ],
    )
    .await;
    assert_eq!(
        uids(&images, tags::SOP_INSTANCE_UID),
        BTreeSet::from([string(ct, tags::SOP_INSTANCE_UID)])
    );

    let patients = findscu(&scp, "-P", &["QueryRetrieveLevel=PATIENT", "PatientID"]).await;
    assert_eq!(
        uids(&patients, tags::PATIENT_ID),
        uids(&stored, tags::PATIENT_ID)
    );
    scp.stop().await;
}

#[tokio::test]
async fn a_failing_find_returns_a_failure_status() {
    let scp = Scp::start(TestService::new()).await;
    let port = port_args(&scp);

    let out = run_dcmtk(
        "findscu",
        &[
            "-v",
            "-S",
            "-aet",
            "DEMO-MODALITY",
            "-aec",
            "FERRY",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "PatientID=FAIL",
            "127.0.0.1",
            &port,
        ],
    )
    .await;

    // findscu exits 0 even on a failure status; the status is in its log.
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("Received Final Find Response (Failed: UnableToProcess)"),
        "{log}"
    );
    scp.stop().await;
}

#[tokio::test]
async fn the_study_root_model_refuses_the_patient_level() {
    let scp = Scp::start(TestService::new()).await;
    let port = port_args(&scp);
    let out = run_dcmtk(
        "findscu",
        &[
            "-v",
            "-S",
            "-aet",
            "DEMO-MODALITY",
            "-aec",
            "FERRY",
            "-k",
            "QueryRetrieveLevel=PATIENT",
            "-k",
            "PatientID=MANY",
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("DataSetDoesNotMatchSOPClass"), "{log}");
    assert!(!log.contains("(Pending)"), "{log}");
    scp.stop().await;
}

#[tokio::test]
async fn findscu_can_cancel_between_responses() {
    let scp = Scp::start(TestService::new()).await;
    let port = port_args(&scp);

    let out = run_dcmtk(
        "findscu",
        &[
            "-v",
            "-P",
            "-aet",
            "DEMO-MODALITY",
            "-aec",
            "FERRY",
            "--cancel",
            "2",
            "-k",
            "QueryRetrieveLevel=PATIENT",
            "-k",
            "PatientID=MANY",
            "-k",
            "PatientComments",
            "127.0.0.1",
            &port,
        ],
    )
    .await;

    // The final response says Cancel, and the association still ends with
    // a normal release.
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "findscu failed: {log}");
    assert!(
        log.contains("Received Final Find Response (Cancel"),
        "{log}"
    );
    let pending = log.matches("(Pending)").count();
    assert!(
        pending < 3000,
        "all {pending} matches were sent despite the cancel"
    );
    assert!(log.contains("Releasing Association"), "{log}");
    scp.stop().await;
}

#[tokio::test]
async fn two_hundred_small_instances_via_storescu_on_one_association_all_arrive() {
    let service = TestService::new();
    let scp = Scp::start(service.clone()).await;
    let samples = tempfile::tempdir().expect("temp dir");
    let ct = test_files().join("CT_small.dcm");
    let copies: Vec<String> = (0..200)
        .map(|n| {
            copy_with_new_uid(&ct, samples.path(), n)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let port = port_args(&scp);
    let mut args = vec![
        "-aet",
        "DEMO-MODALITY",
        "-aec",
        "FERRY",
        "127.0.0.1",
        port.as_str(),
    ];
    args.extend(copies.iter().map(String::as_str));

    let started = Instant::now();
    let out = run_dcmtk("storescu", &args).await;
    let elapsed = started.elapsed();

    assert!(
        out.status.success(),
        "storescu failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(service.received().len(), 200);
    let size = std::fs::metadata(Path::new(&copies[0]))
        .expect("copy")
        .len();
    eprintln!(
        "200 instances of {size} bytes via storescu: {:.3} s",
        elapsed.as_secs_f64()
    );
    // The figure is for reading, not asserting: speed is `ferry-bench`'s job.
    scp.stop().await;
}
