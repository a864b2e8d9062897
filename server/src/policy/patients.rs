//! Patients: who may look them up, open, register and change them. See the
//! scope rules in the module doc of [`crate::policy`].

use sqlx::AnyConnection;

use super::{require_any, FacilityScope, CARE_ROLES};
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ErrorCode};

/// Why a caller may open a patient's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientAccess {
    /// The caller's facility holds a record for the patient.
    Facility,
    /// A consultation about the patient is assigned to the caller.
    Consultation { consultation_id: i64 },
    /// A reading request about the patient is on the caller's worklist.
    Reading { reading_request_id: i64 },
    /// The caller's facility received a live referral for the patient.
    Referral { referral_id: i64 },
    /// An unexpired emergency grant.
    BreakGlass { grant_id: i64 },
}

impl PatientAccess {
    /// Through the caller's facility (its own record or a referral to it),
    /// rather than an emergency grant of the caller's own.
    pub fn is_facility_scope(self) -> bool {
        matches!(
            self,
            PatientAccess::Facility | PatientAccess::Referral { .. }
        )
    }

    pub fn describe(self) -> serde_json::Value {
        match self {
            PatientAccess::Facility => serde_json::json!({ "access": "facility" }),
            PatientAccess::Consultation { consultation_id } => {
                serde_json::json!({ "access": "consultation", "consultation_id": consultation_id })
            }
            PatientAccess::Reading { reading_request_id } => {
                serde_json::json!({ "access": "reading", "reading_request_id": reading_request_id })
            }
            PatientAccess::Referral { referral_id } => {
                serde_json::json!({ "access": "referral", "referral_id": referral_id })
            }
            PatientAccess::BreakGlass { grant_id } => {
                serde_json::json!({ "access": "break_glass", "grant_id": grant_id })
            }
        }
    }
}

/// The facility whose records put patients in this caller's scope. Only
/// clinicians get facility scope.
pub fn scope_facility(caller: &Caller) -> FacilityScope {
    FacilityScope::of_role(caller, Role::Clinician)
}

/// Only clinicians register patients, at their own facility.
pub fn require_registrar(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Clinician], "clinicians")
}

/// A patient's demographics are changed by clinicians of a facility that
/// registered them, not through a referral, a consultation or a grant.
pub fn check_record_update(caller: &Caller, access: PatientAccess) -> Result<(), ApiError> {
    if access != PatientAccess::Facility || !caller.has(Role::Clinician) {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only clinicians of a facility that registered the patient may change their record",
        ));
    }
    Ok(())
}

/// Two records are joined as one person by a clinician of a facility that
/// registered one of them (the other is checked by what they know of it).
pub fn check_merge(caller: &Caller, access: PatientAccess) -> Result<(), ApiError> {
    if access != PatientAccess::Facility || !caller.has(Role::Clinician) {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only clinicians of a facility that registered the patient may join their records",
        ));
    }
    Ok(())
}

/// SQL predicate on a `patient_merge m`: an administrator of facility `$1`
/// reviews (and may undo) it, because it was made there or it touches a
/// patient the facility holds a record of. The index is the consortium's,
/// but a merge is answered for by the facilities whose patients it joined.
pub const MERGE_IN_ADMIN_SCOPE: &str = "(m.facility_id = $1 OR EXISTS (SELECT 1 FROM \
     patient_record r WHERE r.facility_id = $1 \
     AND r.patient_id IN (m.kept_patient_id, m.merged_patient_id)))";

/// Whether this administrator may review and undo merge `merge_id`
/// ([`MERGE_IN_ADMIN_SCOPE`]).
pub async fn may_review_merge(
    conn: &mut AnyConnection,
    caller: &Caller,
    merge_id: i64,
) -> Result<bool, sqlx::Error> {
    if !caller.has(Role::Admin) {
        return Ok(false);
    }
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT m.id FROM patient_merge m WHERE m.id = $2 AND {MERGE_IN_ADMIN_SCOPE}"
    ))
    .bind(caller.facility_id)
    .bind(merge_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// SQL predicate on a `patient p`: in scope for facility `$1` (a
/// [`FacilityScope::id`], NULL for none), user `$2`, at instant `$3`. Queries
/// that use it bind those first.
pub const PATIENT_IN_SCOPE: &str = "(EXISTS (SELECT 1 FROM patient_record r \
       WHERE r.patient_id = p.id AND r.facility_id = $1) \
     OR EXISTS (SELECT 1 FROM consultation c WHERE c.patient_id = p.id AND c.expert_id = $2 \
       AND c.status NOT IN ('cancelled', 'declined')) \
     OR EXISTS (SELECT 1 FROM referral rf WHERE rf.patient_id = p.id AND rf.to_facility_id = $1 \
       AND rf.status NOT IN ('rejected', 'cancelled')) \
     OR EXISTS (SELECT 1 FROM reading_request rr JOIN app_user ru ON ru.id = $2 \
       JOIN user_role rur ON rur.user_id = ru.id AND rur.role = 'radiologist' \
       WHERE rr.patient_id = p.id AND rr.reading_facility_id = ru.facility_id \
       AND rr.status <> 'cancelled') \
     OR EXISTS (SELECT 1 FROM break_glass_grant g \
       WHERE g.patient_id = p.id AND g.user_id = $2 AND g.expires_at > $3))";

/// The ids of the patients in scope for facility `$1`, user `$2`, at
/// instant `$3` ([`PATIENT_IN_SCOPE`], the same rules), as a union of
/// indexed lookups: for a query that starts from the patients in scope
/// rather than testing each patient.
pub const PATIENTS_IN_SCOPE: &str =
    "SELECT r.patient_id FROM patient_record r WHERE r.facility_id = $1 \
     UNION SELECT c.patient_id FROM consultation c WHERE c.expert_id = $2 \
       AND c.status NOT IN ('cancelled', 'declined') \
     UNION SELECT rf.patient_id FROM referral rf WHERE rf.to_facility_id = $1 \
       AND rf.status NOT IN ('rejected', 'cancelled') \
     UNION SELECT rr.patient_id FROM reading_request rr JOIN app_user ru ON ru.id = $2 \
       JOIN user_role rur ON rur.user_id = ru.id AND rur.role = 'radiologist' \
       WHERE rr.reading_facility_id = ru.facility_id AND rr.status <> 'cancelled' \
       AND rr.patient_id IS NOT NULL \
     UNION SELECT g.patient_id FROM break_glass_grant g WHERE g.user_id = $2 AND g.expires_at > $3";

/// How, if at all, the caller may open this patient.
pub async fn patient_access(
    conn: &mut AnyConnection,
    caller: &Caller,
    patient_id: i64,
    now: i64,
) -> Result<Option<PatientAccess>, sqlx::Error> {
    if !CARE_ROLES.iter().any(|role| caller.has(*role)) {
        return Ok(None);
    }
    let facility: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM patient_record WHERE patient_id = $1 AND facility_id = $2",
    )
    .bind(patient_id)
    .bind(scope_facility(caller).id())
    .fetch_optional(&mut *conn)
    .await?;
    if facility.is_some() {
        return Ok(Some(PatientAccess::Facility));
    }
    if caller.has(Role::Expert) {
        let consultation: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM consultation WHERE patient_id = $1 AND expert_id = $2 \
             AND status NOT IN ('cancelled', 'declined') ORDER BY id DESC LIMIT 1",
        )
        .bind(patient_id)
        .bind(caller.user_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(consultation_id) = consultation {
            return Ok(Some(PatientAccess::Consultation { consultation_id }));
        }
    }
    if caller.has(Role::Radiologist) {
        let reading: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM reading_request WHERE patient_id = $1 AND reading_facility_id = $2 \
             AND status <> 'cancelled' ORDER BY id DESC LIMIT 1",
        )
        .bind(patient_id)
        .bind(caller.facility_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(reading_request_id) = reading {
            return Ok(Some(PatientAccess::Reading { reading_request_id }));
        }
    }
    let referral: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM referral WHERE patient_id = $1 AND to_facility_id = $2 \
         AND status NOT IN ('rejected', 'cancelled') ORDER BY id DESC LIMIT 1",
    )
    .bind(patient_id)
    .bind(scope_facility(caller).id())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(referral_id) = referral {
        return Ok(Some(PatientAccess::Referral { referral_id }));
    }
    let grant: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM break_glass_grant WHERE patient_id = $1 AND user_id = $2 AND expires_at > $3 \
         ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(patient_id)
    .bind(caller.user_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(grant.map(|grant_id| PatientAccess::BreakGlass { grant_id }))
}

pub fn out_of_scope() -> ApiError {
    ApiError::forbidden(
        ErrorCode::PatientOutOfScope,
        "this patient is outside your scope; in an emergency, break the glass with a reason",
    )
}

/// Those who treat patients may ask which patients the Patient IDs of files
/// they are about to upload name; the answer holds only patients in their
/// scope ([`PATIENT_IN_SCOPE`]).
pub fn check_record_lookup(caller: &Caller) -> Result<(), ApiError> {
    require_carer(caller)
}

/// Those who treat patients look them up and break the glass.
pub fn require_carer(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &CARE_ROLES, "clinicians, experts and radiologists")
}
