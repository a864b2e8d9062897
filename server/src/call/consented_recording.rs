//! Recording a consultation's call, with consent. When every participant
//! present (two or more) has consented in the call, this node inserts the
//! consultation's one open `call_recording` (a unique index: of several
//! nodes, one wins), attaches a recorder to the room, which turns on every
//! participant's recording indicator, and runs a `ferry-recorder` peer that
//! each participant sends their tracks to. The recorder leaves, and the
//! recording ends, the moment consent is no longer whole: a withdrawal, a
//! newcomer who has not consented, or a participant leaving. Its files are
//! then synced and listed with the consultation
//! ([`super::recording_routes`]). With object storage they are shipped
//! there as the call goes and stored there once whole
//! ([`super::recording_shelf`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use ferry_recorder::{Config, Gathered, IceServer, RecordedFile, Recorder};
use ferry_signaling::protocol::{PeerInfo, ServerMessage};
use ferry_signaling::room::{Outbound, Rooms, QUEUE};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::recording_shelf::{relative, Shelf};
use crate::audit::{self, Action, Actor, AuditEntry};
use crate::config::Settings;
use crate::db::{Db, Engine};
use crate::policy::{self, consent::StartRule};
use crate::time::now_ms;

/// The recorder's peer id in every room: no user id looks like it.
pub const RECORDER: &str = "recorder";

/// How often a running recording looks again at the patient's consent to
/// it, when the consortium requires one.
const PATIENT_CONSENT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// An open recording whose recorder is nowhere in the room is taken for one
/// a crashed node left behind, once it is this old (a recorder another node
/// has just started may not have been announced yet).
const STALE_AFTER_MS: i64 = 30_000;

struct Running {
    stop: oneshot::Sender<&'static str>,
    done: JoinHandle<()>,
}

struct Inner {
    db: Db,
    rooms: Rooms,
    dir: PathBuf,
    node: String,
    config: Config,
    /// Object storage for the files, when the server has some.
    shelf: Option<Shelf>,
    /// Whether the patient's consent to recording is needed besides the
    /// participants'.
    consent_rule: StartRule,
    running: Mutex<HashMap<String, Running>>,
}

/// The recordings this node runs. Cheap to clone.
#[derive(Clone)]
pub struct Recordings(Arc<Inner>);

impl Recordings {
    /// The recordings of this node, `node` as the cluster names it.
    pub fn new(db: Db, rooms: Rooms, settings: &Settings, node: String) -> anyhow::Result<Self> {
        let ice_servers = if settings.stun_urls.is_empty() {
            Vec::new()
        } else {
            vec![IceServer {
                urls: settings.stun_urls.clone(),
                ..IceServer::default()
            }]
        };
        Ok(Self(Arc::new(Inner {
            db,
            rooms,
            dir: settings.recording_dir(),
            node,
            config: Config {
                udp_addrs: settings.recorder_udp.clone(),
                ice_servers,
            },
            shelf: Shelf::from_settings(settings)?,
            consent_rule: StartRule::of(settings),
            running: Mutex::new(HashMap::new()),
        })))
    }

    /// This node's name in the cluster.
    pub fn node(&self) -> &str {
        &self.0.node
    }

    /// Closes the recordings `node` left open (it died), with what of their
    /// files this node can reach. Returns (consultation, recording) of each.
    pub async fn close_of_node(&self, node: &str) -> anyhow::Result<Vec<(i64, i64)>> {
        let open: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT consultation_id, id FROM call_recording WHERE node = $1 AND ended_at IS NULL",
        )
        .bind(node)
        .fetch_all(self.0.db.pool())
        .await?;
        for (consultation_id, id) in &open {
            self.close_interrupted(*id, *consultation_id).await?;
        }
        Ok(open)
    }

    fn running(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        self.0
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes the recordings a stopped process left open, with the files
    /// it left made whole and listed. On SQLite this is the only node, so
    /// every open recording is such a one.
    pub async fn recover(&self) -> anyhow::Result<usize> {
        if self.0.db.engine() != Engine::Sqlite {
            return Ok(0);
        }
        let open: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, consultation_id FROM call_recording WHERE ended_at IS NULL")
                .fetch_all(self.0.db.pool())
                .await?;
        for (id, consultation_id) in &open {
            self.close_interrupted(*id, *consultation_id).await?;
        }
        Ok(open.len())
    }

    /// Ends a recording whose recorder is gone, keeping what it wrote:
    /// here, or shipped to object storage by the node that ran it.
    async fn close_interrupted(&self, id: i64, consultation_id: i64) -> anyhow::Result<()> {
        let dir = self.recording_dir(consultation_id, id);
        if let Some(shelf) = &self.0.shelf {
            shelf
                .rebuild(&self.0.db, &self.0.dir, &dir, id)
                .await
                .context("putting a recording's parts back together")?;
        }
        let recovering = dir.clone();
        let files =
            tokio::task::spawn_blocking(move || ferry_recorder::recover::recover(&recovering))
                .await?
                .context("recovering a recording's files")?;
        self.store(&files).await;
        self.close_row(id, consultation_id, "interrupted", &files)
            .await?;
        if let Some(shelf) = &self.0.shelf {
            shelf.discard_parts(&self.0.db, &self.0.dir, &dir, id).await;
        }
        Ok(())
    }

    /// Puts finished files into object storage, if there is one. A file
    /// that cannot be stored stays here, where this node still serves it.
    async fn store(&self, files: &[RecordedFile]) {
        let Some(shelf) = &self.0.shelf else { return };
        for file in files {
            if let Err(error) = shelf.put(&self.0.dir, &file.path).await {
                tracing::error!(%error, path = %file.path.display(), "storing a recording's file failed; it stays on this node");
            }
        }
    }

    /// A listed file's bytes, from object storage or this node's disk.
    pub async fn open(&self, path: &str) -> std::io::Result<ferry_dicom_store::blob::BlobReader> {
        if let Some(shelf) = &self.0.shelf {
            match shelf.open(path).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                stored => return stored,
            }
        }
        let file = tokio::fs::File::open(self.0.dir.join(path)).await?;
        Ok(Box::pin(file))
    }

    fn recording_dir(&self, consultation_id: i64, id: i64) -> PathBuf {
        self.0
            .dir
            .join(consultation_id.to_string())
            .join(id.to_string())
    }

    /// Starts recording `room` if every participant consents and nobody
    /// records it yet. Failures are logged: the call goes on unrecorded.
    pub async fn consider(&self, room: &str) {
        if !self.0.rooms.recording_wanted(room) || self.running().contains_key(room) {
            return;
        }
        if let Err(error) = self.start(room).await {
            tracing::warn!(%error, room, "starting a recording failed");
        }
    }

    /// Every half second, starts the recordings that consents heard from
    /// other nodes made wanted: two participants on two nodes who consent
    /// at the same moment each see only their own consent when their node
    /// considers the room. Runs until aborted.
    pub async fn start_awaited(self) {
        let mut ticker = tokio::time::interval(std::time::Duration::from_millis(500));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            for room in self.0.rooms.awaiting_recorder() {
                self.consider(&room).await;
            }
        }
    }

    async fn start(&self, room: &str) -> anyhow::Result<()> {
        let consultation_id: i64 = room.parse()?;
        if !self.patient_consents(consultation_id).await? {
            // Asked again each half second while the participants' consent
            // stands ([`Self::start_awaited`]): a consent recorded meanwhile
            // starts the recording.
            return Ok(());
        }
        let Some(recording_id) = self.open_row(room, consultation_id).await? else {
            return Ok(());
        };
        let dir = self.recording_dir(consultation_id, recording_id);
        let started =
            Recorder::new(dir, self.0.config.clone()).context("creating the recording directory");
        let (tx, rx) = mpsc::channel(QUEUE);
        let attached = match &started {
            Ok(_) => self.0.rooms.attach_recorder(
                room,
                PeerInfo {
                    id: RECORDER.to_owned(),
                    name: "Recording".to_owned(),
                },
                tx,
            ),
            Err(_) => None,
        };
        let (Ok((recorder, gathered)), Some(conn)) = (started, attached) else {
            // Everyone left meanwhile, or the disk refused: nothing was recorded.
            self.close_row(recording_id, consultation_id, "participant_left", &[])
                .await?;
            return Ok(());
        };
        let (stop, stopped) = oneshot::channel();
        let run = Run {
            recordings: self.clone(),
            room: room.to_owned(),
            consultation_id,
            recording_id,
            conn,
        };
        // Under the lock, so a recording that ends at once cannot remove
        // itself before it is listed.
        let mut running = self.running();
        let done = tokio::spawn(run.run(recorder, rx, gathered, stopped));
        running.insert(room.to_owned(), Running { stop, done });
        Ok(())
    }

    /// Whether the patient's consent lets the consultation's call be
    /// recorded now (see [`StartRule`]).
    async fn patient_consents(&self, consultation_id: i64) -> anyhow::Result<bool> {
        if self.0.consent_rule == StartRule::ConsentRecorded {
            // Nothing to look up: no connection taken from the pool.
            return Ok(true);
        }
        let mut conn = self.0.db.pool().acquire().await?;
        Ok(policy::consent::may_record(&mut conn, self.0.consent_rule, consultation_id).await?)
    }

    /// Inserts the consultation's open recording, or `None` if another is
    /// open (on this node or a live other one).
    async fn open_row(&self, room: &str, consultation_id: i64) -> anyhow::Result<Option<i64>> {
        let now = now_ms();
        if self.0.rooms.recorder(room).is_none() {
            let stale: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM call_recording \
                 WHERE consultation_id = $1 AND ended_at IS NULL AND started_at < $2",
            )
            .bind(consultation_id)
            .bind(now - STALE_AFTER_MS)
            .fetch_all(self.0.db.pool())
            .await?;
            for id in stale {
                self.close_interrupted(id, consultation_id).await?;
            }
        }
        let mut tx = self.0.db.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO call_recording (consultation_id, node, started_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(consultation_id)
        .bind(&self.0.node)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        let patient_id = super::patient_of(&mut tx, consultation_id).await?;
        audit::append(
            &mut tx,
            &Actor::system("call"),
            AuditEntry::new(Action::Create, "recording.started")
                .entity("consultation", consultation_id)
                .patient(patient_id)
                .detail(json!({ "recording_id": id, "consented": self.0.rooms.present(room) })),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Ends a recording and lists its files, in one transaction.
    async fn close_row(
        &self,
        recording_id: i64,
        consultation_id: i64,
        reason: &str,
        files: &[RecordedFile],
    ) -> anyhow::Result<()> {
        let mut tx = self.0.db.begin_write().await?;
        sqlx::query(
            "UPDATE call_recording SET ended_at = $1, stop_reason = $2 \
             WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(now_ms())
        .bind(reason)
        .bind(recording_id)
        .execute(&mut *tx)
        .await?;
        for file in files {
            let Ok(participant_id) = file.participant.parse::<i64>() else {
                continue;
            };
            let path = relative(&self.0.dir, &file.path);
            sqlx::query(
                "INSERT INTO call_recording_file \
                 (recording_id, participant_id, kind, media_type, path, bytes, frames, duration_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(recording_id)
            .bind(participant_id)
            .bind(file.kind.as_str())
            .bind(file.kind.media_type())
            .bind(path)
            .bind(i64::try_from(file.bytes).unwrap_or(i64::MAX))
            .bind(i64::try_from(file.frames).unwrap_or(i64::MAX))
            .bind(i64::try_from(file.duration_ms).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        let patient_id = super::patient_of(&mut tx, consultation_id).await?;
        audit::append(
            &mut tx,
            &Actor::system("call"),
            AuditEntry::new(Action::Update, "recording.stopped")
                .entity("consultation", consultation_id)
                .patient(patient_id)
                .detail(
                    json!({ "recording_id": recording_id, "reason": reason, "files": files.len() }),
                ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends every recording this node runs (the server is stopping) and
    /// waits until their files are synced and listed.
    pub async fn shutdown(&self) {
        let running: Vec<Running> = self.running().drain().map(|(_, r)| r).collect();
        for recording in running {
            let _ = recording.stop.send("shutdown");
            let _ = recording.done.await;
        }
    }
}

/// One running recording: relays between the room and the recorder.
struct Run {
    recordings: Recordings,
    room: String,
    consultation_id: i64,
    recording_id: i64,
    conn: u64,
}

impl Run {
    async fn run(
        self,
        mut recorder: Recorder,
        mut inbox: mpsc::Receiver<Outbound>,
        mut gathered: mpsc::UnboundedReceiver<Gathered>,
        mut stopped: oneshot::Receiver<&'static str>,
    ) {
        let rooms = self.recordings.0.rooms.clone();
        let room = self.room.as_str();
        let inner = &self.recordings.0;
        let dir = self
            .recordings
            .recording_dir(self.consultation_id, self.recording_id);
        let shipping = inner.shelf.clone().map(|shelf| {
            let (stop, stopped) = oneshot::channel();
            let task = tokio::spawn(shelf.ship_while_recording(
                inner.db.clone(),
                inner.dir.clone(),
                dir.clone(),
                self.recording_id,
                stopped,
            ));
            (stop, task)
        });
        // The patient's consent is looked at again while the recording
        // runs: withdrawn at any node, it stops here within the period.
        let mut consent_check = tokio::time::interval(PATIENT_CONSENT_EVERY);
        consent_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reason = loop {
            tokio::select! {
                reason = &mut stopped => break reason.unwrap_or("shutdown"),
                _ = consent_check.tick(), if inner.consent_rule == StartRule::ConsentFirst => {
                    match self.recordings.patient_consents(self.consultation_id).await {
                        Ok(true) => {}
                        Ok(false) => break "patient_consent_withdrawn",
                        Err(error) => {
                            tracing::warn!(%error, room, "checking the patient's consent to recording failed");
                        }
                    }
                }
                Some(candidate) = gathered.recv() => {
                    let message = ServerMessage::IceCandidate {
                        from: RECORDER.to_owned(),
                        candidate: candidate.candidate,
                    };
                    let _ = rooms.relay(room, RECORDER, Some(&candidate.participant), message);
                }
                queued = inbox.recv() => match queued {
                    None | Some(Outbound::Close(_)) => break "recorder_dropped",
                    Some(Outbound::Send(message)) => {
                        if let Some(reason) = self.handle(&mut recorder, &rooms, message).await {
                            break reason;
                        }
                    }
                },
            }
        };
        rooms.leave(room, RECORDER, self.conn, reason);
        if let Some((stop, task)) = shipping {
            let _ = stop.send(());
            let _ = task.await;
        }
        let files = recorder.finish().await;
        self.recordings.store(&files).await;
        if let Err(error) = self
            .recordings
            .close_row(self.recording_id, self.consultation_id, reason, &files)
            .await
        {
            tracing::error!(%error, room, recording_id = self.recording_id, "listing a finished recording failed");
        } else if let Some(shelf) = &inner.shelf {
            shelf
                .discard_parts(&inner.db, &inner.dir, &dir, self.recording_id)
                .await;
        }
        self.recordings.running().remove(room);
        tracing::info!(
            room,
            recording_id = self.recording_id,
            reason,
            files = files.len(),
            "recording stopped"
        );
    }

    /// Acts on one message to the recorder; `Some(reason)` ends the recording.
    async fn handle(
        &self,
        recorder: &mut Recorder,
        rooms: &Rooms,
        message: ServerMessage,
    ) -> Option<&'static str> {
        let room = self.room.as_str();
        match message {
            ServerMessage::Offer { from, sdp } => match recorder.offer(&from, sdp).await {
                Ok(sdp) => {
                    let answer = ServerMessage::Answer {
                        from: RECORDER.to_owned(),
                        sdp,
                    };
                    let _ = rooms.relay(room, RECORDER, Some(&from), answer);
                }
                Err(error) => {
                    tracing::warn!(%error, room, participant = %from, "the recorder cannot answer");
                    let refusal = ServerMessage::error("recorder_refused", error.to_string());
                    let _ = rooms.relay(room, RECORDER, Some(&from), refusal);
                }
            },
            ServerMessage::IceCandidate { from, candidate } => {
                if let Err(error) = recorder.candidate(&from, candidate).await {
                    tracing::debug!(%error, room, participant = %from, "a candidate for the recorder was refused");
                }
            }
            ServerMessage::PeerLeft { peer, .. } => {
                recorder.end(&peer.id).await;
                if !rooms.recording_wanted(room) {
                    return Some("participant_left");
                }
            }
            ServerMessage::PeerJoined { .. } if !rooms.recording_wanted(room) => {
                return Some("participant_without_consent");
            }
            ServerMessage::Consent {
                recording: false, ..
            } => return Some("consent_withdrawn"),
            _ => {}
        }
        None
    }
}
