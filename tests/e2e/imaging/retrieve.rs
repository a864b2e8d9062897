//! C-GET and C-MOVE from the DIMSE listener with dcmtk's `getscu` and
//! `movescu`, dcmtk's `storescp` as the destination, and the scope of the
//! calling modality's facility; pynetdicom's C-GET and C-MOVE; a deflated
//! C-STORE from pynetdicom.

use std::path::Path;
use std::process::Output;

use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::dicom_files::{
    audit_events, dcmtk, fixture, port, received, register_modality, storescp, study,
};
use crate::support::orthanc::free_port;
use crate::support::{spawn_app, TestApp};

fn log(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

async fn getscu(app: &TestApp, calling: &str, study_uid: &str, into: &Path) -> Output {
    let study = format!("StudyInstanceUID={study_uid}");
    let out = into.to_string_lossy().into_owned();
    let port = port(app);
    dcmtk(
        "getscu",
        &[
            "-v",
            "-S",
            "-aet",
            calling,
            "-aec",
            "FERRY",
            "-od",
            &out,
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            &study,
            "127.0.0.1",
            &port,
        ],
    )
    .await
}

async fn movescu(app: &TestApp, calling: &str, destination: &str, patient_id: &str) -> Output {
    let patient = format!("PatientID={patient_id}");
    let port = port(app);
    dcmtk(
        "movescu",
        &[
            "-v",
            "-P",
            "-aet",
            calling,
            "-aec",
            "FERRY",
            "-aem",
            destination,
            "-k",
            "QueryRetrieveLevel=PATIENT",
            "-k",
            &patient,
            "127.0.0.1",
            &port,
        ],
    )
    .await
}

#[tokio::test]
async fn a_modality_gets_and_moves_what_its_facility_holds_and_nothing_of_another_facility() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let (_, admin) = register_modality(&app, &c, "ISLAND-CT").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/facilities/{}/modalities", c.island_b),
            &admin,
            json!({ "ae_title": "OTHER-CT" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.patient_at(c.island_a, "110101195803120023", "MRN-7731")
        .await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm", "MR_small.dcm"], "MRN-7731");
    let port = port(&app);
    let mut args = vec!["-aet", "ISLAND-CT", "-aec", "FERRY", "127.0.0.1", &port];
    args.extend(sent.files.iter().map(|p| p.to_str().expect("UTF-8")));
    let stored = dcmtk("storescu", &args).await;
    assert!(stored.status.success(), "{}", log(&stored));
    let expected = received(files.path());

    // C-GET, on the caller's own association.
    let got = tempfile::tempdir().expect("a directory");
    let out = getscu(&app, "ISLAND-CT", &sent.uid, got.path()).await;
    assert!(out.status.success(), "{}", log(&out));
    assert_eq!(received(got.path()), expected, "{}", log(&out));
    // Another facility's modality names the study and gets nothing.
    let other = tempfile::tempdir().expect("a directory");
    let out = getscu(&app, "OTHER-CT", &sent.uid, other.path()).await;
    assert!(out.status.success(), "{}", log(&out));
    assert_eq!(
        received(other.path()),
        std::collections::BTreeSet::<String>::new()
    );

    // C-MOVE, to a destination registered for island A.
    let moved_into = tempfile::tempdir().expect("a directory");
    let viewer_port = free_port();
    let mut viewer = storescp(moved_into.path(), "VIEWER", viewer_port, 0).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/facilities/{}/dicom-destinations", c.island_a),
            &admin,
            json!({ "ae_title": "VIEWER", "host": "127.0.0.1", "port": viewer_port }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let out = movescu(&app, "ISLAND-CT", "VIEWER", "MRN-7731").await;
    assert!(
        log(&out).contains("Received Final Move Response (Success)"),
        "{}",
        log(&out)
    );
    assert_eq!(received(moved_into.path()), expected);
    // Island B's modality may not send anything to island A's viewer, and
    // an unknown title is no destination at all.
    for (calling, destination) in [("OTHER-CT", "VIEWER"), ("ISLAND-CT", "NOBODY")] {
        let out = movescu(&app, calling, destination, "MRN-7731").await;
        assert!(
            log(&out).contains("Move Destination unknown")
                || log(&out).contains("MoveDestinationUnknown"),
            "{calling} to {destination}: {}",
            log(&out)
        );
    }
    let _ = viewer.kill().await;
    assert!(audit_events(&app, "dicom.retrieve", &sent.uid).await >= 2);
}

#[tokio::test]
async fn destinations_are_registered_by_administrators_and_checked() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let admin = app.user("admin", Role::Admin, c.tertiary).await;
    let clinician = app.user("clin", Role::Clinician, c.island_a).await;
    let path = format!("/api/v1/facilities/{}/dicom-destinations", c.island_a);
    let good = json!({ "ae_title": "WS-1", "host": "ws1.county.local", "port": 11112 });
    let (status, _) = app.post(&path, &clinician.token, good.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.post(&path, &admin.token, good.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.post(&path, &admin.token, good).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "ae_title_taken");
    for (bad, code) in [
        (
            json!({ "ae_title": "WS-2", "host": "not a host", "port": 104 }),
            "invalid_host",
        ),
        (
            json!({ "ae_title": "WS-2", "host": "10.0.0.9", "port": 0 }),
            "invalid_field",
        ),
        (
            json!({ "ae_title": "", "host": "10.0.0.9", "port": 104 }),
            "invalid_ae_title",
        ),
    ] {
        let (status, body) = app.post(&path, &admin.token, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    let (status, list) = app.get(&path, &clinician.token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().expect("an array").len(), 1);
    assert_eq!(list[0]["host"], "ws1.county.local");
    let other = app.user("clin-b", Role::Clinician, c.island_b).await;
    let (status, _) = app.get(&path, &other.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_deflated_c_store_is_kept_inflated() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-US").await;
    let script = "import sys\n\
        from pydicom import dcmread\n\
        from pydicom.uid import DeflatedExplicitVRLittleEndian as DEFLATED\n\
        from pynetdicom import AE\n\
        ds = dcmread(sys.argv[3])\n\
        ae = AE(ae_title=sys.argv[1])\n\
        ae.add_requested_context(ds.SOPClassUID, [DEFLATED])\n\
        assoc = ae.associate('127.0.0.1', int(sys.argv[2]), ae_title='FERRY')\n\
        assert assoc.is_established\n\
        ctx = [c for c in assoc.accepted_contexts if c.abstract_syntax == ds.SOPClassUID]\n\
        print(ctx[0].transfer_syntax[0])\n\
        status = assoc.send_c_store(ds)\n\
        print(hex(status.Status))\n\
        assoc.release()\n";
    let out = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args(["-c", script, "ISLAND-US", &port(&app)])
        .arg(fixture("CT_small.dcm"))
        .output()
        .await
        .expect("python3 runs");
    let text = log(&out);
    assert!(out.status.success(), "{text}");
    let printed = String::from_utf8_lossy(&out.stdout);
    // The deflated syntax was accepted, and the instance stored.
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        ["1.2.840.10008.1.2.1.99", "0x0"],
        "{text}"
    );
    let stored: String = sqlx::query_scalar(
        "SELECT transfer_syntax FROM dicom_instance WHERE sop_instance_uid = $1",
    )
    .bind("1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322")
    .fetch_one(app.db.pool())
    .await
    .expect("stored");
    assert_eq!(stored, "1.2.840.10008.1.2.1");
}

/// pynetdicom's C-GET (taking the storage SCP role on its own association)
/// and C-MOVE to a pynetdicom storage SCP; prints, for each, the final
/// status and the SOP Instance UIDs received.
const PYNETDICOM_RETRIEVE: &str = r#"
import sys
from pydicom.dataset import Dataset
from pynetdicom import AE, evt, build_role, StoragePresentationContexts
from pynetdicom.sop_class import (CTImageStorage, MRImageStorage,
    StudyRootQueryRetrieveInformationModelGet as GET,
    StudyRootQueryRetrieveInformationModelMove as MOVE)

calling, port, study, viewer_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
query = Dataset()
query.QueryRetrieveLevel = 'STUDY'
query.StudyInstanceUID = study

def receiver(into):
    def on_store(event):
        into.append(event.dataset.SOPInstanceUID)
        return 0x0000
    return [(evt.EVT_C_STORE, on_store)]

got = []
ae = AE(ae_title=calling)
ae.add_requested_context(GET)
for storage in (CTImageStorage, MRImageStorage):
    ae.add_requested_context(storage)
roles = [build_role(c, scp_role=True) for c in (CTImageStorage, MRImageStorage)]
assoc = ae.associate('127.0.0.1', port, ae_title='FERRY', ext_neg=roles, evt_handlers=receiver(got))
assert assoc.is_established
final = None
for status, _ in assoc.send_c_get(query, GET):
    final = status.Status
assoc.release()
print('get', hex(final), ' '.join(sorted(got)))

moved = []
viewer = AE(ae_title='PY-VIEWER')
viewer.supported_contexts = StoragePresentationContexts
server = viewer.start_server(('127.0.0.1', viewer_port), block=False, evt_handlers=receiver(moved))
ae = AE(ae_title=calling)
ae.add_requested_context(MOVE)
assoc = ae.associate('127.0.0.1', port, ae_title='FERRY')
assert assoc.is_established
for status, _ in assoc.send_c_move(query, 'PY-VIEWER', MOVE):
    final = status.Status
assoc.release()
server.shutdown()
print('move', hex(final), ' '.join(sorted(moved)))
"#;

#[tokio::test]
async fn pynetdicom_gets_and_moves_a_study_of_its_facility() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let (_, admin) = register_modality(&app, &c, "ISLAND-CT").await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm", "MR_small.dcm"], "MRN-PY");
    let port = port(&app);
    let mut args = vec!["-aet", "ISLAND-CT", "-aec", "FERRY", "127.0.0.1", &port];
    args.extend(sent.files.iter().map(|p| p.to_str().expect("UTF-8")));
    let stored = dcmtk("storescu", &args).await;
    assert!(stored.status.success(), "{}", log(&stored));
    let viewer_port = free_port();
    let (status, body) = app
        .post(
            &format!("/api/v1/facilities/{}/dicom-destinations", c.island_a),
            &admin,
            json!({ "ae_title": "PY-VIEWER", "host": "127.0.0.1", "port": viewer_port }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let out = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args(["-c", PYNETDICOM_RETRIEVE, "ISLAND-CT", &port, &sent.uid])
        .arg(viewer_port.to_string())
        .output()
        .await
        .expect("python3 runs");
    let text = log(&out);
    assert!(out.status.success(), "{text}");
    let expected: Vec<String> = received(files.path()).into_iter().collect();
    assert_eq!(expected.len(), 2);
    let printed = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            format!("get 0x0 {}", expected.join(" ")),
            format!("move 0x0 {}", expected.join(" ")),
        ],
        "{text}"
    );
}
