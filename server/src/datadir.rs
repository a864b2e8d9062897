//! One server per data directory, and the node name that goes with it.
//!
//! Startup cleans up after a crash: it deletes staged files, the blobs of
//! ingests that never finished, and closes recordings left open. Run by a
//! second server on a directory another one is using, that clean-up takes
//! the first server's work in progress for leftovers and destroys it. So a
//! server takes an exclusive lock on `<data_dir>/ferry.lock` before it opens
//! the database or writes anything, and holds it until it has stopped; a
//! second server fails to take it and exits without touching anything.
//!
//! The lock is the kernel's advisory `flock`,
//! released by the kernel when the process dies however it dies, so a crash
//! never leaves a stale lock behind. The file itself stays; it only carries
//! the holder's pid, for the operator.
//!
//! Nodes that share a PostgreSQL database share the ingest journal, and
//! recovery removes the journal rows of its own node only. The node's name
//! is kept in `<data_dir>/node-id`, made once at random (see [`node_id`] for
//! installs older than node names), so that it is stable across restarts and
//! different for every data directory: two nodes never take each other's rows
//! for their own.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The name of the lock file in a locked directory.
pub const LOCK_FILE: &str = "ferry.lock";
/// The name of the file that holds the node's name in the data directory.
pub const NODE_ID_FILE: &str = "node-id";

/// An exclusive lock on a directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    /// Closing the file releases the lock.
    _file: File,
    dir: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir` (created if missing) for `holder` (what is
    /// said in the error when someone else has it), or fails at once.
    pub fn acquire(dir: &Path, file_name: &str, holder: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the directory {}", dir.display()))?;
        let path = dir.join(file_name);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        match try_lock(&file) {
            Ok(true) => {}
            Ok(false) => {
                let pid = std::fs::read_to_string(&path).unwrap_or_default();
                let pid = pid.trim();
                let by = if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (process {pid})")
                };
                anyhow::bail!(
                    "{} is in use by another {holder}{by}; \
                     each server needs a data directory of its own (lock file {})",
                    dir.display(),
                    path.display()
                );
            }
            Err(err) => return Err(err).with_context(|| format!("locking {}", path.display())),
        }
        // Only for the operator: a failure to write the pid is no reason to stop.
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(Self {
            _file: file,
            dir: dir.to_path_buf(),
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Takes the file's exclusive lock without waiting (on Linux, `flock`):
/// `Ok(false)` when another open file holds it. The kernel lets it go when
/// the holder exits, `kill -9` included, so no stale lock is left behind.
fn try_lock(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// What a serving node holds: the lock on its data directory (and on its
/// DICOM directory when that lies elsewhere), and its node name.
#[derive(Debug)]
pub struct NodeLock {
    data_dir: DirLock,
    _dicom_dir: Option<DirLock>,
    node_id: String,
}

impl NodeLock {
    /// Locks `data_dir` and, when it is not inside `data_dir`, `dicom_dir`
    /// (its staging directory is cleaned at startup too), then reads or makes
    /// the node name.
    pub fn acquire(data_dir: &Path, dicom_dir: &Path) -> anyhow::Result<Self> {
        let data = DirLock::acquire(data_dir, LOCK_FILE, "ferry server")?;
        let dicom = if dicom_dir.starts_with(data_dir) {
            None
        } else {
            Some(DirLock::acquire(dicom_dir, LOCK_FILE, "ferry server")?)
        };
        let node_id = node_id(data.dir())?;
        Ok(Self {
            data_dir: data,
            _dicom_dir: dicom,
            node_id,
        })
    }

    /// This node's name, stable across restarts of the same data directory.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The locked data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.dir()
    }
}

/// The node name kept in `dir`, made on first use. Written to a temporary
/// file and renamed, so a crash never leaves a half-written name.
pub fn node_id(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join(NODE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    }
    // A SQLite install from before nodes had names journalled as `local`; it
    // is the only node on its database, so it keeps that name and recovers
    // what it journalled. (Nodes on PostgreSQL have no `ferry.db` here and get
    // a name of their own; rows an older version left under `local` there
    // are not recovered by anyone, which costs disk, not data.)
    let id = if dir.join("ferry.db").exists() {
        "local".to_owned()
    } else {
        format!("node-{}", uuid::Uuid::new_v4().simple())
    };
    let temporary = dir.join(format!("{NODE_ID_FILE}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = File::create(&temporary)?;
        writeln!(file, "{id}")?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        File::open(dir)?.sync_all()
    })();
    written.with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("a directory");
        let first = DirLock::acquire(dir.path(), LOCK_FILE, "ferry server").expect("first");
        let err = DirLock::acquire(dir.path(), LOCK_FILE, "ferry server")
            .expect_err("the second is refused");
        assert!(
            err.to_string().contains("in use by another ferry server"),
            "{err}"
        );
        drop(first);
        DirLock::acquire(dir.path(), LOCK_FILE, "ferry server").expect("free again");
    }

    #[test]
    fn a_sqlite_install_from_before_node_names_keeps_the_name_it_journalled_under() {
        let dir = tempfile::tempdir().expect("a directory");
        std::fs::write(dir.path().join("ferry.db"), b"").expect("a database file");
        assert_eq!(node_id(dir.path()).expect("made"), "local");
        assert_eq!(node_id(dir.path()).expect("read"), "local");
    }

    #[test]
    fn the_node_name_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("a directory");
        let other = tempfile::tempdir().expect("another directory");
        let id = node_id(dir.path()).expect("made");
        assert_eq!(node_id(dir.path()).expect("read"), id);
        assert_ne!(node_id(other.path()).expect("made"), id);
    }
}
