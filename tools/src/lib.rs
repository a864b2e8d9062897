//! The tests run real peers beside Ferry: dcmtk, pynetdicom, coturn, a
//! headless Chromium driven from Node, an S3 server. On a machine without
//! them, every test that starts one would fail on its own with a panic of
//! its own; [`require`] instead stops the test binary before the first of
//! them, with one message that names everything missing and the command that
//! installs it all (`./x test`, or `tools/install-test-tools`).
//!
//! The list is `test-tools.tsv` beside this crate, the same file the
//! installer reads, so the two cannot disagree.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;

const LIST: &str = include_str!("../test-tools.tsv");

/// One row of the list that the test suite needs.
#[derive(Debug, PartialEq, Eq)]
struct Tool<'a> {
    kind: &'a str,
    present: &'a str,
    install: &'a str,
}

/// The `test` rows of the list.
fn rows(list: &str) -> Vec<Tool<'_>> {
    list.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (Some("test"), Some(kind), Some(present), Some(install)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return None;
            };
            Some(Tool {
                kind,
                present,
                install,
            })
        })
        .collect()
}

fn cache() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache")
}

/// Where the tests look for Node packages: `NODE_PATH`, or where the
/// installer puts them.
fn node_modules() -> PathBuf {
    std::env::var_os("NODE_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("ferry-node/node_modules"))
}

/// The Python the tests run: the installer's virtual environment when it
/// made one (a machine whose own Python refuses pip installs), else
/// `python3` on the path.
fn python() -> PathBuf {
    let venv = cache().join("ferry-python/bin/python3");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn is_present(tool: &Tool) -> bool {
    match tool.kind {
        "apt" => Path::new(tool.present).exists(),
        "pip" => Command::new(python())
            .args(["-c", &format!("import {}", tool.present)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success()),
        "npm" => {
            let version = tool.install.rsplit('@').next().unwrap_or_default();
            let manifest = node_modules().join(tool.present).join("package.json");
            std::fs::read_to_string(manifest).is_ok_and(|text| {
                text.contains(&format!("\"version\": \"{version}\""))
                    || text.contains(&format!("\"version\":\"{version}\""))
            })
        }
        "cargo" => cache().join(tool.present).is_file(),
        _ => false,
    }
}

/// What is missing, as the lines of the message.
fn missing() -> Vec<String> {
    rows(LIST)
        .iter()
        .filter(|tool| !is_present(tool))
        .map(|tool| format!("  - {} ({}: {})", tool.present, tool.kind, tool.install))
        .collect()
}

/// Stops this test binary, once, with one message when a tool the tests
/// need is missing. Call it before starting any peer; later calls cost
/// nothing.
pub fn require() {
    static CHECKED: Once = Once::new();
    CHECKED.call_once(|| {
        let missing = missing();
        if missing.is_empty() {
            return;
        }
        // Straight to the process's stderr: libtest captures what `eprintln!`
        // prints inside a test, and would drop it when the process exits.
        let _ = writeln!(
            std::io::stderr().lock(),
            "\nThe tests need tools that are not installed on this machine:\n{}\n\n\
             Run the whole suite with `./x test`, which installs them first, or install \
             them alone with `tools/install-test-tools`.\n",
            missing.join("\n")
        );
        std::process::exit(2);
    });
}

/// A command for a peer the tests run (`python3`, `/usr/bin/storescu`,
/// `node`, ...), after [`require`]. `python3` is the one that has the
/// suite's Python modules ([`python`]).
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    require();
    if program.as_ref() == "python3" {
        return Command::new(python());
    }
    Command::new(program)
}

/// `s3s-fs`, a real S3 server over the directory `root` (each directory
/// in it a bucket), on `127.0.0.1:port` with one key pair; quiet, for the
/// tests of object storage to spawn.
pub fn s3s_fs(root: &std::path::Path, port: u16, access_key: &str, secret_key: &str) -> Command {
    let binary = std::env::var_os("FERRY_TEST_S3S_FS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            std::path::PathBuf::from(home).join(".cache/s3s/bin/s3s-fs")
        });
    let mut command = self::command(binary);
    command
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", access_key, "--secret-key", secret_key])
        .arg(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_reads_as_the_installer_reads_it() {
        let tools = rows(LIST);
        assert!(tools
            .iter()
            .any(|t| t.kind == "apt" && t.install == "dcmtk"));
        assert!(tools
            .iter()
            .any(|t| t.kind == "cargo" && t.install.starts_with("s3s-fs@")));
        // Only the suite's rows: Orthanc is a peer of the suite too, and
        // the CI gate's own tools are not required.
        assert!(tools.iter().any(|t| t.install == "orthanc"));
        assert!(!tools.iter().any(|t| t.install.contains("typescript")));
        assert!(tools
            .iter()
            .all(|t| matches!(t.kind, "apt" | "pip" | "npm" | "cargo")));
    }

    #[test]
    fn a_missing_tool_is_named_with_how_it_is_installed() {
        let tool = Tool {
            kind: "apt",
            present: "/nonexistent/ferry-tool",
            install: "ferry-tool",
        };
        assert!(!is_present(&tool));
        let tool = Tool {
            kind: "pip",
            present: "no_such_module_for_ferry",
            install: "x",
        };
        assert!(!is_present(&tool));
    }
}
