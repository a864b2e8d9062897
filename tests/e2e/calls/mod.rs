//! Video calls: signalling over WebSockets, real WebRTC peers, the TURN
//! relay, and consented recording.

mod chat;
mod peers;
mod recording;
mod relay;
mod signalling;
