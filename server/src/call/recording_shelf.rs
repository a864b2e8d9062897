//! Recordings in object storage, when the server has some (`s3_*`), so any
//! node can serve a recording another node made. The recorder writes local
//! files as it does without object storage (the recording directory is
//! then a spool); while the call goes on, what each file has grown by is
//! shipped every [`SHIP_EVERY`] as a numbered part, listed in
//! `call_recording_part` once stored. A node that dies mid-recording thus
//! loses at most the last few seconds: whoever clears after it puts the
//! parts back together ([`Shelf::rebuild`]) and the local crash recovery
//! makes them whole. A finished file replaces its parts. Keys are the
//! files' paths under the recording directory, under `<s3_prefix>/recordings`.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_dicom_store::blob::{BlobReader, BlobStore, S3BlobStore};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::config::Settings;
use crate::db::Db;

/// How often a running recording's new bytes are shipped.
pub const SHIP_EVERY: Duration = Duration::from_secs(2);

/// Where finished recordings and the parts of running ones are kept.
#[derive(Debug, Clone)]
pub struct Shelf {
    store: Arc<dyn BlobStore>,
}

impl Shelf {
    /// The object store of the settings, if they name one.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Shelf>> {
        let Some(mut s3) = settings.s3().map_err(anyhow::Error::msg)? else {
            return Ok(None);
        };
        s3.prefix = match s3.prefix.trim_matches('/') {
            "" => "recordings".to_owned(),
            prefix => format!("{prefix}/recordings"),
        };
        let store = S3BlobStore::new(&s3)
            .with_context(|| format!("opening the S3 bucket {} for recordings", s3.bucket))?;
        Ok(Some(Shelf {
            store: Arc::new(store),
        }))
    }

    /// Ships what the files in `dir` have grown by, every [`SHIP_EVERY`],
    /// until `stop` fires; then once more, so the last seconds are shipped
    /// too if the finished files cannot be.
    pub async fn ship_while_recording(
        self,
        db: Db,
        base: PathBuf,
        dir: PathBuf,
        recording_id: i64,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut shipped: HashMap<String, (u64, i64)> = HashMap::new();
        let mut ticker = tokio::time::interval(SHIP_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticker.tick() => {}
            }
            if let Err(error) = self
                .ship(&db, &base, &dir, recording_id, &mut shipped)
                .await
            {
                tracing::warn!(%error, recording_id, "shipping a recording's part failed");
            }
        }
    }

    async fn ship(
        &self,
        db: &Db,
        base: &Path,
        dir: &Path,
        recording_id: i64,
        shipped: &mut HashMap<String, (u64, i64)>,
    ) -> anyhow::Result<()> {
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.ends_with(".ivf") || name.ends_with(".ogg")) {
                continue;
            }
            let len = entry.metadata().await?.len();
            let (offset, seq) = shipped.get(&name).copied().unwrap_or((0, 0));
            if len <= offset {
                continue;
            }
            let mut file = tokio::fs::File::open(entry.path()).await?;
            file.seek(io::SeekFrom::Start(offset)).await?;
            let mut bytes = Vec::with_capacity((len - offset) as usize);
            file.take(len - offset).read_to_end(&mut bytes).await?;
            let staged = base.join(format!(".part-{recording_id}-{name}-{seq}"));
            tokio::fs::write(&staged, &bytes).await?;
            let key = part_key(&relative(base, &entry.path()), seq);
            if let Err(error) = self.store.put_file(&key, &staged).await {
                let _ = tokio::fs::remove_file(&staged).await;
                return Err(error.into());
            }
            sqlx::query(
                "INSERT INTO call_recording_part (recording_id, file_name, seq, bytes) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(recording_id)
            .bind(&name)
            .bind(seq)
            .bind(bytes.len() as i64)
            .execute(db.pool())
            .await?;
            shipped.insert(name, (offset + bytes.len() as u64, seq + 1));
        }
        Ok(())
    }

    /// Stores a finished file under its key, the local copy removed.
    pub async fn put(&self, base: &Path, path: &Path) -> io::Result<()> {
        self.store.put_file(&relative(base, path), path).await
    }

    /// Puts back together, in `dir`, the files of a recording whose node
    /// died from the parts it shipped; a file still here is kept as it is.
    pub async fn rebuild(
        &self,
        db: &Db,
        base: &Path,
        dir: &Path,
        recording_id: i64,
    ) -> anyhow::Result<()> {
        let parts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT file_name, seq FROM call_recording_part WHERE recording_id = $1 \
             ORDER BY file_name, seq",
        )
        .bind(recording_id)
        .fetch_all(db.pool())
        .await?;
        let mut current: Option<(String, tokio::fs::File)> = None;
        for (name, seq) in parts {
            let path = dir.join(&name);
            if current.as_ref().map(|(n, _)| n) != Some(&name) {
                if let Some((_, file)) = current.take() {
                    file.sync_all().await?;
                }
                if tokio::fs::try_exists(&path).await? {
                    continue;
                }
                tokio::fs::create_dir_all(dir).await?;
                current = Some((name.clone(), tokio::fs::File::create(&path).await?));
            }
            let Some((_, file)) = current.as_mut() else {
                continue;
            };
            let key = part_key(&relative(base, &path), seq);
            let mut part = self.store.get(&key).await?;
            let mut bytes = Vec::new();
            part.read_to_end(&mut bytes).await?;
            file.write_all(&bytes).await?;
        }
        if let Some((_, file)) = current.take() {
            file.sync_all().await?;
        }
        Ok(())
    }

    /// Removes the parts of a recording whose files are stored whole.
    pub async fn discard_parts(&self, db: &Db, base: &Path, dir: &Path, recording_id: i64) {
        let parts: Result<Vec<(String, i64)>, _> = sqlx::query_as(
            "SELECT file_name, seq FROM call_recording_part WHERE recording_id = $1",
        )
        .bind(recording_id)
        .fetch_all(db.pool())
        .await;
        let Ok(parts) = parts else { return };
        for (name, seq) in parts {
            let key = part_key(&relative(base, &dir.join(&name)), seq);
            if let Err(error) = self.store.delete(&key).await {
                tracing::warn!(%error, key, "removing a recording's part failed");
                return;
            }
        }
        let removed = sqlx::query("DELETE FROM call_recording_part WHERE recording_id = $1")
            .bind(recording_id)
            .execute(db.pool())
            .await;
        if let Err(error) = removed {
            tracing::warn!(%error, recording_id, "forgetting a recording's parts failed");
        }
    }

    /// The stored file at `key` (its path under the recording directory).
    pub async fn open(&self, key: &str) -> io::Result<BlobReader> {
        self.store.get(key).await
    }
}

fn part_key(file_key: &str, seq: i64) -> String {
    format!("{file_key}.part-{seq:06}")
}

/// The path under the recording directory, with `/` separators: the key of
/// a stored file and the `path` of its listed row alike.
pub fn relative(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
