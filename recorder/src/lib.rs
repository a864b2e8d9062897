//! Records a consultation's call: a WebRTC peer that each consenting
//! participant sends their camera and microphone to, writing VP8 video to
//! IVF and Opus audio to Ogg, one file per track per connection.
//!
//! It knows nothing of signalling or consent: the server hands it each
//! participant's offer and candidates ([`Recorder::offer`],
//! [`Recorder::candidate`]), relays what it gathers (the receiver from
//! [`Recorder::new`]), and ends it ([`Recorder::finish`]) when consent goes.
//! After a crash, [`recover::recover`] makes the files left behind whole.

pub mod ivf;
mod leg;
pub mod recover;
mod sink;

use std::collections::HashMap;
use std::path::PathBuf;

use tokio::sync::mpsc;

use leg::Leg;

/// Where the recorder's peer connections listen and which ICE servers they use.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// UDP addresses to gather host candidates on, e.g. `192.0.2.10:0`.
    pub udp_addrs: Vec<String>,
    pub ice_servers: Vec<IceServer>,
}

#[derive(Debug, Clone, Default)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Video,
    Audio,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
        }
    }

    /// The container's media type.
    pub fn media_type(self) -> &'static str {
        match self {
            MediaKind::Video => "video/x-ivf",
            MediaKind::Audio => "audio/ogg",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            MediaKind::Video => "ivf",
            MediaKind::Audio => "ogg",
        }
    }
}

/// One finished file: a participant's track over one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    pub participant: String,
    pub kind: MediaKind,
    pub path: PathBuf,
    pub bytes: u64,
    /// Video frames, or audio packets.
    pub frames: u64,
    /// From the first frame to the last, by the sender's clock.
    pub duration_ms: u64,
}

/// An ICE candidate the recorder gathered for one participant's connection,
/// as an `RTCIceCandidateInit` (or `null` at the end), to relay to them.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered {
    pub participant: String,
    pub candidate: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("webrtc: {0}")]
    WebRtc(String),
    #[error("no recording connection with {0}")]
    UnknownPeer(String),
    #[error("not an ICE candidate: {0}")]
    Candidate(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub(crate) fn webrtc(error: impl std::fmt::Display) -> Error {
    Error::WebRtc(error.to_string())
}

/// One recording: a connection per participant, files in `dir`.
pub struct Recorder {
    dir: PathBuf,
    config: Config,
    legs: HashMap<String, Leg>,
    gathered: mpsc::UnboundedSender<Gathered>,
    done: Vec<RecordedFile>,
    /// Numbers connections, so a participant's reconnect gets new files.
    next: u32,
}

impl Recorder {
    /// A recorder writing into `dir` (created if missing), and the
    /// candidates it gathers, to relay.
    pub fn new(
        dir: PathBuf,
        config: Config,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Gathered>), Error> {
        std::fs::create_dir_all(&dir)?;
        let (gathered, candidates) = mpsc::unbounded_channel();
        Ok((
            Self {
                dir,
                config,
                legs: HashMap::new(),
                gathered,
                done: Vec::new(),
                next: 0,
            },
            candidates,
        ))
    }

    /// Answers a participant's send-only offer, replacing (and closing the
    /// files of) any earlier connection of theirs. Returns the answer's SDP.
    pub async fn offer(&mut self, participant: &str, sdp: String) -> Result<String, Error> {
        self.end(participant).await;
        self.next += 1;
        let (leg, answer) = Leg::answer(
            &self.dir,
            participant,
            self.next,
            &self.config,
            sdp,
            self.gathered.clone(),
        )
        .await?;
        self.legs.insert(participant.to_owned(), leg);
        Ok(answer)
    }

    /// Applies a participant's trickled candidate (`null`: no more).
    pub async fn candidate(
        &mut self,
        participant: &str,
        candidate: serde_json::Value,
    ) -> Result<(), Error> {
        let leg = self
            .legs
            .get(participant)
            .ok_or_else(|| Error::UnknownPeer(participant.to_owned()))?;
        leg.candidate(candidate).await
    }

    /// Closes a participant's connection (they left), keeping its files.
    pub async fn end(&mut self, participant: &str) {
        if let Some(leg) = self.legs.remove(participant) {
            self.done.extend(leg.close().await);
        }
    }

    /// Whether a participant is sending to the recorder.
    pub fn is_recording(&self, participant: &str) -> bool {
        self.legs.contains_key(participant)
    }

    /// Ends every connection and returns the files, each on disk (fsync).
    /// Tracks that never delivered a frame leave no file.
    pub async fn finish(mut self) -> Vec<RecordedFile> {
        let legs: Vec<Leg> = self.legs.drain().map(|(_, leg)| leg).collect();
        for leg in legs {
            self.done.extend(leg.close().await);
        }
        // The files' names must survive a crash as well as their bytes.
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            if let Err(error) = dir.sync_all() {
                tracing::warn!(%error, dir = %self.dir.display(), "syncing the recording directory failed");
            }
        }
        self.done
    }
}
