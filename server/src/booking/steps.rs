//! The steps every booking write shares, whether it makes a booking or
//! changes one: loading what it acts on, checking the consultation and the
//! expert it books, scheduling it and answering with it once committed.

use jiff::tz::TimeZone;

use super::store::{self, BookingRow};
use super::BookingView;
use crate::auth::Caller;
use crate::consultation::store::{self as consultation_store, ConsultationRow};
use crate::consultation::visible::load_visible;
use crate::consultation::{Status, Urgency};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::notify::Outbox;
use crate::policy;
use crate::roster::slots::Slot;
use crate::roster::store::Expert;
use crate::state::AppState;

pub async fn load(tx: &mut Tx, caller: &Caller, id: i64) -> ApiResult<BookingRow> {
    match store::get(tx, id).await? {
        Some(booking) if policy::booking::can_see(caller, &booking) => Ok(booking),
        _ => Err(ApiError::NotFound { what: "booking" }),
    }
}

/// The consultation a booking is for: visible to the caller, from the
/// caller's facility, routine, still requested, and for this expert.
/// Refuses a booking whose screen showed another patient than the
/// consultation's (`patient_id` of the body).
pub fn same_patient(consultation: &ConsultationRow, shown: i64) -> ApiResult<()> {
    crate::shown_patient::check(Some(consultation.patient_id), Some(shown), "consultation")
}

pub async fn bookable_consultation(
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

pub use crate::roster::expert_or_422;

/// Reads the booking back as the transaction left it, commits, and only
/// then wakes the users its notifications are for, so that no one is told of
/// a change that did not happen.
pub async fn commit_and_show(
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

pub fn already_booked(error: ApiError) -> ApiError {
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
pub async fn schedule(
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
