//! `ferry config check`: the configuration as `serve` would load it, with
//! every part that can be wrong tried before a server starts on it, so an
//! operator hears of a missing certificate, an unwritable directory or an
//! unreachable database from the check rather than from a node that fails
//! at its first request. Nothing is written but a probe file, removed again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Settings;
use crate::db::Db;

/// One line per problem, naming the setting; empty when all is well.
pub async fn problems(settings: &Settings) -> Vec<String> {
    let mut problems = Vec::new();
    let mut derived = |result: Result<(), String>| {
        if let Err(problem) = result {
            problems.push(problem);
        }
    };
    derived(settings.dimse_listen_addr().map(drop));
    derived(settings.dimse_tls().map(drop));
    derived(settings.web_tls().map(drop));
    derived(settings.dimse_tls_client().map(drop));
    derived(settings.s3().map(drop));
    if tracing_subscriber::EnvFilter::try_new(&settings.log).is_err() {
        problems.push(format!(
            "log: {:?} is not a log filter (e.g. \"info\" or \"ferry_server=debug,info\")",
            settings.log
        ));
    }
    if let Some(url) = settings.public_url.as_deref() {
        let url = url.trim().to_ascii_lowercase();
        if !url.starts_with("https://") && !url.starts_with("http://") {
            problems.push(format!(
                "public_url: {url:?} does not start with https:// or http://"
            ));
        }
    }
    if !settings.turn_urls.is_empty() && settings.turn_secret.is_none() {
        problems.push(
            "turn_urls needs turn_secret (or turn_secret_file), shared with the TURN server"
                .to_owned(),
        );
    }
    let mut directories = vec![
        ("data_dir", settings.data_dir.clone()),
        ("recording_dir", settings.recording_dir()),
    ];
    if settings.s3_bucket.is_none() {
        directories.push(("dicom_dir", settings.dicom_dir()));
    }
    for (name, dir) in directories {
        if let Err(problem) = writable(&dir) {
            problems.push(format!("{name}: {} {problem}", dir.display()));
        }
    }
    let url = settings.database_url();
    match crate::db::sqlite_path(&url) {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if let Err(problem) = writable(parent) {
                    problems.push(format!(
                        "database_url: the database's directory {} {problem}",
                        parent.display()
                    ));
                }
            }
        }
        None if url.starts_with("postgres") => {
            let reached = tokio::time::timeout(Duration::from_secs(10), Db::connect(&url, 1)).await;
            match reached {
                Ok(Ok(db)) => db.close().await,
                Ok(Err(e)) => problems.push(format!("database_url: {e}")),
                Err(_) => problems
                    .push("database_url: no answer from the database within 10 s".to_owned()),
            }
        }
        None => problems.push("database_url: expected sqlite://… or postgres://…".to_owned()),
    }
    problems
}

/// Whether files can be made in `dir`, or in the nearest directory above
/// it that exists (where `serve` would create it).
fn writable(dir: &Path) -> Result<(), String> {
    let mut existing: PathBuf = dir.to_owned();
    while !existing.exists() {
        match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => existing = parent.to_owned(),
            _ => {
                existing = PathBuf::from(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        return Err(format!(
            "cannot be made: {} is not a directory",
            existing.display()
        ));
    }
    let probe = existing.join(format!(".ferry-config-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("is not writable ({}: {e})", existing.display()))
}
