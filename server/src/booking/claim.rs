//! Taking and giving back an expert's time inside a write transaction.

use crate::db::Tx;
use crate::roster::slots::Slot;

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Someone else has the time, or the slot is full.
    #[error("the slot is no longer free")]
    Taken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// True for the database's refusal of an overlapping or duplicate claim: the
/// SQLite trigger, PostgreSQL's exclusion constraint (23P01), or the unique
/// start.
fn is_claim_conflict(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.kind() == sqlx::error::ErrorKind::UniqueViolation
                || db.code().as_deref() == Some("23P01")
                || db.message().contains("slot_claim_overlap")
        }
        _ => false,
    }
}

/// Gives back the time of holds that lapsed on or around `[start, end)`, so a
/// claim there sees only live bookings.
pub async fn release_lapsed(
    tx: &mut Tx,
    expert_id: i64,
    start: i64,
    end: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    let lapsed: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, claim_id FROM booking WHERE expert_id = $1 AND status = 'held' \
         AND hold_expires_at <= $2 AND start_at < $3 AND end_at > $4",
    )
    .bind(expert_id)
    .bind(now)
    .bind(end)
    .bind(start)
    .fetch_all(&mut **tx)
    .await?;
    expire(tx, &lapsed, now).await
}

/// Lapsed holds anywhere, for the periodic sweep.
pub async fn release_all_lapsed(tx: &mut Tx, now: i64) -> Result<u64, sqlx::Error> {
    let lapsed: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, claim_id FROM booking WHERE status = 'held' AND hold_expires_at <= $1",
    )
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    expire(tx, &lapsed, now).await?;
    Ok(lapsed.len() as u64)
}

/// Marks these holds expired and gives their claims back. The status test in
/// the UPDATE keeps a hold confirmed meanwhile (on another connection) intact.
async fn expire(tx: &mut Tx, lapsed: &[(i64, Option<i64>)], now: i64) -> Result<(), sqlx::Error> {
    for (booking_id, claim_id) in lapsed {
        let done = sqlx::query(
            "UPDATE booking SET status = 'expired', claim_id = NULL, updated_at = $1 \
             WHERE id = $2 AND status = 'held'",
        )
        .bind(now)
        .bind(booking_id)
        .execute(&mut **tx)
        .await?;
        if let (1, Some(claim_id)) = (done.rows_affected(), claim_id) {
            recount(tx, *claim_id).await?;
        }
    }
    Ok(())
}

/// True when the expert's time from `start` is claimed to capacity by live
/// bookings, so that [`take`] would refuse it: the claim starting there is
/// full, and no hold on it has lapsed (those [`take`] gives back first).
/// A read, for answering a conflict before asking for the write lock; the
/// write still decides.
pub async fn is_full(
    conn: &mut sqlx::AnyConnection,
    expert_id: i64,
    start: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let full: Option<i64> = sqlx::query_scalar(
        "SELECT c.id FROM slot_claim c WHERE c.expert_id = $1 AND c.start_at = $2 \
         AND c.taken >= c.capacity AND NOT EXISTS (SELECT 1 FROM booking b \
         WHERE b.claim_id = c.id AND b.status = 'held' AND b.hold_expires_at <= $3)",
    )
    .bind(expert_id)
    .bind(start)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(full.is_some())
}

/// Takes one place in `slot` for `expert_id` and returns the claim's id.
///
/// On PostgreSQL a failed insert aborts the transaction; the caller answers
/// the conflict and drops it, which is what happens with `ClaimError::Taken`.
pub async fn take(tx: &mut Tx, expert_id: i64, slot: &Slot, now: i64) -> Result<i64, ClaimError> {
    release_lapsed(tx, expert_id, slot.start_at, slot.end_at, now).await?;
    let joined: Option<i64> = sqlx::query_scalar(
        "UPDATE slot_claim SET taken = taken + 1 \
         WHERE expert_id = $1 AND start_at = $2 AND end_at = $3 AND taken < capacity RETURNING id",
    )
    .bind(expert_id)
    .bind(slot.start_at)
    .bind(slot.end_at)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = joined {
        return Ok(id);
    }
    let overlapping: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM slot_claim WHERE expert_id = $1 AND start_at < $2 AND end_at > $3 LIMIT 1",
    )
    .bind(expert_id)
    .bind(slot.end_at)
    .bind(slot.start_at)
    .fetch_optional(&mut **tx)
    .await?;
    if overlapping.is_some() {
        return Err(ClaimError::Taken);
    }
    sqlx::query_scalar(
        "INSERT INTO slot_claim (expert_id, start_at, end_at, capacity, taken) \
         VALUES ($1, $2, $3, $4, 1) RETURNING id",
    )
    .bind(expert_id)
    .bind(slot.start_at)
    .bind(slot.end_at)
    .bind(slot.capacity)
    .fetch_one(&mut **tx)
    .await
    .map_err(|error| {
        if is_claim_conflict(&error) {
            ClaimError::Taken
        } else {
            ClaimError::Database(error)
        }
    })
}

/// Sets the claim's count from the bookings that still hold it, removing it
/// when none do. Call after a booking let go of `claim_id`.
pub async fn recount(tx: &mut Tx, claim_id: i64) -> Result<(), sqlx::Error> {
    let holders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM booking WHERE claim_id = $1")
        .bind(claim_id)
        .fetch_one(&mut **tx)
        .await?;
    if holders == 0 {
        sqlx::query("DELETE FROM slot_claim WHERE id = $1")
            .bind(claim_id)
            .execute(&mut **tx)
            .await?;
    } else {
        sqlx::query("UPDATE slot_claim SET taken = $1 WHERE id = $2")
            .bind(holders)
            .bind(claim_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Lets go of an active booking's place in its claim while the booking keeps
/// pointing at it (the reference is checked at commit), so the booking can
/// take a new claim that overlaps the old one. The caller must then move the
/// booking onto the new claim in the same transaction.
pub async fn vacate(tx: &mut Tx, claim_id: i64) -> Result<(), sqlx::Error> {
    let taken: Option<i64> = sqlx::query_scalar("SELECT taken FROM slot_claim WHERE id = $1")
        .bind(claim_id)
        .fetch_optional(&mut **tx)
        .await?;
    match taken {
        Some(1) => {
            sqlx::query("DELETE FROM slot_claim WHERE id = $1")
                .bind(claim_id)
                .execute(&mut **tx)
                .await?;
        }
        Some(_) => {
            sqlx::query("UPDATE slot_claim SET taken = taken - 1 WHERE id = $1")
                .bind(claim_id)
                .execute(&mut **tx)
                .await?;
        }
        None => {}
    }
    Ok(())
}
