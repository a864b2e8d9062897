//! pynetdicom as a second, independent client: C-ECHO, C-STORE, C-FIND.

use dicom_dictionary_std::tags;
use dicom_object::open_file;

use super::{string, test_files, Scp, TestService};

/// Echo, store one file, then query at study level; prints one line per
/// result so the test can check each step.
const CLIENT: &str = r#"
import sys
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts
from pynetdicom.sop_class import Verification, StudyRootQueryRetrieveInformationModelFind

port, path = int(sys.argv[1]), sys.argv[2]
ae = AE(ae_title="PYNETDICOM")
ae.add_requested_context(Verification)
ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
ds = dcmread(path)
ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
assoc = ae.associate("127.0.0.1", port, ae_title="FERRY")
if not assoc.is_established:
    print("association failed")
    sys.exit(1)
print("echo", hex(assoc.send_c_echo().Status))
print("store", hex(assoc.send_c_store(ds).Status))
query = Dataset()
query.QueryRetrieveLevel = "STUDY"
query.StudyInstanceUID = ""
for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
    if identifier is not None:
        print("match", identifier.StudyInstanceUID)
    else:
        print("find", hex(status.Status))
assoc.release()
"#;

#[tokio::test]
async fn pynetdicom_echoes_stores_and_finds() {
    let service = TestService::new();
    let scp = Scp::start(service.clone()).await;
    let sample = test_files().join("CT_small.dcm");

    let out = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args([
            "-c",
            CLIENT,
            &scp.port.to_string(),
            &sample.to_string_lossy(),
        ])
        .output()
        .await
        .expect("python3 runs");

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the pynetdicom client failed (pip install pynetdicom if it is missing): {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let study = string(
        &open_file(&sample).expect("sample"),
        tags::STUDY_INSTANCE_UID,
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "echo 0x0",
            "store 0x0",
            &format!("match {study}"),
            "find 0x0"
        ],
        "{stdout}"
    );
    assert_eq!(service.received().len(), 1);
    scp.stop().await;
}
