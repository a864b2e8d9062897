//! Sharing consent: the patient's consent, recorded by a clinician who
//! cares for them, to members of the consortium reading each other's
//! records about them (检查检验结果互认). Who may read on its strength is
//! [`crate::policy::sharing`]'s decision; this area keeps the records:
//! given, by whom and for whom, and withdrawn, with effect at once.

pub mod elsewhere;
pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which members may read on the strength of a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Every member facility that cares for the patient.
    Consortium,
    /// Only the facilities named in `facility_ids` (when they care for
    /// the patient).
    Facilities,
}

impl ConsentScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consortium => "consortium",
            Self::Facilities => "facilities",
        }
    }

    pub fn parse(text: &str) -> Self {
        // The CHECK constraint admits only the two.
        if text == "facilities" {
            Self::Facilities
        } else {
            Self::Consortium
        }
    }
}

/// Who gave a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GivenBy {
    Patient,
    /// A guardian, for a minor or a patient who cannot consent; named in
    /// `guardian_name`.
    Guardian,
}

impl GivenBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Guardian => "guardian",
        }
    }

    pub fn parse(text: &str) -> Self {
        if text == "guardian" {
            Self::Guardian
        } else {
            Self::Patient
        }
    }
}

/// A consent to record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    pub scope: ConsentScope,
    /// The facilities that may read, when `scope` is `facilities`.
    #[serde(default)]
    pub facility_ids: Vec<i64>,
    pub given_by: GivenBy,
    /// Required when `given_by` is `guardian`.
    pub guardian_name: Option<String>,
    /// The signed form's reference (the scan's file number) or the
    /// statement as the patient gave it.
    pub form_reference: String,
}

/// A withdrawal.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    pub reason: String,
}

/// A facility named by a consent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NamedFacility {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentView {
    pub id: i64,
    pub patient_id: i64,
    pub scope: ConsentScope,
    /// The facilities named, when `scope` is `facilities`.
    pub facilities: Vec<NamedFacility>,
    pub given_by: GivenBy,
    pub guardian_name: Option<String>,
    pub form_reference: String,
    pub recorded_by: i64,
    pub recorded_by_name: String,
    pub recorded_at_facility_id: i64,
    pub recorded_at_facility_name: String,
    pub recorded_at: String,
    /// Whether it counts now: recorded and not withdrawn.
    pub in_force: bool,
    pub withdrawn_by: Option<i64>,
    pub withdrawn_by_name: Option<String>,
    pub withdrawn_at: Option<String>,
    pub withdrawal_reason: Option<String>,
}
