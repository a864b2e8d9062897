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
//! the request size limit, 415 for another content type. The body lists stored
//! instances in *Referenced SOP Sequence* (0008,1199) with their Retrieve URL,
//! and failed ones in *Failed SOP Sequence* (0008,1198) with a *Failure Reason*
//! (0008,1197) from [`IngestError::failure_reason`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::multipart::Multipart;
use super::{authenticate, dicom_json, WebError};
use crate::error::IngestError;
use crate::ingest::{IngestContext, Stored};
use crate::json::JsonDataset;
use crate::{AccessEvent, StoreState};

/// Parts of one request checked and committed concurrently.
pub const IN_FLIGHT: usize = 16;

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
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
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
    boundary
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(|| WebError::bad_request("the multipart/related content type has no boundary"))
}

/// The result of one part: its stored instance, or why it failed and which
/// instance it was when that is known.
type PartResult = Result<Stored, (Option<(String, String)>, IngestError)>;

async fn stow(
    state: StoreState,
    headers: HeaderMap,
    expected_study: Option<String>,
    body: Body,
) -> Result<Response, WebError> {
    let principal = authenticate(&state, &headers).await?;
    let facility_id = principal.store_facility.ok_or_else(|| {
        WebError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this account may not store studies",
        )
    })?;
    let boundary = boundary(&headers)?;
    let ctx = Arc::new(IngestContext {
        facility_id,
        patient_id: None,
        expected_study: expected_study.clone(),
    });

    let mut multipart = Multipart::new(body.into_data_stream(), &boundary, state.max_request_bytes);
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks: JoinSet<(usize, PartResult)> = JoinSet::new();
    let mut results: BTreeMap<usize, PartResult> = BTreeMap::new();
    let mut index = 0;
    let read: Result<(), std::io::Error> = async {
        while let Some(part) = multipart.next_part().await? {
            let this = index;
            index += 1;
            if part
                .content_type
                .as_deref()
                .is_some_and(|t| t != "application/dicom")
            {
                results.insert(
                    this,
                    Err((
                        None,
                        IngestError::Invalid(crate::validate::ValidationError::NotDicom(
                            "the part is not application/dicom".to_owned(),
                        )),
                    )),
                );
                continue;
            }
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let staged = match state.store.stage(multipart.body()).await {
                Ok(staged) => staged,
                // A failure to read the body itself ends the request.
                Err(IngestError::Io(e)) => return Err(e),
                Err(e) => {
                    results.insert(this, Err((None, e)));
                    continue;
                }
            };
            let store = state.store.clone();
            let ctx = Arc::clone(&ctx);
            tasks.spawn(async move {
                let _permit = permit;
                let result = match store.prepare(staged).await {
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
                    Err(e) => Err((None, e)),
                };
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
    if let Err(e) = read {
        return Err(match e.kind() {
            std::io::ErrorKind::FileTooLarge => WebError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "a request may carry at most {} bytes",
                    state.max_request_bytes
                ),
            ),
            _ => WebError::bad_request(e.to_string()),
        });
    }
    if results.is_empty() {
        return Err(WebError::bad_request("the request has no parts"));
    }
    Ok(respond(&state, &principal, expected_study.as_deref(), results).await)
}

async fn respond(
    state: &StoreState,
    principal: &crate::Principal,
    expected_study: Option<&str>,
    results: BTreeMap<usize, PartResult>,
) -> Response {
    let base = &state.base_url;
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
                tracing::info!(%error, reason = error.failure_reason(), "STOW-RS instance refused");
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
    let status = match (referenced.is_empty(), failed.is_empty()) {
        (_, true) => StatusCode::OK,
        (false, false) => StatusCode::ACCEPTED,
        (true, false) => StatusCode::CONFLICT,
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
            .await;
    }
    dicom_json(status, body.into_json().to_string())
}
