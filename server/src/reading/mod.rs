//! Remote reading: "exam at the clinic, diagnosis by the upper hospital".
//!
//! A clinician asks for a reading of a stored study with a clinical question
//! and a priority. Routing rules ([`routing_rules`]) put the request on a reading
//! facility's worklist, where a reader claims it (exactly one wins), writes a
//! report from a per-modality template ([`template`]), and signs it
//! ([`report`]). Each signed version is also filed into the study as a DICOM
//! Basic Text SR ([`sr`]), so any viewer of the study sees it. A critical
//! finding must be acknowledged by the requester and escalates if it is not
//! ([`critical`]). The worklist reads as FHIR Task and the reports as FHIR
//! DiagnosticReport ([`fhir`]); turnaround against the priority's target is
//! in the operating figures ([`turnaround`]).
//!
//! States follow FHIR Task: `requested` (unclaimed), `accepted` (claimed),
//! `in-progress` (a report is being written), `completed` (a final report is
//! signed), `cancelled`.

pub mod critical;
pub mod fhir;
pub mod readers;
pub mod report;
pub mod report_routes;
pub mod report_store;
pub mod requests;
pub mod routes;
pub mod routing_rules;
pub mod sr;
pub mod store;
pub mod template;
pub mod turnaround;
pub mod worklist;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Settings;
use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Stat,
    Urgent,
    Routine,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Stat, Priority::Urgent, Priority::Routine];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Stat => "stat",
            Priority::Urgent => "urgent",
            Priority::Routine => "routine",
        }
    }

    pub fn parse(text: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The target turnaround, from request to signed final report.
    pub fn target_ms(self, settings: &Settings) -> i64 {
        let minutes = match self {
            Priority::Stat => settings.reading_target_stat_minutes,
            Priority::Urgent => settings.reading_target_urgent_minutes,
            Priority::Routine => settings.reading_target_routine_minutes,
        };
        (minutes as i64).saturating_mul(60_000)
    }
}

/// SQL that orders by priority, most pressing first.
pub const PRIORITY_RANK: &str =
    "CASE r.priority WHEN 'stat' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END";

/// The state of a reading request, as FHIR Task spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TaskStatus {
    #[serde(rename = "requested")]
    Requested,
    #[serde(rename = "accepted")]
    Accepted,
    #[serde(rename = "in-progress")]
    InProgress,
    #[serde(rename = "completed")]
    Completed,
    #[serde(rename = "cancelled")]
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Requested,
        TaskStatus::Accepted,
        TaskStatus::InProgress,
        TaskStatus::Completed,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Requested => "requested",
            TaskStatus::Accepted => "accepted",
            TaskStatus::InProgress => "in-progress",
            TaskStatus::Completed => "completed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_open(self) -> bool {
        !matches!(self, TaskStatus::Completed | TaskStatus::Cancelled)
    }
}

/// A reading request as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadingRequestView {
    pub id: i64,
    pub study_instance_uid: String,
    pub patient_id: Option<i64>,
    pub requesting_facility_id: i64,
    pub requesting_facility_name: String,
    pub requested_by: i64,
    pub requested_by_name: String,
    pub reading_facility_id: i64,
    pub reading_facility_name: String,
    /// The routing rule that chose the reading facility, if one did.
    pub route_id: Option<i64>,
    pub modality: String,
    pub body_part: String,
    pub clinical_question: String,
    pub priority: Priority,
    /// A reader the requester asked for; only they (or a lead) may take it.
    pub requested_reader_id: Option<i64>,
    pub reader_id: Option<i64>,
    pub reader_name: Option<String>,
    pub status: TaskStatus,
    pub status_reason: Option<String>,
    pub created_at: String,
    /// When the signed final report is due, by the priority's target.
    pub due_at: String,
    /// Minutes left against the target turnaround (negative once overdue);
    /// absent once the request is completed or cancelled.
    pub minutes_left: Option<i64>,
    pub claimed_at: Option<String>,
    pub completed_at: Option<String>,
    /// The patient's name as written (family name first), when the study
    /// is linked to a patient.
    pub patient_name: Option<String>,
    /// The patient's record number at the requesting facility (else their
    /// first record).
    pub patient_record_number: Option<String>,
    /// `female`, `male`, `other` or `unknown`, for the patient banner.
    pub patient_sex: Option<String>,
    /// `YYYY-MM-DD`, for the patient banner's age.
    pub patient_birth_date: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReadingRequest {
    pub study_instance_uid: String,
    pub clinical_question: String,
    pub priority: Priority,
    /// Defaults to the study's modality (the first that is not a report).
    pub modality: Option<String>,
    /// As DICOM Body Part Examined spells it, e.g. `CHEST`, `HEAD`.
    pub body_part: Option<String>,
    /// Ask for one reader by user id: the request goes to their facility's
    /// worklist, reserved for them.
    pub reader_id: Option<i64>,
}

/// Upper-case code text (modality, body part), 1 to `max` characters of
/// letters, digits, space and underscore.
pub fn code_text(field: &str, text: &str, max: usize) -> Result<String, ApiError> {
    let text = text.trim().to_uppercase();
    let ok = !text.is_empty()
        && text.chars().count() <= max
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_');
    if ok {
        Ok(text)
    } else {
        Err(ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!(
                "{field} is 1 to {max} letters, digits, spaces or underscores, e.g. CT or CHEST"
            ),
        ))
    }
}

/// A body part as a reading names it: a name typed in Chinese or English
/// (胸部, "lumbar spine") becomes its DICOM term, as for an examination
/// (`examination::body_part`); anything else is a code as [`code_text`] takes it.
pub fn body_part_text(text: &str) -> Result<String, ApiError> {
    match crate::examination::body_part::dicom_term(text) {
        Some(term) => Ok(term.to_owned()),
        None => code_text("body_part", text, 64),
    }
}

pub fn check_question(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 4000 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "clinical_question",
            "clinical_question must have 1 to 4000 characters",
        ));
    }
    Ok(text.to_owned())
}

/// The modality a study is read as: the first in it that is not itself a
/// report or a presentation state.
pub fn study_modality(modalities: &str) -> Option<String> {
    modalities
        .split('\\')
        .map(str::trim)
        .find(|m| !m.is_empty() && !matches!(*m, "SR" | "KO" | "PR"))
        .map(str::to_owned)
}
