//! Rooms on this node: who is connected to which room, and a channel to
//! each connection. A participant is one member however many times they
//! reconnect: a new connection replaces the old one, which is told to close.
//!
//! The lock is a plain mutex held only to change the map and queue messages
//! (never across an await), so relaying never waits on a slow peer: a peer
//! whose queue is full is dropped from the room and its session ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::protocol::{PeerInfo, ServerMessage};

/// Messages queued per connection before it counts as too slow.
pub const QUEUE: usize = 256;

/// What a session is asked to do by the room.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    Send(ServerMessage),
    /// Close the connection, telling the client why (an error code).
    Close(&'static str),
}

struct Member {
    conn: u64,
    info: PeerInfo,
    tx: mpsc::Sender<Outbound>,
}

#[derive(Default)]
struct Room {
    members: Vec<Member>,
}

impl Room {
    /// Queues a message to one member; false if its queue is full or gone.
    fn deliver(member: &Member, message: Outbound) -> bool {
        member.tx.try_send(message).is_ok()
    }

    /// Queues a message to every member but `except`, dropping those that
    /// cannot take it. Returns how many got it.
    fn broadcast(&mut self, except: &str, message: &ServerMessage) -> usize {
        let mut sent = 0;
        self.members.retain(|m| {
            if m.info.id == except {
                return true;
            }
            let ok = Self::deliver(m, Outbound::Send(message.clone()));
            sent += usize::from(ok);
            ok
        });
        sent
    }
}

/// The outcome of a join.
#[derive(Debug)]
pub struct Joined {
    /// This connection's number, to leave with.
    pub conn: u64,
    /// Whether it replaced an earlier connection of the same participant.
    pub replaced: bool,
    /// The others in the room.
    pub peers: Vec<PeerInfo>,
}

/// Why a relay did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error("no peer {0} is in this room")]
    UnknownPeer(String),
    #[error("the peer {0} is not keeping up and was dropped")]
    PeerTooSlow(String),
}

/// Every room of this node. Cheap to clone.
#[derive(Clone, Default)]
pub struct Rooms {
    rooms: Arc<Mutex<HashMap<String, Room>>>,
    next_conn: Arc<AtomicU64>,
}

impl Rooms {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        // A panic while holding the lock leaves plain data behind; carry on.
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a connection for `peer`, replacing (and closing) any earlier one
    /// of the same participant, and tells the others.
    pub fn join(&self, room: &str, peer: PeerInfo, tx: mpsc::Sender<Outbound>) -> Joined {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut rooms = self.lock();
        let entry = rooms.entry(room.to_owned()).or_default();
        let mut replaced = false;
        entry.members.retain(|m| {
            if m.info.id == peer.id {
                replaced = true;
                let _ = m.tx.try_send(Outbound::Close("replaced"));
                false
            } else {
                true
            }
        });
        let peers = entry.members.iter().map(|m| m.info.clone()).collect();
        entry.broadcast(
            &peer.id,
            &ServerMessage::PeerJoined {
                peer: peer.clone(),
                reconnect: replaced,
            },
        );
        entry.members.push(Member {
            conn,
            info: peer,
            tx,
        });
        Joined {
            conn,
            replaced,
            peers,
        }
    }

    /// Removes connection `conn` of `peer` if it is still the current one
    /// (a replaced connection leaves nothing), telling the others. Returns
    /// the ids still present, or `None` if this connection was not a member.
    pub fn leave(&self, room: &str, peer: &str, conn: u64, reason: &str) -> Option<Vec<String>> {
        let mut rooms = self.lock();
        let entry = rooms.get_mut(room)?;
        let at = entry
            .members
            .iter()
            .position(|m| m.info.id == peer && m.conn == conn)?;
        let member = entry.members.remove(at);
        entry.broadcast(
            peer,
            &ServerMessage::PeerLeft {
                peer: member.info,
                reason: reason.to_owned(),
            },
        );
        let present: Vec<String> = entry.members.iter().map(|m| m.info.id.clone()).collect();
        if entry.members.is_empty() {
            rooms.remove(room);
        }
        Some(present)
    }

    /// Sends a message from `from` to `to`, or to every other member.
    pub fn relay(
        &self,
        room: &str,
        from: &str,
        to: Option<&str>,
        message: ServerMessage,
    ) -> Result<usize, RelayError> {
        let mut rooms = self.lock();
        let Some(entry) = rooms.get_mut(room) else {
            return Err(RelayError::UnknownPeer(to.unwrap_or_default().to_owned()));
        };
        match to {
            None => Ok(entry.broadcast(from, &message)),
            Some(to) => {
                let at = entry
                    .members
                    .iter()
                    .position(|m| m.info.id == to && m.info.id != from)
                    .ok_or_else(|| RelayError::UnknownPeer(to.to_owned()))?;
                if Room::deliver(&entry.members[at], Outbound::Send(message)) {
                    Ok(1)
                } else {
                    entry.members.remove(at);
                    Err(RelayError::PeerTooSlow(to.to_owned()))
                }
            }
        }
    }

    /// The ids of the participants connected to a room on this node.
    pub fn present(&self, room: &str) -> Vec<String> {
        self.lock()
            .get(room)
            .map(|r| r.members.iter().map(|m| m.info.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Connections on this node, for the metrics.
    pub fn connections(&self) -> usize {
        self.lock().values().map(|r| r.members.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str) -> PeerInfo {
        PeerInfo {
            id: id.into(),
            name: format!("user {id}"),
        }
    }

    #[test]
    fn a_reconnect_replaces_the_old_connection_and_the_other_side_is_told() {
        let rooms = Rooms::new();
        let (a_tx, mut a_rx) = mpsc::channel(QUEUE);
        let (b_tx, mut b_rx) = mpsc::channel(QUEUE);
        let (b2_tx, _b2_rx) = mpsc::channel(QUEUE);
        let a = rooms.join("c1", peer("a"), a_tx);
        let b = rooms.join("c1", peer("b"), b_tx);
        assert!(a.peers.is_empty());
        assert_eq!(b.peers, vec![peer("a")]);
        assert!(matches!(
            a_rx.try_recv(),
            Ok(Outbound::Send(ServerMessage::PeerJoined {
                reconnect: false,
                ..
            }))
        ));

        let again = rooms.join("c1", peer("b"), b2_tx);
        assert!(again.replaced);
        assert_eq!(b_rx.try_recv(), Ok(Outbound::Close("replaced")));
        assert!(matches!(
            a_rx.try_recv(),
            Ok(Outbound::Send(ServerMessage::PeerJoined {
                reconnect: true,
                ..
            }))
        ));
        // The replaced connection's leave changes nothing.
        assert_eq!(rooms.leave("c1", "b", b.conn, "gone"), None);
        assert_eq!(rooms.present("c1"), vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            rooms.leave("c1", "b", again.conn, "left"),
            Some(vec!["a".to_owned()])
        );
        assert_eq!(rooms.leave("c1", "a", a.conn, "left"), Some(vec![]));
        assert_eq!(rooms.connections(), 0);
    }

    #[test]
    fn relays_to_one_peer_or_all_others_and_refuses_unknown_peers() {
        let rooms = Rooms::new();
        let (a_tx, _a_rx) = mpsc::channel(QUEUE);
        let (b_tx, mut b_rx) = mpsc::channel(QUEUE);
        rooms.join("c1", peer("a"), a_tx);
        rooms.join("c1", peer("b"), b_tx);
        let offer = ServerMessage::Offer {
            from: "a".into(),
            sdp: "v=0".into(),
        };
        assert_eq!(rooms.relay("c1", "a", Some("b"), offer.clone()), Ok(1));
        assert_eq!(b_rx.try_recv(), Ok(Outbound::Send(offer.clone())));
        assert_eq!(rooms.relay("c1", "a", None, offer.clone()), Ok(1));
        assert_eq!(
            rooms.relay("c1", "a", Some("z"), offer.clone()),
            Err(RelayError::UnknownPeer("z".into()))
        );
        assert_eq!(
            rooms.relay("c1", "a", Some("a"), offer),
            Err(RelayError::UnknownPeer("a".into())),
            "not to oneself"
        );
    }

    #[test]
    fn a_peer_that_stops_reading_is_dropped_not_waited_for() {
        let rooms = Rooms::new();
        let (a_tx, _a_rx) = mpsc::channel(QUEUE);
        let (b_tx, _b_rx) = mpsc::channel(1);
        rooms.join("c1", peer("b"), b_tx);
        rooms.join("c1", peer("a"), a_tx); // fills b's queue with peer-joined
        let offer = ServerMessage::Offer {
            from: "a".into(),
            sdp: "v=0".into(),
        };
        assert_eq!(
            rooms.relay("c1", "a", Some("b"), offer),
            Err(RelayError::PeerTooSlow("b".into()))
        );
        assert_eq!(rooms.present("c1"), vec!["a".to_owned()]);
    }
}
