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
//! The batches of blob keys that ingest journals ahead go through the same
//! task. On SQLite a second writer would make the committer's `BEGIN
//! IMMEDIATE` meet a busy database, and SQLite's busy handler then sleeps
//! 1, 2, 5, 10... milliseconds between tries, however soon the lock is free.
//!
//! If a batch fails as a whole (a unique violation from a concurrent writer on
//! another node, say), each of its jobs is retried in a transaction of its
//! own, so one bad instance cannot fail its neighbours; a lone instance that
//! lost such a race is retried too.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::{mpsc, oneshot};

use super::journal::{clear_journal, insert_journal};
use super::store::{index_instance, IndexOutcome};
use super::{Engine, Index, NewInstance};

/// The most instances one transaction commits.
const MAX_BATCH: usize = 128;

/// How long the committer keeps its connection with nothing to commit.
///
/// On SQLite each connection has its own page cache, and a connection that
/// begins a transaction after another connection wrote drops that cache
/// whole and reads its pages again. Commits on one connection, kept while
/// instances keep coming, find the index's pages still cached.
const IDLE_RELEASE: Duration = Duration::from_millis(250);

/// What the committer is asked to write.
#[derive(Debug)]
pub enum Job {
    /// Index one instance.
    Instance(Box<CommitJob>),
    /// Journal a batch of blob keys before they are used.
    Journal(JournalJob),
}

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

/// A request to journal blob keys for `node`, answered once committed.
#[derive(Debug)]
pub struct JournalJob {
    /// The new keys.
    pub keys: Vec<String>,
    /// The node that will use them.
    pub node: String,
    /// Told once the rows are committed (or failed).
    pub reply: oneshot::Sender<Result<(), sqlx::Error>>,
}

/// Starts the committer task; it ends when every sender is dropped.
pub fn spawn(index: Index) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(run(index, rx));
    tx
}

async fn run(index: Index, mut rx: mpsc::Receiver<Job>) {
    let mut conn: Option<PoolConnection<Any>> = None;
    loop {
        let next = if conn.is_some() {
            match tokio::time::timeout(IDLE_RELEASE, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    conn = None;
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(first) = next else { break };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match commit(&index, &mut conn, &batch).await {
            Ok(outcomes) => {
                tracing::debug!(jobs = batch.len(), "group commit");
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    answer(job, Ok(outcome));
                }
            }
            // A lone instance is retried only when another node's
            // concurrent insert of its study or series got in first: the
            // retry finds that row and goes on from it.
            Err(error) if batch.len() == 1 && !raced(&error) => {
                if let Some(job) = batch.pop() {
                    answer(job, Err(error));
                }
            }
            Err(error) => {
                tracing::warn!(%error, jobs = batch.len(), "group commit failed; retrying one by one");
                for job in batch {
                    let outcome = commit(&index, &mut conn, std::slice::from_ref(&job))
                        .await
                        .map(|mut outcomes| outcomes.pop().flatten());
                    answer(job, outcome);
                }
            }
        }
    }
}

/// Whether a commit failed on a unique index another writer's row now
/// holds (a study or series first seen by two nodes at once).
fn raced(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Tells a job's sender how its commit went. A sender that gave up waiting
/// no longer needs the answer.
fn answer(job: Job, outcome: Result<Option<IndexOutcome>, sqlx::Error>) {
    match job {
        Job::Instance(job) => {
            let _ = job.reply.send(outcome.and_then(|outcome| {
                outcome.ok_or_else(|| sqlx::Error::Protocol("an instance was not indexed".into()))
            }));
        }
        Job::Journal(job) => {
            let _ = job.reply.send(outcome.map(|_| ()));
        }
    }
}

/// Commits one batch on the committer's connection, taking one from the
/// pool if it has none, and gives each job's outcome (none for a journal
/// batch). A connection whose batch failed is closed; the next batch takes
/// another.
async fn commit(
    index: &Index,
    conn: &mut Option<PoolConnection<Any>>,
    batch: &[Job],
) -> Result<Vec<Option<IndexOutcome>>, sqlx::Error> {
    let held = match conn {
        Some(held) => held,
        None => conn.insert(index.pool().acquire().await?),
    };
    let result = if index.engine() == Engine::Sqlite {
        super::batch::commit(held, batch).await
    } else {
        by_statement(index, held, batch).await
    };
    if result.is_err() {
        // On SQLite the transaction is not sqlx's to roll back, and a
        // rollback that failed would leave it open: the connection is closed
        // rather than given back to the pool.
        if let Some(held) = conn.take() {
            let _ = held.close().await;
        }
    }
    result
}

/// A batch committed statement by statement (PostgreSQL, where one call
/// takes one statement).
async fn by_statement(
    index: &Index,
    held: &mut AnyConnection,
    batch: &[Job],
) -> Result<Vec<Option<IndexOutcome>>, sqlx::Error> {
    let mut tx = index.begin_write_on(held).await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut settled: Vec<&str> = Vec::new();
    for job in batch {
        outcomes.push(match job {
            Job::Instance(job) => {
                settled.extend(job.settled.iter().map(String::as_str));
                Some(index_instance(&mut tx, index.engine(), &job.entry).await?)
            }
            Job::Journal(job) => {
                insert_journal(&mut tx, &job.keys, &job.node).await?;
                None
            }
        });
    }
    clear_journal(&mut tx, &settled).await?;
    tx.commit().await?;
    Ok(outcomes)
}
