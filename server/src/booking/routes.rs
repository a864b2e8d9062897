//! `/bookings`: hold, book, list and read. What happens to a booking after it
//! is made (confirm, cancel, decline, no-show, reschedule) is in `changes`.
//! Every write re-checks the slot against the roster and the claims inside
//! one write transaction.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use jiff::tz::TimeZone;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, BookingRow};
use super::take::{same_service, take_or_refuse, Wanted};
use super::{BookingStatus, BookingView, NewBooking};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::consultation::routes::load_visible;
use crate::consultation::store::{self as consultation_store, ConsultationRow};
use crate::consultation::{Status, Urgency};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::notify::Outbox;
use crate::policy;
use crate::roster::parse_instant;
use crate::roster::slots::Slot;
use crate::roster::store::{self as roster_store, Expert};
use crate::state::AppState;
use crate::time::now_ms;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_booking, list_bookings))
        .routes(routes!(get_booking))
        .merge(super::changes::router())
}

/// The zone to answer in: `tz` if given, else the caller's facility's.
pub async fn caller_zone(
    conn: &mut sqlx::AnyConnection,
    caller: &Caller,
    tz: Option<&str>,
) -> ApiResult<TimeZone> {
    if let Some(name) = tz.map(str::trim).filter(|n| !n.is_empty()) {
        return TimeZone::get(name).map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidTimeZone,
                "tz",
                "tz must be an IANA time zone, e.g. Asia/Shanghai",
            )
        });
    }
    let name: Option<String> = sqlx::query_scalar("SELECT time_zone FROM facility WHERE id = $1")
        .bind(caller.facility_id)
        .fetch_optional(conn)
        .await?;
    Ok(name
        .and_then(|n| TimeZone::get(&n).ok())
        .unwrap_or(TimeZone::UTC))
}

pub(super) async fn load(tx: &mut Tx, caller: &Caller, id: i64) -> ApiResult<BookingRow> {
    match store::get(tx, id).await? {
        Some(booking) if policy::booking::can_see(caller, &booking) => Ok(booking),
        _ => Err(ApiError::NotFound { what: "booking" }),
    }
}

/// The consultation a booking is for: visible to the caller, from the
/// caller's facility, routine, still requested, and for this expert.
pub(super) async fn bookable_consultation(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    expert: &Expert,
    now: i64,
) -> ApiResult<ConsultationRow> {
    let row = load_visible(tx, caller, id, now).await?;
    if row.requesting_facility_id != caller.facility_id {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "book slots for your own facility's consultations",
        ));
    }
    if row.urgency != Urgency::Routine {
        return Err(ApiError::conflict(
            ErrorCode::OnCallConsultation,
            "urgent and emergency consultations wait in the on-call queue; they are not booked",
        ));
    }
    row.status.check(Status::Scheduled)?;
    if row.expert_id.is_some_and(|e| e != expert.id) {
        return Err(ApiError::invalid(
            ErrorCode::ExpertMismatch,
            "expert_id",
            "this consultation asks for another expert",
        ));
    }
    if !expert
        .specialties
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&row.specialty))
    {
        return Err(ApiError::invalid(
            ErrorCode::SpecialtyMismatch,
            "expert_id",
            "this expert does not practise the consultation's specialty",
        ));
    }
    Ok(row)
}

pub(super) async fn expert_or_422(tx: &mut Tx, id: i64) -> ApiResult<Expert> {
    roster_store::expert(tx, id).await?.ok_or_else(|| {
        ApiError::invalid(
            ErrorCode::UnknownExpert,
            "expert_id",
            "no active expert has this id",
        )
    })
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
    let mut tx = state.db.begin_write().await?;
    let tz = caller_zone(&mut tx, &caller, None).await?;
    let expert = expert_or_422(&mut tx, body.expert_id).await?;
    let consultation = match body.consultation_id {
        Some(id) => Some(bookable_consultation(&mut tx, &caller, id, &expert, now).await?),
        None => None,
    };
    let may_take_reserved = match body.referral_id {
        Some(referral_id) => {
            super::priority::check_referral(
                &mut tx,
                &caller,
                referral_id,
                &expert,
                consultation.as_ref(),
            )
            .await?;
            true
        }
        None => false,
    };
    let wanted = Wanted {
        expert: &expert,
        start,
        may_take_reserved,
        service: consultation.as_ref().map(|c| c.service),
    };
    let (mut tx, slot, claim_id) = take_or_refuse(&state, tx, &wanted, now, &tz).await?;
    if let Some(c) = &consultation {
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
    if let (BookingStatus::Booked, Some(c)) = (status, &consultation) {
        schedule(&mut tx, &mut outbox, c, &expert, id, &slot, now).await?;
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
    let view = commit_and_show(&state, tx, outbox, id, &tz).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Reads the booking back as the transaction left it, commits, and only
/// then wakes the users its notifications are for, so that no one is told of
/// a change that did not happen.
pub(super) async fn commit_and_show(
    state: &AppState,
    mut tx: Tx,
    outbox: Outbox,
    id: i64,
    tz: &TimeZone,
) -> ApiResult<BookingView> {
    let booking = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "booking" })?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(booking.view(tz))
}

pub(super) fn already_booked(error: ApiError) -> ApiError {
    match error {
        ApiError::Database(sqlx::Error::Database(db))
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation =>
        {
            ApiError::conflict(
                ErrorCode::ConsultationAlreadyBooked,
                "this consultation already has a held or booked slot",
            )
        }
        other => other,
    }
}

/// Schedules the consultation for this booking and tells the expert.
pub(super) async fn schedule(
    tx: &mut Tx,
    outbox: &mut Outbox,
    consultation: &ConsultationRow,
    expert: &Expert,
    booking_id: i64,
    slot: &Slot,
    now: i64,
) -> ApiResult<()> {
    if !consultation_store::schedule(tx, consultation.id, expert.id, false, now).await? {
        return Err(ApiError::conflict(
            ErrorCode::ConcurrentChange,
            "the consultation changed meanwhile; reload it",
        ));
    }
    outbox
        .push(
            tx,
            expert.id,
            "booking.created",
            serde_json::json!({
                "booking_id": booking_id, "consultation_id": consultation.id,
                "start": crate::time::rfc3339(slot.start_at), "end": crate::time::rfc3339(slot.end_at),
            }),
        )
        .await?;
    Ok(())
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
    Ok(Json(rows.iter().map(|b| b.view(&tz)).collect()))
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
    let mut tx = state.db.begin_write().await?;
    let booking = load(&mut tx, &caller, id).await?;
    let tz = caller_zone(&mut tx, &caller, None).await?;
    tx.commit().await?;
    Ok(Json(booking.view(&tz)))
}
