//! Runs one journey through the web client in a real browser: Debian's
//! Chromium, driven by `tests/browser/journeys.cjs` through a journey file
//! of `tests/browser/journeys/`, answering with what the user saw as JSON.
//! Each journey keeps a screenshot of every step under the test run's
//! target directory (`screenshots/<journey>`), for a person to look at.

use std::path::PathBuf;

use serde_json::{json, Value};
use tokio::process::Command;
use tokio::time::timeout;

use crate::support::browser::{node_path, BROWSER_PATIENCE};
use crate::support::{TestUser, PASSWORD};

pub(crate) fn screenshots(journey: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join(journey)
}

pub(crate) fn user(user: &TestUser) -> Value {
    json!({ "username": user.username, "password": PASSWORD, "display_name": user.username })
}

/// How many screenshots the journey kept, each checked to be a PNG.
pub(crate) fn screenshot_count(result: &Value) -> usize {
    let files = result["screenshots"].as_array().expect("screenshots");
    for file in files {
        let bytes = std::fs::read(file.as_str().expect("a path")).expect("a screenshot");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{file}");
    }
    files.len()
}

/// Runs one journey to its end; its result, or a failure with what the
/// browser said.
pub(crate) async fn journey(name: &str, args: Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/journeys.cjs");
    let run = Command::from(ferry_test_tools::command("node"))
        .arg(script)
        .arg(name)
        .arg(args.to_string())
        .env("NODE_PATH", node_path())
        .kill_on_drop(true)
        .output();
    let output = timeout(BROWSER_PATIENCE * 3, run)
        .await
        .expect("the journey ends in time")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(last).unwrap_or_else(|_| {
        panic!(
            "no result from the journey: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(
        output.status.success() && result["ok"] == true,
        "journey {name}: {}\nstderr:\n{}",
        result["error"].as_str().unwrap_or(last),
        String::from_utf8_lossy(&output.stderr)
    );
    result
}
