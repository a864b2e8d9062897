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
    /// The room it concerns, one per consultation.
    pub room: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: BusKind,
}

/// What happened in a room on the node that publishes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum BusKind {
    /// A participant connected to the room on `node` (replacing any earlier
    /// connection of theirs, wherever it was), or, with `recorder`, the
    /// room's recorder started there.
    Joined {
        /// Who connected.
        peer: PeerInfo,
        /// The peer is the room's recorder, not a participant.
        #[serde(default)]
        recorder: bool,
    },
    /// The answer to `joined`: who is connected on `node`, for `to_node`,
    /// and the consents the room holds.
    Present {
        /// The participants connected on `node`.
        peers: Vec<PeerInfo>,
        /// The recorders running on `node` for this room.
        #[serde(default)]
        recorders: Vec<PeerInfo>,
        /// The peer ids that have consented to recording.
        #[serde(default)]
        consents: Vec<String>,
        /// The node that announced `joined` and is catching up.
        to_node: String,
    },
    /// A participant on `node` consented to recording, or withdrew.
    Consent {
        /// The peer id.
        peer: String,
        /// `true` for consent, `false` for its withdrawal.
        given: bool,
    },
    /// A participant's connection on `node` ended.
    Left {
        /// Who left.
        peer: PeerInfo,
        /// How the session ended, as in [`ServerMessage::PeerLeft`].
        reason: String,
    },
    /// A message for one participant (`to`) or for all but `from`.
    Relay {
        /// The sender's peer id.
        from: String,
        /// The one recipient's peer id; `None` for everyone but the sender.
        to: Option<String>,
        /// The message as the recipients' sessions send it.
        message: ServerMessage,
    },
}
