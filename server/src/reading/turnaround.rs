//! Reading turnaround for the operating figures: from request to signed
//! final report, per priority and reading facility, against the priority's
//! target.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::Priority;
use crate::config::Settings;
use crate::time::Waits;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadingTurnaround {
    pub reading_facility_id: i64,
    pub reading_facility_name: String,
    pub priority: Priority,
    /// The priority's target, in minutes.
    pub target_minutes: i64,
    /// Requests completed (final report signed): their turnaround.
    pub completed: Waits,
    /// The share of completed requests signed within the target.
    pub within_target_share: Option<f64>,
    /// Requests still open, and how many of those are past their target.
    pub open: i64,
    pub open_overdue: i64,
}

/// Figures for requests made in `[start, end)`.
pub async fn figures(
    conn: &mut AnyConnection,
    settings: &Settings,
    start: i64,
    end: i64,
    now: i64,
) -> Result<Vec<ReadingTurnaround>, sqlx::Error> {
    // (reading facility, its name, priority, status, created, completed, due)
    type Row = (i64, String, String, String, i64, Option<i64>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.reading_facility_id, f.name, r.priority, r.status, r.created_at, r.completed_at, r.due_at \
         FROM reading_request r JOIN facility f ON f.id = r.reading_facility_id \
         WHERE r.created_at >= $1 AND r.created_at < $2 AND r.status <> 'cancelled'",
    )
    .bind(start)
    .bind(end)
    .fetch_all(conn)
    .await?;
    struct Tally {
        name: String,
        waits: Vec<i64>,
        within: usize,
        open: i64,
        overdue: i64,
    }
    let mut groups: BTreeMap<(i64, usize), Tally> = BTreeMap::new();
    for (facility, name, priority, status, created, completed, due) in rows {
        let Some(priority) = Priority::parse(&priority) else {
            continue;
        };
        let rank = Priority::ALL
            .iter()
            .position(|p| *p == priority)
            .unwrap_or(0);
        let tally = groups.entry((facility, rank)).or_insert_with(|| Tally {
            name,
            waits: Vec::new(),
            within: 0,
            open: 0,
            overdue: 0,
        });
        match (status.as_str(), completed) {
            ("completed", Some(completed)) => {
                tally.waits.push(completed - created);
                if completed <= due {
                    tally.within += 1;
                }
            }
            _ => {
                tally.open += 1;
                if now > due {
                    tally.overdue += 1;
                }
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|((facility, rank), tally)| {
            let priority = Priority::ALL[rank];
            let done = tally.waits.len();
            ReadingTurnaround {
                reading_facility_id: facility,
                reading_facility_name: tally.name,
                priority,
                target_minutes: priority.target_ms(settings) / 60_000,
                completed: Waits::of(tally.waits),
                within_target_share: (done > 0).then(|| tally.within as f64 / done as f64),
                open: tally.open,
                open_overdue: tally.overdue,
            }
        })
        .collect())
}
