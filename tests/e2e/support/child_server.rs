//! An acknowledged write survives `kill -9` of the server.
//!
//! The server runs in a child process: this same test binary, re-entered
//! through the ignored test `server_process_entry`, which starts the real
//! application from `FERRY_*` settings and prints its address.

use std::process::Stdio;

use ferry_server::audit::chain::{self, Verdict};
use ferry_server::auth::Role;
use ferry_server::config::Settings;
use ferry_server::startup::Application;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
#[ignore = "the server half of kill_minus_nine_keeps_every_acknowledged_write; run by it"]
async fn server_process_entry() {
    if std::env::var("FERRY_TEST_CHILD").is_err() {
        return;
    }
    let settings = Settings::load(None).expect("settings from the environment");
    let app = Application::build(settings)
        .await
        .expect("the server starts");
    let addr = app.local_addr().expect("address");
    #[allow(clippy::print_stdout)]
    {
        if let Some(dimse) = app.dimse_addr() {
            println!("DIMSE {dimse}");
        }
        println!("LISTENING {addr}");
    }
    app.run_until_stopped().await.expect("serve");
}

async fn start_child(data_dir: &std::path::Path, database_url: &str) -> (Child, String) {
    start_child_with(data_dir, database_url, &[]).await
}

/// Starts the server as a child process with extra environment variables.
pub async fn start_child_with(
    data_dir: &std::path::Path,
    database_url: &str,
    env: &[(&str, &str)],
) -> (Child, String) {
    let child = spawn_server(data_dir, database_url, env).await;
    (child.process, child.base)
}

/// A server running as a child process.
pub struct ChildServer {
    pub process: Child,
    /// `http://host:port` of its API.
    pub base: String,
    /// Its DIMSE port, as text for dcmtk's arguments.
    pub dimse_port: String,
}

/// The command that runs the server as a child process: this test binary,
/// re-entered through [`server_process_entry`], on `data_dir` and `database_url`.
pub fn server_command(data_dir: &std::path::Path, database_url: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([
            "durability::server_process_entry",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FERRY_TEST_CHILD", "1")
        .env("FERRY_LISTEN", "127.0.0.1:0")
        // Tests run side by side: never the fixed default DIMSE port.
        .env("FERRY_DIMSE_LISTEN", "127.0.0.1:0")
        .env("FERRY_DATA_DIR", data_dir)
        .env("FERRY_DATABASE_URL", database_url)
        .env("FERRY_LOG", "warn");
    command
}

/// Starts the server as a child process and waits for its addresses.
pub async fn spawn_server(
    data_dir: &std::path::Path,
    database_url: &str,
    env: &[(&str, &str)],
) -> ChildServer {
    let mut child = server_command(data_dir, database_url)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut dimse_port = String::new();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("the child printed its address");
        // libtest may have written "test … " on the same line first.
        if let Some((_, dimse)) = line.split_once("DIMSE ") {
            dimse_port = dimse
                .trim()
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_owned();
        } else if let Some((_, addr)) = line.split_once("LISTENING ") {
            break addr.trim().to_owned();
        }
    };
    // Keep reading: a closed pipe would make the child's next write fail.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    ChildServer {
        process: child,
        base: format!("http://{addr}"),
        dimse_port,
    }
}

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
async fn kill_minus_nine_keeps_every_acknowledged_write() {
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
                    "national_id": format!("11010119900101{n:04}"), "family_name": "Li", "sex": "male",
                    "birth_date": "1990-01-01", "record_number": format!("K-{n}")
                }))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    let mut acknowledged = 0;
    for write in writes {
        if write.await.expect("join").expect("answer") == StatusCode::CREATED {
            acknowledged += 1;
        }
    }
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("reaped");
    assert_eq!(acknowledged, 12);

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

    assert!(matches!(
        chain::verify(app.db.pool()).await.expect("verify"),
        Verdict::Intact { .. }
    ));
}
