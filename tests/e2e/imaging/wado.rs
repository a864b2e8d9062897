//! WADO-RS through the whole server with a real client (the Python
//! dicomweb-client): studies, instances, metadata and bulk data, frames and
//! rendered pictures come back, and the pixel data retrieved is the pixel
//! data sent.

use ferry_server::auth::Role;
use serde_json::Value;

use crate::support::dicom_files::{audit_events, study};
use crate::support::spawn_app_with;

const RETRIEVE_SCRIPT: &str = r#"
import json, sys
import pydicom
from pydicom.encaps import generate_frames
from dicomweb_client.api import DICOMwebClient
url, token = sys.argv[1:3]
files = sys.argv[3:]
client = DICOMwebClient(url=url, headers={"Authorization": "Bearer " + token})
sent = [pydicom.dcmread(p) for p in files]
client.store_instances(datasets=sent)
by_uid = {ds.SOPInstanceUID: ds for ds in sent}
study_uid = sent[0].StudyInstanceUID
checks = {}

got = client.retrieve_study(study_uid)
checks["study_instances"] = sorted(d.SOPInstanceUID for d in got) == sorted(by_uid)
checks["study_pixels_equal"] = all(d.PixelData == by_uid[d.SOPInstanceUID].PixelData for d in got)

ct, jpeg = sent
one = client.retrieve_instance(study_uid, ct.SeriesInstanceUID, ct.SOPInstanceUID)
checks["instance_pixels_equal"] = one.PixelData == ct.PixelData

metadata = client.retrieve_series_metadata(study_uid, ct.SeriesInstanceUID)
uri = metadata[0]["7FE00010"]["BulkDataURI"]
bulk = client.retrieve_bulkdata(uri)
checks["bulk_pixels_equal"] = b"".join(bulk) == ct.PixelData

frames = client.retrieve_instance_frames(study_uid, ct.SeriesInstanceUID, ct.SOPInstanceUID, [1],
    media_types=("application/octet-stream",))
checks["native_frame_equal"] = frames[0] == ct.PixelData

jpeg_frames = client.retrieve_instance_frames(study_uid, jpeg.SeriesInstanceUID, jpeg.SOPInstanceUID, [1],
    media_types=(("image/jpeg", "1.2.840.10008.1.2.4.50"),))
expected = next(generate_frames(jpeg.PixelData, number_of_frames=1))
checks["jpeg_frame_equal"] = jpeg_frames[0] == expected

png = client.retrieve_instance_rendered(study_uid, ct.SeriesInstanceUID, ct.SOPInstanceUID,
    media_types=("image/png",), params={"window": "40,400"})
checks["rendered_png"] = png[:8] == b"\x89PNG\r\n\x1a\n"
print(json.dumps(checks))
"#;

#[tokio::test]
async fn dicomweb_client_retrieves_what_it_stored_pixel_for_pixel() {
    // dicomweb-client sends `Host` without the port, so the server is told
    // where it is reached, as a deployment on a non-default port would be.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let app = spawn_app_with(|s| {
        s.listen = format!("127.0.0.1:{port}").parse().expect("an address");
        s.public_url = Some(format!("http://127.0.0.1:{port}"));
    })
    .await;
    let c = app.consortium().await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(
        files.path(),
        &["CT_small.dcm", "SC_rgb_jpeg_dcmtk.dcm"],
        "MRN-7",
    );
    let mut args = vec![
        "-c".to_owned(),
        RETRIEVE_SCRIPT.to_owned(),
        app.url("/dicomweb"),
        clinician.token.clone(),
    ];
    args.extend(sent.files.iter().map(|p| p.display().to_string()));

    let output = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args(&args)
        .output()
        .await
        .expect("python3 runs");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let checks: Value = serde_json::from_slice(&output.stdout).expect("the script's JSON");
    let failed: Vec<&String> = checks
        .as_object()
        .expect("an object")
        .iter()
        .filter(|(_, ok)| **ok != Value::Bool(true))
        .map(|(name, _)| name)
        .collect();
    assert!(failed.is_empty(), "failed checks: {failed:?} in {checks}");
    assert_eq!(checks.as_object().map(|o| o.len()), Some(7));
    assert!(audit_events(&app, "dicom.retrieve", &sent.uid).await >= 6);
}
