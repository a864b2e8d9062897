//! WADO-RS (PS3.18 §10.4): instances, metadata with bulk data URIs, frames
//! and bulk data. Instances and frames go as stored unless the client asks
//! for a transfer syntax: Explicit or Implicit VR Little Endian are made of
//! native and decodable compressed instances ([`crate::transcode`]), and
//! anything else Ferry cannot produce gets 406 with the reason.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::accept::{accept_of, check_accept, frame_media_type, media_matches, media_ranges};
use super::{authenticate, dicom_json, root_url, WebCode, WebError};
use crate::index::InstanceRow;
use crate::pixels::{read_frames, FrameError, Frames};
use crate::transcode::{self, TranscodeError, EXPLICIT_VR_LE, IMPLICIT_VR_LE};
use crate::{AccessEvent, Principal, StoreState};

/// Conversions running at once (see [`transcode::CONVERSIONS_AT_ONCE`]).
static CONVERSIONS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(transcode::CONVERSIONS_AT_ONCE);

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
/// the listed frames (1-based, comma-separated), as stored, or decoded to
/// native little-endian samples when the client asks for
/// `application/octet-stream` (whose default syntax is Explicit VR Little
/// Endian) and the frames are compressed.
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
    let choice = frame_choice(&headers, &row.transfer_syntax)?;
    if choice == FrameChoice::Decode {
        let data = read_all(&state, &row).await?;
        let _permit = CONVERSIONS
            .acquire()
            .await
            .map_err(|e| WebError::internal(&e))?;
        let parts = tokio::task::spawn_blocking(move || transcode::decode_frames(&data, &wanted))
            .await
            .map_err(|e| WebError::internal(&e))?
            .map_err(transcode_failure)?;
        audit(&state, &principal, &row.study_uid, 1).await?;
        let parts = parts.into_iter().map(Bytes::from).collect();
        return Ok(multipart_of(
            "application/octet-stream",
            EXPLICIT_VR_LE,
            parts,
        ));
    }
    let frames = load_frames(&state, &row).await?;
    let media = frame_media_type(&frames.transfer_syntax, frames.native).ok_or_else(|| {
        not_acceptable(format!(
            "frames of transfer syntax {} cannot be sent as stored",
            frames.transfer_syntax
        ))
    })?;
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
    // Native frames are little endian (big-endian ones were turned), so
    // they are what Explicit VR Little Endian frames are, whatever the
    // stored syntax.
    let transfer_syntax = if frames.native {
        EXPLICIT_VR_LE
    } else {
        &frames.transfer_syntax
    };
    Ok(multipart_of(media, transfer_syntax, parts))
}

/// How frames are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameChoice {
    /// As stored: native bytes (little endian), or the compressed stream.
    AsStored,
    /// Decoded to native little-endian samples.
    Decode,
}

/// What the Accept header lets frames of `stored` go as, the as-stored form
/// taken over decoding among ranges of equal quality.
fn frame_choice(headers: &HeaderMap, stored: &str) -> Result<FrameChoice, WebError> {
    let native = crate::validate::is_native(stored);
    let media = frame_media_type(stored, native);
    let ranges = media_ranges(&accept_of(headers));
    if ranges.is_empty() {
        return match media {
            Some(_) => Ok(FrameChoice::AsStored),
            None => Err(not_acceptable(format!(
                "frames of transfer syntax {stored} cannot be sent as stored"
            ))),
        };
    }
    let stored_label = if native { EXPLICIT_VR_LE } else { stored };
    let mut best: Option<(f32, FrameChoice)> = None;
    let mut why_not_decoded = None;
    for range in ranges.iter().filter(|r| r.q > 0.0) {
        let part = range.part_type();
        let ts = range.transfer_syntax.as_deref();
        let as_stored = media.is_some_and(|m| {
            ts == Some("*")
                || (media_matches(part, m)
                    && match ts {
                        None => true,
                        Some(t) => t == stored_label || (native && t == IMPLICIT_VR_LE),
                    })
        });
        let choice = if as_stored {
            FrameChoice::AsStored
        } else if !native
            && part == "application/octet-stream"
            && matches!(ts, None | Some(EXPLICIT_VR_LE) | Some(IMPLICIT_VR_LE))
        {
            if !transcode::decodable(stored) {
                why_not_decoded.get_or_insert_with(|| {
                    format!("the frames are stored in transfer syntax {stored}, which Ferry cannot decode")
                });
                continue;
            }
            FrameChoice::Decode
        } else {
            continue;
        };
        let better = match best {
            None => true,
            Some((q, chosen)) => {
                range.q > q
                    || (range.q == q
                        && chosen == FrameChoice::Decode
                        && choice == FrameChoice::AsStored)
            }
        };
        if better {
            best = Some((range.q, choice));
        }
    }
    best.map(|(_, choice)| choice).ok_or_else(|| {
        not_acceptable(why_not_decoded.unwrap_or_else(|| match media {
            Some(m) => format!(
                "the frames are stored as {m} (transfer syntax {stored}); Ferry sends them as stored, or decoded as application/octet-stream in Explicit VR Little Endian"
            ),
            None => format!("frames of transfer syntax {stored} cannot be sent as stored"),
        }))
    })
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
        let transfer_syntax = if frames.native {
            EXPLICIT_VR_LE
        } else {
            &frames.transfer_syntax
        };
        let parts = frames.frames.into_iter().map(Bytes::from).collect();
        return Ok(multipart_of(media, transfer_syntax, parts));
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
    let wanted = instance_syntaxes(headers)?;
    let (principal, rows) = visible(state, headers, study, series, sop).await?;
    // Every instance's form is settled before the answer starts: one that
    // cannot be sent as asked makes the whole answer a 406 naming it, not
    // a multipart body cut short.
    let plans = rows
        .into_iter()
        .map(|row| match plan(&row, &wanted) {
            Ok(send) => Ok((row, send)),
            Err(why) => Err(not_acceptable(format!(
                "instance {}: {why}",
                row.sop_instance_uid
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let blobs = state.store.blobs().clone();
    // One instance converted is converted before answering, so that its
    // failures keep their status.
    let ready = match plans.as_slice() {
        [(row, Form::Converted(ts))] => Some(converted(blobs.clone(), row, ts).await?),
        _ => None,
    };
    audit(state, &principal, study, plans.len()).await?;
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let opening = boundary.clone();
    // Each instance goes from its blob in chunks, one instance after the
    // other: three retrievals of studies of 200 MB instances cost a few
    // chunks each, not an instance each. Only one converted instance is
    // held at a time.
    let mut ready = ready;
    let parts = stream::iter(plans)
        .map(move |(row, send)| {
            let opening = opening.clone();
            let head = move |ts: &str, len: usize| {
                Bytes::from(format!(
                    "--{opening}\r\nContent-Type: application/dicom; transfer-syntax={ts}\r\nContent-Length: {len}\r\n\r\n"
                ))
            };
            let tail = || Ok::<_, std::io::Error>(Bytes::from_static(b"\r\n"));
            match send {
                Form::AsStored => {
                    let head = head(&row.transfer_syntax, row.size.max(0) as usize);
                    stream::once(async move { Ok(head) })
                        .chain(blob_stream(blobs.clone(), row.blob_key))
                        .chain(stream::once(async move { tail() }))
                        .boxed()
                }
                Form::Converted(ts) => {
                    let blobs = blobs.clone();
                    let done = ready.take();
                    let head = move |len| head(ts, len);
                    stream::once(async move {
                        let bytes = match done {
                            Some(bytes) => bytes,
                            None => converted(blobs, &row, ts).await.map_err(|e| {
                                tracing::warn!(
                                    sop = row.sop_instance_uid,
                                    "a conversion failed after the answer began: {e:?}"
                                );
                                std::io::Error::other("the conversion of an instance failed")
                            })?,
                        };
                        Ok::<_, std::io::Error>(stream::iter([
                            Ok(head(bytes.len())),
                            Ok(bytes),
                            tail(),
                        ]))
                    })
                    .try_flatten()
                    .boxed()
                }
            }
        })
        .flatten();
    let header_value =
        format!("multipart/related; type=\"application/dicom\"; boundary={boundary}");
    let closing = stream::once(async move { Ok(Bytes::from(format!("--{boundary}--\r\n"))) });
    let body = Body::from_stream(parts.chain(closing));
    let content_type = HeaderValue::from_str(&header_value).map_err(|e| WebError::internal(&e))?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// How one instance is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// As stored, streamed from its blob.
    AsStored,
    /// Converted to this transfer syntax.
    Converted(&'static str),
}

/// The transfer syntaxes the Accept header allows instances in, each with
/// its quality; `None` is as stored (no `transfer-syntax`, or `*`). Ferry
/// sends instances as stored when no syntax is named, as most archives do,
/// rather than decode every compressed study for clients that never asked.
fn instance_syntaxes(headers: &HeaderMap) -> Result<Vec<(f32, Option<String>)>, WebError> {
    let ranges = media_ranges(&accept_of(headers));
    if ranges.is_empty() {
        return Ok(vec![(1.0, None)]);
    }
    let usable: Vec<(f32, Option<String>)> = ranges
        .into_iter()
        .filter(|r| r.q > 0.0)
        .filter(|r| match r.media.as_str() {
            "multipart/related" => matches!(r.part.as_deref(), None | Some("application/dicom")),
            "application/dicom" | "*/*" | "multipart/*" => true,
            _ => false,
        })
        .map(|r| (r.q, r.transfer_syntax.filter(|ts| ts != "*")))
        .collect();
    if usable.is_empty() {
        return Err(not_acceptable(
            "instances are sent as multipart/related; type=\"application/dicom\"",
        ));
    }
    Ok(usable)
}

/// How an instance goes, given what the client accepts: the best quality
/// that can be made, as stored over converted at equal quality; else why
/// none can.
fn plan(row: &InstanceRow, wanted: &[(f32, Option<String>)]) -> Result<Form, String> {
    let mut best: Option<(f32, Form)> = None;
    let mut first_reason = None;
    for (q, ts) in wanted {
        let send = match ts.as_deref() {
            None => Form::AsStored,
            Some(ts) if ts == row.transfer_syntax => Form::AsStored,
            Some(ts) => {
                let pixels = [row.rows, row.columns, row.frames.or(Some(1))]
                    .into_iter()
                    .map(|n| n.unwrap_or(0).max(0) as u64)
                    .fold(1u64, u64::saturating_mul);
                let possible = transcode::check(&row.transfer_syntax, ts)
                    .and_then(|()| transcode::check_indexed_size(row.size.max(0) as u64, pixels));
                match (possible, ts) {
                    (Ok(()), IMPLICIT_VR_LE) => Form::Converted(IMPLICIT_VR_LE),
                    (Ok(()), _) => Form::Converted(EXPLICIT_VR_LE),
                    (Err(why), _) => {
                        first_reason.get_or_insert(why);
                        continue;
                    }
                }
            }
        };
        let better = match best {
            None => true,
            Some((best_q, chosen)) => {
                *q > best_q || (*q == best_q && chosen != Form::AsStored && send == Form::AsStored)
            }
        };
        if better {
            best = Some((*q, send));
        }
    }
    best.map(|(_, send)| send).ok_or_else(|| {
        first_reason.unwrap_or_else(|| "no transfer syntax asked for can be sent".to_owned())
    })
}

/// An instance converted, its blob read whole (conversions at once are
/// limited: each holds an instance several times over).
async fn converted(
    blobs: std::sync::Arc<dyn crate::blob::BlobStore>,
    row: &InstanceRow,
    wanted: &'static str,
) -> Result<Bytes, WebError> {
    let _permit = CONVERSIONS
        .acquire()
        .await
        .map_err(|e| WebError::internal(&e))?;
    let data = blobs
        .read(&row.blob_key, row.size.max(0) as usize)
        .await
        .map_err(|e| WebError::internal(&e))?;
    let converted = tokio::task::spawn_blocking(move || transcode::convert(&data, wanted))
        .await
        .map_err(|e| WebError::internal(&e))?
        .map_err(transcode_failure)?;
    Ok(Bytes::from(converted))
}

fn transcode_failure(e: TranscodeError) -> WebError {
    match e {
        TranscodeError::Unsupported(_) | TranscodeError::TooLarge(_) => {
            not_acceptable(e.to_string())
        }
        TranscodeError::NoSuchFrame(..) => WebError::new(WebCode::NoSuchFrame, e.to_string()),
        TranscodeError::Unreadable(_) => WebError::internal(&e),
    }
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

pub(super) fn multipart_of(media: &str, transfer_syntax: &str, parts: Vec<Bytes>) -> Response {
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let part_type = if transfer_syntax.is_empty() {
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
