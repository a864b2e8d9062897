//! Referrals: a patient sent `up` to a higher tier for what the referring
//! facility cannot treat, or `down` to a lower tier for rehabilitation with a
//! plan. The receiving facility accepts or rejects, then records arrival and
//! discharge ([`rules::Status`] is the state machine). Each referral is
//! checked against the graded diagnosis catalogue ([`rules::judge`]), and
//! the receiving facility's clinicians have the patient in scope while it is
//! live (see [`crate::policy`]).

pub mod create;
pub mod routes;
pub mod rules;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use create::create;
pub use rules::{Direction, Status};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralView {
    pub id: i64,
    pub patient_id: i64,
    pub direction: Direction,
    pub from_facility_id: i64,
    pub from_facility_name: String,
    pub to_facility_id: i64,
    pub to_facility_name: String,
    pub requested_by: i64,
    pub reason: String,
    /// Normalised ICD-10 codes.
    pub diagnosis_codes: Vec<String>,
    pub justification: Option<String>,
    pub rehabilitation_plan: Option<String>,
    pub status: Status,
    pub decided_by: Option<i64>,
    pub decided_at: Option<String>,
    /// Why it was rejected.
    pub decision_note: Option<String>,
    pub arrived_at: Option<String>,
    pub discharged_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The patient's name as written (family name first).
    pub patient_name: String,
    /// The patient's record number at the sending facility (else their first).
    pub patient_record_number: Option<String>,
}

/// Something the sender should know but that does not stop the referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Warning {
    /// e.g. `tier_not_listed`.
    pub code: String,
    pub message: String,
}

/// A new referral, with what the catalogue had to say about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedReferral {
    #[serde(flatten)]
    pub referral: ReferralView,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReferral {
    pub patient_id: i64,
    /// `up` to a higher tier, `down` to a lower one; must agree with the tiers
    /// of the caller's facility and `to_facility_id`.
    pub direction: Direction,
    pub to_facility_id: i64,
    pub reason: String,
    /// ICD-10 codes, at least one.
    pub diagnosis_codes: Vec<String>,
    /// Why the patient goes up although the catalogue says the referring tier
    /// treats the condition; required exactly then.
    pub justification: Option<String>,
    /// Required for `down`.
    pub rehabilitation_plan: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Why the receiving facility cannot take the patient.
    pub reason: String,
}
