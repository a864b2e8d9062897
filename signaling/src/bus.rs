//! What nodes tell each other so that participants connected to different
//! nodes share one room. Each node publishes what happens to its own
//! connections; every other node applies it to its view of the room
//! ([`crate::room::Rooms::receive`]). The transport is the server's choice
//! (PostgreSQL LISTEN/NOTIFY when nodes share PostgreSQL); this crate only
//! produces and consumes the events, in order per node.

use serde::{Deserialize, Serialize};

use crate::protocol::{PeerInfo, ServerMessage};

/// One event from one node about one room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusEvent {
    /// The node it comes from; a node ignores its own.
    pub node: String,
    pub room: String,
    #[serde(flatten)]
    pub kind: BusKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum BusKind {
    /// A participant connected to the room on `node` (replacing any earlier
    /// connection of theirs, wherever it was), or, with `recorder`, the
    /// room's recorder started there.
    Joined {
        peer: PeerInfo,
        #[serde(default)]
        recorder: bool,
    },
    /// The answer to `joined`: who is connected on `node`, for `to_node`,
    /// and the consents the room holds.
    Present {
        peers: Vec<PeerInfo>,
        #[serde(default)]
        recorders: Vec<PeerInfo>,
        #[serde(default)]
        consents: Vec<String>,
        to_node: String,
    },
    /// A participant on `node` consented to recording, or withdrew.
    Consent { peer: String, given: bool },
    /// A participant's connection on `node` ended.
    Left { peer: PeerInfo, reason: String },
    /// A message for one participant (`to`) or for all but `from`.
    Relay {
        from: String,
        to: Option<String>,
        message: ServerMessage,
    },
}
