//! Storage Commitment with pynetdicom: a modality stores an instance, asks
//! Ferry to commit to it and to one it never sent, and reads the result
//! from the N-EVENT-REPORT on the same association; without the SCP role it
//! is told it cannot be answered.

use crate::support::dicom_files::{fixture, port, register_modality};
use crate::support::spawn_app;

const SCRIPT: &str = r#"
import sys, threading
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt, build_role
from pynetdicom.sop_class import StorageCommitmentPushModel as COMMIT
calling, port, path, with_role = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == 'role'
ds = dcmread(path)
got = threading.Event()
seen = {}
def on_report(event):
    info = event.event_information
    seen['type'] = event.request.EventTypeID
    seen['transaction'] = info.TransactionUID
    seen['held'] = [i.ReferencedSOPInstanceUID for i in info.get('ReferencedSOPSequence', [])]
    seen['failed'] = [(i.ReferencedSOPInstanceUID, i.FailureReason) for i in info.get('FailedSOPSequence', [])]
    got.set()
    return 0x0000, None
ae = AE(ae_title=calling)
ae.add_requested_context(ds.SOPClassUID)
ae.add_requested_context(COMMIT)
roles = [build_role(COMMIT, scu_role=True, scp_role=True)] if with_role else []
assoc = ae.associate('127.0.0.1', port, ae_title='FERRY', ext_neg=roles,
                     evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
assert assoc.is_established
print('store', hex(assoc.send_c_store(ds).Status))
request = Dataset()
request.TransactionUID = generate_uid()
sent = Dataset()
sent.ReferencedSOPClassUID = ds.SOPClassUID
sent.ReferencedSOPInstanceUID = ds.SOPInstanceUID
never = Dataset()
never.ReferencedSOPClassUID = ds.SOPClassUID
never.ReferencedSOPInstanceUID = '2.25.1'
request.ReferencedSOPSequence = [sent, never]
status, _ = assoc.send_n_action(request, 1, COMMIT, '1.2.840.10008.1.20.1.1')
print('action', hex(status.Status))
if with_role:
    got.wait(20)
    print('event', seen.get('type'))
    print('transaction', seen.get('transaction') == request.TransactionUID)
    print('held', ','.join(seen.get('held', [])))
    print('failed', ','.join('%s:%s' % (u, hex(r)) for u, r in seen.get('failed', [])))
assoc.release()
"#;

#[tokio::test]
async fn a_modality_learns_which_instances_ferry_has_committed_to() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let run = |role: &'static str| {
        let port = port(&app);
        async move {
            let out = tokio::process::Command::from(ferry_test_tools::command("python3"))
                .args(["-c", SCRIPT, "ISLAND-CT", &port])
                .arg(fixture("CT_small.dcm"))
                .arg(role)
                .output()
                .await
                .expect("python3 runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        }
    };
    let sop = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
    assert_eq!(
        run("role").await,
        [
            "store 0x0".to_owned(),
            "action 0x0".to_owned(),
            "event 2".to_owned(),
            "transaction True".to_owned(),
            format!("held {sop}"),
            "failed 2.25.1:0x112".to_owned(),
        ]
    );
    // Without the SCP role the result could not be sent back: refused.
    assert_eq!(run("none").await, ["store 0x0", "action 0x110"]);
}
