//! Examinations: clinicians ask for them and record them.

use super::require_any;
use crate::auth::{Caller, Role};
use crate::error::ApiError;

/// Asking for, performing and cancelling an examination are a clinician's.
pub fn require_orderer(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Clinician], "clinicians")
}
