//! Reading requests, reports and critical results: the requesting facility's
//! clinicians on one side, the reading facility's radiologists on the other.

use super::require_any;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ErrorCode};

/// Those on either side of a reading: lists, FHIR views, critical results.
pub fn require_party(caller: &Caller) -> Result<(), ApiError> {
    require_any(
        caller,
        &[Role::Clinician, Role::Radiologist],
        "clinicians and radiologists",
    )
}

/// Clinicians ask for readings.
pub fn require_requester(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Clinician], "clinicians")
}

/// The worklist and the report templates are radiologists'.
pub fn require_radiologist(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Radiologist], "radiologists")
}

/// The two facilities of a reading request, as these decisions read them.
#[derive(Debug, Clone, Copy)]
pub struct ReadingParties {
    /// The facility that asked for the reading.
    pub requesting_facility: i64,
    /// The facility whose worklist it is on.
    pub reading_facility: i64,
}

/// What acknowledging a critical result turns on.
#[derive(Debug, Clone, Copy)]
pub struct CriticalFacts {
    /// The facility whose request the result answers.
    pub requesting_facility: i64,
    /// The clinician who asked for the reading.
    pub requested_by: i64,
    /// Whether it has escalated to every clinician of that facility.
    pub escalated: bool,
}

/// How the caller stands to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A clinician of the facility that asked.
    Requester,
    /// A radiologist of the facility whose worklist it is on.
    Reader,
}

pub fn side(caller: &Caller, request: ReadingParties) -> Option<Side> {
    if caller.has(Role::Radiologist) && caller.facility_id == request.reading_facility {
        Some(Side::Reader)
    } else if caller.has(Role::Clinician) && caller.facility_id == request.requesting_facility {
        Some(Side::Requester)
    } else {
        None
    }
}

/// Which side of its facility's requests a list shows the caller: a
/// radiologist's worklist side first, as [`side`] decides for one request.
pub fn list_side(caller: &Caller) -> Side {
    if caller.has(Role::Radiologist) {
        Side::Reader
    } else {
        Side::Requester
    }
}

/// Which side of its facility's critical results a list shows the caller:
/// a clinician's (those its requests received) first, since acting on them
/// is a clinician's ([`check_acknowledge`]).
pub fn critical_list_side(caller: &Caller) -> Side {
    if caller.has(Role::Clinician) {
        Side::Requester
    } else {
        Side::Reader
    }
}

/// A critical result is seen by both facilities (otherwise 404, so its
/// existence is not confirmed) and acknowledged by the requester or, once it
/// has escalated, any clinician of the requesting facility.
pub fn check_acknowledge(
    caller: &Caller,
    critical: CriticalFacts,
    reading_facility: i64,
) -> Result<(), ApiError> {
    let of_facility =
        caller.has(Role::Clinician) && caller.facility_id == critical.requesting_facility;
    let visible =
        of_facility || (caller.has(Role::Radiologist) && caller.facility_id == reading_facility);
    if !visible {
        return Err(ApiError::NotFound {
            what: "critical result",
        });
    }
    let may = of_facility && (critical.requested_by == caller.user_id || critical.escalated);
    if !may {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "the requester acknowledges a critical result; after escalation, any clinician of the requesting facility",
        ));
    }
    Ok(())
}

/// Reading leads (radiologists the administrators named) hand requests to
/// another reader of their facility, and so see who those readers are.
pub fn check_lead(caller: &Caller, is_lead: bool) -> Result<(), ApiError> {
    require_radiologist(caller)?;
    if is_lead {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            crate::error::ErrorCode::Forbidden,
            "only a reading lead may reassign requests",
        ))
    }
}
