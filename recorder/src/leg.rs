//! One participant's send-only connection to the recorder, and the tasks
//! writing its tracks.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Registry;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::transport::RTCIceServer;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCSessionDescription, SettingEngineBuilder,
};

use crate::ivf::Pushed;
use crate::sink::Sink;
use crate::{webrtc, Config, Error, Gathered, MediaKind, RecordedFile};

type Sinks = Arc<Mutex<Vec<Arc<Mutex<Sink>>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked writer leaves a file behind, not broken state to fear.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The answer's first media id and ICE username fragment, which a browser
/// needs on each candidate and webrtc-rs leaves out.
type Described = Arc<Mutex<(Option<String>, Option<String>)>>;

pub(crate) struct Leg {
    pc: Arc<dyn PeerConnection>,
    sinks: Sinks,
    described: Described,
}

struct Handler {
    participant: String,
    gathered: mpsc::UnboundedSender<Gathered>,
    described: Described,
    sinks: Sinks,
    /// The file name's stem: `<participant>-<connection>`.
    stem: String,
    dir: std::path::PathBuf,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Ok(mut candidate) = event.candidate.to_json() else {
            return;
        };
        let (mid, ufrag) = lock(&self.described).clone();
        candidate.sdp_mid = mid.or(candidate.sdp_mid);
        candidate.sdp_mline_index = Some(0);
        candidate.username_fragment = ufrag;
        if let Ok(candidate) = serde_json::to_value(candidate) {
            let _ = self.gathered.send(Gathered {
                participant: self.participant.clone(),
                candidate,
            });
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(Gathered {
                participant: self.participant.clone(),
                candidate: serde_json::Value::Null,
            });
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = match track.kind().await {
            RtpCodecKind::Video => MediaKind::Video,
            RtpCodecKind::Audio => MediaKind::Audio,
            _ => return,
        };
        let path = self.dir.join(format!(
            "{}-{}.{}",
            self.stem,
            kind.as_str(),
            kind.extension()
        ));
        let sink = match Sink::create(&self.participant, kind, path) {
            Ok(sink) => Arc::new(Mutex::new(sink)),
            Err(error) => {
                tracing::warn!(%error, participant = %self.participant, "cannot open a recording file");
                return;
            }
        };
        lock(&self.sinks).push(Arc::clone(&sink));
        tokio::spawn(write(track, sink));
    }
}

/// Key frame requests at most this often: one answered request is enough,
/// and the sender needs a moment to encode it.
const KEY_FRAME_ASKED_EVERY: Duration = Duration::from_millis(300);

/// Writes a track's packets until it ends or its sink is closed.
async fn write(track: Arc<dyn TrackRemote>, sink: Arc<Mutex<Sink>>) {
    let mut asked: Option<Instant> = None;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let pushed = lock(&sink).write(&packet);
        match pushed {
            Ok(Some(Pushed::NeedKeyFrame)) => {
                if asked.is_some_and(|at| at.elapsed() < KEY_FRAME_ASKED_EVERY) {
                    continue;
                }
                asked = Some(Instant::now());
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: packet.header.ssrc,
                };
                let _ = track.write_rtcp(vec![Box::new(pli)]).await;
            }
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "writing a recording failed; the track is no longer recorded");
                return;
            }
        }
    }
}

/// Only what the recorder can write: VP8 and Opus.
fn media_engine() -> Result<MediaEngine, Error> {
    let mut engine = MediaEngine::default();
    let codecs = [
        (
            MIME_TYPE_OPUS,
            48_000,
            2,
            "minptime=10;useinbandfec=1",
            111,
            RtpCodecKind::Audio,
        ),
        (MIME_TYPE_VP8, 90_000, 0, "", 96, RtpCodecKind::Video),
    ];
    for (mime, clock_rate, channels, fmtp, payload_type, kind) in codecs {
        engine
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: RTCRtpCodec {
                        mime_type: mime.to_owned(),
                        clock_rate,
                        channels,
                        sdp_fmtp_line: fmtp.to_owned(),
                        rtcp_feedback: vec![],
                    },
                    payload_type,
                },
                kind,
            )
            .map_err(webrtc)?;
    }
    Ok(engine)
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

impl Leg {
    pub(crate) async fn answer(
        dir: &Path,
        participant: &str,
        connection: u32,
        config: &Config,
        offer: String,
        gathered: mpsc::UnboundedSender<Gathered>,
    ) -> Result<(Leg, String), Error> {
        let mut engine = media_engine()?;
        let registry =
            register_default_interceptors(Registry::new(), &mut engine).map_err(webrtc)?;
        let ice_servers = config
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect();
        let configuration = RTCConfigurationBuilder::new()
            .with_ice_servers(ice_servers)
            .build();
        // No mDNS: the recorder's candidates are its real addresses.
        let settings = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let offer = RTCSessionDescription::offer(offer).map_err(webrtc)?;
        let sinks: Sinks = Arc::default();
        let described: Described = Arc::default();
        let handler = Handler {
            participant: participant.to_owned(),
            gathered,
            described: Arc::clone(&described),
            sinks: Arc::clone(&sinks),
            stem: format!("{participant}-{connection}"),
            dir: dir.to_owned(),
        };
        let pc = PeerConnectionBuilder::new()
            .with_configuration(configuration)
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .with_handler(Arc::new(handler))
            .with_udp_addrs(config.udp_addrs.clone())
            .build()
            .await
            .map_err(webrtc)?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let leg = Leg {
            pc,
            sinks,
            described,
        };
        match leg.negotiate(offer).await {
            Ok(answer) => Ok((leg, answer)),
            Err(error) => {
                leg.close().await;
                Err(error)
            }
        }
    }

    async fn negotiate(&self, offer: RTCSessionDescription) -> Result<String, Error> {
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(webrtc)?;
        let answer = self.pc.create_answer(None).await.map_err(webrtc)?;
        // Gathering starts with the local description: the candidates it
        // yields find their mid and ufrag already here.
        *lock(&self.described) = (
            attribute(&answer.sdp, "mid"),
            attribute(&answer.sdp, "ice-ufrag"),
        );
        self.pc
            .set_local_description(answer.clone())
            .await
            .map_err(webrtc)?;
        Ok(answer.sdp)
    }

    pub(crate) async fn candidate(&self, candidate: serde_json::Value) -> Result<(), Error> {
        let candidate = match candidate {
            serde_json::Value::Null => RTCIceCandidateInit::default(),
            candidate => {
                serde_json::from_value(candidate).map_err(|e| Error::Candidate(e.to_string()))?
            }
        };
        self.pc.add_ice_candidate(candidate).await.map_err(webrtc)
    }

    /// Closes the connection and its files; the files that hold frames.
    pub(crate) async fn close(self) -> Vec<RecordedFile> {
        let _ = self.pc.close().await;
        let sinks = std::mem::take(&mut *lock(&self.sinks));
        let mut files = Vec::new();
        for sink in sinks {
            match lock(&sink).close() {
                Ok(Some(file)) => files.push(file),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "finishing a recording file failed"),
            }
        }
        files
    }
}
