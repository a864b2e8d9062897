//! Sharing within the consortium (检查检验结果互认): when a clinician reads what
//! another member facility holds about a patient.
//!
//! A clinician's facility shares in a patient's records from every member
//! facility when both hold:
//!
//! - **a care relationship**: the facility holds a record for the patient,
//!   or is the sender or receiver of an open referral for them (requested,
//!   accepted or arrived), or has an open consultation about them; and
//! - **the patient's consent** to sharing is in force: recorded, not
//!   withdrawn, and for the whole consortium or naming this facility.
//!   A consortium whose rules make sharing lawful without consent turns
//!   this half off (`sharing_consent_required = false`).
//!
//! Without both, a clinician reads only what their own facility holds, and
//! in an emergency breaks the glass. Experts and radiologists keep the
//! case-based access of their consultations and reading requests.
//!
//! The conditions are SQL, joined into the queries that list and open
//! records, so that deciding costs a few indexed lookups per row rather
//! than a list loaded per request.

use sqlx::AnyConnection;

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ErrorCode};

use super::PatientAccess;

/// Whether the consortium needs the patient's consent before its members
/// share a patient's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentRule {
    /// Sharing needs a consent in force (the default).
    Required,
    /// The consortium's rules make sharing among caring facilities lawful
    /// without one.
    NotRequired,
}

impl ConsentRule {
    /// The rule a node's settings set (`sharing_consent_required`).
    pub fn of(settings: &crate::config::Settings) -> Self {
        Self::from_setting(settings.sharing_consent_required)
    }

    pub fn from_setting(required: bool) -> Self {
        if required {
            Self::Required
        } else {
            Self::NotRequired
        }
    }
}

/// Ends each `EXISTS` subquery of a scope condition, so that it is probed
/// by index for each row it is asked about. Without it PostgreSQL may turn
/// an `EXISTS` under `OR` into a hashed subplan that reads every matching
/// row first: all of a reading facility's requests (100,000 of them) for a
/// search that returns 50 studies. `LIMIT 1 OFFSET 0` keeps the subquery
/// as written on PostgreSQL, and SQLite accepts it as it is.
pub const PROBE: &str = "LIMIT 1 OFFSET 0";

/// Consultation states in which the requesting facility still cares for
/// the patient through it.
const OPEN_CONSULTATION: &str = "('requested', 'scheduled', 'in_progress', 'awaiting_opinion')";

/// Referral states in which both ends still care for the patient.
pub const OPEN_REFERRAL: &str = "('requested', 'accepted', 'arrived')";

/// SQL condition: `facility` (a placeholder or column) cares for `patient`
/// (a column or placeholder).
pub fn cares_for(patient: &str, facility: &str) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM patient_record cr WHERE cr.patient_id = {patient} \
           AND cr.facility_id = {facility} {PROBE}) \
         OR EXISTS (SELECT 1 FROM referral crf WHERE crf.patient_id = {patient} \
           AND (crf.to_facility_id = {facility} OR crf.from_facility_id = {facility}) \
           AND crf.status IN {OPEN_REFERRAL} {PROBE}) \
         OR EXISTS (SELECT 1 FROM consultation cc WHERE cc.patient_id = {patient} \
           AND cc.requesting_facility_id = {facility} AND cc.status IN {OPEN_CONSULTATION} {PROBE}))"
    )
}

/// SQL condition: `patient`'s consent in force lets `facility` read.
pub fn consents_for(patient: &str, facility: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM sharing_consent k WHERE k.patient_id = {patient} \
           AND k.withdrawn_at IS NULL AND (k.scope = 'consortium' \
           OR EXISTS (SELECT 1 FROM sharing_consent_facility kf \
             WHERE kf.consent_id = k.id AND kf.facility_id = {facility} {PROBE})) {PROBE})"
    )
}

/// SQL condition: `patient` is shared with `facility` under `rule`.
pub fn shared_with(patient: &str, facility: &str, rule: ConsentRule) -> String {
    match rule {
        ConsentRule::Required => format!(
            "({} AND {})",
            cares_for(patient, facility),
            consents_for(patient, facility)
        ),
        ConsentRule::NotRequired => cares_for(patient, facility),
    }
}

/// The facility whose sharing a caller reads through: only clinicians
/// read other facilities' records by sharing.
pub fn sharing_facility(caller: &Caller) -> Option<i64> {
    caller.has(Role::Clinician).then_some(caller.facility_id)
}

/// A patient's consent is recorded and withdrawn by clinicians whose
/// facility cares for the patient through its own record or a referral to
/// it: those who meet the patient and hold the signed form.
pub fn check_consent_recorder(caller: &Caller, access: PatientAccess) -> Result<(), ApiError> {
    if !caller.has(Role::Clinician) || !access.is_facility_scope() {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only clinicians of a facility that cares for the patient may record or withdraw \
             their consent",
        ));
    }
    Ok(())
}

/// Whether `patient` is shared with `facility` now.
pub async fn is_shared(
    conn: &mut AnyConnection,
    patient_id: i64,
    facility_id: i64,
    rule: ConsentRule,
) -> Result<bool, sqlx::Error> {
    let sql = format!("SELECT 1 WHERE {}", shared_with("$1", "$2", rule));
    Ok(sqlx::query_scalar::<_, i32>(&sql)
        .bind(patient_id)
        .bind(facility_id)
        .fetch_optional(conn)
        .await?
        .is_some())
}

/// Whether the patient is shared with the caller's facility, for a
/// clinician (only clinicians read by sharing).
async fn shared_with_caller(
    conn: &mut AnyConnection,
    caller: &Caller,
    patient_id: i64,
    rule: ConsentRule,
) -> Result<bool, sqlx::Error> {
    match sharing_facility(caller) {
        Some(facility) => is_shared(conn, patient_id, facility, rule).await,
        None => Ok(false),
    }
}

/// Whether a caller who opened a patient through `access` reads what
/// other facilities hold about them (their examinations, consultations,
/// referrals), or only their own facility's. A case (consultation,
/// reading) or an emergency grant reads the whole record; a clinician's
/// facility reads it when the patient is shared with it.
pub async fn reads_other_facilities(
    conn: &mut AnyConnection,
    caller: &Caller,
    access: PatientAccess,
    patient_id: i64,
    rule: ConsentRule,
) -> Result<bool, sqlx::Error> {
    match access {
        PatientAccess::BreakGlass { .. }
        | PatientAccess::Consultation { .. }
        | PatientAccess::Reading { .. } => Ok(true),
        PatientAccess::Facility | PatientAccess::Referral { .. } => {
            shared_with_caller(conn, caller, patient_id, rule).await
        }
    }
}

/// Whether a caller who opened a patient through `access` reads the
/// records other facilities hold about them (opinions, reports, referrals
/// between others): by sharing with the caller's facility, or an emergency
/// grant. A case (consultation, reading) carries its own studies and
/// questions, not the rest of the patient's record.
pub async fn reads_shared_record(
    conn: &mut AnyConnection,
    caller: &Caller,
    access: PatientAccess,
    patient_id: i64,
    rule: ConsentRule,
) -> Result<bool, sqlx::Error> {
    match access {
        PatientAccess::BreakGlass { .. } => Ok(true),
        PatientAccess::Consultation { .. } | PatientAccess::Reading { .. } => Ok(false),
        PatientAccess::Facility | PatientAccess::Referral { .. } => {
            shared_with_caller(conn, caller, patient_id, rule).await
        }
    }
}

/// Why a caller may read a study, as the audit trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyBasis {
    /// Their own facility sent it.
    Facility,
    /// It is attached to a live consultation of theirs.
    Consultation,
    /// It is on their facility's reading worklist.
    Reading,
    /// The patient's records are shared with their facility.
    Shared,
    /// They broke the glass for the patient.
    BreakGlass,
}

impl StudyBasis {
    pub const ALL: [StudyBasis; 5] = [
        StudyBasis::Facility,
        StudyBasis::Consultation,
        StudyBasis::Reading,
        StudyBasis::Shared,
        StudyBasis::BreakGlass,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StudyBasis::Facility => "facility",
            StudyBasis::Consultation => "consultation",
            StudyBasis::Reading => "reading",
            StudyBasis::Shared => "shared",
            StudyBasis::BreakGlass => "break_glass",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == text)
    }
}
