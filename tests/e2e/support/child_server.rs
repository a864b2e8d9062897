//! The server as a child process, for tests that kill it or measure it: this
//! same test binary, re-entered through the ignored test
//! `server_process_entry`, which starts the real application from `FERRY_*`
//! settings and prints its addresses.

use std::process::Stdio;

use ferry_server::auth::Role;
use serde_json::{json, Value};

use ferry_server::config::Settings;
use ferry_server::startup::Application;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{spawn_app, TestApp, PASSWORD};

#[tokio::test]
#[ignore = "the server half of the tests that run it as a child process; run by them"]
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
        println!("NODE {}", app.state().recordings.node());
        println!("LISTENING {addr}");
    }
    app.run_until_stopped().await.expect("serve");
}

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
    /// Its name among the nodes (`node_lease`, `call_presence`).
    pub node: String,
}

/// The command that runs the server as a child process: this test binary,
/// re-entered through [`server_process_entry`], on `data_dir` and `database_url`.
pub fn server_command(data_dir: &std::path::Path, database_url: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([
            "support::child_server::server_process_entry",
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
    let mut node = String::new();
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
        } else if let Some((_, name)) = line.split_once("NODE ") {
            name.trim().clone_into(&mut node);
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
        node,
    }
}

/// The server as a child process, on the database of an in-process app
/// that holds the accounts, and a clinician's token for it.
pub struct ChildWithClinician {
    /// Holds the accounts; kept alive for the test.
    _app: TestApp,
    /// The server.
    pub server: ChildServer,
    /// The clinician's session token on it.
    pub token: String,
    /// A client for the requests, with nothing shared with another test.
    pub client: reqwest::Client,
    _data: tempfile::TempDir,
}

impl ChildWithClinician {
    /// The server's process id, for reading its memory.
    pub fn pid(&self) -> u32 {
        self.server.process.id().expect("the server is running")
    }

    /// Resets the peak resident size of the server (`clear_refs` 5), so a
    /// peak read after this is the peak of what came after.
    pub fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .expect("the peak resident size can be reset");
    }
}

/// Starts the server as a child process with extra environment `env`,
/// and signs a clinician of an island clinic in to it.
pub async fn child_with_clinician(env: &[(&str, &str)]) -> ChildWithClinician {
    let app = spawn_app().await;
    let c = app.consortium().await;
    app.user("clin-hostile", Role::Clinician, c.island_a).await;
    let data = tempfile::tempdir().expect("a directory");
    let server = spawn_server(data.path(), &app.test_db.url, env).await;
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({ "username": "clin-hostile", "password": PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["token"].as_str().expect("a token").to_owned();
    ChildWithClinician {
        _app: app,
        server,
        token,
        client,
        _data: data,
    }
}
