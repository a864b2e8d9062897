//! Referrals: every action on them is a clinician's.

use super::{require_any, FacilityScope};
use crate::auth::{Caller, Role};
use crate::error::ApiError;

/// Every referral action is a clinician's.
pub fn require_clinician(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Clinician], "clinicians")
}

/// The facility whose sent and received referrals the caller sees: a
/// clinician's own.
pub fn scope(caller: &Caller) -> FacilityScope {
    FacilityScope::of_role(caller, Role::Clinician)
}
