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
//!
//! A room also holds its participants' consents to recording, and at most
//! one recorder: a member that is not a participant. It is not announced as
//! a peer; it hears the room's news but not the negotiation between
//! participants, and participants reach it by its id.

use std::collections::{BTreeSet, HashMap};
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
    recorder: bool,
}

/// A member connected to another node.
struct Remote {
    node: String,
    info: PeerInfo,
    recorder: bool,
}

#[derive(Default)]
struct Room {
    members: Vec<Member>,
    /// Members connected to other nodes, by id.
    remote: HashMap<String, Remote>,
    /// Participants who consent to recording, wherever they are connected.
    consents: BTreeSet<String>,
}

impl Room {
    /// The participants (not the recorder), here and on other nodes.
    fn participants(&self) -> Vec<PeerInfo> {
        self.members
            .iter()
            .filter(|m| !m.recorder)
            .map(|m| m.info.clone())
            .chain(
                self.remote
                    .values()
                    .filter(|r| !r.recorder)
                    .map(|r| r.info.clone()),
            )
            .collect()
    }

    fn present(&self) -> Vec<String> {
        self.participants().into_iter().map(|p| p.id).collect()
    }

    fn recorder(&self) -> Option<String> {
        self.members
            .iter()
            .find(|m| m.recorder)
            .map(|m| m.info.id.clone())
            .or_else(|| {
                self.remote
                    .values()
                    .find(|r| r.recorder)
                    .map(|r| r.info.id.clone())
            })
    }

    /// Recording needs two or more participants, every one consenting.
    fn recording_wanted(&self) -> bool {
        let present = self.present();
        present.len() >= 2 && present.iter().all(|id| self.consents.contains(id))
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.remote.is_empty()
    }

    /// Queues a message to one member; false if its queue is full or gone.
    fn deliver(member: &Member, message: Outbound) -> bool {
        member.tx.try_send(message).is_ok()
    }

    /// Queues a message to every member but `except`, dropping those that
    /// cannot take it; the recorder is spared the participants' negotiation.
    /// Returns how many got it.
    fn broadcast(&mut self, except: &str, message: &ServerMessage) -> usize {
        let negotiation = message.is_negotiation();
        let mut sent = 0;
        self.members.retain(|m| {
            if m.info.id == except || (m.recorder && negotiation) {
                return true;
            }
            let ok = Self::deliver(m, Outbound::Send(message.clone()));
            sent += usize::from(ok);
            ok
        });
        sent
    }

    /// Drops the connection of `id` on this node, if any, telling it why.
    fn close_local(&mut self, id: &str) -> bool {
        let mut closed = false;
        self.members.retain(|m| {
            if m.info.id == id {
                closed = true;
                let _ = m.tx.try_send(Outbound::Close("replaced"));
                false
            } else {
                true
            }
        });
        closed
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
    /// Who has consented to recording.
    pub consents: Vec<String>,
    /// The recorder's id, while the call is being recorded.
    pub recording: Option<String>,
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
        let remote = entry.remote.remove(&peer.id).is_some();
        let replaced = entry.close_local(&peer.id) || remote;
        let peers = entry.participants();
        let consents = entry.consents.iter().cloned().collect();
        let recording = entry.recorder();
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
            recorder: false,
        });
        drop(rooms);
        self.publish(
            room,
            BusKind::Joined {
                peer,
                recorder: false,
            },
        );
        Joined {
            conn,
            replaced,
            peers,
            consents,
            recording,
        }
    }

    /// Removes connection `conn` of `peer` if it is still the current one
    /// (a replaced connection leaves nothing), telling the others. A
    /// participant who leaves takes their consent with them. Returns the
    /// participants still present, or `None` if this connection was not a
    /// member.
    pub fn leave(&self, room: &str, peer: &str, conn: u64, reason: &str) -> Option<Vec<String>> {
        let mut rooms = self.lock();
        let entry = rooms.get_mut(room)?;
        let at = entry
            .members
            .iter()
            .position(|m| m.info.id == peer && m.conn == conn)?;
        let member = entry.members.remove(at);
        let notice = if member.recorder {
            ServerMessage::recording_stopped(&member.info.id, reason)
        } else {
            entry.consents.remove(peer);
            ServerMessage::PeerLeft {
                peer: member.info.clone(),
                reason: reason.to_owned(),
            }
        };
        entry.broadcast(peer, &notice);
        let present = entry.present();
        if entry.is_empty() {
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

    /// Records a participant's consent to recording, or its withdrawal, and
    /// tells everyone, the participant too. Returns whether recording is
    /// now wanted, or `None` if `peer` is not connected here.
    pub fn consent(&self, room: &str, peer: &str, given: bool) -> Option<bool> {
        let mut rooms = self.lock();
        let entry = rooms.get_mut(room)?;
        if !entry
            .members
            .iter()
            .any(|m| m.info.id == peer && !m.recorder)
        {
            return None;
        }
        if given {
            entry.consents.insert(peer.to_owned());
        } else {
            entry.consents.remove(peer);
        }
        entry.broadcast(
            "",
            &ServerMessage::Consent {
                peer: peer.to_owned(),
                recording: given,
            },
        );
        let wanted = entry.recording_wanted();
        drop(rooms);
        self.publish(
            room,
            BusKind::Consent {
                peer: peer.to_owned(),
                given,
            },
        );
        Some(wanted)
    }

    /// Whether every participant present (two or more) consents to recording.
    pub fn recording_wanted(&self, room: &str) -> bool {
        self.lock().get(room).is_some_and(Room::recording_wanted)
    }

    /// Adds the room's recorder and turns on every participant's recording
    /// indicator. `None` if the room is gone or already has a recorder, on
    /// any node.
    pub fn attach_recorder(
        &self,
        room: &str,
        recorder: PeerInfo,
        tx: mpsc::Sender<Outbound>,
    ) -> Option<u64> {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut rooms = self.lock();
        let entry = rooms.get_mut(room)?;
        if entry.recorder().is_some() || entry.present().is_empty() {
            return None;
        }
        entry.broadcast(
            &recorder.id,
            &ServerMessage::recording_started(&recorder.id),
        );
        entry.members.push(Member {
            conn,
            info: recorder.clone(),
            tx,
            recorder: true,
        });
        drop(rooms);
        self.publish(
            room,
            BusKind::Joined {
                peer: recorder,
                recorder: true,
            },
        );
        Some(conn)
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
            BusKind::Joined {
                peer,
                recorder: true,
            } => {
                let entry = rooms.entry(room.clone()).or_default();
                entry.broadcast(&peer.id, &ServerMessage::recording_started(&peer.id));
                entry.remote.insert(
                    peer.id.clone(),
                    Remote {
                        node: from_node,
                        info: peer,
                        recorder: true,
                    },
                );
            }
            BusKind::Joined {
                peer,
                recorder: false,
            } => {
                let entry = rooms.entry(room.clone()).or_default();
                let remote = entry.remote.remove(&peer.id).is_some();
                let replaced = entry.close_local(&peer.id) || remote;
                entry.broadcast(
                    &peer.id,
                    &ServerMessage::PeerJoined {
                        peer: peer.clone(),
                        reconnect: replaced,
                    },
                );
                entry.remote.insert(
                    peer.id.clone(),
                    Remote {
                        node: from_node.clone(),
                        info: peer,
                        recorder: false,
                    },
                );
                let (here, recorders): (Vec<_>, Vec<_>) =
                    entry.members.iter().partition(|m| !m.recorder);
                let here: Vec<PeerInfo> = here.into_iter().map(|m| m.info.clone()).collect();
                let recorders: Vec<PeerInfo> =
                    recorders.into_iter().map(|m| m.info.clone()).collect();
                let consents = entry.consents.iter().cloned().collect();
                drop(rooms);
                if !here.is_empty() || !recorders.is_empty() {
                    self.publish(
                        &room,
                        BusKind::Present {
                            peers: here,
                            recorders,
                            consents,
                            to_node: from_node,
                        },
                    );
                }
            }
            BusKind::Present {
                peers,
                recorders,
                consents,
                to_node,
            } => {
                if self.bus.as_ref().map(|(node, _)| node) != Some(&to_node) {
                    return;
                }
                let Some(entry) = rooms.get_mut(&room) else {
                    return;
                };
                entry.consents.extend(consents);
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
                    entry.remote.insert(
                        peer.id.clone(),
                        Remote {
                            node: from_node.clone(),
                            info: peer,
                            recorder: false,
                        },
                    );
                }
                for recorder in recorders {
                    if entry.recorder().is_some() {
                        break;
                    }
                    // Whoever joined here did so without hearing of it.
                    entry.broadcast(
                        &recorder.id,
                        &ServerMessage::recording_started(&recorder.id),
                    );
                    entry.remote.insert(
                        recorder.id.clone(),
                        Remote {
                            node: from_node.clone(),
                            info: recorder,
                            recorder: true,
                        },
                    );
                }
            }
            BusKind::Left { peer, reason } => {
                let Some(entry) = rooms.get_mut(&room) else {
                    return;
                };
                // Only if they are still connected there, not already back elsewhere.
                let gone = entry
                    .remote
                    .get(&peer.id)
                    .filter(|r| r.node == from_node)
                    .map(|r| r.recorder);
                if let Some(recorder) = gone {
                    entry.remote.remove(&peer.id);
                    let id = peer.id.clone();
                    let notice = if recorder {
                        ServerMessage::recording_stopped(&id, reason)
                    } else {
                        entry.consents.remove(&id);
                        ServerMessage::PeerLeft { peer, reason }
                    };
                    entry.broadcast(&id, &notice);
                }
                if entry.is_empty() {
                    rooms.remove(&room);
                }
            }
            BusKind::Consent { peer, given } => {
                let Some(entry) = rooms.get_mut(&room) else {
                    return;
                };
                if given {
                    entry.consents.insert(peer.clone());
                } else {
                    entry.consents.remove(&peer);
                }
                entry.broadcast(
                    "",
                    &ServerMessage::Consent {
                        peer,
                        recording: given,
                    },
                );
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

    /// The id of the room's recorder, on any node, while it records.
    pub fn recorder(&self, room: &str) -> Option<String> {
        self.lock().get(room).and_then(Room::recorder)
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
    use crate::protocol::RecordingState;

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

    fn recorder() -> PeerInfo {
        PeerInfo {
            id: "recorder".into(),
            name: "Recorder".into(),
        }
    }

    #[test]
    fn recording_is_wanted_only_while_every_participant_consents() {
        let rooms = Rooms::new();
        let (a_tx, mut a_rx) = mpsc::channel(QUEUE);
        let (b_tx, mut b_rx) = mpsc::channel(QUEUE);
        let a = rooms.join("c1", peer("a"), a_tx);
        assert_eq!(rooms.consent("c1", "a", true), Some(false), "alone");
        assert_eq!(rooms.consent("c1", "z", true), None, "not here");
        let b = rooms.join("c1", peer("b"), b_tx);
        assert_eq!(b.consents, vec!["a".to_owned()]);
        assert!(!rooms.recording_wanted("c1"));
        assert_eq!(rooms.consent("c1", "b", true), Some(true));
        let mut heard = Vec::new();
        while let Some(message) = kind(&mut a_rx) {
            if let ServerMessage::Consent { peer, recording } = message {
                heard.push((peer, recording));
            }
        }
        assert_eq!(heard, vec![("a".into(), true), ("b".into(), true)]);
        assert!(
            matches!(
                kind(&mut b_rx),
                Some(ServerMessage::Consent {
                    recording: true,
                    ..
                })
            ),
            "the one who consents hears it too"
        );

        assert_eq!(rooms.consent("c1", "a", false), Some(false), "withdrawn");
        assert_eq!(rooms.consent("c1", "a", true), Some(true));
        // A participant who leaves takes the consent along.
        rooms.leave("c1", "b", b.conn, "left");
        let (b2_tx, _b2_rx) = mpsc::channel(QUEUE);
        let again = rooms.join("c1", peer("b"), b2_tx);
        assert_eq!(again.consents, vec!["a".to_owned()]);
        assert!(!rooms.recording_wanted("c1"));
        rooms.leave("c1", "a", a.conn, "left");
    }

    #[test]
    fn the_recorder_is_no_participant_and_is_spared_the_negotiation() {
        let rooms = Rooms::new();
        let (a_tx, mut a_rx) = mpsc::channel(QUEUE);
        let (b_tx, mut b_rx) = mpsc::channel(QUEUE);
        let (r_tx, mut r_rx) = mpsc::channel(QUEUE);
        rooms.join("c1", peer("a"), a_tx);
        rooms.join("c1", peer("b"), b_tx);
        while kind(&mut a_rx).is_some() {}
        while kind(&mut b_rx).is_some() {}
        let conn = rooms
            .attach_recorder("c1", recorder(), r_tx)
            .expect("the first recorder");
        let (r2_tx, _r2_rx) = mpsc::channel(QUEUE);
        assert_eq!(rooms.attach_recorder("c1", recorder(), r2_tx), None);
        assert_eq!(
            rooms.attach_recorder("gone", recorder(), mpsc::channel(1).0),
            None
        );
        for rx in [&mut a_rx, &mut b_rx] {
            assert_eq!(
                kind(rx),
                Some(ServerMessage::Recording {
                    state: RecordingState::Started,
                    peer: "recorder".into(),
                    reason: None
                })
            );
        }
        assert_eq!(rooms.present("c1"), vec!["a".to_owned(), "b".to_owned()]);

        let offer = ServerMessage::Offer {
            from: "a".into(),
            sdp: "v=0".into(),
        };
        assert_eq!(rooms.relay("c1", "a", None, offer.clone()), Ok(1), "b only");
        assert_eq!(kind(&mut r_rx), None);
        assert_eq!(
            rooms.relay("c1", "a", Some("recorder"), offer.clone()),
            Ok(1)
        );
        assert_eq!(kind(&mut r_rx), Some(offer));
        rooms.consent("c1", "a", true);
        assert!(matches!(
            kind(&mut r_rx),
            Some(ServerMessage::Consent { .. })
        ));

        let (c_tx, _c_rx) = mpsc::channel(QUEUE);
        let c = rooms.join("c1", peer("c"), c_tx);
        assert_eq!(c.recording.as_deref(), Some("recorder"));
        assert_eq!(c.peers, vec![peer("a"), peer("b")]);

        rooms.leave("c1", "recorder", conn, "consent_withdrawn");
        let last = std::iter::from_fn(|| kind(&mut b_rx)).last();
        assert!(matches!(
            last,
            Some(ServerMessage::Recording { state: RecordingState::Stopped, reason: Some(reason), .. })
                if reason == "consent_withdrawn"
        ));
    }

    #[test]
    fn consents_and_the_recorder_reach_the_other_node() {
        let (a_bus, mut a_events) = mpsc::unbounded_channel();
        let (b_bus, mut b_events) = mpsc::unbounded_channel();
        let a = Rooms::with_bus("a".into(), a_bus);
        let b = Rooms::with_bus("b".into(), b_bus);
        let (x_tx, _x_rx) = mpsc::channel(QUEUE);
        let (r_tx, mut r_rx) = mpsc::channel(QUEUE);
        let (y_tx, mut y_rx) = mpsc::channel(QUEUE);
        a.join("c1", peer("x"), x_tx);
        a.consent("c1", "x", true);
        pump(&mut a_events, &b);
        b.join("c1", peer("y"), y_tx);
        pump(&mut b_events, &a);
        pump(&mut a_events, &b); // present, with x's consent
        assert_eq!(b.consent("c1", "y", true), Some(true));
        pump(&mut b_events, &a);
        assert!(a.recording_wanted("c1"));

        a.attach_recorder("c1", recorder(), r_tx)
            .expect("a recorder");
        pump(&mut a_events, &b);
        while let Some(message) = kind(&mut y_rx) {
            if let ServerMessage::Recording { state, .. } = message {
                assert_eq!(state, RecordingState::Started);
            }
        }
        let answer = ServerMessage::Answer {
            from: "y".into(),
            sdp: "v=0".into(),
        };
        assert_eq!(b.relay("c1", "y", Some("recorder"), answer.clone()), Ok(1));
        pump(&mut b_events, &a);
        while let Some(message) = kind(&mut r_rx) {
            if message.is_negotiation() {
                assert_eq!(message, answer);
            }
        }
        // y withdraws on b; a, where the recorder runs, learns of it.
        assert_eq!(b.consent("c1", "y", false), Some(false));
        pump(&mut b_events, &a);
        assert!(!a.recording_wanted("c1"));
        assert!(matches!(
            kind(&mut r_rx),
            Some(ServerMessage::Consent {
                recording: false,
                ..
            })
        ));
    }
}
