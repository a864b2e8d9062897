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

use crate::time::Waits;

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
