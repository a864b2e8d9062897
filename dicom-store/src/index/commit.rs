//! Group commit: one task owns the index's write transactions for ingest and
//! commits whatever instances are waiting in a single transaction.
//!
//! A durable commit costs one fsync of the database's log (SQLite WAL or
//! PostgreSQL WAL), milliseconds on a virtual disk, and on SQLite writers also
//! queue for the one write lock. Senders that arrive while a commit is under
//! way therefore wait in the channel and go out together in the next one: the
//! fsync is paid per batch, not per instance, and a lone sender still gets its
//! own commit at once (nothing waits for a batch to fill).
//!
//! If a batch fails as a whole (a unique violation from a concurrent writer on
//! another node, say), each of its instances is retried in a transaction of
//! its own, so one bad instance cannot fail its neighbours.

use tokio::sync::{mpsc, oneshot};

use super::store::{clear_journal, index_instance, IndexOutcome};
use super::{Index, NewInstance};

/// The most instances one transaction commits.
const MAX_BATCH: usize = 128;

/// A request to index one instance, answered when its transaction committed.
#[derive(Debug)]
pub struct CommitJob {
    /// The instance.
    pub entry: NewInstance,
    /// Journal keys of earlier instances whose blob and index row are both
    /// durable, to clear in the same transaction (a write of their own
    /// would cost a commit).
    pub settled: Vec<String>,
    /// Where the outcome goes once committed (or failed).
    pub reply: oneshot::Sender<Result<IndexOutcome, sqlx::Error>>,
}

/// Starts the committer task; it ends when every sender is dropped.
pub fn spawn(index: Index) -> mpsc::Sender<CommitJob> {
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(run(index, rx));
    tx
}

async fn run(index: Index, mut rx: mpsc::Receiver<CommitJob>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let entries: Vec<&NewInstance> = batch.iter().map(|j| &j.entry).collect();
        let settled: Vec<String> = batch.iter().flat_map(|j| j.settled.clone()).collect();
        match commit(&index, &entries, &settled).await {
            Ok(outcomes) => {
                tracing::debug!(instances = batch.len(), "group commit");
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    // A sender that gave up waiting no longer needs the answer.
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(error) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    let _ = job.reply.send(Err(error));
                }
            }
            Err(error) => {
                tracing::warn!(%error, instances = batch.len(), "group commit failed; retrying one by one");
                for job in batch {
                    let outcome = commit(&index, &[&job.entry], &job.settled)
                        .await
                        .map(|mut o| o.pop().expect("one outcome per committed instance"));
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

async fn commit(
    index: &Index,
    entries: &[&NewInstance],
    settled: &[String],
) -> Result<Vec<IndexOutcome>, sqlx::Error> {
    let mut tx = index.begin_write().await?;
    let mut outcomes = Vec::with_capacity(entries.len());
    for entry in entries {
        outcomes.push(index_instance(&mut tx, entry).await?);
    }
    clear_journal(&mut tx, settled).await?;
    tx.commit().await?;
    Ok(outcomes)
}
