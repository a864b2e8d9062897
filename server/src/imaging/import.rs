//! Folder import (`ferry dicom import DIR --facility …`): every file under a
//! directory goes through the same ingest as STOW-RS and C-STORE, filed under
//! one facility, with one `dicom.store` audit event per study.
//!
//! Files are read one at a time, in path order, so a re-run after an
//! interruption walks the same way and the instances already stored come back
//! as "already stored". `DICOMDIR` files (media indexes, not instances) are
//! skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_dicom_store::{IngestContext, Outcome};

use super::Imaging;
use crate::audit::Actor;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Files found.
    pub files: usize,
    /// Instances stored now.
    pub stored: usize,
    /// Instances that were already stored, byte for byte.
    pub already_stored: usize,
    /// Files refused or failed, with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

impl ImportReport {
    /// Files handled so far.
    pub fn done(&self) -> usize {
        self.stored + self.already_stored + self.failed.len()
    }
}

/// Every regular file under `dir`, in path order.
pub fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && entry.file_name() != "DICOMDIR" {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Imports `files` into the store under `facility_id`, calling `progress`
/// after each file.
pub async fn import_files(
    imaging: &Imaging,
    files: Vec<PathBuf>,
    facility_id: i64,
    actor: &Actor,
    mut progress: impl FnMut(&ImportReport),
) -> ImportReport {
    let mut report = ImportReport {
        files: files.len(),
        ..ImportReport::default()
    };
    let ctx = IngestContext {
        facility_id,
        ..IngestContext::default()
    };
    let mut studies: BTreeMap<String, usize> = BTreeMap::new();
    for path in files {
        let result = match tokio::fs::File::open(&path).await {
            Ok(file) => imaging
                .store
                .ingest(file, &ctx)
                .await
                .map_err(|err| err.to_string()),
            Err(err) => Err(format!("cannot open: {err}")),
        };
        match result {
            Ok(stored) => {
                if stored.outcome == Outcome::Created {
                    report.stored += 1;
                    *studies.entry(stored.header.study_uid).or_default() += 1;
                } else {
                    report.already_stored += 1;
                }
            }
            Err(reason) => report.failed.push((path, reason)),
        }
        progress(&report);
    }
    for (study_uid, instances) in studies {
        if let Err(err) = imaging.after_store(actor, &study_uid, instances).await {
            tracing::error!(error = %err, study_uid, "recording an imported study failed");
        }
    }
    report
}
