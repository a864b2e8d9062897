//! Who is connected to which call through which node (`call_presence`),
//! kept for the day that node dies: the rooms themselves live in each
//! node's memory, so only these rows say what a dead node held. Clearing
//! after it ([`clear_node`]) tells every other node its participants left,
//! ends the calls they held open and closes its recordings.

use ferry_signaling::bus::{BusEvent, BusKind};
use ferry_signaling::protocol::PeerInfo;
use ferry_signaling::room::Rooms;

use super::consented_recording::{Recordings, RECORDER};
use crate::db::{Db, Engine};
use crate::time::now_ms;

/// Why a dead node's participants left, as `peer-left` tells the others.
pub const NODE_LOST: &str = "node_lost";

/// `peer` is connected to `room` through `node` (and nowhere else).
pub async fn joined(db: &Db, node: &str, room: &str, peer: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO call_presence (room, peer, node, joined_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (room, peer) DO UPDATE SET node = excluded.node, joined_at = excluded.joined_at",
    )
    .bind(room)
    .bind(peer)
    .bind(node)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// `peer`'s connection through `node` ended. A row another node has taken
/// over since (the participant reconnected there) is left alone, and so is
/// one for a participant still `present` (reconnected on this node).
pub async fn left(
    db: &Db,
    node: &str,
    room: &str,
    peer: &str,
    present: &[String],
) -> sqlx::Result<()> {
    if present.iter().any(|p| p == peer) {
        return Ok(());
    }
    sqlx::query("DELETE FROM call_presence WHERE room = $1 AND peer = $2 AND node = $3")
        .bind(room)
        .bind(peer)
        .bind(node)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The participants connected to `room` through any node.
pub async fn in_room(db: &Db, room: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT peer FROM call_presence WHERE room = $1")
        .bind(room)
        .fetch_all(db.pool())
        .await
}

/// Clears after `node`, dead or stopping: its participants leave their
/// rooms on every node, each call left without both parties ends, and its
/// recordings close with what reached storage.
pub async fn clear_node(db: &Db, recordings: &Recordings, node: &str) -> anyhow::Result<()> {
    let gone: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT p.room, p.peer, u.display_name FROM call_presence p \
         LEFT JOIN app_user u ON CAST(u.id AS TEXT) = p.peer \
         WHERE p.node = $1 ORDER BY p.room, p.peer",
    )
    .bind(node)
    .fetch_all(db.pool())
    .await?;
    sqlx::query("DELETE FROM call_presence WHERE node = $1")
        .bind(node)
        .execute(db.pool())
        .await?;
    let mut rooms: Vec<String> = Vec::new();
    for (room, peer, name) in gone {
        if db.engine() == Engine::Postgres {
            let event = BusEvent {
                node: node.to_owned(),
                room: room.clone(),
                kind: BusKind::Left {
                    peer: PeerInfo {
                        name: name.unwrap_or_else(|| peer.clone()),
                        id: peer,
                    },
                    reason: NODE_LOST.to_owned(),
                },
            };
            super::bus::send(&event, db).await?;
        }
        if !rooms.contains(&room) {
            rooms.push(room);
        }
    }
    for room in rooms {
        let present = in_room(db, &room).await?;
        super::end_unless_whole(db, &room, &present).await?;
    }
    for (consultation_id, _) in recordings.close_of_node(node).await? {
        if db.engine() == Engine::Postgres {
            let event = BusEvent {
                node: node.to_owned(),
                room: consultation_id.to_string(),
                kind: BusKind::Left {
                    peer: PeerInfo {
                        id: RECORDER.to_owned(),
                        name: "Recording".to_owned(),
                    },
                    reason: NODE_LOST.to_owned(),
                },
            };
            super::bus::send(&event, db).await?;
        }
    }
    Ok(())
}

/// This node was taken for dead: its presence rows are gone and the other
/// nodes dropped its participants. Writes the rows again and announces
/// every connection anew.
pub async fn announce_again(db: &Db, rooms: &Rooms, node: &str) -> anyhow::Result<()> {
    for (room, peers) in rooms.announce_again() {
        for peer in peers {
            joined(db, node, &room, &peer.id).await?;
        }
    }
    Ok(())
}
