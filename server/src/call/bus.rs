//! Rooms across nodes: with PostgreSQL, every node LISTENs on one channel and
//! publishes what happens to its own connections with NOTIFY, so
//! participants connected to different nodes signal each other. PostgreSQL
//! is already shared by the nodes, so no other broker is needed. A NOTIFY
//! payload is limited to 8000 bytes and an SDP offer can be larger: such an
//! event goes into `signal_event` and the notification carries its id.
//! On SQLite there is one node and the rooms stay in process.

use std::time::Duration;

use anyhow::Context;
use ferry_signaling::bus::BusEvent;
use ferry_signaling::room::Rooms;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use crate::config::Settings;
use crate::db::{Db, Engine};
use crate::time::now_ms;

const CHANNEL: &str = "ferry_signal";
/// Below PostgreSQL's 8000-byte NOTIFY limit, with room for the prefix.
const INLINE_MAX: usize = 7000;
/// Large events are kept this long for slow listeners, then removed.
const KEEP_MS: i64 = 5 * 60 * 1000;

/// The rooms of this node: shared through PostgreSQL when that is the
/// database, in process otherwise.
pub async fn rooms(settings: &Settings, db: &Db, node: &str) -> anyhow::Result<Rooms> {
    if db.engine() != Engine::Postgres {
        return Ok(Rooms::new());
    }
    let node = node.to_owned();
    let (events, queued) = mpsc::unbounded_channel();
    let rooms = Rooms::with_bus(node.clone(), events);
    // Listening before the first connection is accepted, so no event is missed.
    let mut listener = PgListener::connect(&settings.database_url())
        .await
        .context("connecting the signalling listener")?;
    listener
        .listen(CHANNEL)
        .await
        .context("listening for signalling events")?;
    tokio::spawn(listen(listener, db.clone(), rooms.clone()));
    tokio::spawn(publish(queued, db.clone()));
    tracing::info!(node, "signalling rooms shared through PostgreSQL");
    Ok(rooms)
}

async fn listen(mut listener: PgListener, db: Db, rooms: Rooms) {
    loop {
        let payload = match listener.recv().await {
            Ok(notification) => notification.payload().to_owned(),
            Err(error) => {
                // The listener reconnects by itself; wait a little and retry.
                tracing::warn!(%error, "signalling listener failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match decode(&payload, &db).await {
            Ok(event) => rooms.receive(event),
            Err(error) => tracing::warn!(%error, "a signalling event could not be read"),
        }
    }
}

async fn decode(payload: &str, db: &Db) -> anyhow::Result<BusEvent> {
    let json = match payload.split_once(':') {
        Some(("j", json)) => json.to_owned(),
        Some(("r", id)) => {
            sqlx::query_scalar::<_, String>("SELECT payload FROM signal_event WHERE id = $1")
                .bind(id.parse::<i64>()?)
                .fetch_optional(db.pool())
                .await?
                .context("the event is gone")?
        }
        _ => anyhow::bail!("unknown payload"),
    };
    Ok(serde_json::from_str(&json)?)
}

async fn publish(mut queued: mpsc::UnboundedReceiver<BusEvent>, db: Db) {
    while let Some(event) = queued.recv().await {
        if let Err(error) = send(&event, &db).await {
            tracing::warn!(%error, room = %event.room, "publishing a signalling event failed");
        }
    }
}

/// Publishes one event to every node, this one included.
pub(crate) async fn send(event: &BusEvent, db: &Db) -> anyhow::Result<()> {
    let json = serde_json::to_string(event)?;
    let payload = if json.len() <= INLINE_MAX {
        format!("j:{json}")
    } else {
        let now = now_ms();
        sqlx::query("DELETE FROM signal_event WHERE created_at < $1")
            .bind(now - KEEP_MS)
            .execute(db.pool())
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO signal_event (payload, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(&json)
        .bind(now)
        .fetch_one(db.pool())
        .await?;
        format!("r:{id}")
    };
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(db.pool())
        .await?;
    Ok(())
}
