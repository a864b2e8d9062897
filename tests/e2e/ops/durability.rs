//! An acknowledged write, and the audit event of an answered read, survive
//! `kill -9` of the server, which runs as a child process ([`crate::support::child_server`]).

use ferry_server::audit::chain::{self, Verdict};
use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::json;
use tokio::process::Child;

use crate::support::child_server::start_child_with;
use crate::support::{spawn_app, PASSWORD};

async fn start_child(data_dir: &std::path::Path, database_url: &str) -> (Child, String) {
    start_child_with(data_dir, database_url, &[]).await
}

/// Starts the server as a child process with extra environment variables.
async fn sign_in(client: &reqwest::Client, base: &str) -> String {
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": "dr-lin", "password": PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    login["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn kill_minus_nine_keeps_every_acknowledged_write_and_answered_read() {
    // Arrange the accounts with an in-process app on the same database.
    let app = spawn_app().await;
    let c = app.consortium().await;
    app.user("dr-lin", Role::Clinician, c.island_a).await;
    let url = app.test_db.url.clone();
    let client = reqwest::Client::new();

    // The child's own data directory: `app` holds the lock on its own.
    let child_dir = tempfile::tempdir().expect("a directory");
    let (mut child, base) = start_child(child_dir.path(), &url).await;
    let token = sign_in(&client, &base).await;

    // Concurrent writes; kill the moment the last one is acknowledged.
    let mut writes = Vec::new();
    for n in 0..12 {
        let client = client.clone();
        let base = base.clone();
        let token = token.clone();
        writes.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/v1/patients"))
                .bearer_auth(&token)
                .json(&json!({
                    "national_id": crate::support::resident_id(&format!("11010119900101{n:03}")), "family_name": "Li", "sex": "male",
                    "birth_date": "1990-01-01", "record_number": format!("K-{n}")
                }))
                .send()
                .await
        }));
    }
    let mut acknowledged = Vec::new();
    for write in writes {
        let response = write.await.expect("join").expect("answer");
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: serde_json::Value = response.json().await.expect("json");
        acknowledged.push(created["id"].as_i64().expect("an id"));
    }
    assert_eq!(acknowledged.len(), 12);
    // Concurrent reads of each, whose events the journal commits together;
    // kill the moment the last is answered.
    let mut reads = Vec::new();
    for id in acknowledged.iter().copied().cycle().take(48) {
        let client = client.clone();
        let url = format!("{base}/api/v1/patients/{id}");
        let token = token.clone();
        reads.push(tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(&token)
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for read in reads {
        assert_eq!(read.await.expect("join").expect("answer"), StatusCode::OK);
    }
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("reaped");

    // Restart on the same data and count.
    let (mut child, base) = start_child(child_dir.path(), &url).await;
    let token = sign_in(&client, &base).await;
    let found: serde_json::Value = client
        .get(format!("{base}/api/v1/patients?q=Li&limit=100"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    assert_eq!(
        found.as_array().map(Vec::len),
        Some(12),
        "every acknowledged patient is there"
    );
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("reaped");

    // Every answered read left its event.
    let reads: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = 'patient.read' AND outcome = 'success'",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("count");
    assert_eq!(reads, 48, "every answered read is on the trail");
    assert!(matches!(
        chain::verify(app.db.pool()).await.expect("verify"),
        Verdict::Intact { .. }
    ));
}
