//! Break-the-glass: in an emergency a clinician opens a patient outside their
//! scope by stating a reason. The grant lasts `break_glass_minutes`, is
//! audited with the reason, and waits in a list for an administrator to
//! review, with what the clinician opened while it lasted.
//!
//! A patient search that finds nobody in scope may ask which identifiers
//! typed would open someone by breaking the glass (`/break-glass/matches`):
//! the answer says how the identifier matched and how many patients hold
//! it, nothing about who they are, which is what breaking the glass by that
//! identifier would tell anyway.

pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// The patient, by id…
    pub patient_id: Option<i64>,
    /// …or by national identifier…
    pub national_id: Option<String>,
    /// …or by a record number (any facility's, in any case) that exactly
    /// one patient outside the caller's scope holds (exactly one of the
    /// three).
    pub record_number: Option<String>,
    /// Why, in at least 10 characters; shown to the reviewing administrator.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantView {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    /// The clinician's name as they are shown.
    pub display_name: String,
    pub facility_id: i64,
    pub facility_name: String,
    pub patient_id: i64,
    /// The patient opened, for the reviewing administrator.
    pub patient_family_name: String,
    pub patient_given_name: String,
    pub reason: String,
    pub granted_at: String,
    pub expires_at: String,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<String>,
    pub review_note: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    #[serde(default)]
    pub note: String,
}

/// How an identifier typed into a search matched patients outside the
/// caller's scope.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutsideScopeMatch {
    /// `national_id` or `record_number`: the field of the break-the-glass
    /// request that names them.
    pub by: String,
    /// The identifier to send in that field: the national identifier as
    /// the index spells it, or the record number as typed.
    pub value: String,
    /// How many patients outside the caller's scope match; breaking the
    /// glass by a record number needs exactly one.
    pub patients: i64,
}

/// One thing the clinician did to the patient while a grant lasted, from
/// the audit trail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantActivity {
    pub seq: i64,
    pub recorded_at: String,
    /// The audit event's subtype, e.g. `patient.read`, `dicom.retrieve`.
    pub subtype: String,
    pub action: String,
    pub outcome: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
}
