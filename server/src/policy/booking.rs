//! Bookings of expert slots: who books, who sees and changes a booking.

use super::{require_any, FacilityScope};
use crate::auth::{Caller, Role};
use crate::booking::store::{BookingRow, Visibility};
use crate::error::ApiError;

/// Clinicians book slots for their facility.
pub fn require_booker(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Clinician], "clinicians")
}

/// Those who list bookings (each sees only theirs, [`visibility`]).
pub fn require_viewer(caller: &Caller) -> Result<(), ApiError> {
    require_any(
        caller,
        &[Role::Clinician, Role::Expert, Role::Scheduler],
        "clinicians, experts and schedulers",
    )
}

/// May `caller` act on this booking as the booking side (clinicians of the
/// booking facility) or as the expert's schedulers?
pub fn is_booking_side(caller: &Caller, booking: &BookingRow) -> bool {
    caller.has(Role::Clinician) && caller.facility_id == booking.facility_id
}

pub fn is_expert_scheduler(caller: &Caller, booking: &BookingRow) -> bool {
    caller.has(Role::Scheduler) && caller.facility_id == booking.expert_facility_id
}

pub fn can_see(caller: &Caller, booking: &BookingRow) -> bool {
    is_booking_side(caller, booking)
        || booking.expert_id == caller.user_id
        || is_expert_scheduler(caller, booking)
}

/// The bookings a list shows this caller: their facility's (clinicians),
/// their own (experts), and their facility's experts' (schedulers).
pub fn visibility(caller: &Caller) -> Visibility {
    Visibility {
        facility: FacilityScope::of_role(caller, Role::Clinician),
        expert_id: Some(caller.user_id),
        scheduler_facility: FacilityScope::of_role(caller, Role::Scheduler),
    }
}
