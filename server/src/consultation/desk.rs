//! The on-call desk's hand in the queue: a scheduler offers a waiting urgent
//! or emergency request to one expert of their facility, who accepts it
//! (`oncall::accept_consultation`, as from the queue) or declines the offer,
//! which puts the request back in the queue for whoever is on call.
//!
//! An offer is the consultation's `expert_id` set while it is still
//! `requested`: the expert sees it (and the patient comes into their scope,
//! as for a named routine request), and no other expert can take it, since
//! `store::schedule` only schedules for the expert named or for anyone when
//! none is.

use axum::extract::{FromRef, State};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, ConsultationRow};
use super::visible::{load_visible, view};
use super::{ConsultationView, Status, Urgency};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::{Caller, Role};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
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
        .routes(routes!(assign))
        .routes(routes!(decline_offer))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// An active expert of the scheduler's facility who practises the
    /// request's specialty.
    pub expert_id: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferDecline {
    /// Why not (3 to 2000 characters), for the desk.
    pub reason: String,
}

/// A request still waiting in the queue: requested, and not routine (a
/// routine one is booked into a slot instead).
fn still_queued(row: &ConsultationRow) -> ApiResult<()> {
    if row.urgency == Urgency::Routine {
        return Err(ApiError::conflict(
            ErrorCode::UseBooking,
            "routine consultations are booked into a slot, not offered from the queue",
        ));
    }
    if row.status != Status::Requested {
        return Err(ApiError::Conflict {
            code: ErrorCode::AlreadyAccepted,
            message: format!(
                "this consultation is {}, no longer waiting in the queue",
                row.status.as_str()
            ),
            details: serde_json::json!({ "consultation_id": row.id, "status": row.status }),
        });
    }
    Ok(())
}

async fn reload_view(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    open_before_ms: i64,
) -> ApiResult<ConsultationView> {
    let row = store::get(tx, id).await?.ok_or(ApiError::NotFound {
        what: "consultation",
    })?;
    view(tx, caller, &row, open_before_ms).await
}

/// Offers a waiting urgent or emergency request to one expert of the
/// scheduler's facility; they are notified and find it on their On call
/// page. Offering it to another expert replaces the offer.
#[utoipa::path(post, path = "/consultations/{id}/assign", tag = "on-call", params(("id" = i64, Path)),
    request_body = Assignment,
    responses(
        (status = 200, body = ConsultationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "No longer waiting in the queue, or routine"),
        (status = 422, body = ErrorBody, description = "Not an expert of the specialty"),
    ),
    security(("bearer" = [])))]
async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Assignment>,
) -> ApiResult<Json<ConsultationView>> {
    policy::roster::require_scheduler(&caller)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let row = load_visible(&mut tx, &caller, id, now).await?;
    let expert = crate::roster::expert_or_422(&mut tx, body.expert_id).await?;
    policy::consultation::check_assign(&caller, expert.facility_id)?;
    still_queued(&row)?;
    if !expert
        .specialties
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&row.specialty))
    {
        return Err(ApiError::invalid(
            ErrorCode::SpecialtyMismatch,
            "expert_id",
            "the expert does not practise this consultation's specialty",
        ));
    }
    let offered = sqlx::query(
        "UPDATE consultation SET expert_id = $1, updated_at = $2 WHERE id = $3 AND status = 'requested'",
    )
    .bind(expert.id)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if offered.rows_affected() != 1 {
        return Err(ApiError::conflict(
            ErrorCode::ConcurrentChange,
            "the consultation changed meanwhile; reload it",
        ));
    }
    let mut outbox = Outbox::new();
    let payload = serde_json::json!({
        "consultation_id": id, "urgency": row.urgency, "specialty": row.specialty,
        "patient_name": row.patient_name,
        "patient_record_number": row.patient_record_number.clone().unwrap_or_default(),
    });
    outbox
        .push(&mut tx, expert.id, "consultation.offered", payload)
        .await?;
    if let Some(previous) = row.expert_id.filter(|e| *e != expert.id) {
        outbox
            .push(
                &mut tx,
                previous,
                "consultation.offer_withdrawn",
                serde_json::json!({ "consultation_id": id }),
            )
            .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "consultation.offer")
            .entity("consultation", id)
            .patient(row.patient_id)
            .facility(caller.facility_id)
            .detail(
                serde_json::json!({ "expert_id": expert.id, "previous_expert_id": row.expert_id }),
            ),
    )
    .await?;
    let view = reload_view(&mut tx, &caller, id, state.settings.call_open_before_ms()).await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(view))
}

/// The expert a request was offered to declines the offer, with a reason:
/// it goes back to the queue for whoever is on call, and the schedulers are
/// told. (Declining the consultation itself is `POST /consultations/{id}/status`.)
#[utoipa::path(post, path = "/consultations/{id}/decline-offer", tag = "on-call", params(("id" = i64, Path)),
    request_body = OfferDecline,
    responses(
        (status = 200, body = ConsultationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "No longer waiting in the queue"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn decline_offer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<OfferDecline>,
) -> ApiResult<Json<ConsultationView>> {
    let reason = body.reason.trim();
    if !(3..=2000).contains(&reason.chars().count()) {
        return Err(ApiError::invalid(
            ErrorCode::ReasonRequired,
            "reason",
            "give a reason of 3 to 2000 characters",
        ));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let row = load_visible(&mut tx, &caller, id, now).await?;
    policy::consultation::check_offered_to(&caller, row.expert_id)?;
    still_queued(&row)?;
    let back = sqlx::query(
        "UPDATE consultation SET expert_id = NULL, updated_at = $1 \
         WHERE id = $2 AND status = 'requested' AND expert_id = $3",
    )
    .bind(now)
    .bind(id)
    .bind(caller.user_id)
    .execute(&mut *tx)
    .await?;
    if back.rows_affected() != 1 {
        return Err(ApiError::conflict(
            ErrorCode::ConcurrentChange,
            "the consultation changed meanwhile; reload it",
        ));
    }
    let mut outbox = Outbox::new();
    outbox
        .push_role(
            &mut tx,
            Role::Scheduler,
            "consultation.offer_declined",
            serde_json::json!({ "consultation_id": id, "expert_name": caller.username, "reason": reason }),
        )
        .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "consultation.offer_declined")
            .entity("consultation", id)
            .patient(row.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "reason": reason })),
    )
    .await?;
    // The expert no longer sees it unless on call for its specialty; they
    // are answered with what they saw last, minus the offer.
    let mut answer = row.view(
        Vec::new(),
        policy::consultation::sees_clinical(&caller),
        state.settings.call_open_before_ms(),
    );
    answer.expert_id = None;
    answer.expert_name = None;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(answer))
}
