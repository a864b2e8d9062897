//! `/worklist`: the reading facility's worklist, and working it: claim,
//! release, reassign; and the report templates readers start from.

use axum::extract::{FromRef, State};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::requests::{
    audit_entry, audit_list, filter_of, load_visible, page, reload, same_patient, ListQuery,
    ShownPatient, Side,
};
use super::store;
use super::template::{Template, TEMPLATES};
use super::{ReadingRequestView, TaskStatus};
use crate::audit::{self, Action};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::notify::Outbox;
use crate::policy;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(worklist))
        .routes(routes!(claim))
        .routes(routes!(release))
        .routes(routes!(reassign))
        .routes(routes!(templates))
}

/// The reading worklist of the caller's facility: open requests (or those of
/// `status`), most pressing first (priority, then age), each with the time
/// left against its priority's target turnaround.
#[utoipa::path(get, path = "/worklist", tag = "reading", params(ListQuery),
    responses((status = 200, body = Vec<ReadingRequestView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn worklist(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<ReadingRequestView>>> {
    policy::reading::require_radiologist(&caller)?;
    let mut filter = filter_of(&query, &caller)?;
    if filter.statuses.is_empty() {
        filter.statuses = vec![
            TaskStatus::Requested,
            TaskStatus::Accepted,
            TaskStatus::InProgress,
        ];
    }
    filter.reading_facility_id = Some(caller.facility_id);
    let (limit, offset) = page(&query)?;
    let mut tx = state.db.begin_read().await?;
    let rows = store::list(&mut tx, &filter, limit, offset).await?;
    tx.commit().await?;
    audit_list(&state.journal, &caller, "reading.worklist", &rows).await?;
    let now = now_ms();
    Ok(Json(rows.iter().map(|r| r.view(now)).collect()))
}

fn must_be_reader(side: Side) -> ApiResult<()> {
    if side == Side::Reader {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only radiologists of the reading facility work its worklist",
        ))
    }
}

/// Claims an unclaimed request: of readers racing for it, exactly one wins;
/// the others get 409 `already_claimed`. The body is optional; a client
/// that sends none names no patient.
#[utoipa::path(post, path = "/reading-requests/{id}/claim", tag = "reading", params(("id" = i64, Path)),
    request_body(content = Option<ShownPatient>, description = "Optional: the patient the screen showed"),
    responses((status = 200, body = ReadingRequestView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Claimed by someone else, reserved for another reader, closed, or `patient_id` is not its patient (`patient_mismatch`)")),
    security(("bearer" = [])))]
async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    body: Option<ApiJson<Option<ShownPatient>>>,
) -> ApiResult<Json<ReadingRequestView>> {
    let body = ShownPatient::or_none(body);
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (row, side) = load_visible(&mut tx, &caller, id).await?;
    must_be_reader(side)?;
    same_patient(row.patient_id, body.patient_id)?;
    if let Some(reserved) = row.requested_reader_id {
        if reserved != caller.user_id {
            return Err(ApiError::Conflict {
                code: ErrorCode::ReservedForReader,
                message: "the requester asked for another reader; a reading lead may reassign it"
                    .to_owned(),
                details: serde_json::json!({ "requested_reader_id": reserved }),
            });
        }
    }
    if !store::claim(&mut tx, id, caller.user_id, now).await? {
        return Err(ApiError::Conflict {
            code: ErrorCode::AlreadyClaimed,
            message: format!(
                "this request is {} and cannot be claimed",
                if row.status == TaskStatus::Requested {
                    "claimed meanwhile"
                } else {
                    row.status.as_str()
                }
            ),
            details: serde_json::json!({ "status": row.status, "reader_id": row.reader_id }),
        });
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        audit_entry(Action::Update, "reading.claimed", &row, &caller),
    )
    .await?;
    let row = reload(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(row.view(now)))
}

/// Gives a claimed request back to the worklist. Only its reader may, and
/// only before any version of the report is signed. The body is optional;
/// a client that sends none names no patient.
#[utoipa::path(post, path = "/reading-requests/{id}/release", tag = "reading", params(("id" = i64, Path)),
    request_body(content = Option<ShownPatient>, description = "Optional: the patient the screen showed"),
    responses((status = 200, body = ReadingRequestView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not the caller's, a report version is signed, or `patient_id` is not its patient (`patient_mismatch`)")),
    security(("bearer" = [])))]
async fn release(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    body: Option<ApiJson<Option<ShownPatient>>>,
) -> ApiResult<Json<ReadingRequestView>> {
    let body = ShownPatient::or_none(body);
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (row, side) = load_visible(&mut tx, &caller, id).await?;
    must_be_reader(side)?;
    // Before the draft below is deleted: a screen showing another patient
    // releases nothing.
    same_patient(row.patient_id, body.patient_id)?;
    // An unsigned draft goes with the claim: the next reader starts afresh.
    sqlx::query(
        "DELETE FROM reading_report WHERE reading_request_id = $1 AND signed_at IS NULL \
         AND EXISTS (SELECT 1 FROM reading_request WHERE id = $1 AND reader_id = $2)",
    )
    .bind(id)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    if !store::release(&mut tx, id, caller.user_id, now).await? {
        return Err(ApiError::Conflict {
            code: ErrorCode::CannotRelease,
            message: "only the reader holding this request may release it, and only before a report is signed"
                .to_owned(),
            details: serde_json::json!({ "status": row.status, "reader_id": row.reader_id }),
        });
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        audit_entry(Action::Update, "reading.released", &row, &caller),
    )
    .await?;
    let row = reload(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(row.view(now)))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassignment {
    /// A radiologist of the same reading facility.
    pub reader_id: i64,
}

/// A reading lead gives an open request to another reader of the facility.
#[utoipa::path(post, path = "/reading-requests/{id}/reassign", tag = "reading", params(("id" = i64, Path)),
    request_body = Reassignment,
    responses((status = 200, body = ReadingRequestView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Closed, or changed meanwhile"), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reassign(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Reassignment>,
) -> ApiResult<Json<ReadingRequestView>> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (row, side) = load_visible(&mut tx, &caller, id).await?;
    must_be_reader(side)?;
    if !store::is_lead(&mut tx, caller.user_id).await? {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only a reading lead may reassign requests",
        ));
    }
    if !store::is_reader_at(&mut tx, body.reader_id, row.reading_facility_id).await? {
        return Err(ApiError::invalid(
            ErrorCode::NotAReaderHere,
            "reader_id",
            "reader_id must name an active radiologist of the reading facility",
        ));
    }
    if !store::reassign(&mut tx, id, row.reader_id, body.reader_id, now).await? {
        return Err(ApiError::Conflict {
            code: ErrorCode::CannotReassign,
            message: format!(
                "this request is {} or changed meanwhile; reload it",
                row.status.as_str()
            ),
            details: serde_json::json!({ "status": row.status }),
        });
    }
    // The draft belongs to whoever holds the request now.
    sqlx::query(
        "UPDATE reading_report SET author_id = $1, updated_at = $2 \
         WHERE reading_request_id = $3 AND signed_at IS NULL",
    )
    .bind(body.reader_id)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let mut outbox = Outbox::new();
    outbox
        .push(
            &mut tx,
            body.reader_id,
            "reading.assigned",
            serde_json::json!({ "reading_request_id": id, "priority": row.priority }),
        )
        .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        audit_entry(Action::Update, "reading.reassigned", &row, &caller).detail(
            serde_json::json!({ "from_reader_id": row.reader_id, "to_reader_id": body.reader_id }),
        ),
    )
    .await?;
    let row = reload(&mut tx, id).await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(row.view(now)))
}

/// The report templates, by modality.
#[utoipa::path(get, path = "/report-templates", tag = "reading",
    responses((status = 200, body = Vec<Template>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn templates(caller: Caller) -> ApiResult<Json<Vec<Template>>> {
    policy::reading::require_radiologist(&caller)?;
    Ok(Json(TEMPLATES.to_vec()))
}
