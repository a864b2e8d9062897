//! The pool of blob keys already written to the ingest journal, so that an
//! instance never waits for its key's journal commit.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::error::IngestError;
use crate::index::commit::{Job, JournalJob};
use crate::index::journal;
use crate::store::Store;

/// How many blob keys are written to the journal at a time.
pub const KEY_BATCH: usize = 64;

impl Store {
    /// A blob key whose journal row is already committed.
    pub(super) async fn take_key(&self) -> Result<String, IngestError> {
        if let Some((key, left)) = self.pop_key() {
            if left < KEY_BATCH / 2 {
                self.refill_in_background();
            }
            return Ok(key);
        }
        // The pool ran dry (the first ingest, or a burst the background refill
        // did not keep up with): this ingest waits for a batch. One batch at a
        // time, so concurrent ingests share it instead of each writing one.
        let _refilling = self.0.refilling.lock().await;
        loop {
            if let Some((key, _)) = self.pop_key() {
                return Ok(key);
            }
            self.refill().await?;
        }
    }

    /// Starts a refill of the key pool unless one is under way, so that
    /// the next batch's journal commit and reserved files are made before they
    /// are needed rather than on an instance's way to its acknowledgement.
    fn refill_in_background(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            let Ok(_refilling) = store.0.refilling.try_lock() else {
                return;
            };
            if let Err(error) = store.refill().await {
                tracing::warn!(%error, "could not reserve blob keys ahead; ingest will retry");
            }
        });
    }

    /// Journals a batch of new keys, reserves their blobs, and adds them to the pool.
    async fn refill(&self) -> Result<(), IngestError> {
        let shard = new_shard();
        let mut keys: Vec<String> = (0..KEY_BATCH).map(|_| new_key(&shard)).collect();
        // Through the group committer, which is then the only writer to the
        // index while instances stream in.
        let (reply, answer) = oneshot::channel();
        let job = JournalJob {
            keys: keys.clone(),
            node: self.0.config.node.clone(),
            reply,
        };
        if self.0.committer.send(Job::Journal(job)).await.is_err() {
            return Err(IngestError::ShuttingDown);
        }
        answer.await.map_err(|_| IngestError::ShuttingDown)??;
        // Journalled first, so a crash from here on leaves nothing that
        // recovery does not find.
        if self.0.blobs.puts_blocking() {
            let blobs = Arc::clone(&self.0.blobs);
            keys = tokio::task::spawn_blocking(move || {
                blobs.reserve_blocking(&keys)?;
                Ok::<_, std::io::Error>(keys)
            })
            .await
            .map_err(std::io::Error::other)??;
        }
        self.0
            .keys
            .lock()
            .expect("the key pool's lock is never held across a panic")
            .extend(keys);
        Ok(())
    }

    /// Gives back a key that names no blob, for the next instance.
    pub(super) fn return_key(&self, key: String) {
        self.0
            .keys
            .lock()
            .expect("the key pool's lock is never held across a panic")
            .push(key);
    }

    /// A key from the pool, and how many are left after it.
    fn pop_key(&self) -> Option<(String, usize)> {
        let mut keys = self
            .0
            .keys
            .lock()
            .expect("the key pool's lock is never held across a panic");
        keys.pop().map(|key| (key, keys.len()))
    }

    /// Deletes the blob of a key that will not be indexed, then its journal
    /// row. If either fails, the journal row stays and recovery finishes the job.
    pub(super) async fn discard_key(&self, key: &str) {
        let result = async {
            self.0.blobs.delete(key).await?;
            let mut conn = self.0.index.pool().acquire().await?;
            journal::clear_journal(&mut conn, &[key]).await?;
            Ok::<_, IngestError>(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, blob_key = key, "could not discard a blob; recovery will");
        }
    }
}

/// A random shard, `ab/cd`: one of 65,536 directories.
fn new_shard() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{}/{}", &id[0..2], &id[2..4])
}

/// A new blob key in `shard`: `ab/cd/<32 hex digits>`. The keys of one
/// journal batch share a shard, so a new shard directory (a `mkdir` and an
/// fsync of its parent) is paid once per batch rather than once per instance,
/// while 200,000 instances still spread over some 3,000 directories.
fn new_key(shard: &str) -> String {
    format!("{shard}/{}", uuid::Uuid::new_v4().simple())
}
