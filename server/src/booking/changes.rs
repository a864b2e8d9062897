//! What happens to a booking once it is made: a hold confirmed, a booking
//! cancelled, declined, marked as a no-show or moved to another slot.

use axum::extract::{FromRef, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::availability;
use super::claim;
use super::steps::{
    already_booked, bookable_consultation, commit_and_show, expert_or_422, load, schedule,
};
use super::store::{self, BookingRow};
use super::take::{same_service, take_error, take_or_refuse, TakeError, Wanted};
use super::{BookingStatus, BookingView, ConfirmBooking, ReasonBody, Reschedule};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::consultation::store as consultation_store;
use crate::consultation::Status;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::facility::caller_zone;
use crate::notify::Outbox;
use crate::policy::booking::{is_booking_side, is_expert_scheduler};
use crate::roster::parse_instant;
use crate::state::AppState;
use crate::time::now_ms;

pub(super) fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(confirm_booking))
        .routes(routes!(cancel_booking))
        .routes(routes!(decline_booking))
        .routes(routes!(mark_no_show))
        .routes(routes!(reschedule_booking))
}

/// Books a held slot for a consultation. The hold is checked again: if it has
/// lapsed, the slot is taken afresh when still free, else 409 with
/// alternatives.
#[utoipa::path(post, path = "/bookings/{id}/confirm", tag = "bookings", params(("id" = i64, Path)),
    request_body = ConfirmBooking,
    responses(
        (status = 200, body = BookingView),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn confirm_booking(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ConfirmBooking>,
) -> ApiResult<Json<BookingView>> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let booking = load(&mut tx, &caller, id).await?;
    if !is_booking_side(&caller, &booking) {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only the booking facility's clinicians confirm a hold",
        ));
    }
    if !matches!(booking.status, BookingStatus::Held | BookingStatus::Expired) {
        return Err(ApiError::Conflict {
            code: ErrorCode::NotHeld,
            message: format!("this booking is {}, not held", booking.status.as_str()),
            details: serde_json::json!({ "status": booking.status }),
        });
    }
    let tz = caller_zone(&mut tx, &caller, None).await?;
    let expert = expert_or_422(&mut tx, booking.expert_id).await?;
    let consultation =
        bookable_consultation(&mut tx, &caller, body.consultation_id, &expert, now).await?;
    // A referral named at the hold is checked again now that the patient
    // is known: it must be this consultation's patient's.
    let referral = match body.referral_id {
        Some(referral_id) => Some(referral_id),
        None => super::priority::recorded(&mut tx, id).await?,
    };
    if let Some(referral_id) = referral {
        super::priority::check_referral(
            &mut tx,
            &caller,
            referral_id,
            &expert,
            Some(&consultation),
        )
        .await?;
        super::priority::record(&mut tx, id, referral_id).await?;
    }
    let may_take_reserved = referral.is_some();
    let wanted = Wanted {
        expert: &expert,
        start: booking.start_at,
        may_take_reserved,
        service: Some(consultation.service),
    };
    // A live hold keeps its claim, but the roster may have changed under it.
    let (mut tx, slot, claim_id) = if booking.is_live(now) {
        let slot = availability::slot_at(&mut tx, &expert, booking.start_at).await?;
        match (slot, booking.claim_id) {
            (Some(slot), Some(claim_id)) if slot.end_at == booking.end_at => (tx, slot, claim_id),
            _ => {
                drop(tx);
                return Err(take_error(&state, TakeError::NotInRoster, &wanted, &tz).await);
            }
        }
    } else {
        if booking.status == BookingStatus::Held {
            claim::release_lapsed(&mut tx, expert.id, booking.start_at, booking.end_at, now)
                .await?;
        }
        take_or_refuse(&state, tx, &wanted, now, &tz).await?
    };
    same_service(&slot, consultation.service, "consultation_id")?;
    store::confirm(&mut tx, id, claim_id, consultation.id, now)
        .await
        .map_err(|e| already_booked(e.into()))?;
    let mut outbox = Outbox::new();
    schedule(&mut tx, &mut outbox, &consultation, &expert, id, &slot, now).await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "booking.confirm")
            .entity("booking", id)
            .patient(consultation.patient_id)
            .facility(caller.facility_id),
    )
    .await?;
    commit_and_show(&state, tx, outbox, id, &tz).await.map(Json)
}

fn reason(body: &ReasonBody) -> ApiResult<String> {
    let text = body.reason.trim();
    if text.chars().count() < 3 || text.chars().count() > 2000 {
        return Err(ApiError::invalid(
            ErrorCode::ReasonRequired,
            "reason",
            "give a reason of 3 to 2000 characters",
        ));
    }
    Ok(text.to_owned())
}

fn must_be_active(booking: &BookingRow, now: i64) -> ApiResult<()> {
    if booking.is_live(now) {
        Ok(())
    } else {
        Err(ApiError::Conflict {
            code: ErrorCode::BookingNotActive,
            message: format!("this booking is {}", booking.status.as_str()),
            details: serde_json::json!({ "status": booking.status }),
        })
    }
}

/// Ends a booking and moves its consultation on; notifies the other side.
async fn end_booking(
    state: &AppState,
    caller: &Caller,
    id: i64,
    to: BookingStatus,
    reason_text: Option<String>,
    allowed: fn(&Caller, &BookingRow) -> bool,
) -> ApiResult<Json<BookingView>> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let booking = load(&mut tx, caller, id).await?;
    if !allowed(caller, &booking) {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "you may not make this change to this booking",
        ));
    }
    must_be_active(&booking, now)?;
    if to == BookingStatus::NoShow && booking.start_at > now {
        return Err(ApiError::conflict(
            ErrorCode::NotStarted,
            "a no-show can be recorded once the slot has begun",
        ));
    }
    store::finish(&mut tx, &booking, to, reason_text.as_deref(), now).await?;
    let mut outbox = Outbox::new();
    let mut patient = None;
    if let Some(consultation_id) = booking.consultation_id {
        if let Some(c) = consultation_store::get(&mut tx, consultation_id).await? {
            patient = Some(c.patient_id);
            let next = if to == BookingStatus::Declined {
                Status::Declined
            } else {
                Status::Requested
            };
            if c.status == Status::Scheduled {
                consultation_store::transition(
                    &mut tx,
                    c.id,
                    Status::Scheduled,
                    next,
                    reason_text.as_deref(),
                    now,
                )
                .await?;
            }
        }
    }
    let payload = serde_json::json!({
        "booking_id": id, "status": to, "reason": reason_text, "consultation_id": booking.consultation_id,
        "start": crate::time::rfc3339(booking.start_at),
    });
    let kind = format!("booking.{}", to.as_str());
    for user in [booking.created_by, booking.expert_id] {
        if user != caller.user_id {
            outbox.push(&mut tx, user, &kind, payload.clone()).await?;
        }
    }
    let mut entry = AuditEntry::new(Action::Update, &kind)
        .entity("booking", id)
        .facility(caller.facility_id);
    if let Some(patient) = patient {
        entry = entry.patient(patient);
    }
    audit::append(&mut tx, &caller.actor(), entry).await?;
    let tz = caller_zone(&mut tx, caller, None).await?;
    commit_and_show(state, tx, outbox, id, &tz).await.map(Json)
}

/// Cancels a hold or booking (the booking facility, or the expert's
/// schedulers). A scheduled consultation goes back to `requested`.
#[utoipa::path(post, path = "/bookings/{id}/cancel", tag = "bookings", params(("id" = i64, Path)),
    request_body = ReasonBody,
    responses((status = 200, body = BookingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn cancel_booking(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<BookingView>> {
    let reason = reason(&body)?;
    end_booking(
        &state,
        &caller,
        id,
        BookingStatus::Cancelled,
        Some(reason),
        |c, b| is_booking_side(c, b) || is_expert_scheduler(c, b),
    )
    .await
}

/// The expert declines a booking, with a reason; the consultation is declined.
#[utoipa::path(post, path = "/bookings/{id}/decline", tag = "bookings", params(("id" = i64, Path)),
    request_body = ReasonBody,
    responses((status = 200, body = BookingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn decline_booking(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<BookingView>> {
    let reason = reason(&body)?;
    end_booking(
        &state,
        &caller,
        id,
        BookingStatus::Declined,
        Some(reason),
        |c, b| b.expert_id == c.user_id,
    )
    .await
}

/// Records that the patient did not come (the expert or the expert's
/// schedulers, once the slot has begun). The consultation can be booked again.
#[utoipa::path(post, path = "/bookings/{id}/no-show", tag = "bookings", params(("id" = i64, Path)),
    responses((status = 200, body = BookingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn mark_no_show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<BookingView>> {
    end_booking(&state, &caller, id, BookingStatus::NoShow, None, |c, b| {
        b.expert_id == c.user_id || is_expert_scheduler(c, b)
    })
    .await
}

/// Moves a booking to another slot of the same expert, atomically: the new
/// slot is taken and the old one given back in one transaction, or nothing
/// changes.
#[utoipa::path(post, path = "/bookings/{id}/reschedule", tag = "bookings", params(("id" = i64, Path)),
    request_body = Reschedule,
    responses((status = 200, body = BookingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reschedule_booking(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Reschedule>,
) -> ApiResult<Json<BookingView>> {
    let start = parse_instant("start", &body.start)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let booking = load(&mut tx, &caller, id).await?;
    if !(is_booking_side(&caller, &booking) || is_expert_scheduler(&caller, &booking)) {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "you may not move this booking",
        ));
    }
    must_be_active(&booking, now)?;
    let tz = caller_zone(&mut tx, &caller, None).await?;
    let expert = expert_or_422(&mut tx, booking.expert_id).await?;
    let may_take_reserved = super::priority::has_referral(&mut tx, id).await?;
    if let Some(claim_id) = booking.claim_id {
        claim::vacate(&mut tx, claim_id).await?;
    }
    let wanted = Wanted {
        expert: &expert,
        start,
        may_take_reserved,
        service: Some(booking.service),
    };
    let (mut tx, slot, claim_id) = take_or_refuse(&state, tx, &wanted, now, &tz).await?;
    if slot.service != booking.service {
        return Err(ApiError::invalid(
            ErrorCode::ServiceMismatch,
            "start",
            "the new slot is for another service",
        ));
    }
    store::move_to(&mut tx, id, claim_id, slot.start_at, slot.end_at, now).await?;
    let mut outbox = Outbox::new();
    let payload = serde_json::json!({
        "booking_id": id, "consultation_id": booking.consultation_id,
        "from": crate::time::rfc3339(booking.start_at), "start": crate::time::rfc3339(slot.start_at),
    });
    for user in [booking.created_by, booking.expert_id] {
        if user != caller.user_id {
            outbox
                .push(&mut tx, user, "booking.moved", payload.clone())
                .await?;
        }
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "booking.reschedule")
            .entity("booking", id)
            .facility(caller.facility_id)
            .detail(payload),
    )
    .await?;
    commit_and_show(&state, tx, outbox, id, &tz).await.map(Json)
}
