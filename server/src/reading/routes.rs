//! `/reading-requests`: ask for a reading, follow it, cancel it. Working the
//! reading facility's worklist is in [`super::worklist`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, Filter, NewRow, RequestRow};
use super::{
    check_question, code_text, NewReadingRequest, Priority, ReadingRequestView, TaskStatus,
};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ResultExt};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::notify::Outbox;
use crate::policy;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_requests, create_request))
        .routes(routes!(get_request))
        .routes(routes!(cancel))
}

// Decided in `policy`; re-exported for the handlers that import them from here.
pub use crate::policy::reading::Side;

/// The request if the caller may see it; otherwise 404, so its existence is
/// not confirmed.
pub async fn load_visible(tx: &mut Tx, caller: &Caller, id: i64) -> ApiResult<(RequestRow, Side)> {
    let row = store::get(tx, id).await?;
    match row {
        Some(row) => match policy::reading::side(caller, &row) {
            Some(side) => Ok((row, side)),
            None => Err(ApiError::NotFound {
                what: "reading request",
            }),
        },
        None => Err(ApiError::NotFound {
            what: "reading request",
        }),
    }
}

/// A request just written in this transaction, read back for the answer.
pub(super) async fn reload(tx: &mut Tx, id: i64) -> ApiResult<RequestRow> {
    store::get(tx, id).await?.ok_or(ApiError::NotFound {
        what: "reading request",
    })
}

pub(super) fn audit_entry(
    action: Action,
    subtype: &str,
    request: &RequestRow,
    caller: &Caller,
) -> AuditEntry {
    let mut entry = AuditEntry::new(action, subtype)
        .entity("reading_request", request.id)
        .facility(caller.facility_id);
    if let Some(patient) = request.patient_id {
        entry = entry.patient(patient);
    }
    entry
}

/// Active radiologists of a facility, to tell them of new work.
pub(super) async fn readers_of(tx: &mut Tx, facility_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u.id FROM app_user u JOIN user_role ur ON ur.user_id = u.id AND ur.role = 'radiologist' \
         WHERE u.facility_id = $1 AND u.active = 1 ORDER BY u.id",
    )
    .bind(facility_id)
    .fetch_all(&mut **tx)
    .await
}

/// The modality a study is read as: the first in it that is not itself a
/// report or a presentation state.
pub(crate) fn study_modality(modalities: &str) -> Option<String> {
    modalities
        .split('\\')
        .map(str::trim)
        .find(|m| !m.is_empty() && !matches!(*m, "SR" | "KO" | "PR"))
        .map(str::to_owned)
}

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
        Some(text) if !text.is_empty() => code_text("body_part", text, 64)?,
        _ => String::new(),
    };
    // Read through the store's pool before the write transaction opens.
    let found = [(uid.clone(), state.imaging.named_study(&uid).await?)];
    let mut tx = state.db.begin_write().await?;
    policy::check_named_studies(&mut tx, &caller, &found, None, "study_instance_uid").await?;
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
    let row = reload(&mut tx, id).await?;
    let mut outbox = Outbox::new();
    let recipients = match body.reader_id {
        Some(reader) => vec![reader],
        None => readers_of(&mut tx, reading_facility_id).await?,
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

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One status, as FHIR Task spells it (`in-progress`).
    pub status: Option<TaskStatus>,
    pub modality: Option<String>,
    pub body_part: Option<String>,
    pub priority: Option<Priority>,
    /// The facility that asked.
    pub sending_facility_id: Option<i64>,
    pub study_instance_uid: Option<String>,
    /// Only requests the caller has claimed.
    pub mine: Option<bool>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub(super) fn filter_of(query: &ListQuery, caller: &Caller) -> ApiResult<Filter> {
    Ok(Filter {
        statuses: query.status.into_iter().collect(),
        modality: query
            .modality
            .as_deref()
            .map(|m| code_text("modality", m, 16))
            .transpose()?,
        body_part: query
            .body_part
            .as_deref()
            .map(|b| code_text("body_part", b, 64))
            .transpose()?,
        priority: query.priority,
        reader_id: query.mine.unwrap_or(false).then_some(caller.user_id),
        requesting_facility_id: query.sending_facility_id,
        study_instance_uid: query.study_instance_uid.clone(),
        reading_facility_id: None,
    })
}

pub(super) fn page(query: &ListQuery) -> ApiResult<(i64, i64)> {
    let limit = query.limit.unwrap_or(100);
    let offset = query.offset.unwrap_or(0);
    if !(1..=500).contains(&limit) || offset < 0 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "limit",
            "limit is 1 to 500 and offset not negative",
        ));
    }
    Ok((limit, offset))
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
    let mut conn = state.db.pool().acquire().await?;
    let rows = store::list(&mut conn, &filter, limit, offset).await?;
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
    let mut tx = state.db.begin_write().await?;
    let (row, _) = load_visible(&mut tx, &caller, id).await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        audit_entry(Action::Read, "reading.read", &row, &caller),
    )
    .await?;
    tx.commit().await?;
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
