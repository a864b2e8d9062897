//! STOW-RS (PS3.18 §10.5): `POST /studies` and `POST /studies/{study}` with a
//! `multipart/related; type="application/dicom"` body.
//!
//! Parts are read from the socket one at a time and staged to disk; each staged
//! part is then checked and committed in a task of its own while the next part
//! is read, so the file fsyncs of one request overlap and their index rows
//! share group commits (see [`crate::ingest`]). At most [`IN_FLIGHT`] parts of
//! one request are in progress at once.
//!
//! Status: 200 when every instance was stored (or already was), 202 when some
//! failed, 409 when all failed, 400 for a malformed or empty body, 413 over
//! the request size limit, the per-instance limit or the part limit
//! ([`StoreState::max_parts`]), 415 for another content type. The body lists
//! stored instances in *Referenced SOP Sequence* (0008,1199) with their
//! Retrieve URL, and failed ones in *Failed SOP Sequence* (0008,1198) with a
//! *Failure Reason* (0008,1197) from [`IngestError::failure_reason`].
//!
//! A request that has to be cut off (413 or 400) after some of its instances
//! were stored still answers with that body, so the sender learns what was
//! kept: the status says the request was refused, a `Warning` header says
//! why, and the parts after the cut were not read. When nothing was stored
//! the answer is Ferry's plain error envelope. The part limit also bounds the
//! answer (one item of a few hundred bytes per part) and the log, which
//! gets one line per request with counts, not one per refused part.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::multipart::Multipart;
use super::{authenticate, dicom_json, WebCode, WebError};
use crate::error::IngestError;
use crate::ingest::tally::Via;
use crate::ingest::{IngestContext, Stored};
use crate::json::JsonDataset;
use crate::{AccessEvent, StoreState};

/// Parts of one request checked and committed concurrently.
pub const IN_FLIGHT: usize = 16;

/// After a refusal, how much more of the body is read and dropped so the
/// client can read the answer (see [`Multipart::drain`]), and for how long.
const DRAIN_BYTES: u64 = 32 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

const REFERENCED_SOP_CLASS_UID: (u16, u16) = (0x0008, 0x1150);
const REFERENCED_SOP_INSTANCE_UID: (u16, u16) = (0x0008, 0x1155);
const RETRIEVE_URL: (u16, u16) = (0x0008, 0x1190);
const FAILURE_REASON: (u16, u16) = (0x0008, 0x1197);
const FAILED_SOP_SEQUENCE: (u16, u16) = (0x0008, 0x1198);
const REFERENCED_SOP_SEQUENCE: (u16, u16) = (0x0008, 0x1199);

/// `POST /studies`.
pub async fn store(
    State(state): State<StoreState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, WebError> {
    stow(state, headers, None, body).await
}

/// `POST /studies/{study}`: every instance must belong to `{study}`.
pub async fn store_into_study(
    State(state): State<StoreState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, WebError> {
    crate::uid::validate(&study)
        .map_err(|e| WebError::bad_request(format!("the study UID in the path: {e}")))?;
    stow(state, headers, Some(study), body).await
}

/// The boundary of a `multipart/related` request whose root type is DICOM.
fn boundary(headers: &HeaderMap) -> Result<String, WebError> {
    let unsupported = || {
        WebError::new(
            WebCode::UnsupportedMediaType,
            "send multipart/related; type=\"application/dicom\"",
        )
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unsupported)?;
    let mut params = content_type.split(';');
    let essence = params.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("multipart/related") {
        return Err(unsupported());
    }
    let mut boundary = None;
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "type" if !value.eq_ignore_ascii_case("application/dicom") => return Err(unsupported()),
            "boundary" => boundary = Some(value.to_owned()),
            _ => {}
        }
    }
    let boundary = boundary.filter(|b| !b.is_empty()).ok_or_else(|| {
        WebError::bad_request("the multipart/related content type has no boundary")
    })?;
    // RFC 2046 caps a boundary at 70 characters, but real senders exceed it
    // (Orthanc sends 73); anything a header can carry is accepted, up to a
    // length that keeps the delimiter search cheap.
    if boundary.len() > MAX_BOUNDARY_LEN {
        return Err(WebError::bad_request(format!(
            "the multipart boundary is {} characters long; at most {MAX_BOUNDARY_LEN} are accepted",
            boundary.len()
        )));
    }
    Ok(boundary)
}

/// The longest multipart boundary accepted.
const MAX_BOUNDARY_LEN: usize = 200;

/// The result of one part: its stored instance, or why it failed and which
/// instance it was when that is known.
type PartResult = Result<Stored, (Option<(String, String)>, IngestError)>;

/// Why a request was read no further than it was.
#[derive(Debug)]
enum Stop {
    /// More parts than [`StoreState::max_parts`].
    TooManyParts,
    /// One part over the per-instance limit.
    PartTooLarge(u64),
    /// The body itself failed: over the request limit, malformed, cut off.
    Body(std::io::Error),
}

/// A request read only in part, as answered: its code (and so status) and reason.
struct Stopped {
    code: WebCode,
    message: String,
}

impl Stopped {
    fn of(stop: Stop, state: &StoreState) -> Self {
        match stop {
            Stop::TooManyParts => Stopped {
                code: WebCode::TooManyParts,
                message: format!(
                    "a STOW-RS request may carry at most {} parts; send the rest in further requests",
                    state.max_parts
                ),
            },
            Stop::PartTooLarge(limit) => Stopped {
                code: WebCode::TooLarge,
                message: format!("an instance may be at most {limit} bytes"),
            },
            Stop::Body(e) if e.kind() == std::io::ErrorKind::FileTooLarge => Stopped {
                code: WebCode::TooLarge,
                message: format!(
                    "a request may carry at most {} bytes",
                    state.max_request_bytes
                ),
            },
            Stop::Body(e) => Stopped {
                code: WebCode::BadRequest,
                message: e.to_string(),
            },
        }
    }
}

/// The body as sent, or inflated when it came with `Content-Encoding:
/// gzip`: a clinic on a slow link sends a study in about half the bytes
/// (pixel data compresses less than the rest, but most of it does). Any
/// other coding is refused rather than stored as it came.
fn decoded(
    headers: &HeaderMap,
    body: Body,
) -> Result<BoxStream<'static, std::io::Result<Bytes>>, WebError> {
    let raw = body.into_data_stream().map_err(std::io::Error::other);
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match coding.as_deref() {
        None | Some("" | "identity") => Ok(raw.boxed()),
        Some("gzip" | "x-gzip") => {
            let mut inflate = async_compression::tokio::bufread::GzipDecoder::new(
                tokio_util::io::StreamReader::new(raw),
            );
            inflate.multiple_members(true);
            Ok(tokio_util::io::ReaderStream::new(inflate).boxed())
        }
        Some(other) => Err(WebError::new(
            WebCode::UnsupportedMediaType,
            format!("Content-Encoding {other:?} is not accepted; send the body as it is or gzip"),
        )),
    }
}

async fn stow(
    state: StoreState,
    headers: HeaderMap,
    expected_study: Option<String>,
    body: Body,
) -> Result<Response, WebError> {
    let principal = authenticate(&state, &headers).await?;
    let facility_id = principal
        .store_facility
        .ok_or_else(|| WebError::new(WebCode::Forbidden, "this account may not store studies"))?;
    let boundary = boundary(&headers)?;
    let ctx = Arc::new(IngestContext {
        facility_id,
        patient_id: None,
        expected_study: expected_study.clone(),
        // Audited before the answer goes out (`StudyAccess::audit`).
        audit_owed_by: None,
    });

    // The limit counts the bytes after inflating, so a small compressed
    // body cannot stand for an unbounded one.
    let body = decoded(&headers, body)?;
    let mut multipart = Multipart::new(body, &boundary, state.max_request_bytes);
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks: JoinSet<(usize, PartResult)> = JoinSet::new();
    let mut results: BTreeMap<usize, PartResult> = BTreeMap::new();
    let mut index = 0;
    let read: Result<(), Stop> = async {
        while let Some(part) = multipart.next_part().await.map_err(Stop::Body)? {
            // The cap bounds everything a request costs per part: staged
            // files, tasks, results held and the answer's length.
            if index >= state.max_parts {
                return Err(Stop::TooManyParts);
            }
            let this = index;
            index += 1;
            if part
                .content_type
                .as_deref()
                .is_some_and(|t| t != "application/dicom")
            {
                let refused = IngestError::Invalid(crate::validate::ValidationError::NotDicom(
                    "the part is not application/dicom".to_owned(),
                ));
                state.store.tally().refused(Via::Stow, &refused);
                results.insert(this, Err((None, refused)));
                continue;
            }
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let staged = match state.store.stage(multipart.body()).await {
                Ok(staged) => staged,
                // A failure to read the body itself ends the request.
                Err(IngestError::Io(e)) => return Err(Stop::Body(e)),
                // So does a part over the limit: skipping the rest of it
                // would mean reading what is refused anyway.
                Err(IngestError::TooLarge { limit }) => {
                    let refused = IngestError::TooLarge { limit };
                    state.store.tally().refused(Via::Stow, &refused);
                    return Err(Stop::PartTooLarge(limit));
                }
                Err(e) => {
                    state.store.tally().refused(Via::Stow, &e);
                    results.insert(this, Err((None, e)));
                    continue;
                }
            };
            let bytes = staged.size();
            let store = state.store.clone();
            let ctx = Arc::clone(&ctx);
            tasks.spawn(async move {
                let _permit = permit;
                let result = match store.prepare_named(staged).await {
                    Ok(prepared) => {
                        let uids = (
                            prepared.header().sop_class_uid.clone(),
                            prepared.header().sop_instance_uid.clone(),
                        );
                        store
                            .commit(prepared, &ctx)
                            .await
                            .map_err(|e| (Some(uids), e))
                    }
                    Err(refused) => Err(refused),
                };
                let outcome = result.as_ref().map_err(|(_, e)| e);
                store.tally().record(Via::Stow, outcome, bytes);
                (this, result)
            });
        }
        Ok(())
    }
    .await;
    // Finish what was started even when the body turned out bad: those
    // instances are valid and their senders may retry the rest.
    while let Some(joined) = tasks.join_next().await {
        let (this, result) = joined.map_err(|e| WebError::internal(&e))?;
        results.insert(this, result);
    }
    let stopped = read.err().map(|stop| Stopped::of(stop, &state));
    if stopped.is_some() {
        // Bounded in bytes and time: a lingering close, not a read of
        // what was refused.
        let drained = tokio::time::timeout(DRAIN_TIME, multipart.drain(DRAIN_BYTES)).await;
        tracing::debug!(
            ended = matches!(drained, Ok(true)),
            "refused STOW-RS body drained"
        );
    }
    log_summary(index, &results, stopped.as_ref());
    let stored_any = results.values().any(Result::is_ok);
    match stopped {
        // Nothing was stored: a plain refusal says all there is to say.
        Some(stopped) if !stored_any => Err(WebError::new(stopped.code, stopped.message)),
        None if results.is_empty() => Err(WebError::bad_request("the request has no parts")),
        stopped => {
            respond(
                &state,
                &super::root_url(&state, &headers),
                &principal,
                expected_study.as_deref(),
                results,
                stopped.as_ref(),
            )
            .await
        }
    }
}

/// One line per request, however many parts were refused: the counts, the
/// refusals by failure reason, and the first few causes.
fn log_summary(parts: usize, results: &BTreeMap<usize, PartResult>, stopped: Option<&Stopped>) {
    const CAUSES_LOGGED: usize = 3;
    let stored = results.values().filter(|r| r.is_ok()).count();
    let mut by_reason: BTreeMap<u16, usize> = BTreeMap::new();
    let mut causes = Vec::new();
    for (_, error) in results.values().filter_map(|r| r.as_ref().err()) {
        *by_reason.entry(error.failure_reason()).or_default() += 1;
        if causes.len() < CAUSES_LOGGED {
            causes.push(error.to_string());
        }
    }
    let refused = parts - stored;
    let reasons = by_reason
        .iter()
        .map(|(reason, n)| format!("{reason:04X}:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    match stopped {
        Some(stopped) => tracing::warn!(
            parts, stored, refused, %reasons, ?causes, stopped = %stopped.message,
            "STOW-RS request read in part"
        ),
        None if refused > 0 => tracing::info!(
            parts, stored, refused, %reasons, ?causes,
            "STOW-RS request with refused instances"
        ),
        None => tracing::debug!(parts, stored, "STOW-RS request"),
    }
}

async fn respond(
    state: &StoreState,
    base: &str,
    principal: &crate::Principal,
    expected_study: Option<&str>,
    results: BTreeMap<usize, PartResult>,
    stopped: Option<&Stopped>,
) -> Result<Response, WebError> {
    let mut referenced = Vec::new();
    let mut failed = Vec::new();
    let mut per_study: BTreeMap<String, usize> = BTreeMap::new();
    for result in results.into_values() {
        match result {
            Ok(stored) => {
                let h = &stored.header;
                *per_study.entry(h.study_uid.clone()).or_default() += 1;
                let mut item = JsonDataset::new();
                item.text(REFERENCED_SOP_CLASS_UID, "UI", Some(&h.sop_class_uid))
                    .text(REFERENCED_SOP_INSTANCE_UID, "UI", Some(&h.sop_instance_uid))
                    .text(
                        RETRIEVE_URL,
                        "UR",
                        Some(&format!(
                            "{base}/studies/{}/series/{}/instances/{}",
                            h.study_uid, h.series_uid, h.sop_instance_uid
                        )),
                    );
                referenced.push(item);
            }
            Err((uids, error)) => {
                let (class, instance) = uids.unzip();
                let mut item = JsonDataset::new();
                item.text(REFERENCED_SOP_CLASS_UID, "UI", class.as_deref())
                    .text(REFERENCED_SOP_INSTANCE_UID, "UI", instance.as_deref())
                    .int(
                        FAILURE_REASON,
                        "US",
                        Some(i64::from(error.failure_reason())),
                    );
                failed.push(item);
            }
        }
    }
    let status = match (stopped, referenced.is_empty(), failed.is_empty()) {
        (Some(stopped), ..) => stopped.code.status(),
        (None, _, true) => StatusCode::OK,
        (None, false, false) => StatusCode::ACCEPTED,
        (None, true, false) => StatusCode::CONFLICT,
    };
    let mut body = JsonDataset::new();
    let study_url = expected_study.map(str::to_owned).or_else(|| {
        (per_study.len() == 1)
            .then(|| per_study.keys().next().cloned())
            .flatten()
    });
    if let Some(study) = study_url {
        body.text(RETRIEVE_URL, "UR", Some(&format!("{base}/studies/{study}")));
    }
    if !referenced.is_empty() {
        body.sequence(REFERENCED_SOP_SEQUENCE, referenced);
    }
    if !failed.is_empty() {
        body.sequence(FAILED_SOP_SEQUENCE, failed);
    }
    for (study_uid, instances) in per_study {
        state
            .access
            .audit(
                principal,
                AccessEvent::Stored {
                    study_uid,
                    instances,
                },
            )
            .await
            .map_err(|e| WebError::internal(&e.0))?;
    }
    let mut response = dicom_json(status, body.into_json().to_string());
    if let Some(stopped) = stopped {
        // PS3.18 §8.10.3: the reason travels in a Warning header; the body
        // still lists what was stored from the parts that were read.
        let text = stopped.message.replace(['"', '\\'], "'");
        if let Ok(value) = HeaderValue::from_str(&format!("299 ferry \"{text}\"")) {
            response.headers_mut().insert(header::WARNING, value);
        }
    }
    Ok(response)
}
