//! The signalling protocol, version 1: JSON text frames, one message each,
//! tagged by `type`. Documented for client authors in `signaling/PROTOCOL.md`.
//!
//! A client speaks first with `join`; the server answers `joined` with the
//! peers already in the room and tells them `peer-joined`. Then `offer`,
//! `answer` and `ice-candidate` are relayed to one peer (`to`) or to every
//! other peer, stamped with `from`. `stats` reports the client's link, and
//! the room announces `link-quality` when it turns poor or recovers
//! ([`crate::link`]). `chat` tells the room that someone wrote in the
//! call's chat. `ping` is answered with `pong`; `leave` ends the
//! session. Anything else, or anything malformed, is answered with
//! `error` and counted; the connection stays open.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::link::{LinkStats, Quality};

/// The protocol version this server speaks.
pub const VERSION: u32 = 1;

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message of a session: the protocol version the client speaks.
    Join {
        /// The protocol version; a session refuses any but [`VERSION`].
        v: u32,
    },
    /// An SDP offer, to one peer or to all others.
    Offer {
        /// The session description, relayed untouched.
        sdp: String,
        /// The peer id it is for; absent, every other peer in the room.
        #[serde(default)]
        to: Option<String>,
    },
    /// An SDP answer.
    Answer {
        /// The session description, relayed untouched.
        sdp: String,
        /// The peer id whose offer it answers; absent, every other peer.
        #[serde(default)]
        to: Option<String>,
    },
    /// A trickled ICE candidate, as the browser's `RTCIceCandidateInit`
    /// (relayed as it is), or `null` for the end of candidates.
    IceCandidate {
        /// The candidate object, or `null` when gathering is complete.
        candidate: Value,
        /// The peer id it is for; absent, every other peer in the room.
        #[serde(default)]
        to: Option<String>,
    },
    /// Application heartbeat; answered with `pong` carrying the same `id`.
    Ping {
        /// Any JSON value the client uses to match the `pong`.
        #[serde(default)]
        id: Option<Value>,
    },
    /// The client's WebRTC statistics, every few seconds during a call.
    Stats {
        /// Round-trip time to the other peer, in milliseconds.
        #[serde(default)]
        rtt_ms: Option<f64>,
        /// Fraction of packets lost since the last report, 0.0 to 1.0.
        #[serde(default)]
        loss: Option<f64>,
        /// Bitrate the client is receiving, in kilobits per second.
        #[serde(default)]
        bitrate_kbps: Option<f64>,
    },
    /// Consent to recording this call (`true`), or its withdrawal. The call
    /// is recorded only while every participant present has consented.
    Consent {
        /// `true` to consent, `false` to withdraw consent given earlier.
        recording: bool,
    },
    /// The client is done; the server closes the session.
    Leave,
}

/// A participant as the others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Stable for the participant (their user id), so a reconnect is the same peer.
    pub id: String,
    /// The name shown on the other side's screen (the account's display name).
    pub name: String,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// The answer to `join`: the client is in the room.
    Joined {
        /// The protocol version the server speaks ([`VERSION`]).
        v: u32,
        /// The room's name, one per consultation.
        room: String,
        /// The joining participant, as the others see them.
        you: PeerInfo,
        /// Who was already in the room, so the newcomer knows whom to offer to.
        peers: Vec<PeerInfo>,
        /// Who has consented to recording so far.
        consents: Vec<String>,
        /// The recorder's peer id while the call is being recorded: offer
        /// it your tracks as on `recording` `started`.
        #[serde(skip_serializing_if = "Option::is_none")]
        recording: Option<String>,
    },
    /// Someone came in. `reconnect` says they replaced their own earlier
    /// connection (a browser restart, a network change): the media path is
    /// gone, so the side that offers should restart ICE.
    PeerJoined {
        /// Who came in.
        peer: PeerInfo,
        /// Whether they replaced their own earlier connection.
        reconnect: bool,
    },
    /// Someone's session ended; their peer connection can be closed.
    PeerLeft {
        /// Who went.
        peer: PeerInfo,
        /// Why: `left` when they said so; otherwise how the session ended:
        /// `disconnected`, `timeout` (no heartbeat), `too_slow` (could not
        /// keep up with the room), `signed_out`.
        reason: String,
    },
    /// A relayed SDP offer.
    Offer {
        /// The peer id of the sender.
        from: String,
        /// The session description, as the sender wrote it.
        sdp: String,
    },
    /// A relayed SDP answer.
    Answer {
        /// The peer id of the sender.
        from: String,
        /// The session description, as the sender wrote it.
        sdp: String,
    },
    /// A relayed ICE candidate, or `null` for the end of the sender's candidates.
    IceCandidate {
        /// The peer id of the sender.
        from: String,
        /// The candidate as the sender's browser produced it.
        candidate: Value,
    },
    /// The answer to `ping`: the session is alive.
    Pong {
        /// The `ping`'s `id`, echoed.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
    },
    /// A peer's link turned poor or recovered: to everyone, the peer too, so
    /// the clients can fall back to audio first (or back to video).
    LinkQuality {
        /// The peer id whose link changed.
        peer: String,
        /// The link as the room now judges it.
        quality: Quality,
        /// The figures the judgement rests on, as the peer reported them.
        #[serde(flatten)]
        stats: LinkStats,
    },
    /// A participant consented to recording, or withdrew: to everyone.
    Consent {
        /// The peer id who consented or withdrew.
        peer: String,
        /// `true` for consent, `false` for withdrawal.
        recording: bool,
    },
    /// The recording indicator. `started`: the server's recorder (`peer`)
    /// waits for each participant's send-only offer; `stopped`: close that
    /// connection, nothing more is recorded.
    Recording {
        /// Whether recording started or stopped.
        state: RecordingState,
        /// The recorder's peer id.
        peer: String,
        /// Why it stopped (for example `consent_withdrawn`); absent on start.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Someone wrote in the call's chat, which the server keeps with the
    /// consultation: ask it for what is newer than the last message held.
    /// The words themselves never pass through signalling.
    Chat {
        /// The new message's id.
        id: i64,
        /// The author's peer id.
        from: String,
    },
    /// A message refused (the session stays open), or why the server is
    /// ending the session (`signed_out`, `replaced`).
    Error {
        /// A stable, machine-readable reason (for example `malformed`, `too_large`).
        code: String,
        /// What went wrong, for a person reading the client's log.
        message: String,
    },
}

/// Whether the call is being recorded, as the recording indicator shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingState {
    /// Every participant present consented and the recorder joined.
    Started,
    /// Someone withdrew consent, someone without consent came in, or the
    /// call ended: nothing more is recorded.
    Stopped,
}

impl ServerMessage {
    /// Part of negotiating a peer connection, rather than news of the room.
    pub fn is_negotiation(&self) -> bool {
        matches!(
            self,
            ServerMessage::Offer { .. }
                | ServerMessage::Answer { .. }
                | ServerMessage::IceCandidate { .. }
        )
    }

    /// The recording indicator: the recorder `recorder` joined the room.
    pub fn recording_started(recorder: &str) -> Self {
        ServerMessage::Recording {
            state: RecordingState::Started,
            peer: recorder.to_owned(),
            reason: None,
        }
    }

    /// The recording indicator: the recorder `recorder` left, for `reason`.
    pub fn recording_stopped(recorder: &str, reason: impl Into<String>) -> Self {
        ServerMessage::Recording {
            state: RecordingState::Stopped,
            peer: recorder.to_owned(),
            reason: Some(reason.into()),
        }
    }

    /// A refusal of the client's last message, with a stable `code`.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Parses one text frame; the error is what to tell the client.
pub fn parse(text: &str) -> Result<ClientMessage, String> {
    serde_json::from_str(text).map_err(|e| format!("not a protocol message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_client_message_and_refuses_strangers() {
        assert_eq!(
            parse(r#"{"type":"join","v":1}"#),
            Ok(ClientMessage::Join { v: 1 })
        );
        assert_eq!(
            parse(r#"{"type":"ice-candidate","candidate":null,"to":"7"}"#),
            Ok(ClientMessage::IceCandidate {
                candidate: Value::Null,
                to: Some("7".into())
            })
        );
        assert_eq!(
            parse(r#"{"type":"consent","recording":false}"#),
            Ok(ClientMessage::Consent { recording: false })
        );
        assert!(parse(r#"{"type":"consent"}"#).is_err(), "say yes or no");
        assert!(parse(r#"{"type":"offer"}"#).is_err(), "sdp is required");
        assert!(parse(r#"{"type":"offer","sdp":"x","extra":1}"#).is_err());
        assert!(parse(r#"{"type":"shout"}"#).is_err());
        assert!(parse("not json").is_err());
    }

    #[test]
    fn server_messages_are_tagged_in_kebab_case() {
        let text = serde_json::to_string(&ServerMessage::PeerJoined {
            peer: PeerInfo {
                id: "3".into(),
                name: "Dr. Lin".into(),
            },
            reconnect: true,
        })
        .expect("serialises");
        assert_eq!(
            text,
            r#"{"type":"peer-joined","peer":{"id":"3","name":"Dr. Lin"},"reconnect":true}"#
        );
    }
}
