//! The on-call queue: urgent and emergency consultations wait here for any
//! expert of their specialty who is on call; the first to accept gets the
//! case. An emergency nobody accepts within `emergency_escalation_seconds` is
//! escalated: marked on the consultation and announced to every scheduler.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store;
use super::visible::{load_visible, view};
use super::{ConsultationView, Status};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::{Caller, Role};
use crate::db::{Db, Tx};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::notify::{Notifier, Outbox};
use crate::policy;
use crate::roster::parse_instant;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(add_shift, list_shifts))
        .routes(routes!(on_call_queue))
        .routes(routes!(accept_consultation))
}

/// Experts on call for `specialty` at `now`.
pub async fn on_call_now(tx: &mut Tx, specialty: &str, now: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT expert_id FROM on_call_shift \
         WHERE lower(specialty) = lower($1) AND starts_at <= $2 AND ends_at > $2 ORDER BY expert_id",
    )
    .bind(specialty)
    .bind(now)
    .fetch_all(&mut **tx)
    .await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShift {
    pub expert_id: i64,
    /// One of the expert's specialties.
    pub specialty: String,
    /// RFC 3339 with offset.
    pub starts_at: String,
    pub ends_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShiftView {
    pub id: i64,
    pub expert_id: i64,
    pub expert_name: String,
    pub specialty: String,
    pub starts_at: String,
    pub ends_at: String,
}

/// Puts an expert of the scheduler's facility on call.
#[utoipa::path(post, path = "/on-call/shifts", tag = "on-call", request_body = NewShift,
    responses((status = 201, body = ShiftView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_shift(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewShift>,
) -> ApiResult<(StatusCode, Json<ShiftView>)> {
    policy::roster::require_scheduler(&caller)?;
    let starts_at = parse_instant("starts_at", &body.starts_at)?;
    let ends_at = parse_instant("ends_at", &body.ends_at)?;
    if ends_at <= starts_at || ends_at - starts_at > 7 * 86_400_000 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidShift,
            "ends_at",
            "a shift ends after it starts and lasts at most 7 days",
        ));
    }
    let mut tx = state.db.begin_write().await?;
    let expert = crate::roster::expert_or_422(&mut tx, body.expert_id).await?;
    if expert.facility_id != caller.facility_id {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "schedulers manage the experts of their own facility",
        ));
    }
    let specialty = expert
        .specialties
        .iter()
        .find(|s| s.eq_ignore_ascii_case(body.specialty.trim()))
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::SpecialtyMismatch,
                "specialty",
                "the expert does not practise this specialty",
            )
        })?;
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO on_call_shift (expert_id, specialty, starts_at, ends_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(expert.id)
    .bind(&specialty)
    .bind(starts_at)
    .bind(ends_at)
    .bind(caller.user_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "on_call.shift")
            .entity("on_call_shift", id)
            .facility(caller.facility_id),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(ShiftView {
            id,
            expert_id: expert.id,
            expert_name: expert.display_name,
            specialty,
            starts_at: rfc3339(starts_at),
            ends_at: rfc3339(ends_at),
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShiftQuery {
    pub specialty: Option<String>,
    /// Shifts still running at or after this instant (default: now).
    pub from: Option<String>,
}

/// Current and coming on-call shifts.
#[utoipa::path(get, path = "/on-call/shifts", tag = "on-call", params(ShiftQuery),
    responses((status = 200, body = Vec<ShiftView>), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_shifts(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<ShiftQuery>,
) -> ApiResult<Json<Vec<ShiftView>>> {
    let from = match &query.from {
        Some(text) => parse_instant("from", text)?,
        None => now_ms(),
    };
    let rows = sqlx::query(
        "SELECT s.id, s.expert_id, u.display_name, s.specialty, s.starts_at, s.ends_at \
         FROM on_call_shift s JOIN app_user u ON u.id = s.expert_id \
         WHERE s.ends_at > $1 AND ($2 = '' OR lower(s.specialty) = lower($2)) \
         ORDER BY s.starts_at, s.id LIMIT 500",
    )
    .bind(from)
    .bind(query.specialty.as_deref().unwrap_or("").trim())
    .fetch_all(state.db.pool())
    .await?;
    let shifts = rows
        .iter()
        .map(|row| {
            Ok(ShiftView {
                id: row.try_get("id")?,
                expert_id: row.try_get("expert_id")?,
                expert_name: row.try_get("display_name")?,
                specialty: row.try_get("specialty")?,
                starts_at: rfc3339(row.try_get("starts_at")?),
                ends_at: rfc3339(row.try_get("ends_at")?),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Json(shifts))
}

/// The waiting urgent and emergency consultations: for an expert, those the
/// desk offered them and those of the specialties they are on call for now
/// that are offered to no one else; for a scheduler, all of them, with
/// escalations first.
#[utoipa::path(get, path = "/on-call/queue", tag = "on-call",
    responses((status = 200, body = Vec<ConsultationView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn on_call_queue(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ConsultationView>>> {
    policy::consultation::require_queue_viewer(&caller)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT c.id FROM consultation c WHERE c.status = 'requested' AND c.urgency <> 'routine' \
         AND ($1 = 1 OR c.expert_id = $2 OR (c.expert_id IS NULL AND EXISTS (SELECT 1 FROM on_call_shift s \
              WHERE s.expert_id = $2 AND lower(s.specialty) = lower(c.specialty) AND s.starts_at <= $3 AND s.ends_at > $3))) \
         ORDER BY CASE WHEN c.escalated_at IS NULL THEN 1 ELSE 0 END, \
                  CASE c.urgency WHEN 'emergency' THEN 0 ELSE 1 END, c.created_at",
    )
    .bind(i64::from(policy::consultation::sees_whole_queue(&caller)))
    .bind(caller.user_id)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(row) = store::get(&mut tx, id).await? {
            views.push(view(&mut tx, &caller, &row, state.settings.call_open_before_ms()).await?);
        }
    }
    tx.commit().await?;
    Ok(Json(views))
}

/// Takes a waiting urgent or emergency consultation. Any expert on call for
/// its specialty may, or the one the desk offered it to (`desk::assign`);
/// exactly one succeeds, the others get 409.
#[utoipa::path(post, path = "/consultations/{id}/accept", tag = "on-call", params(("id" = i64, Path)),
    responses(
        (status = 200, body = ConsultationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already accepted by someone else, or not in the queue"),
    ),
    security(("bearer" = [])))]
async fn accept_consultation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ConsultationView>> {
    policy::consultation::require_on_call_expert(&caller)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let row = store::get(&mut tx, id).await?.ok_or(ApiError::NotFound {
        what: "consultation",
    })?;
    // Someone not on call for the specialty is not shown the case at all,
    // unless it is theirs already.
    let offered = row.expert_id == Some(caller.user_id) && row.status == Status::Requested;
    let on_call = offered
        || on_call_now(&mut tx, &row.specialty, now)
            .await?
            .contains(&caller.user_id);
    if !on_call {
        load_visible(&mut tx, &caller, id, now).await?;
        return Err(ApiError::forbidden(
            ErrorCode::NotOnCall,
            "only experts on call for this specialty may accept",
        ));
    }
    if row.urgency == super::Urgency::Routine {
        return Err(ApiError::conflict(
            ErrorCode::NotOnCall,
            "routine consultations are booked into a slot, not accepted from the queue",
        ));
    }
    if row.expert_id.is_some() && row.status != Status::Requested {
        return Err(already_accepted(id));
    }
    row.status.check(Status::Scheduled)?;
    if !store::schedule(&mut tx, id, caller.user_id, true, now).await? {
        return Err(already_accepted(id));
    }
    let mut outbox = Outbox::new();
    outbox
        .push(
            &mut tx,
            row.requested_by,
            "consultation.accepted",
            serde_json::json!({ "consultation_id": id, "expert_id": caller.user_id, "expert_name": caller.username }),
        )
        .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "consultation.accept")
            .entity("consultation", id)
            .patient(row.patient_id)
            .facility(caller.facility_id),
    )
    .await?;
    let row = store::get(&mut tx, id).await?.ok_or(ApiError::NotFound {
        what: "consultation",
    })?;
    let view = view(&mut tx, &caller, &row, state.settings.call_open_before_ms()).await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(view))
}

fn already_accepted(id: i64) -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::AlreadyAccepted,
        message: "another expert accepted this consultation first".to_owned(),
        details: serde_json::json!({ "consultation_id": id }),
    }
}

/// Marks emergencies that waited past the limit and tells the schedulers.
/// Returns how many were escalated.
pub async fn escalate_overdue(
    db: &Db,
    notifier: &Notifier,
    limit_ms: i64,
    now: i64,
) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let overdue: Vec<(i64, String, i64)> = sqlx::query_as(
        "UPDATE consultation SET escalated_at = $1 \
         WHERE status = 'requested' AND urgency = 'emergency' AND escalated_at IS NULL AND created_at <= $2 \
         RETURNING id, specialty, patient_id",
    )
    .bind(now)
    .bind(now - limit_ms)
    .fetch_all(&mut *tx)
    .await?;
    let mut outbox = Outbox::new();
    for (id, specialty, patient_id) in &overdue {
        outbox
            .push_role(
                &mut tx,
                Role::Scheduler,
                "consultation.escalated",
                serde_json::json!({ "consultation_id": id, "specialty": specialty }),
            )
            .await?;
        audit::append(
            &mut tx,
            &audit::Actor::system("escalation"),
            AuditEntry::new(Action::Update, "consultation.escalate")
                .entity("consultation", id)
                .patient(*patient_id),
        )
        .await?;
    }
    tx.commit().await?;
    outbox.deliver(notifier);
    Ok(overdue.len())
}
