//! `ferry backup` taken while the server answers and writes, and `ferry
//! restore` into a new data directory: every instance, booking and audit
//! event acknowledged before the backup started is there, the restored
//! server serves the images, and the audit chain verifies. A damaged backup
//! is refused before anything is written. On PostgreSQL the command says
//! which tools to use instead and writes nothing.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ferry_server::db::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::child_server::spawn_server;
use crate::support::reading::stored_study;
use crate::support::scheduling::{booked_next_monday, desk};
use crate::support::{ferry_cli, spawn_app, PASSWORD};

/// A configuration whose data directory is `dir`, with its default
/// database there.
fn config_for(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("ferry.toml");
    std::fs::write(&path, format!("data_dir = {dir:?}\nlog = \"off\"\n")).expect("written");
    path
}

#[tokio::test]
async fn a_backup_taken_under_writes_restores_everything_acknowledged_before_it() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let booked = booked_next_monday(&app, &d).await;
    let backup = tempfile::tempdir().expect("a directory");
    let target = backup.path().join("backup");
    let target_arg = target.to_str().expect("a UTF-8 path");

    if app.db.engine() == Engine::Postgres {
        assert!(!app.cli(&["backup", target_arg]).await);
        assert!(!target.exists(), "nothing is written");
        return;
    }

    // Audited reads go on during the backup: each answer is an audit event
    // written and committed.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let reader = tokio::spawn({
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/api/v1/patients/{}", d.patient)),
            d.clinician.token.clone(),
        );
        let (stop, answered) = (stop.clone(), answered.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let response = client.get(&url).bearer_auth(&token).send().await;
                if response.is_ok_and(|r| r.status() == StatusCode::OK) {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    while answered.load(Ordering::Relaxed) < 5 {
        tokio::task::yield_now().await;
    }
    let instances_before = app.count("dicom_instance").await;
    let audit_before = app.count("audit_event").await;
    assert!(
        app.cli(&["backup", target_arg]).await,
        "the backup is taken"
    );
    // The server kept answering, and still does.
    let after = answered.load(Ordering::Relaxed);
    while answered.load(Ordering::Relaxed) < after + 5 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    reader.await.expect("the reader stops");

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(target.join("manifest.json")).expect("a manifest"))
            .expect("JSON");
    let counts = &manifest["counts"];
    assert_eq!(counts["instances"], instances_before, "{manifest}");
    assert_eq!(counts["bookings"], 1, "{manifest}");
    let audited = counts["audit_events"].as_i64().expect("a count");
    assert!(audited >= audit_before, "{audited} < {audit_before}");

    // A damaged copy is refused, and nothing is written.
    let damaged = tempfile::tempdir().expect("a directory");
    let copy = damaged.path().join("backup");
    copy_tree(&target, &copy);
    let blob = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .find_map(|f| f["path"].as_str().filter(|p| p.starts_with("dicom/blobs/")))
        .expect("a blob in the backup");
    let mut bytes = std::fs::read(copy.join(blob)).expect("the blob");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(copy.join(blob), bytes).expect("damaged");
    let elsewhere = tempfile::tempdir().expect("a directory");
    let config = config_for(elsewhere.path());
    assert!(!ferry_cli(&config, &["restore", copy.to_str().expect("a UTF-8 path")]).await);
    assert!(
        !elsewhere.path().join("ferry.db").exists(),
        "nothing restored"
    );

    // The real one, on a clean data directory.
    let restored = tempfile::tempdir().expect("a directory");
    let config = config_for(restored.path());
    assert!(
        ferry_cli(&config, &["restore", target_arg]).await,
        "restored"
    );
    assert!(
        ferry_cli(&config, &["audit", "verify"]).await,
        "the chain verifies"
    );
    let url = format!(
        "sqlite://{}?mode=rwc",
        restored.path().join("ferry.db").display()
    );
    let server = spawn_server(restored.path(), &url, &[]).await;
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&serde_json::json!({ "username": d.clinician.username, "password": PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("JSON");
    let token = login["token"].as_str().expect("a token");
    let study = client
        .get(format!("{}/dicomweb/studies/{uid}", server.base))
        .bearer_auth(token)
        .header("accept", "multipart/related; type=\"application/dicom\"")
        .send()
        .await
        .expect("the study");
    assert_eq!(study.status(), StatusCode::OK);
    let body = study.bytes().await.expect("its parts");
    assert!(
        body.windows(4).any(|w| w == b"DICM"),
        "the restored blobs are served"
    );
    let consultation: Value = client
        .get(format!("{}/api/v1/consultations/{booked}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("the consultation")
        .json()
        .await
        .expect("JSON");
    assert_eq!(consultation["status"], "scheduled", "{consultation}");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("listed") {
        let entry = entry.expect("an entry");
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copied");
        }
    }
}
