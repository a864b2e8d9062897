//! Authorization: the one place that answers "may this caller do this to that
//! record?". Handlers call these functions and never test roles themselves.
//! One file per resource ([`booking`], [`consultation`], [`examination`],
//! [`imaging`], [`patients`], [`reading`], [`referral`], [`roster`],
//! [`users`]) names its decisions; this file keeps the table, the role test
//! they share ([`require_any`]) and [`FacilityScope`], the facility a role
//! lets a caller reach, or none.
//!
//! | what                               | admin | scheduler | clinician | expert | radiologist |
//! |------------------------------------|-------|-----------|-----------|--------|-------------|
//! | read facilities                    | yes   | yes       | yes       | yes    | yes         |
//! | manage facilities, users           | yes   |           |           |        |             |
//! | read the audit trail, review break-the-glass | yes |  |           |        |             |
//! | keep the diagnosis catalogue (incl. CSV)     | yes |  |           |        |             |
//! | register a patient (own facility)  |       |           | yes       |        |             |
//! | search, read patients in scope     |       |           | yes       | yes    | yes         |
//! | look up record numbers (before an upload), answered for patients in scope | | | yes | yes | yes |
//! | update a patient                   |       |           | facility scope |   |             |
//! | break the glass                    |       |           | yes       | yes    | yes         |
//! | read experts, rosters, slots, on-call shifts | yes | yes | yes      | yes    | yes         |
//! | manage rosters, on-call shifts     |       | own facility's experts |  |    |             |
//! | request consultations, book slots  |       |           | yes       |        |             |
//! | see consultations and bookings     |       | own facility's experts' (no clinical text) | facility's own | assigned, on-call queue | |
//! | accept from the on-call queue      |       |           |           | on call, or offered to them | |
//! | offer a queued request to an expert |      | own facility's experts | |    |             |
//! | decline an offer                   |       |           |           | offered to them |     |
//! | write and sign opinions            |       |           |           | assigned |           |
//! | refer a patient in scope from own facility |  |       | facility or referral scope | | |
//! | list, read referrals               |       |           | sending or receiving facility | | |
//! | accept, reject, record arrival and discharge |  |     | receiving facility |  |          |
//! | cancel a referral                  |       |           | sending facility |  |             |
//! | ask for, list examinations        |       |           | patient in scope |   |             |
//! | record an examination performed or cancelled |  |     | requesting facility | |          |
//! | read imaging studies (DICOMweb)    |       |           | own facility's, those attached to its live consultations, and shared patients' | attached to live consultations assigned to them | own facility's and its worklist's |
//! | record, withdraw sharing consent   |       |           | facility or referral scope |  |             |
//! | store imaging studies (STOW-RS)    |       |           | filed under own facility |   | filed under own facility |
//! | keep routing rules and reading leads | yes |           |           |        |             |
//! | ask for a reading of a study in scope, cancel it |  |  | yes (facility's requests) | |       |
//! | list, read reading requests and signed reports | |     | requesting facility |  | reading facility |
//! | worklist, claim, release, report templates |  |       |           |        | reading facility |
//! | draft, edit, sign and amend reports |      |           |           |        | the claiming reader |
//! | reassign a reading request, list the readers |  |   |           |        | reading leads |
//! | acknowledge a critical result      |       |           | the requester; after escalation, its facility | | |
//! | read studies and patients of reading requests |  |    |           |        | reading facility |
//! | read and write a call's chat ([`call`]) |  |         | the consultation's own, or invited | assigned, or invited | invited |
//!
//! A patient is in a clinician's scope when the clinician's facility holds a
//! record for them or has been sent a referral for them that is not rejected
//! or cancelled; in an expert's scope while a consultation about them is
//! assigned to that expert (and not cancelled or declined); in a
//! radiologist's scope while a reading request about them (not cancelled) is
//! on their facility's worklist; and in anyone's
//! scope while they hold an unexpired break-the-glass grant for that patient.
//! Administrators manage the consortium but do not read clinical records:
//! least privilege. Nor may they hand themselves a role that would
//! ([`check_own_role_grant`]), and another administrator's password is reset
//! only when a second administrator confirms it.
//!
//! Imaging ([`study_reach`]) follows the same lines at the level of studies: a
//! study belongs to the facility that sent it. Experts see only the studies
//! attached to their live cases, not their own facility's archive, because
//! they read for the consortium rather than for their hospital. Radiologists
//! see their own facility's studies and those sent to their facility's
//! worklist for a reading. A consultation lends its studies only while it
//! is live ([`LIVE_CONSULTATION`]): cancelling or declining it takes them
//! back. A break-the-glass grant opens the patient's studies too. A
//! modality sending over DIMSE acts for its facility: it may store there and
//! C-FIND that facility's studies only. Each basis is a SQL condition joined
//! into the store's queries, and the audit trail records which one allowed
//! each read ([`StudyBasis`]).
//!
//! **Sharing** ([`sharing`]): a clinician's facility also reads what every
//! member holds about a patient it cares for (its own record, an open
//! referral either way, an open consultation) while the patient's consent
//! to sharing covers it; a consortium may drop the consent half
//! ([`ConsentRule`]). Examinations of other facilities are listed on the
//! same terms ([`sharing::reads_other_facilities`]).
//!
//! A study named in a request body (attached to a consultation, sent for a
//! reading, recorded as an examination's images) must be one the caller may
//! read and, when the record is about a patient, that patient's
//! ([`check_named_studies`]). Otherwise a UID read off a list would lend the
//! caller another facility's images.

pub mod booking;
pub mod call;
pub mod consent;
pub mod consultation;
pub mod examination;
pub mod imaging;
pub mod patients;
pub mod reading;
pub mod referral;
pub mod roster;
pub mod sharing;
pub mod users;

pub use imaging::{
    caller_reach, check_named_studies, modality_reach, study_reach, StudyReach, LIVE_CONSULTATION,
};
pub use patients::{
    out_of_scope, patient_access, scope_facility, PatientAccess, PATIENTS_IN_SCOPE,
    PATIENT_IN_SCOPE,
};
pub use sharing::{ConsentRule, StudyBasis};
pub use users::{check_own_role_grant, check_reset_confirmer, password_set_needs_second_admin};

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ErrorCode};

/// Roles that treat patients and so may look them up at all.
pub const CARE_ROLES: [Role; 3] = [Role::Clinician, Role::Expert, Role::Radiologist];

pub fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Admin], "administrators")
}

pub fn require_any(caller: &Caller, roles: &[Role], who: &str) -> Result<(), ApiError> {
    if roles.iter().any(|role| caller.has(*role)) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            format!("only {who} may do this"),
        ))
    }
}

/// The facility a caller reaches records through by a role, or none when they
/// lack the role. Bound into SQL as the facility's id or NULL
/// ([`FacilityScope::id`]): NULL equals no facility, and the predicates that
/// take it only combine such comparisons with AND, OR and EXISTS, so a
/// caller without the scope matches no row through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacilityScope {
    /// The caller reaches no facility's records this way.
    NoFacility,
    /// The records of this facility.
    Facility(i64),
}

impl FacilityScope {
    /// The caller's own facility if they hold `role`.
    pub fn of_role(caller: &Caller, role: Role) -> Self {
        if caller.has(role) {
            Self::Facility(caller.facility_id)
        } else {
            Self::NoFacility
        }
    }

    /// The facility's id, for binding into SQL.
    pub fn id(self) -> Option<i64> {
        match self {
            Self::NoFacility => None,
            Self::Facility(id) => Some(id),
        }
    }
}
