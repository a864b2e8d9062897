//! Rooms on this node: who is connected to which room, and a channel to
//! each connection. A participant is one member however many times they
//! reconnect: a new connection replaces the old one, which is told to close.
//!
//! The lock is a plain mutex held only to change the map and queue messages
//! (never across an await), so relaying never waits on a slow peer: a peer
//! whose queue is full is dropped from the room and its session ends.
//!
//! With a bus ([`Rooms::with_bus`]), a room spans nodes: each node keeps its
//! own connections as members and the other nodes' as remote members, learnt
//! from [`BusEvent`]s, and publishes what happens to its own. A message for a
//! remote member goes out on the bus for its node to deliver.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::bus::{BusEvent, BusKind};
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
    /// Participants connected to other nodes: id → (node, who).
    remote: HashMap<String, (String, PeerInfo)>,
}

impl Room {
    fn present(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| m.info.id.clone())
            .chain(self.remote.keys().cloned())
            .collect()
    }

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
    /// This node's name and the queue of events for the other nodes.
    bus: Option<(String, mpsc::UnboundedSender<BusEvent>)>,
}

impl Rooms {
    /// Rooms of a single node.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rooms shared with other nodes: what happens here is queued on
    /// `events` (for the server to publish, in order), and what the other
    /// nodes publish comes back through [`Rooms::receive`].
    pub fn with_bus(node: String, events: mpsc::UnboundedSender<BusEvent>) -> Self {
        Self {
            bus: Some((node, events)),
            ..Self::default()
        }
    }

    fn publish(&self, room: &str, kind: BusKind) {
        if let Some((node, events)) = &self.bus {
            let _ = events.send(BusEvent {
                node: node.clone(),
                room: room.to_owned(),
                kind,
            });
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        // A panic while holding the lock leaves plain data behind; carry on.
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a connection for `peer`, replacing (and closing) any earlier one
    /// of the same participant, here or on another node, and tells the others.
    pub fn join(&self, room: &str, peer: PeerInfo, tx: mpsc::Sender<Outbound>) -> Joined {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut rooms = self.lock();
        let entry = rooms.entry(room.to_owned()).or_default();
        let mut replaced = entry.remote.remove(&peer.id).is_some();
        entry.members.retain(|m| {
            if m.info.id == peer.id {
                replaced = true;
                let _ = m.tx.try_send(Outbound::Close("replaced"));
                false
            } else {
                true
            }
        });
        let peers = entry
            .members
            .iter()
            .map(|m| m.info.clone())
            .chain(entry.remote.values().map(|(_, info)| info.clone()))
            .collect();
        entry.broadcast(
            &peer.id,
            &ServerMessage::PeerJoined {
                peer: peer.clone(),
                reconnect: replaced,
            },
        );
        entry.members.push(Member {
            conn,
            info: peer.clone(),
            tx,
        });
        drop(rooms);
        self.publish(room, BusKind::Joined { peer });
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
                peer: member.info.clone(),
                reason: reason.to_owned(),
            },
        );
        let present = entry.present();
        if entry.members.is_empty() && entry.remote.is_empty() {
            rooms.remove(room);
        }
        drop(rooms);
        self.publish(
            room,
            BusKind::Left {
                peer: member.info,
                reason: reason.to_owned(),
            },
        );
        Some(present)
    }

    /// Sends a message from `from` to `to`, or to every other member,
    /// wherever they are connected.
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
        let sent = match to {
            None => {
                let local = entry.broadcast(from, &message);
                let remote = entry.remote.len();
                drop(rooms);
                if remote > 0 {
                    self.publish(
                        room,
                        BusKind::Relay {
                            from: from.to_owned(),
                            to: None,
                            message,
                        },
                    );
                }
                return Ok(local + remote);
            }
            Some(to) if to == from => return Err(RelayError::UnknownPeer(to.to_owned())),
            Some(to) => match entry.members.iter().position(|m| m.info.id == to) {
                Some(at) => {
                    if Room::deliver(&entry.members[at], Outbound::Send(message)) {
                        1
                    } else {
                        entry.members.remove(at);
                        return Err(RelayError::PeerTooSlow(to.to_owned()));
                    }
                }
                None if entry.remote.contains_key(to) => {
                    drop(rooms);
                    self.publish(
                        room,
                        BusKind::Relay {
                            from: from.to_owned(),
                            to: Some(to.to_owned()),
                            message,
                        },
                    );
                    1
                }
                None => return Err(RelayError::UnknownPeer(to.to_owned())),
            },
        };
        Ok(sent)
    }

    /// Applies another node's event to this node's view of its room.
    pub fn receive(&self, event: BusEvent) {
        let from_node = match &self.bus {
            Some((node, _)) if *node == event.node => return,
            _ => event.node,
        };
        let room = event.room;
        let mut rooms = self.lock();
        match event.kind {
            BusKind::Joined { peer } => {
                let entry = rooms.entry(room.clone()).or_default();
                let mut replaced = entry.remote.remove(&peer.id).is_some();
                entry.members.retain(|m| {
                    if m.info.id == peer.id {
                        replaced = true;
                        let _ = m.tx.try_send(Outbound::Close("replaced"));
                        false
                    } else {
                        true
                    }
                });
                entry.broadcast(
                    &peer.id,
                    &ServerMessage::PeerJoined {
                        peer: peer.clone(),
                        reconnect: replaced,
                    },
                );
                entry
                    .remote
                    .insert(peer.id.clone(), (from_node.clone(), peer));
                let here: Vec<PeerInfo> = entry.members.iter().map(|m| m.info.clone()).collect();
                drop(rooms);
                if !here.is_empty() {
                    self.publish(
                        &room,
                        BusKind::Present {
                            peers: here,
                            to_node: from_node,
                        },
                    );
                }
            }
            BusKind::Present { peers, to_node } => {
                if self.bus.as_ref().map(|(node, _)| node) != Some(&to_node) {
                    return;
                }
                let Some(entry) = rooms.get_mut(&room) else {
                    return;
                };
                for peer in peers {
                    if entry.remote.contains_key(&peer.id)
                        || entry.members.iter().any(|m| m.info.id == peer.id)
                    {
                        continue;
                    }
                    entry.broadcast(
                        &peer.id,
                        &ServerMessage::PeerJoined {
                            peer: peer.clone(),
                            reconnect: false,
                        },
                    );
                    entry
                        .remote
                        .insert(peer.id.clone(), (from_node.clone(), peer));
                }
            }
            BusKind::Left { peer, reason } => {
                let Some(entry) = rooms.get_mut(&room) else {
                    return;
                };
                // Only if they are still connected there, not already back elsewhere.
                if entry
                    .remote
                    .get(&peer.id)
                    .is_some_and(|(node, _)| *node == from_node)
                {
                    entry.remote.remove(&peer.id);
                    let id = peer.id.clone();
                    entry.broadcast(&id, &ServerMessage::PeerLeft { peer, reason });
                }
                if entry.members.is_empty() && entry.remote.is_empty() {
                    rooms.remove(&room);
                }
            }
            BusKind::Relay { from, to, message } => {
                let Some(entry) = rooms.get_mut(&room) else {
                    return;
                };
                match to {
                    None => {
                        entry.broadcast(&from, &message);
                    }
                    Some(to) => {
                        if let Some(at) = entry.members.iter().position(|m| m.info.id == to) {
                            if !Room::deliver(&entry.members[at], Outbound::Send(message)) {
                                entry.members.remove(at);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The ids of the participants connected to a room, on any node.
    pub fn present(&self, room: &str) -> Vec<String> {
        self.lock().get(room).map(Room::present).unwrap_or_default()
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

    /// Delivers every event one node queued to the other.
    fn pump(events: &mut mpsc::UnboundedReceiver<BusEvent>, to: &Rooms) -> usize {
        let mut n = 0;
        while let Ok(event) = events.try_recv() {
            to.receive(event);
            n += 1;
        }
        n
    }

    fn kind(rx: &mut mpsc::Receiver<Outbound>) -> Option<ServerMessage> {
        match rx.try_recv() {
            Ok(Outbound::Send(message)) => Some(message),
            _ => None,
        }
    }

    #[test]
    fn a_room_spans_two_nodes_and_a_reconnect_moves_a_participant_between_them() {
        let (a_bus, mut a_events) = mpsc::unbounded_channel();
        let (b_bus, mut b_events) = mpsc::unbounded_channel();
        let a = Rooms::with_bus("a".into(), a_bus);
        let b = Rooms::with_bus("b".into(), b_bus);
        let (x_tx, mut x_rx) = mpsc::channel(QUEUE);
        let (y_tx, mut y_rx) = mpsc::channel(QUEUE);
        a.join("c1", peer("x"), x_tx);
        pump(&mut a_events, &b);
        let y = b.join("c1", peer("y"), y_tx);
        assert_eq!(y.peers, vec![peer("x")], "x, on the other node, is listed");
        pump(&mut b_events, &a); // y joined
        assert!(matches!(
            kind(&mut x_rx),
            Some(ServerMessage::PeerJoined {
                reconnect: false,
                ..
            })
        ));
        pump(&mut a_events, &b); // a's present answer: nothing new for b
        assert_eq!(kind(&mut y_rx), None);
        assert_eq!(a.present("c1"), vec!["x".to_owned(), "y".to_owned()]);

        let offer = ServerMessage::Offer {
            from: "y".into(),
            sdp: "v=0".into(),
        };
        assert_eq!(b.relay("c1", "y", Some("x"), offer.clone()), Ok(1));
        pump(&mut b_events, &a);
        assert_eq!(kind(&mut x_rx), Some(offer));

        // x comes back on node b: a closes its old connection, y hears of a reconnect.
        let (x2_tx, _x2_rx) = mpsc::channel(QUEUE);
        let again = b.join("c1", peer("x"), x2_tx);
        assert!(again.replaced);
        assert!(matches!(
            kind(&mut y_rx),
            Some(ServerMessage::PeerJoined {
                reconnect: true,
                ..
            })
        ));
        pump(&mut b_events, &a);
        assert_eq!(x_rx.try_recv(), Ok(Outbound::Close("replaced")));
        assert_eq!(b.present("c1"), vec!["y".to_owned(), "x".to_owned()]);

        // y leaves: a forgets it too.
        b.leave("c1", "y", y.conn, "left");
        pump(&mut b_events, &a);
        assert_eq!(a.present("c1"), vec!["x".to_owned()]);
    }
}
