//! `/reading-requests`: ask for a reading, follow it, cancel it. Working the
//! reading facility's worklist is in [`super::worklist`].

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::requests::{
    audit_entry, audit_list, filter_of, load_visible, page, reload, ListQuery, Side,
};
use super::store::{self, NewRow};
use super::{
    check_question, code_text, study_modality, NewReadingRequest, ReadingRequestView, TaskStatus,
};
use crate::audit::{self, Action};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ResultExt};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::imaging::Imaging;
use crate::notify::Outbox;
use crate::policy;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
    Imaging: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_requests, create_request))
        .routes(routes!(get_request))
        .routes(routes!(cancel))
}

// Decided in `policy`; re-exported for the handlers that import them from here.

/// Asks for a reading of a study the caller may see. The request goes to
/// the worklist the routing rules choose, or to a named reader's.
#[utoipa::path(post, path = "/reading-requests", tag = "reading", request_body = NewReadingRequest,
    responses((status = 201, body = ReadingRequestView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such study in the caller's scope"),
        (status = 409, body = ErrorBody, description = "An open request for this study is on that worklist already"),
        (status = 422, body = ErrorBody, description = "Bad field, or no routing rule matches")),
    security(("bearer" = [])))]
async fn create_request(
    State(state): State<AppState>,
    State(imaging): State<Imaging>,
    caller: Caller,
    ApiJson(body): ApiJson<NewReadingRequest>,
) -> ApiResult<(StatusCode, Json<ReadingRequestView>)> {
    policy::reading::require_requester(&caller)?;
    let question = check_question(&body.clinical_question)?;
    let uid = ferry_dicom_store::uid::validate(body.study_instance_uid.trim())
        .map_err(|e| {
            ApiError::invalid(ErrorCode::InvalidField, "study_instance_uid", e.to_string())
        })?
        .to_owned();
    let body_part = match body.body_part.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => super::body_part_text(text)?,
        _ => String::new(),
    };
    // Read through the store's pool before the write transaction opens.
    let found = [(uid.clone(), imaging.named_study(&uid).await?)];
    let mut tx = state.db.begin_write().await?;
    policy::check_named_studies(
        &mut tx,
        &caller,
        &found,
        None,
        "study_instance_uid",
        policy::ConsentRule::of(&state.settings),
    )
    .await?;
    let [(_, Some(study))] = found else {
        return Err(ApiError::NotFound { what: "study" });
    };
    let modality = match body.modality.as_deref() {
        Some(text) => code_text("modality", text, 16)?,
        None => study_modality(&study.modalities).ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::ModalityRequired,
                "modality",
                "the study names no modality; give one",
            )
        })?,
    };
    let (route_id, reading_facility_id) = match body.reader_id {
        Some(reader) => {
            let facility = store::reader_facility(&mut tx, reader)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid(
                        ErrorCode::NotARadiologist,
                        "reader_id",
                        "reader_id must name an active radiologist",
                    )
                })?;
            (None, facility)
        }
        None => {
            let route = super::routing_rules::resolve(
                &mut tx,
                study.facility_id,
                &modality,
                &body_part,
            )
            .await?
            .ok_or_else(|| ApiError::InvalidWith {
                code: ErrorCode::NoReadingRoute,
                message: format!(
                    "no routing rule sends {modality} studies from this facility to a reading \
                         facility; ask an administrator to add one, or name a reader"
                ),
                details: serde_json::json!({ "modality": modality, "body_part": body_part }),
            })?;
            (Some(route.0), route.1)
        }
    };
    let now = now_ms();
    let due_at = now.saturating_add(body.priority.target_ms(&state.settings));
    let id = store::insert(
        &mut tx,
        &NewRow {
            study_instance_uid: &uid,
            patient_id: study.patient_id,
            requesting_facility_id: caller.facility_id,
            requested_by: caller.user_id,
            reading_facility_id,
            route_id,
            modality: &modality,
            body_part: &body_part,
            clinical_question: &question,
            priority: body.priority,
            requested_reader_id: body.reader_id,
            due_at,
        },
        now,
    )
    .await
    .on_unique_violation(|| {
        ApiError::conflict(
            ErrorCode::ReadingAlreadyRequested,
            "this study already has an open reading request on that worklist",
        )
    })?;
    if let Some(route) = route_id {
        // Rules forwarding what this route's readers read (their PACS)
        // take the study now, with the request.
        crate::imaging::forward::queue_for_reading(&mut tx, &uid, route).await?;
    }
    let row = reload(&mut tx, id).await?;
    let mut outbox = Outbox::new();
    let recipients = match body.reader_id {
        Some(reader) => vec![reader],
        None => store::readers_of(&mut tx, reading_facility_id).await?,
    };
    for reader in recipients {
        outbox
            .push(
                &mut tx,
                reader,
                "reading.requested",
                serde_json::json!({ "reading_request_id": id, "priority": body.priority, "modality": modality }),
            )
            .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        audit_entry(Action::Create, "reading.requested", &row, &caller).detail(serde_json::json!({
            "study_instance_uid": uid, "reading_facility_id": reading_facility_id,
            "route_id": route_id, "priority": body.priority,
        })),
    )
    .await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok((StatusCode::CREATED, Json(row.view(now))))
}

/// Reading requests the caller's facility sent (clinicians) or received
/// (radiologists), in any state unless `status` narrows them.
#[utoipa::path(get, path = "/reading-requests", tag = "reading", params(ListQuery),
    responses((status = 200, body = Vec<ReadingRequestView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_requests(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<ReadingRequestView>>> {
    policy::reading::require_party(&caller)?;
    let mut filter = filter_of(&query, &caller)?;
    match policy::reading::list_side(&caller) {
        Side::Reader => filter.reading_facility_id = Some(caller.facility_id),
        Side::Requester => filter.requesting_facility_id = Some(caller.facility_id),
    }
    let (limit, offset) = page(&query)?;
    let mut tx = state.db.begin_read().await?;
    let rows = store::list(&mut tx, &filter, limit, offset).await?;
    tx.commit().await?;
    audit_list(&state.journal, &caller, "reading.list", &rows).await?;
    let now = now_ms();
    Ok(Json(rows.iter().map(|r| r.view(now)).collect()))
}

/// One reading request.
#[utoipa::path(get, path = "/reading-requests/{id}", tag = "reading", params(("id" = i64, Path)),
    responses((status = 200, body = ReadingRequestView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_request(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ReadingRequestView>> {
    let mut tx = state.db.begin_read().await?;
    let (row, _) = load_visible(&mut tx, &caller, id).await?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            audit_entry(Action::Read, "reading.read", &row, &caller),
        )
        .await?;
    Ok(Json(row.view(now_ms())))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancellation {
    pub reason: String,
}

/// The requesting facility withdraws an open request.
#[utoipa::path(post, path = "/reading-requests/{id}/cancel", tag = "reading", params(("id" = i64, Path)),
    request_body = Cancellation,
    responses((status = 200, body = ReadingRequestView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already completed or cancelled"), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Cancellation>,
) -> ApiResult<Json<ReadingRequestView>> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "reason",
            "reason must have 1 to 2000 characters",
        ));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (row, side) = load_visible(&mut tx, &caller, id).await?;
    if side != Side::Requester {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only the requesting facility's clinicians cancel a reading request",
        ));
    }
    let open = [
        TaskStatus::Requested,
        TaskStatus::Accepted,
        TaskStatus::InProgress,
    ];
    if !store::transition(&mut tx, id, &open, TaskStatus::Cancelled, Some(reason), now).await? {
        return Err(ApiError::Conflict {
            code: ErrorCode::InvalidTransition,
            message: format!("a {} request cannot be cancelled", row.status.as_str()),
            details: serde_json::json!({ "status": row.status }),
        });
    }
    let mut outbox = Outbox::new();
    if let Some(reader) = row.reader_id {
        outbox
            .push(
                &mut tx,
                reader,
                "reading.cancelled",
                serde_json::json!({ "reading_request_id": id, "reason": reason }),
            )
            .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        audit_entry(Action::Update, "reading.cancelled", &row, &caller)
            .detail(serde_json::json!({ "reason": reason })),
    )
    .await?;
    let row = reload(&mut tx, id).await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(row.view(now)))
}
