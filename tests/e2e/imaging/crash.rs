//! The imaging store under `kill -9`: the server is killed again and again
//! while a modality pushes by C-STORE and a clinic uploads by STOW-RS. After
//! each restart every acknowledged instance comes back byte for byte, and
//! nothing is left over: every blob file has its index row and every row its
//! file, the staging directory is empty and so is the ingest journal; and
//! every instance a C-STORE indexed is audited exactly once, though the
//! kills cut its association off before the association's audit. And a
//! 2 GB upload cut off halfway stores nothing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dicom_dictionary_std::tags;
use ferry_server::auth::Role;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::child_server::{spawn_server, ChildServer};
use crate::support::dicom_files::{register_modality, study, upload};
use crate::support::wait_until;
use crate::support::{spawn_app, TestApp};

const ROUNDS: usize = 3;
/// Instances offered through each door per round.
const PER_DOOR: usize = 24;

/// The UIDs WADO-URI asks for: study, series, SOP instance.
fn uids(path: &Path) -> (String, String, String) {
    let object = dicom_object::open_file(path).expect("a sent file parses");
    let text = |tag| {
        object
            .element(tag)
            .expect("the UID is there")
            .to_str()
            .expect("text")
            .trim_end_matches('\0')
            .to_owned()
    };
    (
        text(tags::STUDY_INSTANCE_UID),
        text(tags::SERIES_INSTANCE_UID),
        text(tags::SOP_INSTANCE_UID),
    )
}

/// The data set of a Part 10 file: what follows its file meta group. A
/// C-STORE carries only the data set; the store writes its own meta group.
fn data_set(file: &[u8]) -> &[u8] {
    let group_length = u32::from_le_bytes(file[140..144].try_into().expect("four bytes"));
    &file[144 + group_length as usize..]
}

/// Rewrites a file the way dcmtk puts its data set on the wire (explicit
/// item lengths, no trailing padding), so that the data set stored from a
/// C-STORE can be compared with the file byte for byte.
async fn as_sent_by_dcmtk(path: &Path) {
    let path = path.to_str().expect("a UTF-8 path");
    let out = crate::support::dicom_files::dcmtk("dcmconv", &["+e", "-p", path, path]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pushes `files` in one association with dcmtk's `storescu`, for as long as
/// the server lives; returns the files it saw acknowledged with Success.
async fn push(port: String, files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut args = vec!["-v", "-aet", "ISLAND-CT", "-aec", "FERRY", "127.0.0.1"];
    args.push(&port);
    args.extend(files.iter().map(|p| p.to_str().expect("a UTF-8 path")));
    let out = crate::support::dicom_files::dcmtk("storescu", &args).await;
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut sending = None;
    let mut acknowledged = Vec::new();
    for line in log.lines() {
        if let Some((_, path)) = line.split_once("Sending file: ") {
            sending = Some(PathBuf::from(path.trim()));
        } else if line.contains("Received Store Response (Success)") {
            acknowledged.extend(sending.take());
        }
    }
    acknowledged
}

async fn kill(mut server: ChildServer) {
    server.process.start_kill().expect("SIGKILL");
    server.process.wait().await.expect("reaped");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// Files under `dir` with something in them: a key reserved for an ingest to
/// come is an empty file under its journal row until an instance is written
/// into it, and is not a blob.
fn blobs_under(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0))
        .collect()
}

/// No blob without its row, no row without its blob, nothing staged, and no
/// journal row but for keys reserved and not yet used or instances stored
/// whole.
async fn assert_no_orphans(app: &TestApp, server_dir: &Path) {
    let dicom = server_dir.join("dicom");
    let keys: Vec<String> = sqlx::query_scalar("SELECT blob_key FROM dicom_instance")
        .fetch_all(app.db.pool())
        .await
        .expect("the blob keys");
    let mut indexed: Vec<PathBuf> = keys.iter().map(|k| dicom.join("blobs").join(k)).collect();
    let mut on_disk = blobs_under(&dicom.join("blobs"));
    indexed.sort();
    on_disk.sort();
    assert_eq!(
        on_disk, indexed,
        "blob files and index rows match one to one"
    );
    assert_eq!(
        files_under(&dicom.join("staging")),
        Vec::<PathBuf>::new(),
        "nothing is left staged"
    );
    let journal: Vec<String> = sqlx::query_scalar("SELECT blob_key FROM dicom_ingest_journal")
        .fetch_all(app.db.pool())
        .await
        .expect("the journal");
    for key in journal {
        let blob = dicom.join("blobs").join(&key);
        assert!(
            keys.contains(&key) || std::fs::metadata(&blob).map_or(true, |m| m.len() == 0),
            "journal key {key} names a blob no row points to"
        );
    }
}

#[tokio::test]
async fn sigkill_during_c_store_and_stow_rs_loses_no_acknowledged_instance() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    // The child's own: `app` holds the lock on its data directory.
    let server_dir = tempfile::tempdir().expect("a directory");
    let (mut pushed, mut uploaded) = (Vec::new(), Vec::new());
    let mut dimse_studies = Vec::new();

    for round in 0..ROUNDS {
        let server = spawn_server(server_dir.path(), &app.test_db.url, &[]).await;
        // After a restart, recovery has removed what the kill left half done.
        assert_no_orphans(&app, server_dir.path()).await;
        let fixtures = ["CT_small.dcm"; PER_DOOR];
        let by_dimse = study(files.path(), &fixtures, &format!("C-STORE-{round}"));
        dimse_studies.push(by_dimse.uid);
        let by_dimse = by_dimse.files;
        for path in &by_dimse {
            as_sent_by_dcmtk(path).await;
        }
        let by_stow = study(files.path(), &fixtures, &format!("STOW-{round}")).files;
        let acked = Arc::new(AtomicUsize::new(0));
        let pushing = tokio::spawn(push(server.dimse_port.clone(), by_dimse));
        let uploading = tokio::spawn(upload(
            server.base.clone(),
            clinician.token.clone(),
            by_stow,
            Arc::clone(&acked),
        ));
        // Kill at a different point of the stream each round.
        let kill_after = 3 + round * 6;
        wait_until(
            "enough uploads are acknowledged to kill the server",
            Duration::from_secs(30),
            async || acked.load(Ordering::SeqCst) >= kill_after || uploading.is_finished(),
        )
        .await;
        kill(server).await;
        pushed.extend(pushing.await.expect("storescu ran"));
        uploaded.extend(uploading.await.expect("the uploads ran"));
    }
    assert!(
        !pushed.is_empty() && !uploaded.is_empty(),
        "both doors acknowledged something before the kills ({} by C-STORE, {} by STOW-RS)",
        pushed.len(),
        uploaded.len()
    );
    assert!(
        pushed.len() + uploaded.len() < 2 * ROUNDS * PER_DOOR,
        "the kills cut the streams short"
    );

    let server = spawn_server(server_dir.path(), &app.test_db.url, &[]).await;
    assert_no_orphans(&app, server_dir.path()).await;
    // Every instance a C-STORE indexed is audited exactly once, those of
    // the associations the kills cut off too: each row recorded the debt in
    // its own transaction, and the restart paid it.
    for uid in &dimse_studies {
        let indexed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM dicom_instance i JOIN dicom_series se ON se.id = i.series_id \
             JOIN dicom_study s ON s.id = se.study_id WHERE s.study_uid = $1",
        )
        .bind(uid)
        .fetch_one(app.db.pool())
        .await
        .expect("a count");
        let details: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit_event WHERE subtype = 'dicom.store' AND entity_id = $1",
        )
        .bind(uid)
        .fetch_all(app.db.pool())
        .await
        .expect("the audit trail");
        let audited: i64 = details
            .iter()
            .map(|d| {
                let d: serde_json::Value = serde_json::from_str(d).expect("JSON");
                d["instances"].as_i64().expect("a count of instances")
            })
            .sum();
        assert_eq!(audited, indexed, "study {uid}: {details:?}");
    }
    let owed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM dicom_instance WHERE audit_owed_by IS NOT NULL")
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
    assert_eq!(owed, 0, "nothing is owed after the restart");
    for (path, whole_file) in pushed
        .iter()
        .map(|p| (p, false))
        .chain(uploaded.iter().map(|p| (p, true)))
    {
        let (study, series, sop) = uids(path);
        let response = app
            .client
            .get(format!(
                "{}/dicomweb/wado?requestType=WADO&studyUID={study}&seriesUID={series}\
                 &objectUID={sop}&contentType=application/dicom",
                server.base
            ))
            .bearer_auth(&clinician.token)
            .send()
            .await
            .expect("retrieve");
        assert_eq!(response.status(), StatusCode::OK, "{}", path.display());
        let got = response.bytes().await.expect("the body");
        let sent = std::fs::read(path).expect("the sent file");
        if whole_file {
            assert!(got == sent, "{} comes back byte for byte", path.display());
        } else {
            assert!(
                data_set(&got) == data_set(&sent),
                "{} comes back with its data set byte for byte",
                path.display()
            );
        }
    }
    kill(server).await;
}

#[tokio::test]
async fn a_two_gigabyte_upload_cut_off_halfway_stores_nothing() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let total: u64 = 2_000_000_000;
    let boundary = "cut-off";
    let head = format!(
        "POST /dicomweb/studies HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/related; type=\"application/dicom\"; boundary={boundary}\r\n\
         Content-Length: {total}\r\n\r\n\
         --{boundary}\r\nContent-Type: application/dicom\r\n\r\n",
        addr = app.addr,
        token = clinician.token,
    );
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("the head");
    // A Part 10 preamble and prefix, then zeros, up to half the declared length.
    let mut chunk = vec![0u8; 1 << 20];
    chunk[128..132].copy_from_slice(b"DICM");
    let mut sent = 0u64;
    while sent < total / 2 {
        stream.write_all(&chunk).await.expect("the body so far");
        sent += chunk.len() as u64;
        chunk[128..132].fill(0);
    }
    // Cut off: the sender's side of the connection closes.
    stream.shutdown().await.expect("the upload is cut off");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers or closes")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains(r#""code":"bad_request""#),
        "a cut-off body is answered as a bad request on the half-open socket: {answer}"
    );

    // The staged part is removed as the request ends; give it a moment.
    let staging = app.data_dir.path().join("dicom/staging");
    wait_until(
        "the staged part is removed",
        Duration::from_secs(5),
        async || files_under(&staging).is_empty(),
    )
    .await;
    assert_eq!(
        blobs_under(&app.data_dir.path().join("dicom/blobs")),
        Vec::<PathBuf>::new()
    );
    assert_eq!(app.count("dicom_instance").await, 0);
    assert_eq!(app.count("dicom_study").await, 0);
}
