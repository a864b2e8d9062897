//! The nodes sharing one database, and what is done when one dies.
//!
//! Every process is a node with a name made at its start ([`node_name`]).
//! It holds a lease, a `node_lease` row it renews every [`RENEW`]. A lease
//! left unrenewed for [`LEASE`] belongs to a node that died without
//! stopping (kill -9, a lost machine): a live node claims it, clears what
//! the dead one left behind through the wiring's [`Reap`] (its call
//! participants, the calls they held open, its recordings), and deletes it.
//! A claim extends the lease by one [`LEASE`], so if the claimant dies too,
//! another node takes it over.
//!
//! A node that finds its own lease gone (it stalled for longer than the
//! lease and was taken for dead) takes a new one and announces what it
//! holds again ([`Reap`] `lost`).
//!
//! On SQLite one process holds the data directory, so every other lease is
//! a process that is gone: those are reaped at once, at start.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::db::{Db, Engine};
use crate::time::now_ms;

/// How often a node renews its lease and looks for dead ones.
pub const RENEW: Duration = Duration::from_secs(1);
/// How long an unrenewed lease is taken for a live node. Several renewals,
/// so that one slow renewal on a busy machine is not a death; short enough
/// that a dead node's participants leave the others' calls within seconds.
pub const LEASE: Duration = Duration::from_secs(6);

/// A name for this process as a node, unique across restarts.
pub fn node_name() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What the wiring does with a node's leavings.
pub type Clear = Arc<dyn Fn(String) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// The two things the lease loop asks of the wiring.
#[derive(Clone)]
pub struct Reap {
    /// Clears what the named dead node left.
    pub dead: Clear,
    /// This node was taken for dead and its leavings cleared: announce
    /// again what it holds.
    pub lost: Clear,
}

/// Takes this node's lease. Called before the node accepts anything, so no
/// other node can take it for dead meanwhile.
pub async fn take(db: &Db, node: &str) -> anyhow::Result<()> {
    let now = now_ms();
    sqlx::query("INSERT INTO node_lease (node, started_at, renewed_at) VALUES ($1, $2, $2)")
        .bind(node)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Renews this node's lease and reaps dead ones, until the task is aborted.
pub async fn run(db: Db, node: String, reap: Reap) {
    // On SQLite any other lease is a stopped process: clear it at once.
    let mut first = db.engine() == Engine::Sqlite;
    let mut ticker = tokio::time::interval(RENEW);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match renew(&db, &node).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(node, "this node was taken for dead; announcing it again");
                if let Err(error) = (reap.lost)(node.clone()).await {
                    tracing::warn!(%error, "announcing this node again failed");
                }
            }
            Err(error) => tracing::warn!(%error, "renewing this node's lease failed"),
        }
        let now = now_ms();
        let cutoff = if first {
            i64::MAX
        } else {
            now - LEASE.as_millis() as i64
        };
        first = false;
        if let Err(error) = reap_expired(&db, &node, cutoff, now, &reap).await {
            tracing::warn!(%error, "clearing after dead nodes failed");
        }
    }
}

/// `false` when the lease was gone and has been taken again.
async fn renew(db: &Db, node: &str) -> anyhow::Result<bool> {
    let renewed = sqlx::query("UPDATE node_lease SET renewed_at = $1 WHERE node = $2")
        .bind(now_ms())
        .bind(node)
        .execute(db.pool())
        .await?
        .rows_affected();
    if renewed == 1 {
        return Ok(true);
    }
    take(db, node).await?;
    Ok(false)
}

async fn reap_expired(
    db: &Db,
    node: &str,
    cutoff: i64,
    now: i64,
    reap: &Reap,
) -> anyhow::Result<()> {
    let expired: Vec<String> =
        sqlx::query_scalar("SELECT node FROM node_lease WHERE renewed_at < $1 AND node <> $2")
            .bind(cutoff)
            .bind(node)
            .fetch_all(db.pool())
            .await?;
    for dead in expired {
        // The claim: of several live nodes, one updates the row.
        let claimed = sqlx::query(
            "UPDATE node_lease SET renewed_at = $1 WHERE node = $2 AND renewed_at < $3",
        )
        .bind(now)
        .bind(&dead)
        .bind(cutoff)
        .execute(db.pool())
        .await?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        tracing::warn!(node = %dead, "a node stopped renewing its lease; clearing what it left");
        (reap.dead)(dead.clone()).await?;
        sqlx::query("DELETE FROM node_lease WHERE node = $1")
            .bind(&dead)
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

/// A clean stop: clears this node's leavings and gives the lease up.
pub async fn leave(db: &Db, node: &str, reap: &Reap) {
    if let Err(error) = (reap.dead)(node.to_owned()).await {
        tracing::warn!(%error, "clearing this node's calls at stop failed");
    }
    let released = sqlx::query("DELETE FROM node_lease WHERE node = $1")
        .bind(node)
        .execute(db.pool())
        .await;
    if let Err(error) = released {
        tracing::warn!(%error, "giving the lease up failed");
    }
}
