//! hostile: connections. What costs the server a connection and nothing
//! else: a second server started on a data directory in use, which must
//! leave without touching it; connections that send nothing, half a head
//! or half a body, which must be closed after the configured timeouts; and
//! more connections than the cap, which must wait unserved.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dicom_dictionary_std::tags;
use ferry_server::auth::Role;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::child_server::spawn_server;
use crate::support::dicom_files::study;
use crate::support::wait_until;
use crate::support::{spawn_app, spawn_app_with};

/// Starts the server as a child process on `data_dir` the way
/// [`spawn_server`] does, and waits (at most `wait`) for it to exit. `None`
/// when it was still running, and then it is killed.
async fn run_to_exit(
    data_dir: &std::path::Path,
    database_url: &str,
    wait: Duration,
) -> Option<(std::process::ExitStatus, String)> {
    let mut child = crate::support::child_server::server_command(data_dir, database_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the child starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let output = tokio::spawn(async move {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
        out + &err
    });
    match tokio::time::timeout(wait, child.wait()).await {
        Ok(status) => {
            let status = status.expect("the child is reaped");
            Some((status, output.await.expect("the output")))
        }
        Err(_) => {
            child.start_kill().expect("SIGKILL");
            child.wait().await.expect("reaped");
            None
        }
    }
}

fn uid(object: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    object
        .element(tag)
        .expect("the UID is there")
        .to_str()
        .expect("text")
        .trim_end_matches('\0')
        .to_owned()
}

#[tokio::test]
async fn a_second_server_on_a_data_directory_in_use_exits_and_destroys_nothing() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    // The first server's own: `app` holds the lock on its data directory.
    let server_dir = tempfile::tempdir().expect("a directory");
    let first = spawn_server(server_dir.path(), &app.test_db.url, &[]).await;

    let fixtures = ["CT_small.dcm"; 48];
    let sent = study(files.path(), &fixtures, "SECOND-SERVER").files;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let uploading = {
        let (base, token, acked) = (first.base.clone(), clinician.token.clone(), acked.clone());
        tokio::spawn(async move {
            // In batches, so the second server starts while ingest runs.
            for batch in sent.chunks(8) {
                let done = crate::support::dicom_files::upload(
                    base.clone(),
                    token.clone(),
                    batch.to_vec(),
                    Default::default(),
                )
                .await;
                acked.lock().expect("the list").extend(done);
            }
        })
    };
    wait_until(
        "the first batch is acknowledged",
        Duration::from_secs(60),
        async || acked.lock().expect("the list").len() >= 8,
    )
    .await;

    let second = run_to_exit(server_dir.path(), &app.test_db.url, Duration::from_secs(30)).await;
    uploading.await.expect("the uploads ran");
    let (status, output) = second.expect("the second server exits instead of serving");
    assert!(!status.success(), "the second server fails: {output}");
    assert!(
        output.contains("in use by another ferry server"),
        "and says why: {output}"
    );

    let acked = acked.lock().expect("the list").clone();
    assert_eq!(acked.len(), fixtures.len(), "every upload was acknowledged");
    for path in &acked {
        let object = dicom_object::open_file(path).expect("a sent file parses");
        let response = app
            .client
            .get(format!(
                "{}/dicomweb/wado?requestType=WADO&studyUID={}&seriesUID={}&objectUID={}\
                 &contentType=application/dicom",
                first.base,
                uid(&object, tags::STUDY_INSTANCE_UID),
                uid(&object, tags::SERIES_INSTANCE_UID),
                uid(&object, tags::SOP_INSTANCE_UID),
            ))
            .bearer_auth(&clinician.token)
            .send()
            .await
            .expect("retrieve");
        assert_eq!(response.status(), StatusCode::OK, "{}", path.display());
        let got = response.bytes().await.expect("the body");
        let sent = std::fs::read(path).expect("the sent file");
        assert!(got == sent, "{} comes back byte for byte", path.display());
    }
    crate::support::memory::assert_under_ceiling(
        first.process.id().expect("the first server runs"),
        "a second server tried its data directory",
    );
}

/// Reads until the server closes the connection; `Err` if it has not after
/// `wait`. What it sent before closing (a 408 or 400, or nothing) is returned.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Result<String, String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&received).into_owned();
    match read {
        Ok(()) => Ok(text),
        Err(_) => Err(text),
    }
}

#[tokio::test]
async fn idle_half_headed_and_half_bodied_connections_are_closed_after_the_timeouts() {
    let app = spawn_app_with(|s| {
        s.http_header_timeout_seconds = 2;
        s.http_body_timeout_seconds = 2;
    })
    .await;
    // Idle: connected, nothing sent.
    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    // Half a head, and then nothing.
    let mut half_head = TcpStream::connect(app.addr).await.expect("connect");
    half_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\nX-Slow: ")
        .await
        .expect("written");
    // A whole head, half the body it announces, and then nothing.
    let mut half_body = TcpStream::connect(app.addr).await.expect("connect");
    half_body
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: ferry\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"username\": ",
        )
        .await
        .expect("written");
    // A keep-alive connection after one answered request.
    let mut kept = TcpStream::connect(app.addr).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\n\r\n")
        .await
        .expect("written");

    let wait = Duration::from_secs(8);
    let started = std::time::Instant::now();
    closed_within(&mut idle, wait)
        .await
        .expect("an idle connection is closed");
    closed_within(&mut half_head, wait)
        .await
        .expect("a half-sent head is cut off");
    let answered = closed_within(&mut half_body, wait)
        .await
        .expect("a half-sent body is cut off");
    assert!(
        answered.starts_with("HTTP/1.1 400") && answered.contains("connection: close"),
        "with an error, and the connection closed behind it: {answered}"
    );
    let answered = closed_within(&mut kept, wait)
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "all closed after about two seconds, not {:?}",
        started.elapsed()
    );
    // The server itself still serves.
    let (status, _) =
        crate::support::send(app.request(reqwest::Method::GET, "/healthz", None)).await;
    assert_eq!(status, StatusCode::OK);
}

/// Sends a whole request on a fresh connection and waits (at most `wait`)
/// for the start of an answer.
async fn answered_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(wait, stream.read(&mut buf)).await,
        Ok(Ok(n)) if n > 0
    )
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_unserved_until_one_closes() {
    let app = spawn_app_with(|s| {
        s.http_max_connections = 3;
        s.http_header_timeout_seconds = 60;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\n\r\n")
            .await
            .expect("written");
        assert!(
            answered_within(&mut stream, Duration::from_secs(5)).await,
            "within the cap, served"
        );
        held.push(stream);
    }
    let mut fourth = TcpStream::connect(app.addr)
        .await
        .expect("the kernel takes it");
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\nConnection: close\r\n\r\n")
        .await
        .expect("written");
    assert!(
        !answered_within(&mut fourth, Duration::from_millis(1500)).await,
        "past the cap, not served"
    );
    drop(held.pop());
    assert!(
        answered_within(&mut fourth, Duration::from_secs(5)).await,
        "served once a connection closed"
    );
}

/// Ingest journal rows whose key no instance uses: keys a node reserved for
/// ingests to come (or an ingest under way), which only it may clean up.
async fn reserved_keys(app: &crate::support::TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM dicom_ingest_journal j \
         WHERE NOT EXISTS (SELECT 1 FROM dicom_instance i WHERE i.blob_key = j.blob_key)",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("a count")
}

#[tokio::test]
async fn a_node_starting_on_a_shared_database_leaves_the_other_nodes_ingest_alone() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "SHARED-DB").files;
    let bytes = std::fs::read(&sent[0]).expect("the file");
    let (status, body) = crate::support::dicom_files::stow(&app, &clinician.token, bytes).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reserved = reserved_keys(&app).await;
    assert!(
        reserved > 0,
        "the first node holds keys for its next ingests"
    );

    // A second node with its own data directory, on the same database: its
    // recovery runs at startup and must take only its own rows.
    let other = app.another_node().await;
    assert_eq!(
        reserved_keys(&app).await,
        reserved,
        "the first node's reserved keys are still journalled"
    );
    let nodes: Vec<String> = sqlx::query_scalar("SELECT DISTINCT node FROM dicom_ingest_journal")
        .fetch_all(app.db.pool())
        .await
        .expect("the nodes");
    let named = std::fs::read_to_string(app.data_dir.path().join("node-id")).expect("a node id");
    assert_eq!(
        nodes,
        [named.trim()],
        "journalled under the first node's own name"
    );
    assert_ne!(
        std::fs::read_to_string(other.data_dir.path().join("node-id")).expect("a node id"),
        named,
        "each data directory names its node"
    );
}
