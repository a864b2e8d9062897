//! "Today / my patients": the patients a clinician touched today (any
//! audited act on them since midnight at their facility) or has open work
//! for (consultations and reading requests they asked for that are not
//! finished), newest first, so the patient in front of them again is one
//! tap away. Only patients still in the caller's scope are listed.

pub mod routes;

use std::collections::HashMap;

use serde::Serialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;

use crate::audit;
use crate::auth::Caller;
use crate::patient::PatientView;

/// One patient on the list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecentPatient {
    pub patient: PatientView,
    /// The newest of the reasons, RFC 3339.
    pub last_at: String,
    /// Why the patient is listed: `touched` (an act on them today),
    /// `consultation` (an open consultation the caller asked for),
    /// `reading` (an open reading request the caller asked for).
    pub reasons: Vec<String>,
}

/// Audit events that are this list itself, or the search that may have
/// led to it, do not make a patient "touched"; nor does any list read
/// (`*.list`), which names a patient only when the list held one, and
/// which a page opened for one patient may write about another at the
/// same instant.
const NOT_A_TOUCH: [&str; 3] = ["patient.recent", "patient.search", "break_glass.match"];

fn touches(subtype: &str) -> bool {
    !NOT_A_TOUCH.contains(&subtype) && !subtype.ends_with(".list")
}

/// The instant today began at the caller's facility, in milliseconds.
async fn start_of_today(conn: &mut AnyConnection, facility_id: i64) -> Result<i64, sqlx::Error> {
    let zone = crate::facility::store::time_zone_of(conn, facility_id)
        .await?
        .and_then(|name| jiff::tz::TimeZone::get(&name).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let now = jiff::Timestamp::now().to_zoned(zone);
    Ok(now
        .start_of_day()
        .map(|start| start.timestamp().as_millisecond())
        .unwrap_or_else(|_| now.timestamp().as_millisecond() - 86_400_000))
}

/// The caller's patients (ids) with when and why, newest first, before the
/// scope is checked.
pub async fn gather(
    pool: &sqlx::AnyPool,
    caller: &Caller,
    limit: i64,
) -> Result<Vec<(i64, i64, Vec<&'static str>)>, sqlx::Error> {
    let mut seen: HashMap<i64, (i64, Vec<&'static str>)> = HashMap::new();
    let mut note = |patient: i64, at: i64, reason: &'static str| {
        let entry = seen.entry(patient).or_insert((at, Vec::new()));
        entry.0 = entry.0.max(at);
        if !entry.1.contains(&reason) {
            entry.1.push(reason);
        }
    };
    // One connection at a time: the audit trail is read through the pool.
    let since = start_of_today(&mut *pool.acquire().await?, caller.facility_id).await?;
    let events = audit::store::list(
        pool,
        &audit::store::EventFilter {
            actor_user_id: Some(caller.user_id),
            outcome: Some("success".to_owned()),
            since_ms: Some(since),
            limit: 1000,
            ..Default::default()
        },
    )
    .await?;
    for event in events {
        if let Some(patient) = event.patient_id {
            if touches(&event.subtype) {
                note(patient, event.recorded_at, "touched");
            }
        }
    }
    let mut conn = pool.acquire().await?;
    for (patient, at) in
        crate::consultation::store::open_patients_requested_by(&mut conn, caller.user_id, limit)
            .await?
    {
        note(patient, at, "consultation");
    }
    for (patient, at) in
        crate::reading::store::open_patients_requested_by(&mut conn, caller.user_id, limit).await?
    {
        note(patient, at, "reading");
    }
    let mut listed: Vec<(i64, i64, Vec<&'static str>)> = seen
        .into_iter()
        .map(|(patient, (at, reasons))| (patient, at, reasons))
        .collect();
    listed.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    Ok(listed)
}
