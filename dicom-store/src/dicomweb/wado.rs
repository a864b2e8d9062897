//! WADO-RS (PS3.18 §10.4): instances as stored, metadata with bulk data URIs,
//! frames and bulk data. Nothing is transcoded: a client that asks only for
//! an encoding other than the stored one gets 406 with the reason.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::{authenticate, dicom_json, root_url, WebCode, WebError};
use crate::index::InstanceRow;
use crate::pixels::{read_frames, FrameError, Frames};
use crate::{AccessEvent, Principal, StoreState};

/// `GET /studies/{study}`: every instance of the study.
pub async fn study(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path(study): Path<String>,
) -> Result<Response, WebError> {
    retrieve(&state, &headers, &study, None, None).await
}

/// `GET /studies/{study}/series/{series}`.
pub async fn series(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series)): Path<(String, String)>,
) -> Result<Response, WebError> {
    retrieve(&state, &headers, &study, Some(&series), None).await
}

/// `GET /studies/{study}/series/{series}/instances/{instance}`.
pub async fn instance(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    retrieve(&state, &headers, &study, Some(&series), Some(&sop)).await
}

/// `GET /studies/{study}/metadata`.
pub async fn study_metadata(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path(study): Path<String>,
) -> Result<Response, WebError> {
    metadata(&state, &headers, &study, None, None).await
}

/// `GET /studies/{study}/series/{series}/metadata`.
pub async fn series_metadata(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series)): Path<(String, String)>,
) -> Result<Response, WebError> {
    metadata(&state, &headers, &study, Some(&series), None).await
}

/// `GET /studies/{study}/series/{series}/instances/{instance}/metadata`.
pub async fn instance_metadata(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    metadata(&state, &headers, &study, Some(&series), Some(&sop)).await
}

/// `GET /studies/{study}/series/{series}/instances/{instance}/frames/{list}`:
/// the listed frames (1-based, comma-separated), as stored.
pub async fn frames(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop, list)): Path<(String, String, String, String)>,
) -> Result<Response, WebError> {
    let wanted: Vec<u32> = list
        .split(',')
        .map(|n| n.trim().parse::<u32>().ok().filter(|n| *n >= 1))
        .collect::<Option<_>>()
        .ok_or_else(|| WebError::bad_request("frames are 1-based numbers separated by commas"))?;
    let (principal, rows) = visible(&state, &headers, &study, Some(&series), Some(&sop)).await?;
    let row = rows.into_iter().next().ok_or_else(not_found)?;
    let frames = load_frames(&state, &row).await?;
    let media = frame_media_type(&frames.transfer_syntax, frames.native).ok_or_else(|| {
        not_acceptable(format!(
            "frames of transfer syntax {} cannot be sent as stored",
            frames.transfer_syntax
        ))
    })?;
    check_accept(&headers, media, &frames.transfer_syntax)?;
    let total = frames.frames.len() as u32;
    let mut parts = Vec::with_capacity(wanted.len());
    for n in wanted {
        let frame = frames.frames.get(n as usize - 1).ok_or_else(|| {
            WebError::new(
                WebCode::NoSuchFrame,
                FrameError::NoSuchFrame(n, total).to_string(),
            )
        })?;
        parts.push(Bytes::from(frame.clone()));
    }
    audit(&state, &principal, &row.study_uid, 1).await?;
    Ok(multipart_of(media, &frames.transfer_syntax, parts))
}

/// `GET /studies/{study}/series/{series}/instances/{instance}/bulk/{tag}`:
/// the value of a bulk data element named by a metadata `BulkDataURI`.
pub async fn bulk(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop, tag)): Path<(String, String, String, String)>,
) -> Result<Response, WebError> {
    let (principal, rows) = visible(&state, &headers, &study, Some(&series), Some(&sop)).await?;
    let row = rows.into_iter().next().ok_or_else(not_found)?;
    let path = BulkPath::parse(&tag).ok_or_else(|| {
        WebError::bad_request(
            "a bulk data path is a tag of eight hexadecimal digits, or sequence.item.tag inside sequences",
        )
    })?;
    let bytes = if path.is_pixel_data() {
        let frames = load_frames(&state, &row).await?;
        let media = frame_media_type(&frames.transfer_syntax, frames.native)
            .unwrap_or("application/octet-stream");
        check_accept(&headers, media, &frames.transfer_syntax)?;
        audit(&state, &principal, &row.study_uid, 1).await?;
        let parts = frames.frames.into_iter().map(Bytes::from).collect();
        return Ok(multipart_of(media, &frames.transfer_syntax, parts));
    } else {
        let data = read_all(&state, &row).await?;
        tokio::task::spawn_blocking(move || element_bytes(&data, &path))
            .await
            .map_err(|e| WebError::internal(&e))?
            .ok_or_else(not_found)?
    };
    audit(&state, &principal, &row.study_uid, 1).await?;
    Ok(multipart_of(
        "application/octet-stream",
        "",
        vec![Bytes::from(bytes)],
    ))
}

/// The size of the chunks an instance is sent in: large enough that a local
/// file is read in few blocking calls, small enough that several concurrent
/// retrievals of huge studies cost a few megabytes each.
const CHUNK_BYTES: usize = 256 * 1024;

/// A blob's bytes as a stream of chunks, opened when first polled: nothing
/// of an instance is held beyond the chunk being sent, on local files and
/// on S3 alike.
pub(super) fn blob_stream(
    blobs: std::sync::Arc<dyn crate::blob::BlobStore>,
    key: String,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    stream::once(async move { blobs.get(&key).await })
        .map_ok(|reader| tokio_util::io::ReaderStream::with_capacity(reader, CHUNK_BYTES))
        .try_flatten()
}

async fn retrieve(
    state: &StoreState,
    headers: &HeaderMap,
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
) -> Result<Response, WebError> {
    let accept = accept_of(headers);
    if !(accept.is_empty()
        || accept.contains("*/*")
        || accept.contains("application/dicom")
        || accept.contains("multipart/related"))
    {
        return Err(not_acceptable(
            "instances are sent as multipart/related; type=\"application/dicom\"",
        ));
    }
    if let Some(wanted) = transfer_syntax_asked(&accept) {
        if wanted != "*" {
            return Err(not_acceptable(format!(
                "instances are sent in the transfer syntax they were stored in; ask for transfer-syntax=* (asked for {wanted})"
            )));
        }
    }
    let (principal, rows) = visible(state, headers, study, series, sop).await?;
    audit(state, &principal, study, rows.len()).await?;
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let blobs = state.store.blobs().clone();
    let opening = boundary.clone();
    // Each instance goes from its blob in chunks, one instance after the
    // other: three retrievals of studies of 200 MB instances cost a few
    // chunks each, not an instance each.
    let parts = stream::iter(rows)
        .map(move |row| {
            let head = Bytes::from(format!(
                "--{opening}\r\nContent-Type: application/dicom\r\nContent-Length: {}\r\n\r\n",
                row.size
            ));
            stream::once(async move { Ok::<_, std::io::Error>(head) })
                .chain(blob_stream(blobs.clone(), row.blob_key))
                .chain(stream::once(async { Ok(Bytes::from_static(b"\r\n")) }))
        })
        .flatten();
    let header_value =
        format!("multipart/related; type=\"application/dicom\"; boundary={boundary}");
    let closing = stream::once(async move { Ok(Bytes::from(format!("--{boundary}--\r\n"))) });
    let body = Body::from_stream(parts.chain(closing));
    let content_type = HeaderValue::from_str(&header_value).map_err(|e| WebError::internal(&e))?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response())
}

async fn metadata(
    state: &StoreState,
    headers: &HeaderMap,
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
) -> Result<Response, WebError> {
    let (principal, rows) = visible(state, headers, study, series, sop).await?;
    let objects = state
        .store
        .metadata_of(&rows)
        .await
        .map_err(|e| WebError::internal(&e))?;
    audit(state, &principal, study, rows.len()).await?;
    let root = root_url(state, headers);
    // Each stored object is JSON text already: join, and put the root in.
    let body = crate::json::with_root(&format!("[{}]", objects.join(",")), &root);
    Ok(dicom_json(StatusCode::OK, body))
}

/// The caller, and the instances asked for if the caller may read the study.
/// A study out of scope answers 404 like a missing one.
pub(super) async fn visible(
    state: &StoreState,
    headers: &HeaderMap,
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
) -> Result<(Principal, Vec<InstanceRow>), WebError> {
    let principal = authenticate(state, headers).await?;
    let row = state
        .store
        .study_in_scope(study, &principal.scope)
        .await
        .map_err(|e| WebError::internal(&e))?
        .ok_or_else(not_found)?;
    let rows = state
        .store
        .instances_in(&row.study_uid, series, sop)
        .await
        .map_err(|e| WebError::internal(&e))?;
    if rows.is_empty() {
        return Err(not_found());
    }
    Ok((principal, rows))
}

pub(super) async fn audit(
    state: &StoreState,
    principal: &Principal,
    study: &str,
    instances: usize,
) -> Result<(), WebError> {
    let event = AccessEvent::Retrieved {
        study_uid: study.to_owned(),
        instances,
    };
    state
        .access
        .audit(principal, event)
        .await
        .map_err(|e| WebError::internal(&e.0))
}

pub(super) async fn read_all(state: &StoreState, row: &InstanceRow) -> Result<Vec<u8>, WebError> {
    state
        .store
        .blobs()
        .read(&row.blob_key, row.size.max(0) as usize)
        .await
        .map_err(|e| WebError::internal(&e))
}

/// A stored instance as a local file that can be read with seeks: the blob
/// itself when blobs are files, else a copy streamed into the staging
/// directory, removed when this is dropped (and at startup, after a crash).
pub(super) struct LocalFile {
    /// The file.
    pub path: std::path::PathBuf,
    _copy: Option<tempfile::TempPath>,
}

pub(super) async fn local_file(
    state: &StoreState,
    row: &InstanceRow,
) -> Result<LocalFile, WebError> {
    let blobs = state.store.blobs();
    if let Some(path) = blobs.local_path(&row.blob_key) {
        return Ok(LocalFile { path, _copy: None });
    }
    let dir = state.store.config().staging_dir.clone();
    let copy = tokio::task::spawn_blocking(move || {
        tempfile::Builder::new()
            .prefix("copy-")
            .suffix(".part")
            .tempfile_in(dir)
    })
    .await
    .map_err(|e| WebError::internal(&e))?
    .map_err(|e| WebError::internal(&e))?;
    let (file, path) = copy.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let copied = async {
        let mut reader = blobs.get(&row.blob_key).await?;
        tokio::io::copy(&mut reader, &mut file).await?;
        tokio::io::AsyncWriteExt::flush(&mut file).await
    }
    .await;
    copied.map_err(|e| WebError::internal(&e))?;
    Ok(LocalFile {
        path: path.to_path_buf(),
        _copy: Some(path),
    })
}

async fn load_frames(
    state: &StoreState,
    row: &InstanceRow,
) -> Result<crate::pixels::Frames, WebError> {
    let data = read_all(state, row).await?;
    let read =
        tokio::task::spawn_blocking(move || read_frames(&data).map(Frames::into_little_endian))
            .await
            .map_err(|e| WebError::internal(&e))?;
    read.map_err(|e| match e {
        FrameError::Unreadable(_) => WebError::internal(&e),
        FrameError::NoPixelData => WebError::new(WebCode::NoPixelData, e.to_string()),
        other => not_acceptable(other.to_string()),
    })
}

/// Where a bulk data value sits: a top-level tag, or the sequences and
/// items leading to it, as the metadata's `BulkDataURI`s name them
/// (`54000100.0.54001010`).
struct BulkPath {
    items: Vec<(dicom_object::Tag, usize)>,
    tag: dicom_object::Tag,
}

impl BulkPath {
    /// Nested deeper than any data set the store accepts is not a path.
    const MAX_DEPTH: usize = 32;

    fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len().is_multiple_of(2) || parts.len() > 2 * Self::MAX_DEPTH + 1 {
            return None;
        }
        let tag_of = |text: &str| parse_tag(text).map(|(g, e)| dicom_object::Tag(g, e));
        let mut items = Vec::new();
        for pair in parts[..parts.len() - 1].chunks_exact(2) {
            items.push((tag_of(pair[0])?, pair[1].parse().ok()?));
        }
        Some(Self {
            items,
            tag: tag_of(parts[parts.len() - 1])?,
        })
    }

    fn is_pixel_data(&self) -> bool {
        self.items.is_empty() && self.tag == dicom_object::Tag(0x7FE0, 0x0010)
    }
}

fn element_bytes(data: &[u8], path: &BulkPath) -> Option<Vec<u8>> {
    let collected = crate::pixels::collect(data).ok()?;
    let mut dataset = &collected.dataset;
    for (sequence, item) in &path.items {
        dataset = dataset.get(*sequence)?.items()?.get(*item)?;
    }
    let value = dataset.get(path.tag)?;
    Some(value.value().to_bytes().ok()?.into_owned())
}

/// The media type frames of this transfer syntax are sent as (PS3.18 Table
/// 8.7.3-2); `None` for video and other syntaxes without a frame form.
fn frame_media_type(transfer_syntax: &str, native: bool) -> Option<&'static str> {
    if native {
        return Some("application/octet-stream");
    }
    Some(match transfer_syntax {
        "1.2.840.10008.1.2.4.50"
        | "1.2.840.10008.1.2.4.51"
        | "1.2.840.10008.1.2.4.57"
        | "1.2.840.10008.1.2.4.70" => "image/jpeg",
        "1.2.840.10008.1.2.5" => "image/dicom-rle",
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "image/jls",
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "image/jp2",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => {
            "image/jphc"
        }
        _ => return None,
    })
}

/// Frames go as stored: the client must accept their media type, or any.
fn check_accept(headers: &HeaderMap, media: &str, transfer_syntax: &str) -> Result<(), WebError> {
    let accept = accept_of(headers);
    let ok = accept.is_empty()
        || accept.contains("*/*")
        || accept.contains(media)
        || transfer_syntax_asked(&accept).is_some_and(|ts| ts == "*" || ts == transfer_syntax);
    if ok {
        Ok(())
    } else {
        Err(not_acceptable(format!(
            "the frames are stored as {media} (transfer syntax {transfer_syntax}); Ferry sends them as stored and does not transcode"
        )))
    }
}

fn accept_of(headers: &HeaderMap) -> String {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase()
}

fn transfer_syntax_asked(accept: &str) -> Option<String> {
    let at = accept.find("transfer-syntax=")? + "transfer-syntax=".len();
    let rest = &accept[at..];
    let value: String = rest
        .trim_start_matches('"')
        .chars()
        .take_while(|c| !matches!(c, '"' | ';' | ',' | ' '))
        .collect();
    Some(value)
}

pub(super) fn multipart_of(media: &str, transfer_syntax: &str, parts: Vec<Bytes>) -> Response {
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let part_type = if transfer_syntax.is_empty() || media == "application/octet-stream" {
        media.to_owned()
    } else {
        format!("{media}; transfer-syntax={transfer_syntax}")
    };
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: {part_type}\r\nContent-Length: {}\r\n\r\n",
                part.len()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&part);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/related; type=\"{media}\"; boundary={boundary}");
    match HeaderValue::from_str(&content_type) {
        Ok(value) => (StatusCode::OK, [(header::CONTENT_TYPE, value)], body).into_response(),
        Err(e) => WebError::internal(&e).into_response(),
    }
}

fn parse_tag(text: &str) -> Option<(u16, u16)> {
    if text.len() != 8 {
        return None;
    }
    let group = u16::from_str_radix(&text[..4], 16).ok()?;
    let element = u16::from_str_radix(&text[4..], 16).ok()?;
    Some((group, element))
}

fn not_found() -> WebError {
    WebError::new(WebCode::NotFound, "no such study, series or instance")
}

fn not_acceptable(message: impl Into<String>) -> WebError {
    WebError::new(WebCode::NotAcceptable, message)
}
