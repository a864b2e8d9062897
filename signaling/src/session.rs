//! One participant's WebSocket session: join, then relay until they leave,
//! drop, fall silent, or are replaced by their own reconnect.
//!
//! Limits are per connection: a message size cap (also set on the upgrade,
//! so an oversized frame never reaches memory whole), a token-bucket rate
//! limit, and a heartbeat: the server pings every third of `idle_timeout`
//! and ends a session that sends nothing, not even the pong browsers send by
//! themselves, for `idle_timeout`. Malformed messages are answered with
//! `error` and counted through [`Hooks::malformed`]; they never end a session.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::{interval, sleep_until, Instant, MissedTickBehavior};

use crate::link::{LinkStats, Quality};
use crate::protocol::{self, ClientMessage, PeerInfo, ServerMessage, VERSION};
use crate::room::{Outbound, RelayError, Rooms, QUEUE};

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest text frame accepted; a larger one is refused unread
    /// (`too_large`), since SDP and candidates are a few kilobytes at most.
    pub max_message_bytes: usize,
    /// Sustained messages per second, and the burst above it.
    pub messages_per_second: u32,
    /// Messages allowed at once above the sustained rate, for the flurry
    /// of candidates at the start of a call.
    pub burst: u32,
    /// Silence after which a connection is taken for dead.
    pub idle_timeout: Duration,
    /// How long a new connection has to send `join`.
    pub join_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            messages_per_second: 20,
            burst: 60,
            idle_timeout: Duration::from_secs(30),
            join_timeout: Duration::from_secs(10),
        }
    }
}

/// What the server wants to hear about. `present` is who is connected to
/// the room afterwards (participant ids).
pub trait Hooks: Send + Sync {
    /// `peer` joined `room` (or replaced their own earlier connection). From
    /// `present` the server tells whether the call has begun, to record it.
    fn joined<'a>(
        &'a self,
        room: &'a str,
        peer: &'a str,
        present: Vec<String>,
    ) -> BoxFuture<'a, ()>;
    /// `peer`'s session in `room` ended. From `present` the server tells
    /// whether the call is over, and whether recording may continue.
    fn left<'a>(&'a self, room: &'a str, peer: &'a str, present: Vec<String>) -> BoxFuture<'a, ()>;
    /// A message was refused: malformed, unknown, too big or too fast.
    fn malformed(&self, room: &str, code: &str);
    /// Resolves when the caller's sign-in has ended (signed out, expired,
    /// deactivated, password changed): the session is then closed with
    /// `signed_out` and code 4003. The server decides what ends a sign-in;
    /// by default nothing does.
    fn ended(&self) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
    /// A participant consented to recording (`given`) or withdrew; `wanted`
    /// is whether every participant present now consents.
    fn consent<'a>(
        &'a self,
        room: &'a str,
        peer: &'a str,
        given: bool,
        wanted: bool,
    ) -> BoxFuture<'a, ()> {
        let _ = (room, peer, given, wanted);
        Box::pin(async {})
    }
}

/// Who this session is, decided by the server before the upgrade.
#[derive(Debug, Clone)]
pub struct Participant {
    /// The room: the consultation whose call this is.
    pub room: String,
    /// The participant as the others in the room see them.
    pub peer: PeerInfo,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self, limits: &Limits) -> bool {
        let now = Instant::now();
        let refill =
            now.duration_since(self.last).as_secs_f64() * f64::from(limits.messages_per_second);
        self.tokens = (self.tokens + refill).min(f64::from(limits.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> bool {
    match serde_json::to_string(message) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
}

/// Tells the client why, then closes: its sign-in is over, and it cannot
/// connect again with the same token.
async fn signed_out(socket: &mut WebSocket) {
    send(
        socket,
        &ServerMessage::error("signed_out", "your sign-in has ended; sign in again"),
    )
    .await;
    close(socket, 4003, "signed out").await;
}

/// Waits for `join`; false if the session should end instead.
async fn await_join(
    socket: &mut WebSocket,
    limits: &Limits,
    hooks: &dyn Hooks,
    room: &str,
    ended: &mut BoxFuture<'static, ()>,
) -> bool {
    let deadline = Instant::now() + limits.join_timeout;
    loop {
        let frame = tokio::select! {
            frame = socket.recv() => frame,
            () = &mut *ended => {
                signed_out(socket).await;
                return false;
            }
            () = sleep_until(deadline) => {
                send(socket, &ServerMessage::error("join_timeout", "send join first")).await;
                close(socket, 1008, "join timeout").await;
                return false;
            }
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return false,
        };
        match protocol::parse(&text) {
            Ok(ClientMessage::Join { v }) if v == VERSION => return true,
            Ok(ClientMessage::Join { v }) => {
                hooks.malformed(room, "unsupported_version");
                let message = format!("this server speaks protocol version {VERSION}, not {v}");
                send(
                    socket,
                    &ServerMessage::error("unsupported_version", message),
                )
                .await;
                close(socket, 1008, "unsupported version").await;
                return false;
            }
            Ok(_) => {
                hooks.malformed(room, "join_first");
                send(
                    socket,
                    &ServerMessage::error("join_first", "send join first"),
                )
                .await;
            }
            Err(message) => {
                hooks.malformed(room, "malformed");
                send(socket, &ServerMessage::error("malformed", message)).await;
            }
        }
    }
}

/// Runs a session to its end, then leaves the room.
pub async fn serve(
    mut socket: WebSocket,
    rooms: Rooms,
    who: Participant,
    limits: Limits,
    hooks: Arc<dyn Hooks>,
) {
    let room = who.room.as_str();
    let mut ended = hooks.ended();
    if !await_join(&mut socket, &limits, hooks.as_ref(), room, &mut ended).await {
        return;
    }
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let joined = rooms.join(room, who.peer.clone(), tx);
    let welcome = ServerMessage::Joined {
        v: VERSION,
        room: room.to_owned(),
        you: who.peer.clone(),
        peers: joined.peers,
        consents: joined.consents,
        recording: joined.recording,
    };
    hooks.joined(room, &who.peer.id, rooms.present(room)).await;
    let reason = if send(&mut socket, &welcome).await {
        run(
            &mut socket,
            &rooms,
            &who,
            &limits,
            hooks.as_ref(),
            &mut rx,
            &mut ended,
        )
        .await
    } else {
        "disconnected"
    };
    rooms.leave(room, &who.peer.id, joined.conn, reason);
    hooks.left(room, &who.peer.id, rooms.present(room)).await;
}

/// The relay loop; returns why it ended.
async fn run(
    socket: &mut WebSocket,
    rooms: &Rooms,
    who: &Participant,
    limits: &Limits,
    hooks: &dyn Hooks,
    rx: &mut mpsc::Receiver<Outbound>,
    ended: &mut BoxFuture<'static, ()>,
) -> &'static str {
    let room = who.room.as_str();
    let me = who.peer.id.as_str();
    let mut bucket = Bucket {
        tokens: f64::from(limits.burst),
        last: Instant::now(),
    };
    let mut heartbeat = interval(limits.idle_timeout / 3);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut heard = Instant::now();
    let mut quality = Quality::Good;
    loop {
        tokio::select! {
            () = &mut *ended => {
                signed_out(socket).await;
                return "signed_out";
            }
            queued = rx.recv() => match queued {
                Some(Outbound::Send(message)) => {
                    if !send(socket, &message).await {
                        return "disconnected";
                    }
                }
                Some(Outbound::Close(code)) => {
                    send(socket, &ServerMessage::error(code, "this connection was replaced by a newer one")).await;
                    close(socket, 4000, "replaced").await;
                    return code;
                }
                None => {
                    close(socket, 4001, "too slow").await;
                    return "too_slow";
                }
            },
            _ = heartbeat.tick() => {
                if heard.elapsed() >= limits.idle_timeout {
                    close(socket, 4002, "timeout").await;
                    return "timeout";
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return "disconnected";
                }
            }
            frame = socket.recv() => {
                heard = Instant::now();
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        hooks.malformed(room, "text_only");
                        send(socket, &ServerMessage::error("text_only", "send JSON text frames")).await;
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None => return "disconnected",
                    // A reset connection, or a frame over the size limit,
                    // which the socket refuses before reading it whole.
                    Some(Err(_)) => return "disconnected",
                };
                if text.len() > limits.max_message_bytes {
                    hooks.malformed(room, "too_large");
                    send(socket, &ServerMessage::error("too_large", format!("messages are at most {} bytes", limits.max_message_bytes))).await;
                    continue;
                }
                if !bucket.take(limits) {
                    hooks.malformed(room, "rate_limited");
                    send(socket, &ServerMessage::error("rate_limited", "too many messages; slow down")).await;
                    continue;
                }
                let (to, relayed) = match protocol::parse(&text) {
                    Ok(ClientMessage::Offer { sdp, to }) => (to, ServerMessage::Offer { from: me.to_owned(), sdp }),
                    Ok(ClientMessage::Answer { sdp, to }) => (to, ServerMessage::Answer { from: me.to_owned(), sdp }),
                    Ok(ClientMessage::IceCandidate { candidate, to }) => {
                        (to, ServerMessage::IceCandidate { from: me.to_owned(), candidate })
                    }
                    Ok(ClientMessage::Ping { id }) => {
                        send(socket, &ServerMessage::Pong { id }).await;
                        continue;
                    }
                    Ok(ClientMessage::Stats { rtt_ms, loss, bitrate_kbps }) => {
                        let stats = LinkStats { rtt_ms, loss, bitrate_kbps };
                        if !stats.is_valid() {
                            hooks.malformed(room, "malformed");
                            send(socket, &ServerMessage::error("malformed", "stats out of range")).await;
                            continue;
                        }
                        let now = stats.assess(quality);
                        if now != quality {
                            quality = now;
                            let notice = ServerMessage::LinkQuality { peer: me.to_owned(), quality, stats };
                            let _ = rooms.relay(room, me, None, notice.clone());
                            send(socket, &notice).await;
                        }
                        continue;
                    }
                    Ok(ClientMessage::Consent { recording }) => {
                        if let Some(wanted) = rooms.consent(room, me, recording) {
                            hooks.consent(room, me, recording, wanted).await;
                        }
                        continue;
                    }
                    Ok(ClientMessage::Leave) => return "left",
                    Ok(ClientMessage::Join { .. }) => {
                        hooks.malformed(room, "already_joined");
                        send(socket, &ServerMessage::error("already_joined", "this session has joined already")).await;
                        continue;
                    }
                    Err(message) => {
                        hooks.malformed(room, "malformed");
                        send(socket, &ServerMessage::error("malformed", message)).await;
                        continue;
                    }
                };
                if let Err(err) = rooms.relay(room, me, to.as_deref(), relayed) {
                    let code = match err {
                        RelayError::UnknownPeer(_) => "unknown_peer",
                        RelayError::PeerTooSlow(_) => "peer_too_slow",
                    };
                    send(socket, &ServerMessage::error(code, err.to_string())).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bucket_allows_a_burst_then_the_sustained_rate() {
        let limits = Limits {
            messages_per_second: 10,
            burst: 3,
            ..Limits::default()
        };
        let mut bucket = Bucket {
            tokens: 3.0,
            last: Instant::now(),
        };
        assert!((0..3).all(|_| bucket.take(&limits)));
        assert!(!bucket.take(&limits), "the burst is spent");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(bucket.take(&limits), "one more after a tenth of a second");
    }
}
