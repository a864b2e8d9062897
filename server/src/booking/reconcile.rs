//! A roster change never silently drops a booking. After a change is written
//! (inside its transaction), every live booking of the expert must still sit
//! on a slot the roster offers. If some do not, the change is refused with the
//! bookings listed, or, when the scheduler asked for it, each is moved to the
//! expert's next free slot of the same service and both sides are notified.

use super::availability;
use super::claim;
use super::store::{self, BookingRow};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::notify::Outbox;
use crate::roster::store::Expert;
use crate::time::rfc3339;

/// Live bookings of the expert that no generated slot matches any more.
pub async fn orphaned(tx: &mut Tx, expert: &Expert, now: i64) -> ApiResult<Vec<BookingRow>> {
    let bookings: Vec<BookingRow> = store::active_of_expert(tx, expert.id, now)
        .await?
        .into_iter()
        .filter(|b| b.is_live(now))
        .collect();
    let (Some(first), Some(last)) = (
        bookings.iter().map(|b| b.start_at).min(),
        bookings.iter().map(|b| b.start_at).max(),
    ) else {
        return Ok(Vec::new());
    };
    let generated =
        availability::generated(tx, std::slice::from_ref(expert), first, last + 1).await?;
    let slots = generated.get(&expert.id).cloned().unwrap_or_default();
    Ok(bookings
        .into_iter()
        .filter(|b| {
            !slots
                .iter()
                .any(|s| s.start_at == b.start_at && s.end_at == b.end_at && s.service == b.service)
        })
        .collect())
}

fn listed(bookings: &[BookingRow]) -> serde_json::Value {
    serde_json::Value::Array(
        bookings
            .iter()
            .map(|b| {
                serde_json::json!({
                    "id": b.id, "status": b.status, "start": rfc3339(b.start_at), "end": rfc3339(b.end_at),
                    "consultation_id": b.consultation_id, "facility_id": b.facility_id,
                })
            })
            .collect(),
    )
}

/// Refuses the change (409 `bookings_affected`) or moves the bookings it
/// would drop. Returns the bookings moved.
pub async fn settle(
    tx: &mut Tx,
    outbox: &mut Outbox,
    expert: &Expert,
    move_bookings: bool,
    now: i64,
    horizon_days: u32,
) -> ApiResult<Vec<i64>> {
    let affected = orphaned(tx, expert, now).await?;
    if affected.is_empty() {
        return Ok(Vec::new());
    }
    if !move_bookings {
        return Err(ApiError::Conflict {
            code: ErrorCode::BookingsAffected,
            message: format!(
                "this change removes {} booked slot(s); move them (move_bookings) or cancel them first",
                affected.len()
            ),
            details: serde_json::json!({ "bookings": listed(&affected) }),
        });
    }
    let until = now + i64::from(horizon_days) * 86_400_000;
    let mut moved = Vec::with_capacity(affected.len());
    for booking in &affected {
        if let Some(claim_id) = booking.claim_id {
            claim::vacate(tx, claim_id).await?;
        }
        let reserved_ok = super::priority::has_referral(tx, booking.id).await?;
        let next = availability::next_free(
            tx,
            expert,
            booking.start_at,
            until,
            Some(booking.service),
            now,
            reserved_ok,
        )
        .await?;
        let Some(next) = next else {
            return Err(ApiError::Conflict {
                code: ErrorCode::NoFreeSlotToMove,
                message:
                    "the expert has no free slot left to move a booking to; nothing was changed"
                        .to_owned(),
                details: serde_json::json!({ "bookings": listed(std::slice::from_ref(booking)) }),
            });
        };
        let claim_id = match claim::take(tx, expert.id, &next.slot, now).await {
            Ok(id) => id,
            Err(claim::ClaimError::Taken) => {
                return Err(ApiError::conflict(
                    ErrorCode::ConcurrentChange,
                    "the expert's slots changed meanwhile; try again",
                ))
            }
            Err(claim::ClaimError::Database(error)) => return Err(error.into()),
        };
        store::move_to(
            tx,
            booking.id,
            claim_id,
            next.slot.start_at,
            next.slot.end_at,
            now,
        )
        .await?;
        let payload = serde_json::json!({
            "booking_id": booking.id, "consultation_id": booking.consultation_id,
            "from": rfc3339(booking.start_at), "start": rfc3339(next.slot.start_at),
            "end": rfc3339(next.slot.end_at), "reason": "roster_change",
        });
        for user in [booking.created_by, booking.expert_id] {
            outbox
                .push(tx, user, "booking.moved", payload.clone())
                .await?;
        }
        moved.push(booking.id);
    }
    Ok(moved)
}
