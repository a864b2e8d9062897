//! A webrtc-rs peer that meets others only through Ferry's signalling
//! socket ([`Side`]), with or without media, and a data channel round trip
//! to prove two peers are connected.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Registry;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceGatheringState,
    RTCPeerConnectionIceEvent, RTCSessionDescription, SettingEngineBuilder,
};

use crate::support::calls::{join, send, Socket};
use crate::support::{TestApp, TestUser};

/// Long enough for a debug build's DTLS handshake on a busy two-core
/// machine; short enough that a broken negotiation fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A candidate the peer connection gathered, or `None` when it has no more.
pub type Gathered = Option<RTCIceCandidateInit>;

/// What the peer connection reports, handed to the side's relay task.
pub struct Events {
    pub gathered: mpsc::UnboundedSender<Gathered>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        // A candidate that cannot be serialised is never sent; the test then
        // fails on the channel not opening, which is the symptom that matters.
        if let Ok(candidate) = event.candidate.to_json() {
            let _ = self.gathered.send(Some(candidate));
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(None);
        }
    }

    /// Only the answering side is offered channels: it echoes what arrives.
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        tokio::spawn(echo(channel));
    }
}

/// [`Events`], and the remote media tracks as they open, for the test to read.
struct MediaEvents {
    events: Events,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for MediaEvents {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        self.events.on_ice_candidate(event).await;
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.events.on_ice_gathering_state_change(state).await;
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        self.events.on_data_channel(channel).await;
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

async fn echo(channel: Arc<dyn DataChannel>) {
    while let Some(event) = channel.poll().await {
        if let DataChannelEvent::OnMessage(message) = event {
            let text = String::from_utf8_lossy(&message.data).into_owned();
            if channel.send_text(&text).await.is_err() {
                return;
            }
        }
    }
}

/// What a side can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    DataOnly,
    /// VP8 video and Opus audio, what a browser sends by default.
    Vp8Opus,
}

/// A peer connection with host candidates on loopback only: no STUN or TURN
/// (there is no network to reach), and no mDNS, which needs a multicast
/// interface that a loopback-only machine lacks.
async fn peer_connection(media: Media, events: MediaEvents) -> Arc<dyn PeerConnection> {
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let builder = PeerConnectionBuilder::new()
        .with_setting_engine(settings)
        .with_handler(Arc::new(events))
        .with_udp_addrs(vec!["127.0.0.1:0"]);
    let builder = match media {
        Media::DataOnly => builder,
        Media::Vp8Opus => {
            let mut engine = MediaEngine::default();
            engine
                .register_codec(codec(MIME_TYPE_VP8, 90_000, 0, 96), RtpCodecKind::Video)
                .expect("VP8 registers");
            engine
                .register_codec(codec(MIME_TYPE_OPUS, 48_000, 2, 111), RtpCodecKind::Audio)
                .expect("Opus registers");
            // Receiver reports and NACKs go back to the sender, as from any
            // browser it would call.
            let registry = register_default_interceptors(Registry::new(), &mut engine)
                .expect("the default interceptors");
            builder
                .with_media_engine(engine)
                .with_interceptor_registry(registry)
        }
    };
    Arc::new(
        builder
            .build()
            .await
            .expect("a peer connection on loopback"),
    )
}

fn codec(
    mime_type: &str,
    clock_rate: u32,
    channels: u16,
    payload_type: u8,
) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime_type.to_owned(),
            clock_rate,
            channels,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type,
    }
}

/// One participant of the call: a peer connection whose signalling a task
/// carries over the participant's Ferry socket.
pub struct Side {
    pc: Arc<dyn PeerConnection>,
    outbox: mpsc::UnboundedSender<Value>,
    /// Ferry's messages other than the negotiation the relay handles itself.
    notices: mpsc::UnboundedReceiver<Value>,
    /// The remote tracks, as they open.
    tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
    /// Remote candidates that arrived through Ferry.
    trickled: Arc<AtomicUsize>,
    stop: oneshot::Sender<()>,
    relay: JoinHandle<Socket>,
}

impl Side {
    pub async fn join(app: &TestApp, user: &TestUser, id: i64) -> (Side, Value) {
        Side::join_with(app, user, id, Media::DataOnly).await
    }

    pub async fn join_with(app: &TestApp, user: &TestUser, id: i64, media: Media) -> (Side, Value) {
        let (socket, joined) = join(app, user, id).await;
        (Side::start_with(socket, media).await, joined)
    }

    /// A fresh peer connection signalling over `socket`.
    pub async fn start(socket: Socket) -> Side {
        Side::start_with(socket, Media::DataOnly).await
    }

    pub async fn start_with(socket: Socket, media: Media) -> Side {
        // Every peer connection has its own channels, so a late candidate from
        // a closed one can never reach the peer that replaced it.
        let (gathered_tx, gathered) = mpsc::unbounded_channel();
        let (tracks_tx, tracks) = mpsc::unbounded_channel();
        let (outbox, outgoing) = mpsc::unbounded_channel();
        let (notices_tx, notices) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let events = MediaEvents {
            events: Events {
                gathered: gathered_tx,
            },
            tracks: tracks_tx,
        };
        let pc = peer_connection(media, events).await;
        let trickled = Arc::new(AtomicUsize::new(0));
        let relay = Relay {
            pc: Arc::clone(&pc),
            notices: notices_tx,
            trickled: Arc::clone(&trickled),
            early: Vec::new(),
        };
        let relay = tokio::spawn(relay.run(socket, gathered, outgoing, stopped));
        Side {
            pc,
            outbox,
            notices,
            tracks,
            trickled,
            stop,
            relay,
        }
    }

    /// The next message from Ferry that is not part of the negotiation.
    pub async fn notice(&mut self) -> Value {
        timeout(PATIENCE, self.notices.recv())
            .await
            .expect("a message from Ferry in time")
            .expect("the relay is running")
    }

    /// The first remote track of `kind` to open; tracks of other kinds that
    /// open first are left unread.
    pub async fn track(&mut self, kind: RtpCodecKind) -> Arc<dyn TrackRemote> {
        let wanted = async {
            while let Some(track) = self.tracks.recv().await {
                if track.kind().await == kind {
                    return track;
                }
            }
            panic!("the peer connection ended before a {kind} track opened");
        };
        timeout(PATIENCE, wanted)
            .await
            .expect("the remote track opens in time")
    }

    /// Opens a data channel and sends the offer that negotiates it.
    pub async fn call(&self) -> (Arc<dyn DataChannel>, RTCSessionDescription) {
        let channel = self
            .pc
            .create_data_channel("consultation", None)
            .await
            .expect("a data channel");
        let offer = self.pc.create_offer(None).await.expect("an offer");
        self.pc
            .set_local_description(offer.clone())
            .await
            .expect("the offer applies locally");
        self.outbox
            .send(json!({ "type": "offer", "sdp": offer.sdp }))
            .expect("the relay is running");
        (channel, offer)
    }

    pub fn trickled(&self) -> usize {
        self.trickled.load(Ordering::Relaxed)
    }

    /// Closes the peer connection and stops relaying, handing back the socket
    /// still open. On tokio a dropped peer connection's driver keeps running
    /// detached, so it is closed to be really gone.
    pub async fn stop(self) -> Socket {
        self.pc.close().await.expect("the peer connection closes");
        let _ = self.stop.send(());
        self.relay.await.expect("the relay ends without panicking")
    }
}

/// The relay task's state: what it needs to answer offers and apply
/// candidates as they arrive, concurrently with whatever the test awaits.
struct Relay {
    pc: Arc<dyn PeerConnection>,
    notices: mpsc::UnboundedSender<Value>,
    trickled: Arc<AtomicUsize>,
    /// Candidates can overtake the description they belong to (each side
    /// gathers while its own description is still on the way), and a peer
    /// connection refuses them until it has one, so they wait here.
    early: Vec<RTCIceCandidateInit>,
}

impl Relay {
    async fn run(
        mut self,
        mut socket: Socket,
        mut gathered: mpsc::UnboundedReceiver<Gathered>,
        mut outgoing: mpsc::UnboundedReceiver<Value>,
        mut stopped: oneshot::Receiver<()>,
    ) -> Socket {
        loop {
            tokio::select! {
                _ = &mut stopped => return socket,
                Some(candidate) = gathered.recv() => {
                    let candidate = match candidate {
                        Some(candidate) => json!(self.described(candidate).await),
                        None => Value::Null,
                    };
                    send(&mut socket, json!({ "type": "ice-candidate", "candidate": candidate })).await;
                }
                Some(message) = outgoing.recv() => send(&mut socket, message).await,
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let message = serde_json::from_str(&text).expect("Ferry sends JSON");
                        if let Some(reply) = self.receive(message).await {
                            send(&mut socket, reply).await;
                        }
                    }
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => return socket,
                },
            }
        }
    }

    /// Applies a negotiation message, returning the reply it calls for;
    /// anything else is passed on to the test.
    async fn receive(&mut self, message: Value) -> Option<Value> {
        match message["type"].as_str() {
            Some("offer") => {
                let offer = RTCSessionDescription::offer(sdp(&message)).expect("an offer");
                self.pc
                    .set_remote_description(offer)
                    .await
                    .expect("the offer applies");
                let answer = self.pc.create_answer(None).await.expect("an answer");
                self.pc
                    .set_local_description(answer.clone())
                    .await
                    .expect("the answer applies locally");
                self.add_early().await;
                Some(json!({ "type": "answer", "sdp": answer.sdp, "to": message["from"] }))
            }
            Some("answer") => {
                let answer = RTCSessionDescription::answer(sdp(&message)).expect("an answer");
                self.pc
                    .set_remote_description(answer)
                    .await
                    .expect("the answer applies");
                self.add_early().await;
                None
            }
            Some("ice-candidate") => {
                // `null` is the end of candidates, which is an empty one here.
                let candidate = match &message["candidate"] {
                    Value::Null => RTCIceCandidateInit::default(),
                    candidate => {
                        self.trickled.fetch_add(1, Ordering::Relaxed);
                        serde_json::from_value(candidate.clone()).expect("an RTCIceCandidateInit")
                    }
                };
                if self.pc.remote_description().await.is_some() {
                    self.add(candidate).await;
                } else {
                    self.early.push(candidate);
                }
                None
            }
            _ => {
                let _ = self.notices.send(message);
                None
            }
        }
    }

    async fn add(&self, candidate: RTCIceCandidateInit) {
        self.pc
            .add_ice_candidate(candidate)
            .await
            .expect("the candidate applies");
    }

    async fn add_early(&mut self) {
        for candidate in std::mem::take(&mut self.early) {
            self.add(candidate).await;
        }
    }

    /// webrtc-rs leaves `sdpMid` empty and `usernameFragment` unset; a browser
    /// on the other end needs the mid to place the candidate, and the ufrag
    /// tells this ICE generation's candidates from an earlier one's.
    async fn described(&self, mut candidate: RTCIceCandidateInit) -> RTCIceCandidateInit {
        if let Some(local) = self.pc.local_description().await {
            candidate.sdp_mid = attribute(&local.sdp, "mid").or(candidate.sdp_mid);
            candidate.username_fragment = attribute(&local.sdp, "ice-ufrag");
        }
        candidate
    }
}

fn sdp(message: &Value) -> String {
    message["sdp"].as_str().expect("an sdp").to_owned()
}

/// The first `a=<name>:<value>` of a session description.
fn attribute(sdp: &str, name: &str) -> Option<String> {
    sdp.lines().find_map(|line| {
        let value = line
            .strip_prefix("a=")?
            .strip_prefix(name)?
            .strip_prefix(':')?;
        Some(value.trim().to_owned())
    })
}

/// Sends `text` once the channel opens and returns what comes back first.
pub async fn round_trip(channel: &dyn DataChannel, text: &str) -> String {
    let echoed = async {
        while let Some(event) = channel.poll().await {
            match event {
                DataChannelEvent::OnOpen => channel.send_text(text).await.expect("sent"),
                DataChannelEvent::OnMessage(message) => {
                    return String::from_utf8(message.data.to_vec()).expect("a text message")
                }
                _ => continue,
            }
        }
        panic!("the data channel closed before the echo came back");
    };
    timeout(PATIENCE, echoed)
        .await
        .expect("the channel opens and the echo comes back in time")
}
