//! Consultations: a clinician's request about a patient to an expert or a
//! specialty. Routine ones are booked into a slot (`crate::booking`); urgent
//! and emergency ones go to the specialty's on-call queue ([`oncall`]).
//!
//! The life of one is a state machine ([`Status::allowed`]):
//! `requested → scheduled → in_progress → awaiting_opinion → completed`, plus
//! `cancelled` and `declined`. A booking that is cancelled or missed sends a
//! scheduled consultation back to `requested` so it can be booked again.

pub mod desk;
pub mod oncall;
pub mod routes;
pub mod store;
pub mod visible;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};
use crate::roster::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Requested,
    Scheduled,
    InProgress,
    AwaitingOpinion,
    Completed,
    Cancelled,
    Declined,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Requested,
        Status::Scheduled,
        Status::InProgress,
        Status::AwaitingOpinion,
        Status::Completed,
        Status::Cancelled,
        Status::Declined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Requested => "requested",
            Status::Scheduled => "scheduled",
            Status::InProgress => "in_progress",
            Status::AwaitingOpinion => "awaiting_opinion",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::Declined => "declined",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The states this one may move to.
    pub fn allowed(self) -> &'static [Status] {
        match self {
            Status::Requested => &[Status::Scheduled, Status::Cancelled, Status::Declined],
            Status::Scheduled => &[
                Status::InProgress,
                Status::Requested,
                Status::Cancelled,
                Status::Declined,
            ],
            Status::InProgress => &[Status::AwaitingOpinion],
            Status::AwaitingOpinion => &[Status::Completed],
            Status::Completed | Status::Cancelled | Status::Declined => &[],
        }
    }

    /// Refuses a move the state machine does not allow, naming the allowed ones.
    pub fn check(self, to: Status) -> Result<(), ApiError> {
        if self.allowed().contains(&to) {
            return Ok(());
        }
        let allowed: Vec<&str> = self.allowed().iter().map(|s| s.as_str()).collect();
        Err(ApiError::Conflict {
            code: ErrorCode::InvalidTransition,
            message: format!(
                "a {} consultation cannot become {}; allowed: {}",
                self.as_str(),
                to.as_str(),
                if allowed.is_empty() {
                    "none (it is closed)".to_owned()
                } else {
                    allowed.join(", ")
                }
            ),
            details: serde_json::json!({ "from": self.as_str(), "to": to.as_str(), "allowed": allowed }),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Routine,
    Urgent,
    Emergency,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Routine => "routine",
            Urgency::Urgent => "urgent",
            Urgency::Emergency => "emergency",
        }
    }

    pub fn parse(text: &str) -> Urgency {
        match text {
            "urgent" => Urgency::Urgent,
            "emergency" => Urgency::Emergency,
            _ => Urgency::Routine,
        }
    }
}

/// When a consultation's call opens: `open_before_ms` ahead of its booked
/// slot while it is scheduled with one; `None` when it opens at once (an
/// on-call case, or a call under way) or cannot be held at all. The call's
/// admission and every list of consultations use this one rule, so a Join
/// shown in a list is a Join the call lets in.
pub fn call_opens_at(
    status: Status,
    booking_start: Option<i64>,
    open_before_ms: i64,
) -> Option<i64> {
    match (status, booking_start) {
        (Status::Scheduled, Some(start)) => Some(start.saturating_sub(open_before_ms)),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsultationView {
    pub id: i64,
    pub patient_id: i64,
    pub patient_name: String,
    /// The patient's record number at the requesting facility.
    pub patient_record_number: Option<String>,
    pub requested_by: i64,
    /// The requesting clinician, as the expert addresses them.
    pub requested_by_name: String,
    pub requesting_facility_id: i64,
    pub requesting_facility_name: String,
    pub expert_id: Option<i64>,
    pub expert_name: Option<String>,
    pub specialty: String,
    pub urgency: Urgency,
    pub service: Service,
    /// Left out for schedulers, who arrange but do not treat.
    pub reason: Option<String>,
    pub clinical_summary: Option<String>,
    pub status: Status,
    pub status_reason: Option<String>,
    /// Study Instance UIDs attached by the requester.
    pub studies: Vec<String>,
    pub created_at: String,
    pub accepted_at: Option<String>,
    /// Set when an emergency waited too long in the on-call queue.
    pub escalated_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    /// When its call opens, for a scheduled consultation with a booked
    /// slot; null while its call is open at once or when it is not
    /// scheduled (see `status`). The call itself decides admission.
    pub call_opens_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsultation {
    pub patient_id: i64,
    /// A named expert (routine only), or leave empty and give `specialty`.
    pub expert_id: Option<i64>,
    pub specialty: Option<String>,
    pub urgency: Urgency,
    #[serde(default = "video")]
    pub service: Service,
    pub reason: String,
    #[serde(default)]
    pub clinical_summary: String,
    /// Study Instance UIDs of the images to read before the call.
    #[serde(default)]
    pub studies: Vec<String>,
}

fn video() -> Service {
    Service::Video
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: Status,
    /// Required to decline or cancel.
    pub reason: Option<String>,
    /// The patient the screen showed. When given, it must be the
    /// consultation's patient, else 409 `patient_mismatch` and nothing
    /// changes.
    pub patient_id: Option<i64>,
}
