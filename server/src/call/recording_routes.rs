//! `/consultations/{id}/recordings`: the consented recordings of a
//! consultation's calls, listed with the consultation, and their files.
//! Open to whoever may read the consultation's clinical record; every
//! listing and download is audited.

use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::consented_recording::Recordings;
use crate::audit::{Action, AuditEntry};
use crate::auth::Caller;
use crate::consultation::store::ConsultationRow;
use crate::consultation::visible::{load_visible, sees_clinical};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
    Recordings: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_recordings))
        .routes(routes!(recording_file))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordingFileView {
    pub id: i64,
    /// Whose camera or microphone it holds.
    pub participant_id: i64,
    /// Their display name, invitees' too.
    pub participant_name: String,
    /// `video` (VP8 in IVF) or `audio` (Opus in Ogg).
    pub kind: String,
    pub media_type: String,
    pub bytes: i64,
    /// Video frames, or audio packets.
    pub frames: i64,
    pub duration_ms: i64,
    /// Where to download it.
    pub href: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordingView {
    pub id: i64,
    pub started_at: String,
    /// Unset while it is still recording.
    pub ended_at: Option<String>,
    /// `consent_withdrawn`, `participant_left`, `participant_without_consent`,
    /// `patient_consent_withdrawn`, `shutdown` or `interrupted` (the server
    /// stopped without finishing it).
    pub stop_reason: Option<String>,
    pub files: Vec<RecordingFileView>,
}

#[derive(sqlx::FromRow)]
struct RecordingRow {
    id: i64,
    started_at: i64,
    ended_at: Option<i64>,
    stop_reason: Option<String>,
}

#[derive(sqlx::FromRow)]
struct FileRow {
    id: i64,
    recording_id: i64,
    participant_id: i64,
    participant_name: String,
    kind: String,
    media_type: String,
    path: String,
    bytes: i64,
    frames: i64,
    duration_ms: i64,
}

const FILE_COLUMNS: &str = "f.id, f.recording_id, f.participant_id, \
     u.display_name AS participant_name, f.kind, f.media_type, \
     f.path, f.bytes, f.frames, f.duration_ms";

/// The consultation, if the caller may read its clinical record.
async fn readable(tx: &mut Tx, caller: &Caller, id: i64) -> ApiResult<ConsultationRow> {
    let row = load_visible(tx, caller, id, now_ms()).await?;
    if !sees_clinical(caller) {
        return Err(ApiError::forbidden(
            ErrorCode::ClinicalRecord,
            "recordings are part of the clinical record",
        ));
    }
    Ok(row)
}

fn file_view(consultation_id: i64, f: FileRow) -> RecordingFileView {
    RecordingFileView {
        href: format!(
            "/api/v1/consultations/{consultation_id}/recordings/{}/files/{}",
            f.recording_id, f.id
        ),
        id: f.id,
        participant_id: f.participant_id,
        participant_name: f.participant_name,
        kind: f.kind,
        media_type: f.media_type,
        bytes: f.bytes,
        frames: f.frames,
        duration_ms: f.duration_ms,
    }
}

/// The consultation's call recordings, newest first, with their files.
#[utoipa::path(get, path = "/consultations/{id}/recordings", tag = "calls",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<RecordingView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_recordings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<RecordingView>>> {
    let mut tx = state.db.begin_read().await?;
    let consultation = readable(&mut tx, &caller, id).await?;
    let recordings: Vec<RecordingRow> = sqlx::query_as(
        "SELECT id, started_at, ended_at, stop_reason FROM call_recording \
         WHERE consultation_id = $1 ORDER BY started_at DESC, id DESC",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let files: Vec<FileRow> = sqlx::query_as(&format!(
        "SELECT {FILE_COLUMNS} FROM call_recording_file f JOIN call_recording r ON r.id = f.recording_id \
         JOIN app_user u ON u.id = f.participant_id \
         WHERE r.consultation_id = $1 ORDER BY f.id"
    ))
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "recording.listed")
                .entity("consultation", id)
                .patient(consultation.patient_id)
                .facility(caller.facility_id),
        )
        .await?;
    let mut by_recording: std::collections::HashMap<i64, Vec<RecordingFileView>> =
        std::collections::HashMap::new();
    for f in files {
        by_recording
            .entry(f.recording_id)
            .or_default()
            .push(file_view(id, f));
    }
    Ok(Json(
        recordings
            .into_iter()
            .map(|r| RecordingView {
                files: by_recording.remove(&r.id).unwrap_or_default(),
                id: r.id,
                started_at: rfc3339(r.started_at),
                ended_at: r.ended_at.map(rfc3339),
                stop_reason: r.stop_reason,
            })
            .collect(),
    ))
}

/// One file of a recording, as recorded: `video/x-ivf` or `audio/ogg`.
#[utoipa::path(get, path = "/consultations/{id}/recordings/{recording_id}/files/{file_id}",
    tag = "calls",
    params(("id" = i64, Path), ("recording_id" = i64, Path), ("file_id" = i64, Path)),
    responses((status = 200, description = "the file's bytes", content_type = "application/octet-stream"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn recording_file(
    State(state): State<AppState>,
    State(recordings): State<Recordings>,
    caller: Caller,
    ApiPath((id, recording_id, file_id)): ApiPath<(i64, i64, i64)>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin_read().await?;
    let consultation = readable(&mut tx, &caller, id).await?;
    let file: Option<FileRow> = sqlx::query_as(&format!(
        "SELECT {FILE_COLUMNS} FROM call_recording_file f JOIN call_recording r ON r.id = f.recording_id \
         JOIN app_user u ON u.id = f.participant_id \
         WHERE f.id = $1 AND f.recording_id = $2 AND r.consultation_id = $3"
    ))
    .bind(file_id)
    .bind(recording_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let file = file.ok_or(ApiError::NotFound {
        what: "recording file",
    })?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "recording.downloaded")
                .entity("consultation", id)
                .patient(consultation.patient_id)
                .facility(caller.facility_id)
                .detail(serde_json::json!({ "recording_id": recording_id, "file_id": file_id })),
        )
        .await?;
    let opened = recordings
        .open(&file.path)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("opening {}: {e}", file.path)))?;
    let extension = if file.kind == "video" { "ivf" } else { "ogg" };
    let name = format!(
        "consultation-{id}-recording-{recording_id}-{}-{}.{extension}",
        file.participant_id, file.kind
    );
    Ok((
        [
            (header::CONTENT_TYPE, file.media_type),
            (header::CONTENT_LENGTH, file.bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(opened)),
    )
        .into_response())
}
