//! Taking a place in a slot of the roster, and the answer when it cannot be
//! taken: a conflict that offers the expert's next free slots.

use jiff::tz::TimeZone;

use super::availability::{self, FreeSlot};
use super::claim::{self, ClaimError};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::roster::slots::Slot;
use crate::roster::store::Expert;
use crate::roster::Service;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339_in};

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

/// The place a booking asks for.
pub struct Wanted<'a> {
    pub expert: &'a Expert,
    /// The slot's start.
    pub start: i64,
    /// Whether a slot held back for referred patients may be taken.
    pub may_take_reserved: bool,
    /// The booking's service, when known: the alternatives offered on a
    /// conflict are of it, so a client can book one of them as it stands.
    pub service: Option<Service>,
}

/// Takes a place in the roster's slot at `wanted.start`, or answers why not.
/// On a refusal the transaction goes first (on PostgreSQL a failed insert
/// has aborted it), then the answer is made, with the expert's next free
/// slots when it is a conflict.
pub async fn take_or_refuse(
    state: &AppState,
    mut tx: Tx,
    wanted: &Wanted<'_>,
    now: i64,
    tz: &TimeZone,
) -> ApiResult<(Tx, Slot, i64)> {
    let horizon_days = state.settings.slot_horizon_days;
    match take_slot(&mut tx, wanted, now, horizon_days).await {
        Ok((slot, claim_id)) => Ok((tx, slot, claim_id)),
        Err(error) => {
            drop(tx);
            Err(take_error(state, error, wanted, tz).await)
        }
    }
}

/// Refuses a slot of another service than the consultation asks for;
/// `field` is the request field that chose the one or the other.
pub fn same_service(slot: &Slot, asked: Service, field: &'static str) -> ApiResult<()> {
    if slot.service == asked {
        return Ok(());
    }
    Err(ApiError::invalid(
        ErrorCode::ServiceMismatch,
        field,
        format!(
            "this slot is for {}, the consultation asks for {}",
            slot.service.as_str(),
            asked.as_str()
        ),
    ))
}

/// Refuses a start in the past or further ahead than slots are offered.
pub fn timely(start: i64, now: i64, horizon_days: u32) -> Result<(), TakeError> {
    if start < now {
        return Err(TakeError::Past);
    }
    if start > now + i64::from(horizon_days) * 86_400_000 {
        return Err(TakeError::BeyondHorizon);
    }
    Ok(())
}

/// Finds the roster's slot at `wanted.start` and takes a place in it.
async fn take_slot(
    tx: &mut Tx,
    wanted: &Wanted<'_>,
    now: i64,
    horizon_days: u32,
) -> Result<(Slot, i64), TakeError> {
    let (expert, start) = (wanted.expert, wanted.start);
    timely(start, now, horizon_days)?;
    let slot = availability::slot_at(tx, expert, start)
        .await?
        .ok_or(TakeError::NotInRoster)?;
    if slot.referral_priority && !wanted.may_take_reserved {
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
pub async fn take_error(
    state: &AppState,
    error: TakeError,
    wanted: &Wanted<'_>,
    tz: &TimeZone,
) -> ApiError {
    let (code, message) = match error {
        TakeError::Api(error) => return error,
        TakeError::Past => {
            return ApiError::invalid(
                ErrorCode::SlotInPast,
                "start",
                "this slot has already begun",
            )
        }
        TakeError::BeyondHorizon => {
            return ApiError::invalid(
                ErrorCode::BeyondHorizon,
                "start",
                "this is further ahead than slots are offered",
            )
        }
        TakeError::NotInRoster => (
            ErrorCode::SlotUnavailable,
            "the expert's roster has no slot starting then",
        ),
        TakeError::Reserved => (
            ErrorCode::SlotReservedForReferrals,
            "this slot is held back for patients referred up; book it with an accepted referral",
        ),
        TakeError::Taken => (ErrorCode::SlotTaken, "this slot was just taken"),
    };
    match alternatives(state, wanted.expert, wanted.start, wanted.service, tz).await {
        Ok(next_free) => ApiError::Conflict {
            code,
            message: message.to_owned(),
            details: serde_json::json!({ "next_free": next_free }),
        },
        Err(error) => error,
    }
}
