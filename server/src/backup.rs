//! `ferry backup DIR` and `ferry restore DIR`: the whole state of the
//! embedded default (SQLite, the imaging store's files, the call
//! recordings) in one directory, taken while the server runs and takes
//! writes, and put back on a clean machine.
//!
//! A backup is consistent because it is driven by one snapshot of the
//! database: `VACUUM INTO` copies the database as one read transaction
//! sees it, so the server's writers go on meanwhile. Then every file that
//! snapshot names is copied: the blob of each indexed instance and each
//! recorded call file. Blobs are written before their index row commits
//! and never rewritten, so each one the snapshot names is there to copy,
//! unless its study was deleted since (the backup then fails and says to
//! run it again). An instance still being stored as the snapshot was
//! taken, not yet acknowledged, is in it with its ingest journal row; the
//! restored node's startup recovery checks its blob and drops it unless
//! whole, as after a crash (the node's `node-id` is restored for that).
//! Every file's size and SHA-256 go into `manifest.json`, written last: a
//! directory without one is not a backup.
//!
//! PostgreSQL and S3-compatible storage have their own tools for this
//! (README, "Backups"); the command says so rather than copy half of it.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::chain::{self, Verdict};
use crate::config::Settings;
use crate::datadir::{DirLock, LOCK_FILE, NODE_ID_FILE};
use crate::db::Db;
use crate::time::{now_ms, rfc3339};

/// The manifest's name in a backup directory.
pub const MANIFEST: &str = "manifest.json";
const FORMAT: u32 = 1;
const DATABASE: &str = "ferry.db";
const BLOBS: &str = "dicom/blobs";
const RECORDINGS: &str = "recordings";

/// What a backup holds: written last, read first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub ferry_version: String,
    pub created_at: String,
    /// Rows of the snapshot, for the operator to compare after a restore.
    pub counts: Counts,
    /// Every file of the backup but this one, paths relative to it.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub instances: i64,
    pub bookings: i64,
    pub audit_events: i64,
    pub recording_files: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The SQLite database file of the settings, or why there is none to copy.
fn embedded_database(settings: &Settings) -> anyhow::Result<PathBuf> {
    if settings.s3_bucket.is_some() {
        bail!(
            "the imaging store is in object storage (s3_bucket): back it up with the store's own \
             tools and the database with its own (README, \"Backups\")"
        );
    }
    let url = settings.database_url();
    let Some(path) = crate::db::sqlite_path(&url) else {
        bail!(
            "`ferry backup` covers the embedded SQLite database; for PostgreSQL use pg_dump or \
             pg_basebackup (README, \"Backups\")"
        );
    };
    Ok(path)
}

/// Takes a backup of the running (or stopped) install into `dir`, which
/// must be new or empty.
pub async fn backup(settings: &Settings, dir: &Path) -> anyhow::Result<Manifest> {
    let database = embedded_database(settings)?;
    if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty: a backup goes into a new directory",
            dir.display()
        );
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let snapshot = dir.join(DATABASE);
    let live = Db::connect(&settings.database_url(), 1).await?;
    let target = snapshot
        .to_str()
        .context("the backup directory is not UTF-8")?;
    sqlx::query(&format!("VACUUM INTO '{}'", target.replace('\'', "''")))
        .execute(live.pool())
        .await
        .with_context(|| format!("copying the database {}", database.display()))?;
    live.close().await;

    let copy = Db::connect(&format!("sqlite://{target}"), 1).await?;
    let counts = counts(&copy).await?;
    let blobs: Vec<String> = sqlx::query_scalar("SELECT blob_key FROM dicom_instance")
        .fetch_all(copy.pool())
        .await?;
    let recordings: Vec<String> = sqlx::query_scalar("SELECT path FROM call_recording_file")
        .fetch_all(copy.pool())
        .await?;
    copy.close().await;

    let mut files = vec![entry(dir, Path::new(DATABASE))?];
    let blob_root = settings.dicom_dir().join("blobs");
    let recording_root = settings.recording_dir();
    let dir_owned = dir.to_owned();
    let data_dir = settings.data_dir.clone();
    let copied = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<FileEntry>> {
        let mut copied = Vec::new();
        for key in &blobs {
            copied.push(copy_in(&blob_root, key, &dir_owned, BLOBS).with_context(|| {
                format!("the blob {key} is gone: was a study deleted during the backup? run it again")
            })?);
        }
        for path in &recordings {
            copied.push(
                copy_in(&recording_root, path, &dir_owned, RECORDINGS)
                    .with_context(|| format!("copying the recording {path}"))?,
            );
        }
        if data_dir.join(NODE_ID_FILE).exists() {
            copied.push(copy_in(&data_dir, NODE_ID_FILE, &dir_owned, "")?);
        }
        Ok(copied)
    })
    .await??;
    files.extend(copied);
    let manifest = Manifest {
        format: FORMAT,
        ferry_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: rfc3339(now_ms()),
        counts,
        files,
    };
    write_durably(&dir.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}

async fn counts(db: &Db) -> anyhow::Result<Counts> {
    let count = |table: &'static str| async move {
        sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(db.pool())
            .await
    };
    Ok(Counts {
        instances: count("dicom_instance").await?,
        bookings: count("booking").await?,
        audit_events: count("audit_event").await?,
        recording_files: count("call_recording_file").await?,
    })
}

/// Restores the backup in `dir` into the settings' data directory, which
/// must hold no database and no files of the imaging store or recordings.
/// Every file is checked against the manifest before anything is written.
pub async fn restore(settings: &Settings, dir: &Path) -> anyhow::Result<(Manifest, Verdict)> {
    let database = embedded_database(settings)?;
    let manifest: Manifest = serde_json::from_slice(
        &fs::read(dir.join(MANIFEST))
            .with_context(|| format!("{} has no {MANIFEST}: not a backup", dir.display()))?,
    )
    .context("reading the manifest")?;
    if manifest.format != FORMAT {
        bail!(
            "backup format {} is not one this version reads",
            manifest.format
        );
    }
    let _lock = DirLock::acquire(&settings.data_dir, LOCK_FILE, "ferry restore")?;
    let blob_root = settings.dicom_dir().join("blobs");
    let recording_root = settings.recording_dir();
    for (what, path) in [
        ("database", &database),
        ("imaging store", &blob_root),
        ("recordings", &recording_root),
    ] {
        if path.is_file() || (path.is_dir() && fs::read_dir(path)?.next().is_some()) {
            bail!(
                "the {what} at {} holds data already: restore into a new data directory",
                path.display()
            );
        }
    }
    let source = dir.to_owned();
    let entries = manifest.files.clone();
    let data_dir = settings.data_dir.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for file in &entries {
            check(&source, file)?;
        }
        for file in &entries {
            let to = match file.path.as_str() {
                DATABASE => database.clone(),
                NODE_ID_FILE => data_dir.join(NODE_ID_FILE),
                path => match (path.strip_prefix(BLOBS), path.strip_prefix(RECORDINGS)) {
                    (Some(key), _) => blob_root.join(key.trim_start_matches('/')),
                    (_, Some(rest)) => recording_root.join(rest.trim_start_matches('/')),
                    _ => bail!("the manifest names an unknown file {path}"),
                },
            };
            copy_file(&source.join(&file.path), &to)?;
        }
        Ok(())
    })
    .await??;
    let db = Db::connect(&settings.database_url(), 1).await?;
    db.migrate().await?;
    let verdict = chain::verify(db.pool()).await?;
    db.close().await;
    Ok((manifest, verdict))
}

/// Refuses a manifest path that could leave the backup directory, then
/// checks the file's size and digest.
fn check(dir: &Path, file: &FileEntry) -> anyhow::Result<()> {
    let path = inside(&file.path).context("the manifest names a path outside the backup")?;
    let (bytes, sha256) =
        digest(&dir.join(path)).with_context(|| format!("reading {} of the backup", file.path))?;
    if bytes != file.bytes || sha256 != file.sha256 {
        bail!(
            "{} of the backup is damaged: {bytes} bytes with SHA-256 {sha256}, the manifest says {} and {}",
            file.path,
            file.bytes,
            file.sha256
        );
    }
    Ok(())
}

/// `path` as a path that stays below the directory it is joined to: only
/// plain names, no `..`, no root.
fn inside(path: &str) -> anyhow::Result<&Path> {
    let relative = Path::new(path);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        bail!("not a path below its directory: {path}");
    }
    Ok(relative)
}

/// Copies `root/relative` to `dir/under/relative` and describes the copy.
fn copy_in(root: &Path, relative: &str, dir: &Path, under: &str) -> anyhow::Result<FileEntry> {
    let rel = inside(relative)?;
    let name = Path::new(under).join(rel);
    copy_file(&root.join(rel), &dir.join(&name))?;
    entry(dir, &name)
}

fn entry(dir: &Path, name: &Path) -> anyhow::Result<FileEntry> {
    let (bytes, sha256) = digest(&dir.join(name))?;
    Ok(FileEntry {
        path: name.to_string_lossy().replace('\\', "/"),
        bytes,
        sha256,
    })
}

fn digest(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// A copy that is on disk when this returns: the file and its directory
/// entry both synced.
fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    File::open(to)?.sync_all()?;
    if let Some(parent) = to.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = File::create(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}
