//! Recording a call with consent: two headless Chromium participants with
//! fake cameras and microphones, Ferry's recorder (a webrtc-rs peer in the
//! server) writing what each sends. With everyone's consent the files hold
//! the time the browsers were sending; a withdrawal stops it; without
//! consent nothing is written; a recording cut off by a crash keeps its
//! whole frames.

use std::path::Path;
use std::time::Duration;

use ferry_server::call::consented_recording::Recordings;
use ferry_server::config::Settings;
use ferry_signaling::protocol::PeerInfo;
use ferry_signaling::room::{Rooms, QUEUE};
use reqwest::StatusCode;
use tokio::sync::mpsc;
use tokio::time::{sleep, Instant};

use crate::support::browser::Browser;
use crate::support::calls::{accepted, finished_recordings};
use crate::support::scheduling::desk;
use crate::support::{assert_error, spawn_app, spawn_app_with, TestApp, TestUser};

/// (presentation time in 90 kHz ticks, frame bytes) of every IVF frame.
fn ivf_frames(file: &[u8]) -> Vec<(u64, usize)> {
    let mut frames = Vec::new();
    let mut at = 32;
    while at + 12 <= file.len() {
        let len = u32::from_le_bytes(file[at..at + 4].try_into().expect("4 bytes")) as usize;
        let pts = u64::from_le_bytes(file[at + 4..at + 12].try_into().expect("8 bytes"));
        assert!(
            at + 12 + len <= file.len(),
            "a frame runs past the file's end"
        );
        frames.push((pts, len));
        at += 12 + len;
    }
    assert_eq!(at, file.len(), "the file ends on a frame boundary");
    frames
}

/// The last Ogg page's granule position: the audio's length in samples.
fn ogg_last_granule(file: &[u8]) -> u64 {
    let at = file
        .windows(4)
        .rposition(|w| w == b"OggS")
        .expect("an Ogg page");
    u64::from_le_bytes(file[at + 6..at + 14].try_into().expect("8 bytes"))
}

async fn download(app: &TestApp, user: &TestUser, href: &str) -> (String, Vec<u8>) {
    let response = app
        .client
        .get(app.url(href))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::OK, "{href}");
    let media_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("a media type")
        .to_owned();
    let bytes = response.bytes().await.expect("the file").to_vec();
    (media_type, bytes)
}

fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

async fn audit_count(app: &TestApp, subtype: &str, user_id: Option<i64>) -> i64 {
    let query = match user_id {
        Some(user_id) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_event WHERE subtype = $1 AND actor_user_id = $2",
        )
        .bind(subtype)
        .bind(user_id),
        None => {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE subtype = $1").bind(subtype)
        }
    };
    query.fetch_one(app.db.pool()).await.expect("audit events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_everyones_consent_the_call_is_recorded_until_one_withdraws() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let mut browser = Browser::launch(&app).await;
    browser.open("clinician", &d.clinician, id).await;
    browser.open("expert", &d.expert, id).await;
    let clinician = d.clinician.id.to_string();
    let expert = d.expert.id.to_string();

    // One consent is not enough.
    browser.consent("clinician", true).await;
    let heard = browser.wait_for("expert", |m| m["type"] == "consent").await;
    assert_eq!(heard["peer"], clinician.as_str(), "{heard}");
    assert_eq!(heard["recording"], true, "{heard}");
    // An absence cannot be polled for: give the server the moment in which
    // it would have started a recorder had one consent been enough.
    sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.count("call_recording").await,
        0,
        "only one has consented"
    );

    browser.consent("expert", true).await;
    for page in ["clinician", "expert"] {
        let indicator = browser.wait_for(page, |m| m["type"] == "recording").await;
        assert_eq!(indicator["state"], "started", "{page}: {indicator}");
        assert_eq!(indicator["peer"], "recorder", "{page}: {indicator}");
    }
    for page in ["clinician", "expert"] {
        browser.sending_video(page, "recorder").await;
    }
    let sending_since = Instant::now();
    // The recording's length is what is checked below, against how long the
    // browsers sent: time itself is the thing tested.
    sleep(Duration::from_secs(4)).await;

    browser.consent("clinician", false).await;
    let stopped = browser
        .wait_for("expert", |m| m["type"] == "recording")
        .await;
    let stopped_at = Instant::now();
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert_eq!(stopped["reason"], "consent_withdrawn", "{stopped}");
    let sent_ms = stopped_at.duration_since(sending_since).as_millis() as i64;

    let recordings = finished_recordings(&app, &d.clinician, id).await;
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let recording = &recordings[0];
    assert_eq!(recording["stop_reason"], "consent_withdrawn", "{recording}");
    let files = recording["files"].as_array().expect("files");
    for (who, user) in [(&clinician, &d.clinician), (&expert, &d.expert)] {
        let mine = |kind: &str| {
            files
                .iter()
                .find(|f| f["participant_id"] == user.id && f["kind"] == kind)
                .unwrap_or_else(|| panic!("a {kind} file of {who}: {recording}"))
                .clone()
        };
        let video = mine("video");
        let duration = video["duration_ms"].as_i64().expect("a duration");
        // Everything the browser sent after its video was seen flowing, and
        // not more than the whole time the recorder ran.
        assert!(
            duration >= sent_ms - 1_000,
            "{who}: {duration} ms recorded of {sent_ms} ms sent: {video}"
        );
        assert!(duration <= sent_ms + 15_000, "{who}: {video}");
        let (media_type, bytes) = download(&app, user, video["href"].as_str().expect("href")).await;
        assert_eq!(media_type, "video/x-ivf");
        assert_eq!(bytes.len() as i64, video["bytes"].as_i64().expect("bytes"));
        assert_eq!(&bytes[0..4], b"DKIF");
        assert_eq!(&bytes[8..12], b"VP80");
        let width = u16::from_le_bytes([bytes[12], bytes[13]]);
        let height = u16::from_le_bytes([bytes[14], bytes[15]]);
        assert!(width > 0 && height > 0, "a key frame gave the size");
        let frames = ivf_frames(&bytes);
        let counted = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes"));
        assert_eq!(
            frames.len(),
            counted as usize,
            "the header counts the frames"
        );
        assert_eq!(
            frames.len() as i64,
            video["frames"].as_i64().expect("frames")
        );
        // A fake camera sends 20–30 frames a second; a starved two-core
        // machine may send fewer, but not a handful.
        assert!(
            frames.len() as i64 >= 5 * sent_ms / 1000,
            "{} frames",
            frames.len()
        );
        let last = frames.last().expect("frames").0;
        assert_eq!(
            (last / 90) as i64,
            duration,
            "the last frame's time is the duration"
        );
        assert!(
            frames.windows(2).all(|w| w[0].0 <= w[1].0),
            "time runs forward"
        );

        let audio = mine("audio");
        let (media_type, bytes) = download(&app, user, audio["href"].as_str().expect("href")).await;
        assert_eq!(media_type, "audio/ogg");
        assert_eq!(&bytes[0..4], b"OggS");
        assert!(bytes.windows(8).any(|w| w == b"OpusHead"), "an Opus stream");
        let samples = ogg_last_granule(&bytes);
        let audio_ms = audio["duration_ms"].as_i64().expect("a duration");
        assert!(audio_ms >= sent_ms - 1_000, "{who}: {audio}");
        assert!(
            (samples / 48) as i64 >= audio_ms - 100,
            "{samples} samples for {audio}"
        );
    }
    assert_eq!(
        files.len(),
        4,
        "a video and an audio file each: {recording}"
    );

    for user in [&d.clinician, &d.expert] {
        assert_eq!(
            audit_count(&app, "recording.consented", Some(user.id)).await,
            1
        );
    }
    assert_eq!(
        audit_count(&app, "recording.consent_withdrawn", Some(d.clinician.id)).await,
        1
    );
    assert_eq!(audit_count(&app, "recording.started", None).await, 1);
    assert_eq!(audit_count(&app, "recording.stopped", None).await, 1);
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_everyones_consent_nothing_is_recorded() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let mut browser = Browser::launch(&app).await;
    browser.open("clinician", &d.clinician, id).await;
    browser.open("expert", &d.expert, id).await;
    browser.consent("expert", true).await;

    // A real call between the two browsers, for a while.
    browser.in_a_call("clinician", d.expert.id).await;
    // Nobody consented, and no recorder may join however long the call goes
    // on: an absence, so the call runs for a while before it is checked.
    sleep(Duration::from_secs(2)).await;
    let stats = browser.stats("clinician").await;
    assert!(stats.get("recorder").is_none(), "{stats}");

    let (status, body) = app
        .get(
            &format!("/api/v1/consultations/{id}/recordings"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, serde_json::json!([]));
    assert_eq!(app.count("call_recording").await, 0);
    assert_eq!(files_under(&app.data_dir.path().join("recordings")), 0);
    browser.quit().await;
}

/// An IVF file as a recorder writes it, cut off mid-frame by a crash: the
/// header's frame count never written, ten frames 1/10 s apart, the last
/// one incomplete.
fn cut_off_ivf() -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(b"DKIF");
    file.extend_from_slice(&0u16.to_le_bytes());
    file.extend_from_slice(&32u16.to_le_bytes());
    file.extend_from_slice(b"VP80");
    file.extend_from_slice(&[0; 4]);
    file.extend_from_slice(&90_000u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    file.extend_from_slice(&[0; 8]);
    for i in 0..10u64 {
        file.extend_from_slice(&4u32.to_le_bytes());
        file.extend_from_slice(&(i * 9_000).to_le_bytes());
        file.extend_from_slice(&[0x01, 0x02, 0x03, 0x04]);
    }
    file.truncate(file.len() - 2);
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_cut_off_by_a_crash_is_closed_with_the_whole_frames_it_wrote() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let long_ago = jiff::Timestamp::now().as_millisecond() - 120_000;
    let crashed: i64 = sqlx::query_scalar(
        "INSERT INTO call_recording (consultation_id, node, started_at) \
         VALUES ($1, 'crashed', $2) RETURNING id",
    )
    .bind(id)
    .bind(long_ago)
    .fetch_one(app.db.pool())
    .await
    .expect("an open recording");
    let dir = app
        .data_dir
        .path()
        .join(format!("recordings/{id}/{crashed}"));
    std::fs::create_dir_all(&dir).expect("a directory");
    let video = dir.join(format!("{}-1-video.ivf", d.clinician.id));
    std::fs::write(&video, cut_off_ivf()).expect("written");
    // Nothing whole in it: it goes.
    let audio = dir.join(format!("{}-1-audio.ogg", d.expert.id));
    std::fs::write(&audio, b"OggS").expect("written");

    // A node starting again over the same files and database. On SQLite it
    // is the only node and closes what was open at once; on PostgreSQL the
    // open recording is taken for stale when the next one is wanted and no
    // recorder is in the room.
    let settings = Settings {
        data_dir: app.data_dir.path().to_owned(),
        ..Settings::default()
    };
    let rooms = Rooms::new();
    let recordings = Recordings::new(
        app.db.clone(),
        rooms.clone(),
        &settings,
        ferry_server::cluster::node_name(),
    )
    .expect("the recordings");
    recordings.recover().await.expect("recovered");
    let room = id.to_string();
    let mut queues = Vec::new();
    for user in [&d.clinician, &d.expert] {
        let (tx, rx) = mpsc::channel(QUEUE);
        let peer = PeerInfo {
            id: user.id.to_string(),
            name: user.username.clone(),
        };
        rooms.join(&room, peer, tx);
        rooms.consent(&room, &user.id.to_string(), true);
        queues.push(rx);
    }
    recordings.consider(&room).await;
    recordings.shutdown().await;

    let list = finished_recordings(&app, &d.clinician, id).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let old = list
        .iter()
        .find(|r| r["id"] == crashed)
        .expect("the crashed recording");
    assert_eq!(old["stop_reason"], "interrupted", "{old}");
    let files = old["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{old}");
    assert_eq!(files[0]["participant_id"], d.clinician.id);
    // Named as the call named them, so an invitee is not shown by an id.
    assert_eq!(files[0]["participant_name"], d.clinician.username, "{old}");
    assert_eq!(files[0]["frames"], 9, "the cut frame is gone");
    assert_eq!(files[0]["duration_ms"], 800);
    let kept = std::fs::read(&video).expect("the video stays");
    assert_eq!(files[0]["bytes"], kept.len());
    assert_eq!(
        u32::from_le_bytes(kept[24..28].try_into().expect("4 bytes")),
        9
    );
    assert!(!audio.exists(), "a file with nothing whole is removed");
    let (_, bytes) = download(&app, &d.clinician, files[0]["href"].as_str().expect("href")).await;
    assert_eq!(bytes, kept);

    let new = list
        .iter()
        .find(|r| r["id"] != crashed)
        .expect("the new recording");
    assert_eq!(new["stop_reason"], "shutdown", "{new}");
    assert_eq!(new["files"], serde_json::json!([]), "nobody sent anything");
}

#[tokio::test]
async fn recordings_are_part_of_the_clinical_record_and_unknown_ones_are_not_found() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let (status, body) = app
        .get(
            &format!("/api/v1/consultations/{id}/recordings/1/files/1"),
            &d.clinician.token,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // The scheduler arranged the consultation but does not treat.
    let (status, body) = app
        .get(
            &format!("/api/v1/consultations/{id}/recordings"),
            &d.scheduler.token,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "clinical_record");
    let (status, body) = app
        .get(
            "/api/v1/consultations/999999/recordings",
            &d.clinician.token,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .get("/api/v1/consultations/x/recordings", &d.clinician.token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_the_patient_must_consent_the_call_is_recorded_only_while_they_do() {
    let app = spawn_app_with(|settings| settings.teleconsultation_consent_required = true).await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let consents = format!("/api/v1/consultations/{id}/consents");
    let form = |kind: &str| {
        serde_json::json!({ "kind": kind, "given_by": "patient", "form_reference": "signed form 12",
                            "patient_id": d.patient })
    };
    let (status, body) = app
        .post(&consents, &d.clinician.token, form("teleconsultation"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut browser = Browser::launch(&app).await;
    browser.open("clinician", &d.clinician, id).await;
    browser.open("expert", &d.expert, id).await;
    browser.consent("clinician", true).await;
    browser.consent("expert", true).await;
    browser
        .wait_for("clinician", |m| m["type"] == "consent")
        .await;
    // Both participants agree, the patient has not: an absence, so the
    // server gets a few of its half-second looks before it is checked.
    sleep(Duration::from_secs(2)).await;
    assert_eq!(
        app.count("call_recording").await,
        0,
        "the patient did not consent"
    );

    let (status, given) = app
        .post(&consents, &d.clinician.token, form("recording"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{given}");
    for page in ["clinician", "expert"] {
        let indicator = browser.wait_for(page, |m| m["type"] == "recording").await;
        assert_eq!(indicator["state"], "started", "{page}: {indicator}");
    }

    let (status, body) = app
        .post(
            &format!("/api/v1/care-consents/{}/withdraw", given["id"]),
            &d.clinician.token,
            serde_json::json!({ "reason": "患者不同意录像" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stopped = browser
        .wait_for("expert", |m| {
            m["type"] == "recording" && m["state"] == "stopped"
        })
        .await;
    assert_eq!(stopped["reason"], "patient_consent_withdrawn", "{stopped}");
    let recordings = finished_recordings(&app, &d.clinician, id).await;
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert_eq!(recordings[0]["stop_reason"], "patient_consent_withdrawn");
    browser.quit().await;
}
