//! Records a consultation's call: a WebRTC peer that each consenting
//! participant sends their camera and microphone to, writing VP8 video to
//! IVF and Opus audio to Ogg, one file per track per connection.
//!
//! It knows nothing of signalling or consent: the server hands it each
//! participant's offer and candidates ([`Recorder::offer`],
//! [`Recorder::candidate`]), relays what it gathers (the receiver from
//! [`Recorder::new`]), and ends it ([`Recorder::finish`]) when consent goes.
//! After a crash, [`recover::recover`] makes the files left behind whole.

#![warn(missing_docs)]

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
    /// STUN and TURN servers, so the recorder reaches participants behind
    /// NAT the way the browsers reach each other.
    pub ice_servers: Vec<IceServer>,
}

/// One STUN or TURN server, as in the browser's `RTCIceServer`.
#[derive(Debug, Clone, Default)]
pub struct IceServer {
    /// `stun:` or `turn:`/`turns:` URLs of the same server.
    pub urls: Vec<String>,
    /// The TURN username (in Ferry, a time-limited TURN REST credential);
    /// `None` for STUN.
    pub username: Option<String>,
    /// The TURN password that goes with `username`.
    pub credential: Option<String>,
}

/// Which of a participant's tracks a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// The camera, VP8 in IVF.
    Video,
    /// The microphone, Opus in Ogg.
    Audio,
}

impl MediaKind {
    /// `video` or `audio`, as it appears in file names and in the API.
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
    /// The participant's peer id, as in signalling (their user id).
    pub participant: String,
    /// Camera or microphone.
    pub kind: MediaKind,
    /// Where the file is, inside the recording's directory.
    pub path: PathBuf,
    /// Its size on disk.
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
    /// The participant whose connection gathered it, who should receive it.
    pub participant: String,
    /// The candidate as `RTCIceCandidateInit` JSON, or `null`.
    pub candidate: serde_json::Value,
}

/// Why the recorder could not take a participant's offer or candidate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The WebRTC stack refused: an offer it could not answer, or a
    /// connection it could not set up.
    #[error("webrtc: {0}")]
    WebRtc(String),
    /// A candidate for a participant who has no connection to the recorder.
    #[error("no recording connection with {0}")]
    UnknownPeer(String),
    /// A trickled candidate that is not a valid `RTCIceCandidateInit`.
    #[error("not an ICE candidate: {0}")]
    Candidate(String),
    /// The recording directory or a file in it could not be written.
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
