//! Rosters and on-call shifts: kept by the schedulers of the experts'
//! facility.

use super::require_any;
use crate::auth::{Caller, Role};
use crate::error::ApiError;

/// Roster rules, exceptions and on-call shifts are a scheduler's.
pub fn require_scheduler(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Scheduler], "schedulers")
}
