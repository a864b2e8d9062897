//! A headless Chromium (Debian's, with a fake camera and microphone)
//! driven through `tests/browser/participants.cjs` by playwright-core: each
//! page runs the web client's `call.js` as one participant, and the test
//! sends it commands and reads its events as JSON lines.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use crate::support::{TestApp, TestUser, PASSWORD};

/// A browser start, a sign-in and a DTLS handshake in a debug build on a
/// busy two-core machine take a while; a broken call still fails well
/// before the test harness would give up.
pub const BROWSER_PATIENCE: Duration = Duration::from_secs(60);

/// How much of the driver's stderr to keep for a failure's message.
const STDERR_KEPT: usize = 16 * 1024;

/// The driver script, beside this crate's sources.
fn driver() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/participants.cjs")
}

/// Where `.ci/run` installs playwright-core, unless `NODE_PATH` says otherwise.
pub fn node_path() -> std::ffi::OsString {
    std::env::var_os("NODE_PATH").unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
        PathBuf::from(home)
            .join(".cache/ferry-node/node_modules")
            .into_os_string()
    })
}

/// Headless Chromium with any number of pages, each a participant signed
/// in as its own user. Dropping it kills the driver and with it the browser.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Lines read while waiting for something else, oldest first.
    backlog: VecDeque<Value>,
    stderr: Arc<Mutex<String>>,
    /// Ends when the driver's stderr does, so all of it can be shown.
    stderr_read: Option<JoinHandle<()>>,
}

impl Browser {
    pub async fn launch(app: &TestApp) -> Browser {
        Browser::launch_at(&app.url("")).await
    }

    /// As [`Browser::launch`], its pages opened at `base` (`http://host:port`).
    pub async fn launch_at(base: &str) -> Browser {
        let mut child = Command::from(ferry_test_tools::command("node"))
            .arg(driver())
            .arg(base)
            .env("NODE_PATH", node_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (`.ci/run` installs it, with chromium and playwright-core)");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = stdout.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| json!({ "error": format!("not JSON: {line}") }));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let kept = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&kept);
        let stderr_read = tokio::spawn(async move {
            let mut stderr = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = stderr.next_line().await {
                let Ok(mut kept) = sink.lock() else { return };
                kept.push_str(&line);
                kept.push('\n');
                if kept.len() > STDERR_KEPT {
                    let cut = kept.len() - STDERR_KEPT;
                    let cut = (cut..kept.len())
                        .find(|&i| kept.is_char_boundary(i))
                        .unwrap_or(cut);
                    kept.drain(..cut);
                }
            }
        });
        Browser {
            child,
            stdin,
            lines,
            backlog: VecDeque::new(),
            stderr: kept,
            stderr_read: Some(stderr_read),
        }
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .map(|kept| kept.clone())
            .unwrap_or_default()
    }

    async fn write(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        let written = self.stdin.write_all(line.as_bytes()).await;
        assert!(
            written.is_ok(),
            "the browser driver is gone; its stderr:\n{}",
            self.stderr()
        );
    }

    /// The first line, from the backlog or the driver, that `wanted` picks;
    /// the others stay in the backlog. An error reported for `page` (or for
    /// no page) fails the test at once rather than after the timeout.
    async fn line(&mut self, page: &str, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let fatal = |line: &Value| {
            line.get("error").is_some()
                && line.get("reply").is_none()
                && (line["page"] == page || line["page"].is_null())
        };
        if let Some(at) = self.backlog.iter().position(|l| wanted(l) || fatal(l)) {
            let line = self.backlog.remove(at).expect("a line at that position");
            assert!(!fatal(&line), "page {page}: {line}\n{}", self.stderr());
            return line;
        }
        let deadline = Instant::now() + BROWSER_PATIENCE;
        loop {
            let next = tokio::time::timeout_at(deadline, self.lines.recv()).await;
            let line = match next {
                Ok(Some(line)) => line,
                Ok(None) => {
                    if let Some(reading) = self.stderr_read.take() {
                        let _ = timeout(Duration::from_secs(5), reading).await;
                    }
                    panic!(
                        "the browser driver exited while page {page} waited for {what}; its stderr:\n{}",
                        self.stderr()
                    )
                }
                Err(_) => panic!(
                    "page {page}: no {what} in {BROWSER_PATIENCE:?}; unread: {:?}\nstderr:\n{}",
                    self.backlog,
                    self.stderr()
                ),
            };
            assert!(!fatal(&line), "page {page}: {line}\n{}", self.stderr());
            if wanted(&line) {
                return line;
            }
            self.backlog.push_back(line);
        }
    }

    /// Sends a command and returns its successful reply.
    pub async fn command(&mut self, command: Value) -> Value {
        let cmd = command["cmd"].as_str().expect("a command name").to_owned();
        let page = command["page"].as_str().unwrap_or_default().to_owned();
        self.write(command).await;
        let reply = self
            .line(&page, &format!("reply to {cmd}"), |line| {
                line["reply"] == cmd.as_str() && line["page"] == page.as_str()
            })
            .await;
        assert_eq!(
            reply["ok"],
            true,
            "page {page}, {cmd}: {reply}\nstderr:\n{}",
            self.stderr()
        );
        reply
    }

    /// A new page signed in as `user` that joins the consultation's call
    /// with its fake camera and microphone.
    pub async fn open(&mut self, page: &str, user: &TestUser, consultation: i64) {
        self.command(json!({
            "cmd": "open",
            "page": page,
            "username": user.username,
            "password": PASSWORD,
            "consultation": consultation,
        }))
        .await;
    }

    /// The first server message to `page` that `wanted` picks.
    pub async fn wait_for(&mut self, page: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let line = self
            .line(page, "such message", |line| {
                line["page"] == page && line["event"] == "message" && wanted(&line["message"])
            })
            .await;
        line["message"].clone()
    }

    /// Per peer id (the recorder's included): the connection's state and its
    /// media counters, as `participants.cjs` summarises `getStats()`.
    pub async fn stats(&mut self, page: &str) -> Value {
        let reply = self.command(json!({ "cmd": "stats", "page": page })).await;
        reply["peers"].clone()
    }

    /// Waits until `page` has decoded more than 30 video frames from `peer`
    /// (a user id): the two are in a call, not only connected.
    pub async fn in_a_call(&mut self, page: &str, peer: i64) {
        let peer = peer.to_string();
        crate::support::wait_until("the browsers are in a call", BROWSER_PATIENCE, async || {
            let stats = self.stats(page).await;
            stats[peer.as_str()]["inbound_video"]["frames_decoded"]
                .as_u64()
                .unwrap_or(0)
                > 30
        })
        .await;
    }

    /// Waits until `page`'s connection to `peer` (a user id, or
    /// `recorder`) is connected and sends video.
    pub async fn sending_video(&mut self, page: &str, peer: &str) {
        crate::support::wait_until(
            &format!("{page} sends video to {peer}"),
            BROWSER_PATIENCE,
            async || {
                let stats = self.stats(page).await;
                let sent = stats[peer]["outbound_video"]["packets_sent"]
                    .as_u64()
                    .unwrap_or(0);
                // Packets flow once DTLS is done, a moment before the
                // connection reports itself connected.
                sent > 0 && stats[peer]["connection"] == "connected"
            },
        )
        .await;
    }

    pub async fn consent(&mut self, page: &str, recording: bool) {
        self.command(json!({ "cmd": "consent", "page": page, "recording": recording }))
            .await;
    }

    pub async fn leave(&mut self, page: &str) {
        self.command(json!({ "cmd": "leave", "page": page })).await;
    }

    /// Closes the page as a closed tab would: no `leave`, the socket just ends.
    pub async fn close(&mut self, page: &str) {
        self.command(json!({ "cmd": "close", "page": page })).await;
    }

    /// Closes the browser and waits for the driver to end.
    pub async fn quit(mut self) {
        self.write(json!({ "cmd": "quit" })).await;
        let _ = timeout(BROWSER_PATIENCE, self.child.wait()).await;
    }
}
