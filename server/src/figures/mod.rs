//! Operating figures for administrators: the consortium's own dashboard for
//! the problems it exists to fix ("up-referral is easy, down-referral is
//! hard", waits for an expert, patients leaving the region).
//!
//! Months are calendar months in the caller's facility time zone. Figures
//! are computed from the rows on request: at consortium scale that is a few
//! thousand rows a month, and it keeps them exact.

pub mod routes;

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsultationCount {
    /// `YYYY-MM`.
    pub month: String,
    pub specialty: String,
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralCount {
    pub month: String,
    pub facility_id: i64,
    pub facility_name: String,
    pub up_sent: i64,
    pub down_sent: i64,
    pub up_received: i64,
    pub down_received: i64,
}

/// A distribution of waits, in minutes.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Waits {
    pub count: usize,
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
}

impl Waits {
    pub fn of(mut millis: Vec<i64>) -> Waits {
        millis.sort_unstable();
        Waits {
            count: millis.len(),
            median_minutes: percentile(&millis, 50.0),
            p90_minutes: percentile(&millis, 90.0),
        }
    }
}

/// Nearest-rank percentile of sorted values, in minutes.
fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let value = sorted[rank.clamp(1, sorted.len()) - 1];
    Some((value as f64 / 60_000.0 * 10.0).round() / 10.0)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Figures {
    pub time_zone: String,
    pub from_month: String,
    pub to_month: String,
    /// Consultations created in each month, by specialty and current status.
    pub consultations: Vec<ConsultationCount>,
    /// Referrals created in each month, per facility, in both directions.
    pub referrals: Vec<ReferralCount>,
    /// From the request to the start of the consultation.
    pub request_to_consultation: Waits,
    /// From an urgent or emergency request to its acceptance by an on-call expert.
    pub on_call_acceptance: Waits,
    /// Referrals (not rejected or cancelled) whose receiving facility is below
    /// the tertiary tier: the patient stayed in the county network.
    pub referrals_in_region: i64,
    pub referrals_total: i64,
    pub in_region_share: Option<f64>,
    /// Remote reading: from request to signed final report, per priority and
    /// reading facility, against the target turnaround.
    pub reading_turnaround: Vec<crate::reading::turnaround::ReadingTurnaround>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let minutes: Vec<i64> = (1..=10).map(|m| m * 60_000).collect();
        let waits = Waits::of(minutes);
        assert_eq!(waits.count, 10);
        assert_eq!(waits.median_minutes, Some(5.0));
        assert_eq!(waits.p90_minutes, Some(9.0));
        assert_eq!(Waits::of(Vec::new()).median_minutes, None);
    }
}
