//! Bookings of expert slots: who books, who sees and changes a booking.

use super::{require_any, FacilityScope};
use crate::auth::{Caller, Role};
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

/// What these decisions read of a booking; the bookings area's row gives it.
pub trait BookingParties {
    /// The facility that booked the slot.
    fn booking_facility(&self) -> i64;
    /// The expert whose slot it is.
    fn expert(&self) -> i64;
    /// The expert's facility, whose schedulers keep the roster.
    fn expert_facility(&self) -> i64;
}

/// Who may see which bookings: the booking facility, the expert, and the
/// schedulers of the expert's facility ([`visibility`]).
/// `None` or no facility: that way in matches no booking.
#[derive(Debug, Clone, Copy)]
pub struct Visibility {
    pub facility: FacilityScope,
    pub expert_id: Option<i64>,
    pub scheduler_facility: FacilityScope,
}

/// May `caller` act on this booking as the booking side (clinicians of the
/// booking facility) or as the expert's schedulers?
pub fn is_booking_side(caller: &Caller, booking: &impl BookingParties) -> bool {
    caller.has(Role::Clinician) && caller.facility_id == booking.booking_facility()
}

pub fn is_expert_scheduler(caller: &Caller, booking: &impl BookingParties) -> bool {
    caller.has(Role::Scheduler) && caller.facility_id == booking.expert_facility()
}

pub fn can_see(caller: &Caller, booking: &impl BookingParties) -> bool {
    is_booking_side(caller, booking)
        || booking.expert() == caller.user_id
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

/// Whose booking it is (the patient's name and record number, the clinic
/// that asked): for those who see the booking at all. They are the same
/// people the consultation behind it names the patient to (its requesting
/// facility, its expert, the expert's schedulers), and a scheduler cannot
/// place a call or move a slot for someone they cannot name.
pub fn sees_patient(caller: &Caller, booking: &impl BookingParties) -> bool {
    can_see(caller, booking)
}
