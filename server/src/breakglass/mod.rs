//! Break-the-glass: in an emergency a clinician opens a patient outside their
//! scope by stating a reason. The grant lasts `break_glass_minutes`, is
//! audited with the reason, and waits in a list for an administrator to review.

pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// The patient, by id…
    pub patient_id: Option<i64>,
    /// …or by national identifier (exactly one of the two).
    pub national_id: Option<String>,
    /// Why, in at least 10 characters; shown to the reviewing administrator.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantView {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub facility_id: i64,
    pub patient_id: i64,
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
