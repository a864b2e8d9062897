//! Which generated slots are still free: the roster's slots minus the claims
//! on the expert's time. A hold whose time is up no longer counts, even before
//! it is tidied away.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use crate::roster::slots::{self, Slot};
use crate::roster::store::{self as roster_store, placeholders, Expert};
use crate::roster::Service;

/// A claim on an expert's time, with how many live bookings share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    pub start_at: i64,
    pub end_at: i64,
    pub capacity: i64,
    pub live: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeSlot {
    pub slot: Slot,
    pub remaining: i64,
}

/// Claims of these experts overlapping `[from, to)`, by expert.
pub async fn claims_of(
    conn: &mut AnyConnection,
    expert_ids: &[i64],
    from: i64,
    to: i64,
    now: i64,
) -> Result<HashMap<i64, Vec<Claimed>>, sqlx::Error> {
    let mut by_expert: HashMap<i64, Vec<Claimed>> = HashMap::new();
    if expert_ids.is_empty() {
        return Ok(by_expert);
    }
    let sql = format!(
        "SELECT c.expert_id, c.start_at, c.end_at, c.capacity, \
           (SELECT COUNT(*) FROM booking b WHERE b.claim_id = c.id \
              AND (b.status = 'booked' OR b.hold_expires_at > $1)) AS live \
         FROM slot_claim c WHERE c.start_at < $2 AND c.end_at > $3 AND c.expert_id IN ({}) \
         ORDER BY c.start_at",
        placeholders(4, expert_ids.len())
    );
    let mut query = sqlx::query(&sql).bind(now).bind(to).bind(from);
    for id in expert_ids {
        query = query.bind(*id);
    }
    for row in query.fetch_all(conn).await? {
        let claimed = Claimed {
            start_at: row.try_get("start_at")?,
            end_at: row.try_get("end_at")?,
            capacity: row.try_get("capacity")?,
            live: row.try_get("live")?,
        };
        if claimed.live > 0 {
            by_expert
                .entry(row.try_get("expert_id")?)
                .or_default()
                .push(claimed);
        }
    }
    Ok(by_expert)
}

/// The free ones among `slots`, with the places left in each. A slot is free
/// when nothing claims time it overlaps, or when the only claim is on exactly
/// this slot and has room left. Both lists are in start order (as generated
/// and as [`claims_of`] reads them): each slot looks only at the claims from
/// the first one that has not ended before it, not at all of them.
pub fn free(slots: &[Slot], claims: &[Claimed], now: i64) -> Vec<FreeSlot> {
    let mut first = 0;
    slots
        .iter()
        .filter(|slot| slot.start_at >= now)
        .filter_map(|slot| {
            while first < claims.len() && claims[first].end_at <= slot.start_at {
                first += 1;
            }
            let mut remaining = slot.capacity;
            for claim in &claims[first..] {
                if claim.start_at >= slot.end_at {
                    break;
                }
                if slot.start_at >= claim.end_at {
                    continue;
                }
                if claim.start_at == slot.start_at && claim.end_at == slot.end_at {
                    remaining = claim.capacity - claim.live;
                } else {
                    return None;
                }
            }
            (remaining > 0).then_some(FreeSlot {
                slot: *slot,
                remaining,
            })
        })
        .collect()
}

/// The rules and exceptions of some experts, read once for a range and
/// then turned into slots for any window inside it ([`Rosters::slots`]).
pub struct Rosters {
    rules: Vec<crate::roster::RuleView>,
    exceptions: Vec<roster_store::ExceptionRow>,
}

impl Rosters {
    /// The rosters of `experts` that can yield slots in `[from, to)`.
    pub async fn read(
        conn: &mut AnyConnection,
        experts: &[Expert],
        from: i64,
        to: i64,
    ) -> Result<Rosters, sqlx::Error> {
        let ids: Vec<i64> = experts.iter().map(|e| e.id).collect();
        let rules = roster_store::rules_of(conn, &ids).await?;
        // Exceptions are fetched a day wide either side: an extra session or
        // leave can straddle the range's edges.
        let day = 86_400_000;
        let exceptions = roster_store::exceptions_of(conn, &ids, from - day, to + day).await?;
        Ok(Rosters { rules, exceptions })
    }

    /// The expert's generated slots starting in `[from, to)`, a window of
    /// the range these rosters were read for.
    pub fn slots(&self, expert: &Expert, from: i64, to: i64) -> Vec<Slot> {
        let specs: Vec<_> = self
            .rules
            .iter()
            .filter(|r| r.expert_id == expert.id)
            .filter_map(roster_store::rule_spec)
            .collect();
        let exceptions: Vec<_> = self
            .exceptions
            .iter()
            .filter(|e| e.view.expert_id == expert.id)
            .map(|e| e.spec.clone())
            .collect();
        slots::generate(&expert.tz(), &specs, &exceptions, from, to)
    }
}

/// The generated slots of each expert starting in `[from, to)`.
pub async fn generated(
    conn: &mut AnyConnection,
    experts: &[Expert],
    from: i64,
    to: i64,
) -> Result<HashMap<i64, Vec<Slot>>, sqlx::Error> {
    let rosters = Rosters::read(conn, experts, from, to).await?;
    Ok(experts
        .iter()
        .map(|expert| (expert.id, rosters.slots(expert, from, to)))
        .collect())
}

/// The free slots of one expert in `[from, to)`, a window of the range its
/// rosters and claims were read for, optionally of one service.
fn free_of(
    rosters: &Rosters,
    claims: &HashMap<i64, Vec<Claimed>>,
    expert: &Expert,
    (from, to): (i64, i64),
    service: Option<Service>,
    now: i64,
) -> Vec<FreeSlot> {
    let slots = rosters.slots(expert, from, to);
    let claims = claims.get(&expert.id).map_or(&[][..], Vec::as_slice);
    free(&slots, claims, now)
        .into_iter()
        .filter(|f| service.is_none_or(|s| f.slot.service == s))
        .collect()
}

/// Free slots of each expert in `[from, to)`, optionally of one service.
pub async fn free_slots(
    conn: &mut AnyConnection,
    experts: &[Expert],
    from: i64,
    to: i64,
    service: Option<Service>,
    now: i64,
) -> Result<HashMap<i64, Vec<FreeSlot>>, sqlx::Error> {
    let ids: Vec<i64> = experts.iter().map(|e| e.id).collect();
    let rosters = Rosters::read(conn, experts, from, to).await?;
    let claims = claims_of(conn, &ids, from, to, now).await?;
    Ok(experts
        .iter()
        .map(|expert| {
            let free = free_of(&rosters, &claims, expert, (from, to), service, now);
            (expert.id, free)
        })
        .collect())
}

/// What a search in time order found: the first free slots across the
/// experts, and which experts had none in the whole range.
#[derive(Debug, Default)]
pub struct Earliest {
    /// At most `limit` (expert, slot), soonest first, ties by expert id.
    pub slots: Vec<(i64, FreeSlot)>,
    /// The experts with no free slot anywhere in the range.
    pub none: Vec<i64>,
}

/// The first `limit` free slots of these experts in `[from, to)`, soonest
/// first, without making every slot of the range: the range is walked in
/// windows that double from a day, each window for every expert at once,
/// until `limit` slots have been found (all earlier slots being known by
/// then); after that, only the experts with none yet are followed, to tell
/// whether they have any in the range at all.
#[allow(clippy::too_many_arguments)]
pub async fn earliest_free(
    conn: &mut AnyConnection,
    experts: &[Expert],
    from: i64,
    to: i64,
    service: Option<Service>,
    now: i64,
    include_reserved: bool,
    limit: usize,
) -> Result<Earliest, sqlx::Error> {
    // One read of the rosters and the claims for the whole range; the
    // windows only generate slots from them.
    let rosters = Rosters::read(conn, experts, from, to).await?;
    let ids: Vec<i64> = experts.iter().map(|e| e.id).collect();
    let claims = claims_of(conn, &ids, from, to, now).await?;
    let mut found: Vec<(i64, FreeSlot)> = Vec::new();
    let mut with_any: std::collections::HashSet<i64> = std::collections::HashSet::new();
    let mut looking: Vec<&Expert> = experts.iter().collect();
    let mut collecting = true;
    let mut start = from;
    let mut span = 86_400_000;
    while start < to && !looking.is_empty() {
        let end = start.saturating_add(span).min(to);
        for expert in &looking {
            let mut free = free_of(&rosters, &claims, expert, (start, end), service, now)
                .into_iter()
                .filter(|f| include_reserved || !f.slot.referral_priority)
                .peekable();
            if free.peek().is_some() {
                with_any.insert(expert.id);
            }
            if collecting {
                found.extend(free.map(|f| (expert.id, f)));
            }
        }
        if collecting && found.len() >= limit {
            collecting = false;
        }
        if !collecting {
            looking.retain(|e| !with_any.contains(&e.id));
        }
        start = end;
        span = span.saturating_mul(2);
    }
    found.sort_by_key(|(expert_id, f)| (f.slot.start_at, *expert_id));
    found.truncate(limit);
    Ok(Earliest {
        slots: found,
        none: experts
            .iter()
            .map(|e| e.id)
            .filter(|id| !with_any.contains(id))
            .collect(),
    })
}

/// The slot of this expert's roster that starts at `start`, if any.
pub async fn slot_at(
    conn: &mut AnyConnection,
    expert: &Expert,
    start: i64,
) -> Result<Option<Slot>, sqlx::Error> {
    let generated = generated(conn, std::slice::from_ref(expert), start, start + 1).await?;
    Ok(generated
        .get(&expert.id)
        .and_then(|slots| slots.iter().find(|s| s.start_at == start).copied()))
}

/// The earliest free slot of this expert in `[from, until)`, looking a week at
/// a time so a far-off answer does not generate the whole horizon at once.
pub async fn next_free(
    conn: &mut AnyConnection,
    expert: &Expert,
    from: i64,
    until: i64,
    service: Option<Service>,
    now: i64,
    allow_priority: bool,
) -> Result<Option<FreeSlot>, sqlx::Error> {
    let week = 7 * 86_400_000;
    let mut start = from.max(now);
    while start < until {
        let end = (start + week).min(until);
        let free = free_slots(conn, std::slice::from_ref(expert), start, end, service, now).await?;
        if let Some(found) = free.get(&expert.id).and_then(|slots| {
            slots
                .iter()
                .find(|f| allow_priority || !f.slot.referral_priority)
        }) {
            return Ok(Some(*found));
        }
        start = end;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(start: i64, end: i64, capacity: i64) -> Slot {
        Slot {
            start_at: start,
            end_at: end,
            service: Service::Video,
            capacity,
            referral_priority: false,
        }
    }

    #[test]
    fn overlapping_claims_of_another_length_take_the_slot() {
        // A 30-minute slot at 0 and a 60-minute slot at 0 from two rules: a
        // claim on the first blocks the second, and one at 45 blocks both.
        let slots = [slot(0, 30, 1), slot(0, 60, 1), slot(60, 90, 1)];
        let claims = [Claimed {
            start_at: 0,
            end_at: 30,
            capacity: 1,
            live: 1,
        }];
        assert_eq!(
            free(&slots, &claims, 0)
                .iter()
                .map(|f| f.slot.start_at)
                .collect::<Vec<_>>(),
            [60]
        );
    }

    #[test]
    fn a_shared_slot_stays_free_until_full() {
        let slots = [slot(0, 30, 3)];
        let claims = [Claimed {
            start_at: 0,
            end_at: 30,
            capacity: 3,
            live: 2,
        }];
        assert_eq!(free(&slots, &claims, 0)[0].remaining, 1);
        let full = [Claimed {
            live: 3,
            ..claims[0]
        }];
        assert!(free(&slots, &full, 0).is_empty());
    }

    #[test]
    fn past_slots_are_not_free() {
        assert!(free(&[slot(0, 30, 1)], &[], 1).is_empty());
    }
}
