//! Sharing consent: the patient's consent, recorded by a clinician who
//! cares for them, to members of the consortium reading each other's
//! records about them (检查检验结果互认). Who may read on its strength is
//! [`crate::policy::sharing`]'s decision; this area keeps the records:
//! given, by whom and for whom, and withdrawn, with effect at once.

pub mod elsewhere;
pub mod record;
pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::patient::{check_optional, check_required};
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

/// The guardian a consent names, checked against who gave it: a guardian
/// is named, a patient giving their own consent names none. Shared by
/// every kind of consent a patient gives.
pub fn checked_guardian(
    given_by: GivenBy,
    guardian_name: Option<&str>,
) -> ApiResult<Option<String>> {
    match (given_by, guardian_name) {
        (GivenBy::Guardian, Some(name)) => Ok(Some(check_required("guardian_name", name, 100)?)),
        (GivenBy::Guardian, None) => Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "guardian_name",
            "a consent given by a guardian names the guardian",
        )),
        (GivenBy::Patient, Some(name))
            if !check_optional("guardian_name", name, 100)?.is_empty() =>
        {
            Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "guardian_name",
                "a consent given by the patient names no guardian",
            ))
        }
        (GivenBy::Patient, _) => Ok(None),
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
    #[serde(flatten)]
    pub record: record::ConsentRecord,
}
