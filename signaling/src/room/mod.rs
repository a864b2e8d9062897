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

mod remote;

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
    /// Send this message to the client.
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

    /// Files a member connected to another node.
    fn add_remote(&mut self, node: String, info: PeerInfo, recorder: bool) {
        self.remote.insert(
            info.id.clone(),
            Remote {
                node,
                info,
                recorder,
            },
        );
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
    /// The addressee (`to`) is not in the room, here or on another node:
    /// they left, or the sender's view of the room is stale.
    #[error("no peer {0} is in this room")]
    UnknownPeer(String),
    /// The addressee's queue was full, so they were dropped from the room
    /// rather than let the sender wait on them.
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

    /// Rooms whose participants all consent to recording and that no node
    /// records yet. A consent heard from another node can complete the set
    /// without any participant here doing anything, so the server asks
    /// this on a timer as well as on its participants' own moves.
    pub fn awaiting_recorder(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, room)| room.recording_wanted() && room.recorder().is_none())
            .map(|(name, _)| name.clone())
            .collect()
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

    /// Tells everyone in the room, on every node, of something done outside
    /// signalling (a message written in the call's chat). Nobody in the
    /// room, nobody to tell.
    pub fn announce(&self, room: &str, message: ServerMessage) {
        let _ = self.relay(room, "", None, message);
    }

    /// The id of the room's recorder, on any node, while it records.
    pub fn recorder(&self, room: &str) -> Option<String> {
        self.lock().get(room).and_then(Room::recorder)
    }

    /// The ids of the participants connected to a room, on any node.
    pub fn present(&self, room: &str) -> Vec<String> {
        self.lock().get(room).map(Room::present).unwrap_or_default()
    }

    /// Announces every connection of this node to the other nodes again, as
    /// if each had just joined: for when they took this node for dead and
    /// dropped its participants from their rooms. Returns each room with
    /// the participants (not recorders) connected to it here.
    pub fn announce_again(&self) -> Vec<(String, Vec<PeerInfo>)> {
        let members: Vec<(String, PeerInfo, bool)> = self
            .lock()
            .iter()
            .flat_map(|(room, entry)| {
                entry
                    .members
                    .iter()
                    .map(|m| (room.clone(), m.info.clone(), m.recorder))
            })
            .collect();
        let mut here: Vec<(String, Vec<PeerInfo>)> = Vec::new();
        for (room, peer, recorder) in members {
            if !recorder {
                match here.iter_mut().find(|(r, _)| *r == room) {
                    Some((_, peers)) => peers.push(peer.clone()),
                    None => here.push((room.clone(), vec![peer.clone()])),
                }
            }
            self.publish(&room, BusKind::Joined { peer, recorder });
        }
        here
    }

    /// Connections on this node, for the metrics.
    pub fn connections(&self) -> usize {
        self.lock().values().map(|r| r.members.len()).sum()
    }

    /// Rooms with anyone in them, on this node or another, for the metrics.
    pub fn rooms(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests;
