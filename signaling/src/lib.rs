//! Signalling for Ferry's video consultations: how two browsers (or a
//! browser and a server-side peer) find each other.
//!
//! - [`bus`]: the events nodes exchange so that a room spans nodes.
//! - [`origin`]: which web pages may open a signalling WebSocket.
//! - [`link`]: how the room judges a peer's link from the statistics it reports.
//! - [`protocol`]: the versioned JSON messages (`signaling/PROTOCOL.md`).
//! - [`room`]: who is connected to which room on this node, and the relay
//!   between them; a reconnect replaces the participant's old connection.
//! - [`session`]: one WebSocket connection: join, relay, limits, heartbeat.
//! - [`turn`]: time-limited TURN credentials in the TURN REST scheme that
//!   coturn's `use-auth-secret` accepts.
//!
//! It depends on neither `ferry-server` nor `ferry-dicom-store`. Who may join
//! which room is decided by the server before the upgrade; what happens in a
//! room reaches the server through [`session::Hooks`].

#![warn(missing_docs)]

pub mod bus;
pub mod link;
pub mod origin;
pub mod protocol;
pub mod room;
pub mod session;
pub mod turn;
