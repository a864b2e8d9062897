//! Notifications across nodes: with PostgreSQL, a node that wakes a user
//! also sends the user's id with NOTIFY on one channel, and every node
//! LISTENing on it wakes that user's streams open there. The rows stay the
//! truth: a notification lost on the way is read at the stream's next poll.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use super::Notifier;
use crate::db::{Db, Engine};

const CHANNEL: &str = "ferry_notify";

/// Connects `notifier` to the other nodes sharing `db`'s PostgreSQL; does
/// nothing on SQLite, where there is one node.
pub async fn share(notifier: &Notifier, database_url: &str, db: &Db) -> anyhow::Result<()> {
    if db.engine() != Engine::Postgres {
        return Ok(());
    }
    // Listening before any stream opens, so no wake is missed.
    let mut listener = PgListener::connect(database_url)
        .await
        .context("connecting the notification listener")?;
    listener
        .listen(CHANNEL)
        .await
        .context("listening for notifications of other nodes")?;
    let (others, queued) = mpsc::unbounded_channel();
    if notifier.others.set(others).is_err() {
        anyhow::bail!("the notifier is shared already");
    }
    tokio::spawn(listen(listener, notifier.clone()));
    tokio::spawn(publish(queued, db.clone()));
    Ok(())
}

async fn listen(mut listener: PgListener, notifier: Notifier) {
    loop {
        match listener.recv().await {
            Ok(notification) => match notification.payload().parse::<i64>() {
                Ok(user_id) => notifier.wake_here(user_id),
                Err(_) => tracing::warn!(payload = notification.payload(), "an unreadable wake"),
            },
            Err(error) => {
                // The listener reconnects by itself; streams poll meanwhile.
                tracing::warn!(%error, "notification listener failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn publish(mut queued: mpsc::UnboundedReceiver<i64>, db: Db) {
    while let Some(user_id) = queued.recv().await {
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(user_id.to_string())
            .execute(db.pool())
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, user_id, "telling other nodes of a notification failed");
        }
    }
}
