//! Group commit of the events of reads.
//!
//! A read changes nothing, so its event need not share a transaction with
//! it; it only has to be durable before the answer leaves. Written one by
//! one, every read was a write transaction through the chain head, and
//! reads queued behind each other's fsync. Here a read hands its events to
//! the journal and waits: one task appends whatever has queued meanwhile in
//! one transaction (one move of the chain head, one multi-row insert, one
//! commit) and then releases every waiter at once. The chain and
//! `ferry audit verify` are unchanged; so is the promise that an answered
//! read has its event on disk.
//!
//! Writes keep appending in their own transaction ([`super::append`]): their
//! event must commit or roll back with the change.

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use super::{append_each, Actor, AuditEntry};
use crate::db::{Db, Engine};

/// Events appended by one commit at most; the rest wait for the next.
const BATCH: usize = 2_000;
/// Reads waiting for the journal before more wait to be queued.
const QUEUE: usize = 8_192;

struct Pending {
    actor: Actor,
    entries: Vec<AuditEntry>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Where reads record their events. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    queue: Option<mpsc::Sender<Pending>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("records", &self.queue.is_some())
            .finish()
    }
}

impl Journal {
    /// Starts the task that commits the events. It ends when the last
    /// handle is dropped, after committing what was queued.
    pub fn start(db: Db) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(commit_loop(db, waiting));
        Self { queue: Some(queue) }
    }

    /// A journal that records nothing: only for `ferry-bench`, to measure
    /// what the trail costs (see `Settings::unaudited_reads`). No
    /// configuration key reaches it.
    pub fn discarding() -> Self {
        Self { queue: None }
    }

    /// Appends `entries` of `actor`, in order, and returns once they are
    /// committed.
    pub async fn record(&self, actor: &Actor, entries: Vec<AuditEntry>) -> anyhow::Result<()> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        if entries.is_empty() {
            return Ok(());
        }
        let (done, committed) = oneshot::channel();
        queue
            .send(Pending {
                actor: actor.clone(),
                entries,
                done,
            })
            .await
            .ok()
            .context("the audit journal has stopped")?;
        committed
            .await
            .context("the audit journal stopped before committing")?
            .map_err(|problem| anyhow::anyhow!("the audit events were not committed: {problem}"))
    }

    /// As [`record`](Self::record), for one event.
    pub async fn record_one(&self, actor: &Actor, entry: AuditEntry) -> anyhow::Result<()> {
        self.record(actor, vec![entry]).await
    }
}

async fn commit_loop(db: Db, mut waiting: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::new();
    while let Some(first) = waiting.recv().await {
        let mut events = first.entries.len();
        batch.push(first);
        // Whatever queued while the last commit ran goes into this one.
        while events < BATCH {
            let Ok(next) = waiting.try_recv() else {
                break;
            };
            events += next.entries.len();
            batch.push(next);
        }
        let outcome = commit(&db, &mut batch).await.map_err(|error| {
            tracing::error!(%error, events, "could not commit audit events");
            error.to_string()
        });
        for pending in batch.drain(..) {
            let _ = pending.done.send(outcome.clone());
        }
    }
}

async fn commit(db: &Db, batch: &mut [Pending]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    if db.engine() == Engine::Postgres {
        // The chain head first (SQLite's `BEGIN IMMEDIATE` took the whole
        // database): whoever holds it is waited for here, before the
        // batch is settled below.
        sqlx::query("SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE")
            .execute(&mut *tx)
            .await?;
    }
    // A request stopped while its events waited (its deadline passed, its
    // client left) was not answered, and what it read went nowhere: it
    // leaves no event, as a request stopped inside its own transaction
    // leaves no change.
    let events: Vec<_> = batch
        .iter_mut()
        .filter(|pending| !pending.done.is_closed())
        .flat_map(|pending| {
            let actor = &pending.actor;
            std::mem::take(&mut pending.entries)
                .into_iter()
                .map(move |entry| (actor, entry))
        })
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    append_each(&mut tx, events).await?;
    tx.commit().await
}
