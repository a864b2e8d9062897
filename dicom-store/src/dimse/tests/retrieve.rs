//! C-GET and C-MOVE driven by dcmtk's `getscu` and `movescu`, with dcmtk's
//! `storescp` as the move destination.

use std::path::Path;
use std::time::Duration;

use dicom_dictionary_std::tags;
use dicom_object::open_file;

use super::dcmtk::store_samples;
use super::{dcmtk, pixel_data, run_dcmtk, string, test_files, Scp, TestService};

const CT_STUDY: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";

/// The SOP Instance UIDs and pixel data of the DICOM files in `dir`.
fn received(dir: &Path) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("the output directory")
        .filter_map(|e| open_file(e.expect("an entry").path()).ok())
        .map(|o| (string(&o, tags::SOP_INSTANCE_UID), pixel_data(&o)))
        .collect();
    out.sort();
    out
}

fn the_ct() -> (String, Vec<Vec<u8>>) {
    let ct = open_file(test_files().join("CT_small.dcm")).expect("the sample");
    (string(&ct, tags::SOP_INSTANCE_UID), pixel_data(&ct))
}

fn log(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

async fn getscu(scp: &Scp, out_dir: &Path, extra: &[&str]) -> std::process::Output {
    let port = scp.port.to_string();
    let out = out_dir.to_string_lossy().into_owned();
    let study = format!("StudyInstanceUID={CT_STUDY}");
    let mut args = vec![
        "-v",
        "-S",
        "-aet",
        "DEMO-MODALITY",
        "-aec",
        "FERRY",
        "-od",
        &out,
    ];
    args.extend(extra);
    args.extend([
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        &study,
        "127.0.0.1",
        &port,
    ]);
    run_dcmtk("getscu", &args).await
}

#[tokio::test]
async fn getscu_takes_back_a_study_byte_for_byte_in_its_own_transfer_syntax() {
    let service = TestService::new();
    let scp = Scp::start(service.clone()).await;
    store_samples(&scp, &["CT_small.dcm", "MR_small.dcm"]).await;

    let dir = tempfile::tempdir().expect("a directory");
    let out = getscu(&scp, dir.path(), &[]).await;
    assert!(out.status.success(), "{}", log(&out));
    assert_eq!(received(dir.path()), vec![the_ct()], "{}", log(&out));

    // A caller that takes only Implicit VR Little Endian gets the study
    // converted into it.
    let implicit = tempfile::tempdir().expect("a directory");
    let out = getscu(&scp, implicit.path(), &["-xi"]).await;
    assert!(out.status.success(), "{}", log(&out));
    assert_eq!(received(implicit.path()), vec![the_ct()], "{}", log(&out));
    scp.stop().await;
}

/// dcmtk's storescp on a free port, storing into `dir`, as AE `title`.
async fn storescp(dir: &Path, title: &str) -> (tokio::process::Child, u16) {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("bound").port()
    };
    let child = tokio::process::Command::from(ferry_test_tools::command(dcmtk("storescp")))
        .args(["-aet", title, "-od"])
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
            return (child, port);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("storescp did not listen on {port}");
}

#[tokio::test]
async fn movescu_sends_a_study_to_a_registered_destination_and_an_unknown_one_is_refused() {
    let service = TestService::new();
    let scp = Scp::start(service.clone()).await;
    store_samples(&scp, &["CT_small.dcm", "MR_small.dcm"]).await;
    let dir = tempfile::tempdir().expect("a directory");
    let (mut destination, port) = storescp(dir.path(), "VIEWER").await;
    service.add_destination("VIEWER", port);

    let movescu = |destination: &'static str| {
        let port = scp.port.to_string();
        async move {
            run_dcmtk(
                "movescu",
                &[
                    "-v",
                    "-S",
                    "-aet",
                    "DEMO-MODALITY",
                    "-aec",
                    "FERRY",
                    "-aem",
                    destination,
                    "-k",
                    "QueryRetrieveLevel=SERIES",
                    "-k",
                    &format!("StudyInstanceUID={CT_STUDY}"),
                    "-k",
                    "SeriesInstanceUID=1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322",
                    "127.0.0.1",
                    &port,
                ],
            )
            .await
        }
    };
    let moved = movescu("VIEWER").await;
    assert!(moved.status.success(), "{}", log(&moved));
    assert!(
        log(&moved).contains("Received Final Move Response (Success)"),
        "{}",
        log(&moved)
    );
    // storescp has written the file by the time it answered.
    assert_eq!(received(dir.path()), vec![the_ct()]);

    let refused = movescu("NOBODY").await;
    assert!(
        log(&refused).contains("Move Destination unknown")
            || log(&refused).contains("MoveDestinationUnknown"),
        "{}",
        log(&refused)
    );
    let _ = destination.kill().await;
    scp.stop().await;
}
