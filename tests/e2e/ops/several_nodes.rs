//! Several nodes for real: three `ferry` processes on one PostgreSQL
//! database and one S3-compatible bucket (s3s-fs), behind HAProxy, as
//! `deploy/compose.yaml` lays them out. What one node stores another
//! serves; a call's two sides on two nodes connect; a notification raised
//! on one node reaches a stream open on another within a second; a
//! recording made on one node downloads from another. Then one node is
//! killed with SIGKILL in the middle of a recorded call and of an upload:
//! within ten seconds the others have dropped its participants and closed
//! the call and the recording it held, with what it had shipped; the call
//! connects again through the proxy, the upload resumes, and nothing that
//! was acknowledged is lost.
//!
//! The test's own in-process server only seeds the accounts; it runs with
//! the same settings, so it is one more node and takes part in clearing.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, Instant};

use crate::support::browser::{Browser, BROWSER_PATIENCE};
use crate::support::calls::{accepted, finished_recordings, join};
use crate::support::child_server::{spawn_server, ChildServer};
use crate::support::dicom_files::{stow, study, upload};
use crate::support::peers::{round_trip, Side};
use crate::support::proxy::Haproxy;
use crate::support::s3::S3Server;
use crate::support::scheduling::{booked_next_monday, desk};
use crate::support::{spawn_app_with, wait_until, TestApp};

/// How soon the nodes left must have cleared after a dead one.
const CLEARED_WITHIN: Duration = Duration::from_secs(10);

fn addr(node: &ChildServer) -> SocketAddr {
    node.base
        .trim_start_matches("http://")
        .parse()
        .expect("an address")
}

/// The node each participant of `room` is connected through.
async fn presence(app: &TestApp, room: i64) -> Vec<(String, String)> {
    sqlx::query_as("SELECT peer, node FROM call_presence WHERE room = $1 ORDER BY peer")
        .bind(room.to_string())
        .fetch_all(app.db.pool())
        .await
        .expect("presence rows")
}

async fn open_calls(app: &TestApp, consultation: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM consultation_call WHERE consultation_id = $1 AND ended_at IS NULL",
    )
    .bind(consultation)
    .fetch_one(app.db.pool())
    .await
    .expect("a count")
}

/// The SOP Instance UIDs of a study, as QIDO-RS lists them.
async fn instances(app: &TestApp, token: &str, study: &str) -> BTreeSet<String> {
    let (status, body) = app
        .get(&format!("/dicomweb/studies/{study}/instances"), token)
        .await;
    if status == StatusCode::NO_CONTENT || body.is_null() {
        return BTreeSet::new();
    }
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .expect("a list")
        .iter()
        .filter_map(|i| i["00080018"]["Value"][0].as_str().map(str::to_owned))
        .collect()
}

fn sop_uid(path: &PathBuf) -> String {
    dicom_object::open_file(path)
        .expect("a DICOM file")
        .meta()
        .media_storage_sop_instance_uid
        .trim_end_matches('\0')
        .to_owned()
}

/// Downloads a recording's file through `app` and checks it is the IVF
/// video or Ogg audio listed, byte count included.
async fn downloaded(app: &TestApp, token: &str, file: &Value) -> Vec<u8> {
    let href = file["href"].as_str().expect("href");
    let response = app
        .client
        .get(app.url(href))
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK, "{href}");
    let bytes = response.bytes().await.expect("the file").to_vec();
    assert_eq!(bytes.len() as i64, file["bytes"], "{file}");
    let magic: &[u8] = if file["kind"] == "video" {
        b"DKIF"
    } else {
        b"OggS"
    };
    assert_eq!(&bytes[0..4], magic, "{file}");
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(ferry_postgres),
    ignore = "several nodes share PostgreSQL: the PostgreSQL pass runs it"
)]
async fn three_nodes_behind_a_proxy_share_the_work_and_outlive_one_killed() {
    let s3 = S3Server::start().await;
    let mut app = spawn_app_with(|settings| s3.configure(settings)).await;
    let d = desk(&app).await;
    let env: Vec<(&str, String)> = s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("a directory"))
        .collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(spawn_server(dir.path(), &app.test_db.url, &env).await);
    }
    let proxy = Haproxy::start(&nodes.iter().map(addr).collect::<Vec<_>>()).await;
    let own = app.addr;

    // What one node stores, another serves, byte for byte.
    let scratch = tempfile::tempdir().expect("a directory");
    let first = study(scratch.path(), &["CT_small.dcm"], "A-100");
    let bytes = std::fs::read(&first.files[0]).expect("the file");
    app.addr = addr(&nodes[0]);
    let (status, body) = stow(&app, &d.clinician.token, bytes.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.addr = addr(&nodes[2]);
    let sop = sop_uid(&first.files[0]);
    let listed = instances(&app, &d.clinician.token, &first.uid).await;
    assert_eq!(listed, BTreeSet::from([sop.clone()]));
    let (series,): (String,) = sqlx::query_as(
        "SELECT se.series_uid FROM dicom_instance i JOIN dicom_series se ON se.id = i.series_id \
         WHERE i.sop_instance_uid = $1",
    )
    .bind(&sop)
    .fetch_one(app.db.pool())
    .await
    .expect("the instance is indexed");
    let retrieved = app
        .client
        .get(app.url(&format!(
            "/dicomweb/wado?requestType=WADO&studyUID={}&seriesUID={series}&objectUID={sop}\
             &contentType=application/dicom",
            first.uid
        )))
        .bearer_auth(&d.clinician.token)
        .send()
        .await
        .expect("retrieve");
    assert_eq!(retrieved.status(), StatusCode::OK);
    assert!(
        retrieved.bytes().await.expect("the body") == bytes,
        "another node serves the object byte for byte"
    );

    // A notification raised on one node reaches a stream open on another
    // within a second, without waiting for the stream's poll.
    app.addr = addr(&nodes[1]);
    let mut stream = app
        .request(
            reqwest::Method::GET,
            "/api/v1/notifications/stream",
            Some(&d.expert.token),
        )
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(stream.status(), StatusCode::OK);
    // The stream has read what there is before the booking below.
    sleep(Duration::from_millis(300)).await;
    app.addr = addr(&nodes[0]);
    let booked = booked_next_monday(&app, &d).await;
    let raised = Instant::now();
    let mut text = String::new();
    while !text.contains("event: booking.created") {
        let chunk = tokio::time::timeout_at(raised + Duration::from_secs(1), stream.chunk())
            .await
            .expect("the notification arrives on the other node within a second")
            .expect("the stream stays open")
            .expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        text.contains(&format!("\"consultation_id\":{booked}")),
        "{text}"
    );
    drop(stream);

    // A call whose two sides sit on different nodes connects.
    app.addr = own;
    let across = accepted(&app, &d).await;
    app.addr = addr(&nodes[0]);
    let (socket, _) = join(&app, &d.clinician, across).await;
    let mut clinician = Side::start(socket).await;
    app.addr = addr(&nodes[2]);
    let (socket, _) = join(&app, &d.expert, across).await;
    let expert = Side::start(socket).await;
    let mut sides = presence(&app, across).await;
    sides.sort();
    let mut expected = vec![
        (d.clinician.id.to_string(), nodes[0].node.clone()),
        (d.expert.id.to_string(), nodes[2].node.clone()),
    ];
    expected.sort();
    assert_eq!(sides, expected, "each side is on its own node");
    assert_eq!(clinician.notice().await["type"], "peer-joined");
    let (channel, _) = clinician.call().await;
    assert_eq!(
        round_trip(channel.as_ref(), "across nodes").await,
        "across nodes"
    );
    drop(clinician.stop().await);
    drop(expert.stop().await);

    // A recorded call, both browsers through the proxy.
    app.addr = own;
    let id = accepted(&app, &d).await;
    let mut browser = Browser::launch_at(&format!("http://{}", proxy.addr)).await;
    browser.open("clinician", &d.clinician, id).await;
    browser.open("expert", &d.expert, id).await;
    browser.in_a_call("clinician", d.expert.id).await;
    browser.consent("expert", true).await;
    browser.consent("clinician", true).await;
    for page in ["clinician", "expert"] {
        let indicator = browser.wait_for(page, |m| m["type"] == "recording").await;
        assert_eq!(indicator["state"], "started", "{page}: {indicator}");
    }
    for page in ["clinician", "expert"] {
        browser.sending_video(page, "recorder").await;
    }
    sleep(Duration::from_secs(3)).await;
    browser.consent("expert", false).await;
    let recorded_on: String = sqlx::query_scalar(
        "SELECT node FROM call_recording WHERE consultation_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(id)
    .fetch_one(app.db.pool())
    .await
    .expect("the recording");
    let elsewhere = nodes
        .iter()
        .find(|n| n.node != recorded_on)
        .expect("a node that did not record");
    app.addr = addr(elsewhere);
    let list = finished_recordings(&app, &d.clinician, id).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["stop_reason"], "consent_withdrawn", "{list:?}");
    let files = list[0]["files"].as_array().expect("files");
    assert!(files.iter().any(|f| f["kind"] == "video"), "{list:?}");
    for file in files {
        downloaded(&app, &d.clinician.token, file).await;
    }
    let recording = list[0]["id"].as_i64().expect("an id");
    assert!(
        s3.object(&format!("recordings/{id}/{recording}")).is_dir(),
        "the files are in the bucket"
    );
    let parts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_recording_part")
        .fetch_one(app.db.pool())
        .await
        .expect("a count");
    assert_eq!(parts, 0, "a finished recording's parts are gone");

    // Recording again: the last consent starts it on that page's node.
    browser.consent("expert", true).await;
    for page in ["clinician", "expert"] {
        let indicator = browser
            .wait_for(page, |m| {
                m["type"] == "recording" && m["state"] == "started"
            })
            .await;
        assert_eq!(indicator["peer"], "recorder", "{page}: {indicator}");
    }
    for page in ["clinician", "expert"] {
        browser.sending_video(page, "recorder").await;
    }
    let second: (i64, String) = sqlx::query_as(
        "SELECT id, node FROM call_recording WHERE consultation_id = $1 AND ended_at IS NULL",
    )
    .bind(id)
    .fetch_one(app.db.pool())
    .await
    .expect("the second recording");
    let victim = nodes
        .iter()
        .position(|n| n.node == second.1)
        .expect("a node of ours records");
    let sides = presence(&app, id).await;
    assert!(
        sides.len() == 2 && sides[0].1 != sides[1].1,
        "the proxy put the two browsers on two nodes: {sides:?}"
    );
    // Parts reach the bucket as the call goes.
    wait_until(
        "parts of the recording are shipped",
        BROWSER_PATIENCE,
        async || {
            let shipped: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM call_recording_part WHERE recording_id = $1",
            )
            .bind(second.0)
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
            shipped >= 4
        },
    )
    .await;
    let on_victim: Vec<String> = presence(&app, id)
        .await
        .into_iter()
        .filter(|(_, node)| *node == second.1)
        .map(|(peer, _)| peer)
        .collect();
    assert!(
        !on_victim.is_empty(),
        "the recording node holds a participant"
    );
    assert_eq!(open_calls(&app, id).await, 1);

    // An upload: half of it acknowledged, the rest on its way to the node
    // about to die.
    let upload_study = study(scratch.path(), &["CT_small.dcm"; 8], "A-100");
    let (acked_files, rest) = upload_study.files.split_at(4);
    let acked = Arc::new(AtomicUsize::new(0));
    let stored = upload(
        format!("http://{}", proxy.addr),
        d.clinician.token.clone(),
        acked_files.to_vec(),
        Arc::clone(&acked),
    )
    .await;
    assert_eq!(stored.len(), 4, "all four acknowledged");
    // The rest is sent as a client on a slow link would: the headers and
    // one instance and a half of the body, when the node dies.
    let boundary = "cut-off";
    let mut body = Vec::new();
    for path in rest {
        body.extend(
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes(),
        );
        body.extend(std::fs::read(path).expect("the file"));
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").into_bytes());
    let one = std::fs::metadata(&rest[0]).expect("the file").len() as usize;
    let mut cut_off = tokio::net::TcpStream::connect(addr(&nodes[victim]))
        .await
        .expect("the node accepts");
    let head = format!(
        "POST /dicomweb/studies HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/related; type=\"application/dicom\"; boundary={boundary}\r\n\
         Content-Length: {}\r\n\r\n",
        addr(&nodes[victim]),
        d.clinician.token,
        body.len()
    );
    cut_off.write_all(head.as_bytes()).await.expect("sent");
    cut_off
        .write_all(&body[..one + one / 2])
        .await
        .expect("sent");
    sleep(Duration::from_millis(300)).await;

    // kill -9 of the node that records and takes the upload.
    let mut dead = nodes.remove(victim);
    dead.process.start_kill().expect("SIGKILL");
    dead.process.wait().await.expect("the node is gone");
    let killed = Instant::now();
    let mut answer = Vec::new();
    let _ = cut_off.read_to_end(&mut answer).await;
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "the cut-off upload is not acknowledged"
    );
    app.addr = proxy.addr;

    // Within ten seconds the others have cleared after it.
    let cleared_in = wait_until("the dead node is cleared", CLEARED_WITHIN, async || {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_presence WHERE node = $1")
            .bind(&dead.node)
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
        let lease: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM node_lease WHERE node = $1")
            .bind(&dead.node)
            .fetch_one(app.db.pool())
            .await
            .expect("a count");
        (left == 0 && lease == 0 && open_calls(&app, id).await == 0).then(|| killed.elapsed())
    })
    .await;
    assert!(cleared_in <= CLEARED_WITHIN, "{cleared_in:?}");
    let survivor = if on_victim.contains(&d.clinician.id.to_string()) {
        "expert"
    } else {
        "clinician"
    };
    let lost = browser
        .wait_for(survivor, |m| m["type"] == "peer-left")
        .await;
    assert_eq!(lost["reason"], "node_lost", "{lost}");

    // The recording it ran is closed with what it had shipped.
    let list = finished_recordings(&app, &d.clinician, id).await;
    let interrupted = list
        .iter()
        .find(|r| r["id"] == second.0)
        .expect("the second recording");
    assert_eq!(interrupted["stop_reason"], "interrupted", "{interrupted}");
    let video = interrupted["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["kind"] == "video")
        .cloned()
        .unwrap_or_else(|| panic!("a video file kept: {interrupted}"));
    assert!(video["frames"].as_i64().unwrap_or(0) > 0, "{video}");
    downloaded(&app, &d.clinician.token, &video).await;

    // The call connects again through the proxy, on a live node.
    let moved = if survivor == "expert" {
        ("clinician", &d.clinician)
    } else {
        ("expert", &d.expert)
    };
    browser.close(moved.0).await;
    browser.open(moved.0, moved.1, id).await;
    let other = if moved.0 == "expert" {
        d.clinician.id
    } else {
        d.expert.id
    };
    browser.in_a_call(moved.0, other).await;
    let sides = presence(&app, id).await;
    assert_eq!(sides.len(), 2, "{sides:?}");
    assert!(
        sides.iter().all(|(_, node)| *node != dead.node),
        "{sides:?}"
    );
    assert_eq!(open_calls(&app, id).await, 1, "the call is on again");

    // The upload resumes: what is there is asked for, the rest sent again.
    let present = instances(&app, &d.clinician.token, &upload_study.uid).await;
    for path in acked_files {
        assert!(
            present.contains(&sop_uid(path)),
            "an acknowledged instance is lost"
        );
    }
    let missing: Vec<PathBuf> = upload_study
        .files
        .iter()
        .filter(|p| !present.contains(&sop_uid(p)))
        .cloned()
        .collect();
    let resent = upload(
        format!("http://{}", proxy.addr),
        d.clinician.token.clone(),
        missing.clone(),
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    assert_eq!(resent.len(), missing.len());
    let all: BTreeSet<String> = upload_study.files.iter().map(sop_uid).collect();
    assert_eq!(
        instances(&app, &d.clinician.token, &upload_study.uid).await,
        all
    );
    browser.quit().await;
}
