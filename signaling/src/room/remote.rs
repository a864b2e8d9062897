//! The bus side of a room: what another node's event changes in this node's
//! view of a room that spans nodes.

use super::{Outbound, Room, Rooms};
use crate::bus::{BusEvent, BusKind};
use crate::protocol::{PeerInfo, ServerMessage};

impl Rooms {
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
                entry.add_remote(from_node, peer, true);
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
                entry.add_remote(from_node.clone(), peer, false);
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
                    entry.add_remote(from_node.clone(), peer, false);
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
                    entry.add_remote(from_node.clone(), recorder, true);
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
}
