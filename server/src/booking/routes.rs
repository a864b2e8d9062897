//! `/bookings`: hold, book, list and read. What happens to a booking after it
//! is made (confirm, cancel, decline, no-show, reschedule) is in `changes`.
//! Every write re-checks the slot against the roster and the claims inside
//! one write transaction.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::claim;
use super::steps::{
    already_booked, bookable_consultation, commit_and_show, expert_or_422, load, schedule,
};
use super::store::{self};
use super::take::{same_service, take_error, take_or_refuse, timely, TakeError, Wanted};
use super::{BookingStatus, BookingView, NewBooking};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::consultation::store::ConsultationRow;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::facility::caller_zone;
use crate::notify::Outbox;
use crate::policy;
use crate::roster::parse_instant;
use crate::roster::store::Expert;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(create_booking, list_bookings))
        .routes(routes!(get_booking))
        .merge(super::changes::router())
}

/// Holds or books a slot. With `hold`, the slot is kept for `hold_minutes`
/// and confirmed later; otherwise it is booked for `consultation_id` at once.
/// A slot someone else took is 409 `slot_taken` with `details.next_free`.
#[utoipa::path(post, path = "/bookings", tag = "bookings", request_body = NewBooking,
    responses(
        (status = 201, body = BookingView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Slot taken, unavailable or reserved; details.next_free lists alternatives"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create_booking(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewBooking>,
) -> ApiResult<(StatusCode, Json<BookingView>)> {
    policy::booking::require_booker(&caller)?;
    let start = parse_instant("start", &body.start)?;
    if !body.hold && body.consultation_id.is_none() {
        return Err(ApiError::invalid(
            ErrorCode::ConsultationRequired,
            "consultation_id",
            "a booking is for a consultation; give consultation_id or set hold",
        ));
    }
    let now = now_ms();
    // Under contention most attempts are at a slot someone has just filled.
    // Those are answered from a read, without waiting for the write lock
    // (on SQLite, held by one writer at a time), after the same checks as
    // the write makes, so the answer is the one it would have given.
    let mut read = state.db.begin_read().await?;
    let seen = asked(&mut read, &caller, &body, now).await?;
    if timely(start, now, state.settings.slot_horizon_days).is_ok()
        && claim::is_full(&mut read, seen.expert.id, start, now).await?
    {
        drop(read);
        let wanted = seen.wanted(start);
        return Err(take_error(&state, TakeError::Taken, &wanted, &seen.tz).await);
    }
    drop(read);

    let mut tx = state.db.begin_write().await?;
    let checked = asked(&mut tx, &caller, &body, now).await?;
    let wanted = checked.wanted(start);
    let Asked {
        tz,
        expert,
        consultation,
        ..
    } = &checked;
    let (mut tx, slot, claim_id) = take_or_refuse(&state, tx, &wanted, now, tz).await?;
    if let Some(c) = consultation {
        same_service(&slot, c.service, "start")?;
    }
    let (status, hold_expires_at) = if body.hold {
        (
            BookingStatus::Held,
            Some(now + state.settings.hold_minutes as i64 * 60_000),
        )
    } else {
        (BookingStatus::Booked, None)
    };
    let id = store::insert(
        &mut tx,
        &store::NewRow {
            expert_id: expert.id,
            claim_id,
            start_at: slot.start_at,
            end_at: slot.end_at,
            service: slot.service,
            status,
            hold_expires_at,
            consultation_id: body.consultation_id,
            created_by: caller.user_id,
            facility_id: caller.facility_id,
        },
        now,
    )
    .await
    .map_err(|e| already_booked(e.into()))?;
    if let Some(referral_id) = body.referral_id {
        super::priority::record(&mut tx, id, referral_id).await?;
    }
    let mut outbox = Outbox::new();
    if let (BookingStatus::Booked, Some(c)) = (status, consultation) {
        schedule(&mut tx, &mut outbox, c, expert, id, &slot, now).await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(
            Action::Create,
            if body.hold {
                "booking.hold"
            } else {
                "booking.create"
            },
        )
        .entity("booking", id)
        .facility(caller.facility_id)
        .detail(
            serde_json::json!({ "expert_id": expert.id, "consultation_id": body.consultation_id }),
        ),
    )
    .await?;
    let view = commit_and_show(&state, tx, outbox, id, tz).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// What a new booking asks for, checked: the caller's zone, the expert, the
/// consultation it is for, and whether it may take a slot held back for
/// referred patients.
struct Asked {
    tz: jiff::tz::TimeZone,
    expert: Expert,
    consultation: Option<ConsultationRow>,
    may_take_reserved: bool,
}

impl Asked {
    fn wanted(&self, start: i64) -> Wanted<'_> {
        Wanted {
            expert: &self.expert,
            start,
            may_take_reserved: self.may_take_reserved,
            service: self.consultation.as_ref().map(|c| c.service),
        }
    }
}

/// Checks what `body` asks for in `tx`: every refusal but the slot's own.
async fn asked(tx: &mut Tx, caller: &Caller, body: &NewBooking, now: i64) -> ApiResult<Asked> {
    let tz = caller_zone(tx, caller, None).await?;
    let expert = expert_or_422(tx, body.expert_id).await?;
    let consultation = match body.consultation_id {
        Some(id) => Some(bookable_consultation(tx, caller, id, &expert, now).await?),
        None => None,
    };
    if let (Some(shown), Some(c)) = (body.patient_id, &consultation) {
        super::steps::same_patient(c, shown)?;
    }
    let may_take_reserved = match body.referral_id {
        Some(referral_id) => {
            super::priority::check_referral(
                tx,
                caller,
                referral_id,
                &expert,
                consultation.as_ref(),
            )
            .await?;
            true
        }
        None => false,
    };
    Ok(Asked {
        tz,
        expert,
        consultation,
        may_take_reserved,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BookingQuery {
    pub expert_id: Option<i64>,
    pub consultation_id: Option<i64>,
    pub status: Option<BookingStatus>,
    /// RFC 3339; default: no lower bound.
    pub from: Option<String>,
    pub to: Option<String>,
    /// IANA zone for the answer; default the caller's facility's.
    pub tz: Option<String>,
    /// 1 to 1000, default 200.
    pub limit: Option<i64>,
}

/// Bookings the caller may see: their facility's, their own as the expert,
/// or, for schedulers, those of their facility's experts.
#[utoipa::path(get, path = "/bookings", tag = "bookings", params(BookingQuery),
    responses((status = 200, body = Vec<BookingView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_bookings(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<BookingQuery>,
) -> ApiResult<Json<Vec<BookingView>>> {
    policy::booking::require_viewer(&caller)?;
    let limit = query.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: "limit must be between 1 and 1000".to_owned(),
        });
    }
    let from = query
        .from
        .as_deref()
        .map(|t| parse_instant("from", t))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|t| parse_instant("to", t))
        .transpose()?;
    let mut conn = state.db.pool().acquire().await?;
    let tz = caller_zone(&mut conn, &caller, query.tz.as_deref()).await?;
    let who = policy::booking::visibility(&caller);
    let rows = store::list(
        &mut conn,
        who,
        &store::ListFilter {
            expert_id: query.expert_id,
            consultation_id: query.consultation_id,
            status: query.status,
            from: from.unwrap_or(i64::MIN),
            to: to.unwrap_or(i64::MAX),
            limit,
        },
    )
    .await?;
    Ok(Json(
        rows.iter().map(|b| b.view_for(&caller, &tz)).collect(),
    ))
}

/// One booking.
#[utoipa::path(get, path = "/bookings/{id}", tag = "bookings", params(("id" = i64, Path)),
    responses((status = 200, body = BookingView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_booking(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<BookingView>> {
    // A read: on SQLite a write transaction would wait behind every writer.
    let mut tx = state.db.begin_read().await?;
    let booking = load(&mut tx, &caller, id).await?;
    let tz = caller_zone(&mut tx, &caller, None).await?;
    tx.commit().await?;
    Ok(Json(booking.view_for(&caller, &tz)))
}
