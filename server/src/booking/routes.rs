//! `/bookings`: hold, book, confirm, cancel, decline, mark no-show and
//! reschedule. Every write re-checks the slot against the roster and the
//! claims inside one write transaction.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use jiff::tz::TimeZone;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::availability::{self, FreeSlot};
use super::claim::{self, ClaimError};
use super::store::{self, BookingRow};
use super::{BookingStatus, BookingView, ConfirmBooking, NewBooking, ReasonBody, Reschedule};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::{Caller, Role};
use crate::consultation::routes::load_visible;
use crate::consultation::store::{self as consultation_store, ConsultationRow};
use crate::consultation::{Status, Urgency};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::notify::Outbox;
use crate::policy;
use crate::roster::slots::Slot;
use crate::roster::store::{self as roster_store, Expert};
use crate::roster::{parse_instant, Service};
use crate::state::AppState;
use crate::time::{now_ms, rfc3339_in};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_booking, list_bookings))
        .routes(routes!(get_booking))
        .routes(routes!(confirm_booking))
        .routes(routes!(cancel_booking))
        .routes(routes!(decline_booking))
        .routes(routes!(mark_no_show))
        .routes(routes!(reschedule_booking))
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
                "invalid_time_zone",
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

/// Up to five free slots of the expert from `after`, for a 409's details.
pub async fn alternatives(
    state: &AppState,
    expert: &Expert,
    after: i64,
    service: Option<Service>,
    tz: &TimeZone,
) -> ApiResult<serde_json::Value> {
    let now = now_ms();
    let mut conn = state.db.pool().acquire().await?;
    let until = now + i64::from(state.settings.slot_horizon_days) * 86_400_000;
    let mut found: Vec<FreeSlot> = Vec::new();
    let mut from = after.max(now);
    let week = 7 * 86_400_000;
    while found.len() < 5 && from < until {
        let to = (from + week).min(until);
        let free = availability::free_slots(
            &mut conn,
            std::slice::from_ref(expert),
            from,
            to,
            service,
            now,
        )
        .await?;
        found.extend(
            free.get(&expert.id)
                .into_iter()
                .flatten()
                .filter(|f| !f.slot.referral_priority)
                .take(5 - found.len()),
        );
        from = to;
    }
    Ok(serde_json::Value::Array(
        found
            .iter()
            .map(|f| {
                serde_json::json!({
                    "expert_id": expert.id,
                    "start": rfc3339_in(f.slot.start_at, tz),
                    "end": rfc3339_in(f.slot.end_at, tz),
                    "service": f.slot.service,
                    "remaining": f.remaining,
                })
            })
            .collect(),
    ))
}

/// Why a slot could not be taken.
pub enum TakeError {
    NotInRoster,
    Past,
    BeyondHorizon,
    Reserved,
    Taken,
    Api(ApiError),
}

impl From<sqlx::Error> for TakeError {
    fn from(error: sqlx::Error) -> Self {
        TakeError::Api(error.into())
    }
}

/// Finds the roster's slot at `start` and takes a place in it.
pub async fn take_slot(
    tx: &mut Tx,
    expert: &Expert,
    start: i64,
    now: i64,
    horizon_days: u32,
    may_take_reserved: bool,
) -> Result<(Slot, i64), TakeError> {
    if start < now {
        return Err(TakeError::Past);
    }
    if start > now + i64::from(horizon_days) * 86_400_000 {
        return Err(TakeError::BeyondHorizon);
    }
    let slot = availability::slot_at(tx, expert, start)
        .await?
        .ok_or(TakeError::NotInRoster)?;
    if slot.referral_priority && !may_take_reserved {
        return Err(TakeError::Reserved);
    }
    match claim::take(tx, expert.id, &slot, now).await {
        Ok(claim_id) => Ok((slot, claim_id)),
        Err(ClaimError::Taken) => Err(TakeError::Taken),
        Err(ClaimError::Database(error)) => Err(error.into()),
    }
}

/// Turns a failed take into its answer; a conflict carries the expert's next
/// free slots. The transaction must already be gone (on PostgreSQL a failed
/// insert has aborted it).
/// The alternatives offered are of `service` when the booking's service is
/// known, so a client can book one of them as it stands.
pub async fn take_error(
    state: &AppState,
    error: TakeError,
    expert: &Expert,
    start: i64,
    service: Option<Service>,
    tz: &TimeZone,
) -> ApiError {
    let (code, message) = match error {
        TakeError::Api(error) => return error,
        TakeError::Past => {
            return ApiError::invalid("slot_in_past", "start", "this slot has already begun")
        }
        TakeError::BeyondHorizon => {
            return ApiError::invalid(
                "beyond_horizon",
                "start",
                "this is further ahead than slots are offered",
            )
        }
        TakeError::NotInRoster => (
            "slot_unavailable",
            "the expert's roster has no slot starting then",
        ),
        TakeError::Reserved => (
            "slot_reserved_for_referrals",
            "this slot is held back for patients referred up; book it with an accepted referral",
        ),
        TakeError::Taken => ("slot_taken", "this slot was just taken"),
    };
    match alternatives(state, expert, start, service, tz).await {
        Ok(next_free) => ApiError::Conflict {
            code,
            message: message.to_owned(),
            details: serde_json::json!({ "next_free": next_free }),
        },
        Err(error) => error,
    }
}

/// May `caller` act on this booking as the booking side (clinicians of the
/// booking facility) or as the expert's schedulers?
fn is_booking_side(caller: &Caller, booking: &BookingRow) -> bool {
    caller.has(Role::Clinician) && caller.facility_id == booking.facility_id
}

fn is_expert_scheduler(caller: &Caller, booking: &BookingRow) -> bool {
    caller.has(Role::Scheduler) && caller.facility_id == booking.expert_facility_id
}

fn can_see(caller: &Caller, booking: &BookingRow) -> bool {
    is_booking_side(caller, booking)
        || booking.expert_id == caller.user_id
        || is_expert_scheduler(caller, booking)
}

async fn load(tx: &mut Tx, caller: &Caller, id: i64) -> ApiResult<BookingRow> {
    match store::get(tx, id).await? {
        Some(booking) if can_see(caller, &booking) => Ok(booking),
        _ => Err(ApiError::NotFound { what: "booking" }),
    }
}

/// The consultation a booking is for: visible to the caller, from the
/// caller's facility, routine, still requested, and for this expert.
async fn bookable_consultation(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    expert: &Expert,
    now: i64,
) -> ApiResult<ConsultationRow> {
    let row = load_visible(tx, caller, id, now).await?;
    if row.requesting_facility_id != caller.facility_id {
        return Err(ApiError::forbidden(
            "forbidden",
            "book slots for your own facility's consultations",
        ));
    }
    if row.urgency != Urgency::Routine {
        return Err(ApiError::conflict(
            "on_call_consultation",
            "urgent and emergency consultations wait in the on-call queue; they are not booked",
        ));
    }
    row.status.check(Status::Scheduled)?;
    if row.expert_id.is_some_and(|e| e != expert.id) {
        return Err(ApiError::invalid(
            "expert_mismatch",
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
            "specialty_mismatch",
            "expert_id",
            "this expert does not practise the consultation's specialty",
        ));
    }
    Ok(row)
}

async fn expert_or_422(tx: &mut Tx, id: i64) -> ApiResult<Expert> {
    roster_store::expert(tx, id).await?.ok_or_else(|| {
        ApiError::invalid(
            "unknown_expert",
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
    policy::require_any(&caller, &[Role::Clinician], "clinicians")?;
    let start = parse_instant("start", &body.start)?;
    if !body.hold && body.consultation_id.is_none() {
        return Err(ApiError::invalid(
            "consultation_required",
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
    let (slot, claim_id) = match take_slot(
        &mut tx,
        &expert,
        start,
        now,
        state.settings.slot_horizon_days,
        may_take_reserved,
    )
    .await
    {
        Ok(taken) => taken,
        Err(error) => {
            drop(tx);
            let service = consultation.as_ref().map(|c| c.service);
            return Err(take_error(&state, error, &expert, start, service, &tz).await);
        }
    };
    if let Some(c) = &consultation {
        if c.service != slot.service {
            return Err(ApiError::invalid(
                "service_mismatch",
                "start",
                format!(
                    "this slot is for {}, the consultation asks for {}",
                    slot.service.as_str(),
                    c.service.as_str()
                ),
            ));
        }
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
    let booking = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "booking" })?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok((StatusCode::CREATED, Json(booking.view(&tz))))
}

fn already_booked(error: ApiError) -> ApiError {
    match error {
        ApiError::Database(sqlx::Error::Database(db))
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation =>
        {
            ApiError::conflict(
                "consultation_already_booked",
                "this consultation already has a held or booked slot",
            )
        }
        other => other,
    }
}

/// Schedules the consultation for this booking and tells the expert.
async fn schedule(
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
            "concurrent_change",
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
    policy::require_any(
        &caller,
        &[Role::Clinician, Role::Expert, Role::Scheduler],
        "clinicians, experts and schedulers",
    )?;
    let limit = query.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: "invalid_query",
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
    let who = store::Visibility {
        facility_id: if caller.has(Role::Clinician) {
            caller.facility_id
        } else {
            -1
        },
        expert_id: caller.user_id,
        scheduler_facility_id: if caller.has(Role::Scheduler) {
            caller.facility_id
        } else {
            -1
        },
    };
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
            "forbidden",
            "only the booking facility's clinicians confirm a hold",
        ));
    }
    if !matches!(booking.status, BookingStatus::Held | BookingStatus::Expired) {
        return Err(ApiError::Conflict {
            code: "not_held",
            message: format!("this booking is {}, not held", booking.status.as_str()),
            details: serde_json::json!({ "status": booking.status }),
        });
    }
    let tz = caller_zone(&mut tx, &caller, None).await?;
    let expert = expert_or_422(&mut tx, booking.expert_id).await?;
    let consultation =
        bookable_consultation(&mut tx, &caller, body.consultation_id, &expert, now).await?;
    if let Some(referral_id) = body.referral_id {
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
    let may_take_reserved =
        body.referral_id.is_some() || super::priority::has_referral(&mut tx, id).await?;
    // A live hold keeps its claim, but the roster may have changed under it.
    let (slot, claim_id) = if booking.is_live(now) {
        let slot = availability::slot_at(&mut tx, &expert, booking.start_at).await?;
        match (slot, booking.claim_id) {
            (Some(slot), Some(claim_id)) if slot.end_at == booking.end_at => (slot, claim_id),
            _ => {
                drop(tx);
                return Err(take_error(
                    &state,
                    TakeError::NotInRoster,
                    &expert,
                    booking.start_at,
                    Some(consultation.service),
                    &tz,
                )
                .await);
            }
        }
    } else {
        if booking.status == BookingStatus::Held {
            claim::release_lapsed(&mut tx, expert.id, booking.start_at, booking.end_at, now)
                .await?;
        }
        match take_slot(
            &mut tx,
            &expert,
            booking.start_at,
            now,
            state.settings.slot_horizon_days,
            may_take_reserved,
        )
        .await
        {
            Ok(taken) => taken,
            Err(error) => {
                drop(tx);
                return Err(take_error(
                    &state,
                    error,
                    &expert,
                    booking.start_at,
                    Some(consultation.service),
                    &tz,
                )
                .await);
            }
        }
    };
    if consultation.service != slot.service {
        return Err(ApiError::invalid(
            "service_mismatch",
            "consultation_id",
            format!(
                "this slot is for {}, the consultation asks for {}",
                slot.service.as_str(),
                consultation.service.as_str()
            ),
        ));
    }
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
    let booking = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "booking" })?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(booking.view(&tz)))
}

fn reason(body: &ReasonBody) -> ApiResult<String> {
    let text = body.reason.trim();
    if text.chars().count() < 3 || text.chars().count() > 2000 {
        return Err(ApiError::invalid(
            "reason_required",
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
            code: "booking_not_active",
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
            "forbidden",
            "you may not make this change to this booking",
        ));
    }
    must_be_active(&booking, now)?;
    if to == BookingStatus::NoShow && booking.start_at > now {
        return Err(ApiError::conflict(
            "not_started",
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
    let booking = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "booking" })?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(booking.view(&tz)))
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
            "forbidden",
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
    let (slot, claim_id) = match take_slot(
        &mut tx,
        &expert,
        start,
        now,
        state.settings.slot_horizon_days,
        may_take_reserved,
    )
    .await
    {
        Ok(taken) => taken,
        Err(error) => {
            drop(tx);
            return Err(
                take_error(&state, error, &expert, start, Some(booking.service), &tz).await,
            );
        }
    };
    if slot.service != booking.service {
        return Err(ApiError::invalid(
            "service_mismatch",
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
    let booking = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "booking" })?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(booking.view(&tz)))
}
