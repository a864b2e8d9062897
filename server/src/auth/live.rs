//! The long-lived connections a session holds open (notification streams,
//! call WebSockets), so that they end when the session does: logout,
//! expiry, deactivation of the user or a change of their password.
//!
//! Each connection takes a [`Watch`] for its session; the watch's token is
//! cancelled when the session ends. Two paths cancel it:
//!
//! - at once, on this node, when the request that ends the session commits
//!   ([`LiveSessions::end_session`], [`LiveSessions::end_user`]);
//! - within [`SWEEP`], wherever the session was ended (another node sharing
//!   PostgreSQL, the command line, a lapsed expiry): one task per node,
//!   running only while connections are open, asks the database in one
//!   query which of the watched sessions are no longer live.
//!
//! The sweep is the cross-node path on purpose: it covers every way a session
//! can end, including those no node announces (expiry, the CLI writing the
//! database), at the cost of one small query a second per node with open
//! connections, and no message format for nodes to agree on.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sqlx::AnyPool;
use tokio_util::sync::{
    CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};

use crate::db::Db;
use crate::time::now_ms;

/// How often the watched sessions are re-checked in the database.
pub const SWEEP: Duration = Duration::from_millis(500);
/// Sessions asked about per query, well under either engine's bind limit.
const CHUNK: usize = 200;

#[derive(Clone)]
pub struct LiveSessions {
    inner: Arc<Mutex<Inner>>,
    db: Db,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<i64, Entry>,
    /// Distinguishes an entry from a later one for the same session id.
    next_generation: u64,
    sweeping: bool,
}

struct Entry {
    user_id: i64,
    token: CancellationToken,
    connections: usize,
    generation: u64,
}

/// One connection's hold on its session; dropping it (the connection
/// closed) lets the registry forget the session once nothing else holds it.
pub struct Watch {
    token: CancellationToken,
    session_id: i64,
    generation: u64,
    registry: Arc<Mutex<Inner>>,
}

impl Watch {
    /// Resolves when the session has ended.
    pub fn ended(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// The same, not borrowing the watch (for the call socket's hooks).
    pub fn ended_owned(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }

    pub fn is_ended(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut inner = lock(&self.registry);
        if let Some(entry) = inner.sessions.get_mut(&self.session_id) {
            if entry.generation == self.generation {
                entry.connections = entry.connections.saturating_sub(1);
                if entry.connections == 0 {
                    inner.sessions.remove(&self.session_id);
                }
            }
        }
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // Every critical section leaves the map consistent; a panic in one
    // (there is nothing in them that panics) would not make it unusable.
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LiveSessions {
    pub fn new(db: Db) -> Self {
        Self {
            inner: Arc::default(),
            db,
        }
    }

    /// A watch for a connection of `session_id`, which belongs to `user_id`.
    pub fn watch(&self, session_id: i64, user_id: i64) -> Watch {
        let mut inner = lock(&self.inner);
        let generation = inner.next_generation;
        let entry = inner.sessions.entry(session_id).or_insert_with(|| Entry {
            user_id,
            token: CancellationToken::new(),
            connections: 0,
            generation,
        });
        entry.connections += 1;
        let watch = Watch {
            token: entry.token.clone(),
            session_id,
            generation: entry.generation,
            registry: self.inner.clone(),
        };
        if watch.generation == generation {
            inner.next_generation += 1;
        }
        if !inner.sweeping {
            inner.sweeping = true;
            tokio::spawn(sweep(self.inner.clone(), self.db.clone()));
        }
        watch
    }

    /// Ends the connections of one session. Call after the commit.
    pub fn end_session(&self, session_id: i64) {
        let mut inner = lock(&self.inner);
        if let Some(entry) = inner.sessions.remove(&session_id) {
            entry.token.cancel();
        }
    }

    /// Ends the connections of every session of a user. Call after the commit.
    pub fn end_user(&self, user_id: i64) {
        let mut inner = lock(&self.inner);
        inner.sessions.retain(|_, entry| {
            let keep = entry.user_id != user_id;
            if !keep {
                entry.token.cancel();
            }
            keep
        });
    }
}

/// Re-checks the watched sessions until none is left to watch.
async fn sweep(registry: Arc<Mutex<Inner>>, db: Db) {
    let mut ticker = tokio::time::interval(SWEEP);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let watched: Vec<i64> = {
            let mut inner = lock(&registry);
            if inner.sessions.is_empty() {
                inner.sweeping = false;
                return;
            }
            inner.sessions.keys().copied().collect()
        };
        let mut live = HashSet::new();
        for chunk in watched.chunks(CHUNK) {
            match live_among(db.pool(), chunk, now_ms()).await {
                Ok(ids) => live.extend(ids),
                Err(error) => {
                    // Ending connections on a database hiccup would sign
                    // everyone out of their calls; try again next tick.
                    tracing::warn!(%error, "re-checking open sessions failed");
                    live.extend(chunk.iter().copied());
                }
            }
        }
        let mut inner = lock(&registry);
        for session_id in watched.iter().filter(|id| !live.contains(id)) {
            if let Some(entry) = inner.sessions.remove(session_id) {
                entry.token.cancel();
            }
        }
    }
}

/// Those of `ids` that are still live sessions (as `find_live_caller`
/// would find them).
async fn live_among(pool: &AnyPool, ids: &[i64], now: i64) -> Result<Vec<i64>, sqlx::Error> {
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT s.id FROM user_session s JOIN app_user u ON u.id = s.user_id \
         WHERE s.revoked_at IS NULL AND s.expires_at > $1 AND u.active = 1 AND s.id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(now);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(pool).await
}
