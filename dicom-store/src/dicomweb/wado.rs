//! WADO-RS (PS3.18 §10.4): instances and metadata with bulk data URIs;
//! frames and bulk data are in [`super::wado_frames`]. Instances go as
//! stored unless the client asks for a transfer syntax: Explicit or
//! Implicit VR Little Endian are made of native and decodable compressed
//! instances ([`crate::transcode`]), and anything else Ferry cannot
//! produce gets 406 with the reason.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::{self, BoxFuture, FutureExt};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};

use super::accept::{accept_of, media_ranges};
use super::{authenticate, dicom_json, root_url, WebCode, WebError};
use crate::index::InstanceRow;
use crate::transcode::{self, TranscodeError, EXPLICIT_VR_LE, IMPLICIT_VR_LE};
use crate::{AccessEvent, Principal, StoreState};

/// Conversions running at once (see [`transcode::CONVERSIONS_AT_ONCE`]).
pub(super) static CONVERSIONS: tokio::sync::Semaphore =
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

/// The size of the chunks an instance is sent in: large enough that a local
/// file is read in few blocking calls, small enough that several concurrent
/// retrievals of huge studies cost a few megabytes each.
const CHUNK_BYTES: usize = 256 * 1024;

/// Batches of small instances read ahead of the one being sent in a
/// retrieval: at most this many batches held per retrieval.
const READ_AHEAD: usize = 4;

/// A batch of small instances holds at most this many bytes and
/// [`BATCH_INSTANCES`] instances.
const BATCH_BYTES: usize = 1024 * 1024;
const BATCH_INSTANCES: usize = 32;

/// One instance's part of a multipart answer.
type Part = BoxStream<'static, std::io::Result<Bytes>>;

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
    let instances = plans.len();
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let opening = boundary.clone();
    // Each instance goes from its blob in chunks, one instance after the
    // other: three retrievals of studies of 200 MB instances cost a few
    // chunks each, not an instance each. Instances of one chunk or less go
    // in batches (see `batches`), each read in one call into one frame
    // (`BlobStore::read_joined`), up to READ_AHEAD batches ahead of the one
    // being sent: a study of many small instances is otherwise bound by the
    // trips to the blocking pool per file (open, read, read to the end) and
    // the frames per part, not by its bytes. Only one converted instance is
    // held at a time.
    let mut ready = ready;
    let parts = stream::iter(batches(plans))
        .map(move |batch| -> BoxFuture<'static, Part> {
            let opening = opening.clone();
            let head = move |ts: &str, len: usize| {
                format!(
                    "--{opening}\r\nContent-Type: application/dicom; transfer-syntax={ts}\r\nContent-Length: {len}\r\n\r\n"
                )
            };
            let tail = || Ok::<_, std::io::Error>(Bytes::from_static(b"\r\n"));
            let blobs = blobs.clone();
            match batch {
                Batch::Small(rows) => async move {
                    let parts = rows
                        .into_iter()
                        .map(|row| {
                            let size = row.size.max(0) as usize;
                            let before = head(&row.transfer_syntax, size).into_bytes();
                            (before, row.blob_key, size)
                        })
                        .collect();
                    let frame = blobs.read_joined(parts, b"\r\n").await.map(Bytes::from);
                    stream::once(future::ready(frame)).boxed()
                }
                .boxed(),
                Batch::One(row, Form::AsStored) => {
                    let head = Bytes::from(head(&row.transfer_syntax, row.size.max(0) as usize));
                    let part = stream::once(async move { Ok(head) })
                        .chain(blob_stream(blobs, row.blob_key))
                        .chain(stream::once(async move { tail() }))
                        .boxed();
                    future::ready(part).boxed()
                }
                Batch::One(row, Form::Converted(ts)) => {
                    let done = ready.take();
                    let part = stream::once(async move {
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
                            Ok(Bytes::from(head(ts, bytes.len()))),
                            Ok(bytes),
                            tail(),
                        ]))
                    })
                    .try_flatten()
                    .boxed();
                    future::ready(part).boxed()
                }
            }
        })
        .buffered(READ_AHEAD)
        .flatten()
        .peekable();
    // The first batches are read while the audit event is made durable;
    // nothing is sent before it is.
    let mut parts = Box::pin(parts);
    let (audited, first) = tokio::join!(
        audit(state, &principal, study, instances),
        parts.as_mut().peek()
    );
    audited?;
    // A first part that could not be read is answered with its failure,
    // not with a 200 whose body breaks at once.
    if let Some(Err(e)) = first {
        return Err(WebError::internal(e));
    }
    let header_value =
        format!("multipart/related; type=\"application/dicom\"; boundary={boundary}");
    let closing = stream::once(async move { Ok(Bytes::from(format!("--{boundary}--\r\n"))) });
    let body = Body::from_stream(parts.chain(closing));
    let content_type = HeaderValue::from_str(&header_value).map_err(|e| WebError::internal(&e))?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Instances sent together: a run of small ones sent as stored (each at
/// most [`CHUNK_BYTES`]), or one instance.
enum Batch {
    Small(Vec<InstanceRow>),
    One(Box<InstanceRow>, Form),
}

/// The instances in order, runs of small ones as stored gathered into
/// batches of at most [`BATCH_INSTANCES`] and [`BATCH_BYTES`].
fn batches(plans: Vec<(InstanceRow, Form)>) -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut run: Vec<InstanceRow> = Vec::new();
    let mut run_bytes = 0;
    for (row, form) in plans {
        let size = row.size.max(0) as usize;
        if form != Form::AsStored || size > CHUNK_BYTES {
            if !run.is_empty() {
                batches.push(Batch::Small(std::mem::take(&mut run)));
                run_bytes = 0;
            }
            batches.push(Batch::One(Box::new(row), form));
            continue;
        }
        if run.len() == BATCH_INSTANCES || run_bytes + size > BATCH_BYTES {
            batches.push(Batch::Small(std::mem::take(&mut run)));
            run_bytes = 0;
        }
        run_bytes += size;
        run.push(row);
    }
    if !run.is_empty() {
        batches.push(Batch::Small(run));
    }
    batches
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

pub(super) fn transcode_failure(e: TranscodeError) -> WebError {
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

pub(super) fn not_found() -> WebError {
    WebError::new(WebCode::NotFound, "no such study, series or instance")
}

pub(super) fn not_acceptable(message: impl Into<String>) -> WebError {
    WebError::new(WebCode::NotAcceptable, message)
}
