//! Consultations and the on-call queue: the requesting facility's clinicians,
//! the assigned or on-call expert, and the schedulers of the expert's facility.

use super::{require_any, scope_facility, FacilityScope, CARE_ROLES};
use crate::auth::{Caller, Role};
use crate::error::ApiError;

/// Clinicians request consultations.
pub fn require_requester(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Clinician], "clinicians")
}

/// Those who list consultations (each sees only theirs, [`viewer`]).
pub fn require_viewer(caller: &Caller) -> Result<(), ApiError> {
    require_any(
        caller,
        &[Role::Clinician, Role::Expert, Role::Scheduler],
        "clinicians, experts and schedulers",
    )
}

/// The on-call queue is read by experts (their specialties') and schedulers.
pub fn require_queue_viewer(caller: &Caller) -> Result<(), ApiError> {
    require_any(
        caller,
        &[Role::Expert, Role::Scheduler],
        "experts and schedulers",
    )
}

/// Only experts accept from the queue (and only while on call, which the
/// handler checks against the shifts).
pub fn require_on_call_expert(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Expert], "experts on call")
}

/// Schedulers see the whole on-call queue, not only their shifts' specialties.
pub fn sees_whole_queue(caller: &Caller) -> bool {
    caller.has(Role::Scheduler)
}

/// Who is asking, for the list's visibility rule: clinicians see their
/// facility's requests, experts their own cases and, while on call, the
/// queue of their specialties; schedulers the cases of their facility's
/// experts and the whole urgent queue. A scope of no facility, or no
/// expert, is bound as NULL and so admits nothing.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub clinician_facility: FacilityScope,
    pub expert_id: Option<i64>,
    pub scheduler_facility: FacilityScope,
    pub now: i64,
}

/// The consultations this caller sees: their facility's requests
/// (clinicians), those assigned or offered on call to them (experts), and
/// those of their facility's experts (schedulers).
pub fn viewer(caller: &Caller, now: i64) -> Viewer {
    Viewer {
        clinician_facility: scope_facility(caller),
        expert_id: caller.has(Role::Expert).then_some(caller.user_id),
        scheduler_facility: FacilityScope::of_role(caller, Role::Scheduler),
        now,
    }
}

/// Clinical content is for those who treat; schedulers see the logistics.
pub fn sees_clinical(caller: &Caller) -> bool {
    CARE_ROLES.iter().any(|role| caller.has(*role))
}

/// A clinician of the facility that asked for the consultation, given that
/// facility.
pub fn is_requester(caller: &Caller, requesting_facility: i64) -> bool {
    caller.has(Role::Clinician) && caller.facility_id == requesting_facility
}

/// The on-call desk (schedulers) hands a waiting urgent request to one
/// expert of its own facility, as it keeps only its own experts' rosters and
/// shifts.
pub fn check_assign(caller: &Caller, expert_facility: i64) -> Result<(), ApiError> {
    require_any(caller, &[Role::Scheduler], "schedulers")?;
    if caller.facility_id == expert_facility {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            crate::error::ErrorCode::Forbidden,
            "schedulers assign the experts of their own facility",
        ))
    }
}

/// Only the expert a request was offered to accepts or declines the offer.
pub fn check_offered_to(caller: &Caller, offered_to: Option<i64>) -> Result<(), ApiError> {
    require_any(caller, &[Role::Expert], "experts")?;
    if offered_to == Some(caller.user_id) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            crate::error::ErrorCode::Forbidden,
            "this request was not offered to you",
        ))
    }
}
