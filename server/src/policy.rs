//! Authorization: the one place that answers "may this caller do this to that
//! record?". Handlers call these functions and never test roles themselves.
//!
//! | what                               | admin | scheduler | clinician | expert | radiologist |
//! |------------------------------------|-------|-----------|-----------|--------|-------------|
//! | read facilities                    | yes   | yes       | yes       | yes    | yes         |
//! | manage facilities, users           | yes   |           |           |        |             |
//! | read the audit trail, review break-the-glass | yes |  |           |        |             |
//! | keep the diagnosis catalogue (incl. CSV)     | yes |  |           |        |             |
//! | register a patient (own facility)  |       |           | yes       |        |             |
//! | search, read patients in scope     |       |           | yes       | yes    | yes         |
//! | update a patient                   |       |           | facility scope |   |             |
//! | break the glass                    |       |           | yes       | yes    | yes         |
//! | read experts, rosters, slots, on-call shifts | yes | yes | yes      | yes    | yes         |
//! | manage rosters, on-call shifts     |       | own facility's experts |  |    |             |
//! | request consultations, book slots  |       |           | yes       |        |             |
//! | see consultations and bookings     |       | own facility's experts' (no clinical text) | facility's own | assigned, on-call queue | |
//! | accept from the on-call queue      |       |           |           | on call |            |
//! | write and sign opinions            |       |           |           | assigned |           |
//! | refer a patient in scope from own facility |  |       | facility or referral scope | | |
//! | list, read referrals               |       |           | sending or receiving facility | | |
//! | accept, reject, record arrival and discharge |  |     | receiving facility |  |          |
//! | cancel a referral                  |       |           | sending facility |  |             |
//! | ask for, list examinations        |       |           | patient in scope |   |             |
//! | record an examination performed or cancelled |  |     | requesting facility | |          |
//! | read imaging studies (DICOMweb)    |       |           | own facility's, and those attached to its live consultations | attached to live consultations assigned to them | own facility's |
//! | store imaging studies (STOW-RS)    |       |           | filed under own facility |   | filed under own facility |
//! | keep routing rules and reading leads | yes |           |           |        |             |
//! | ask for a reading of a study in scope, cancel it |  |  | yes (facility's requests) | |       |
//! | list, read reading requests and signed reports | |     | requesting facility |  | reading facility |
//! | worklist, claim, release, report templates |  |       |           |        | reading facility |
//! | draft, edit, sign and amend reports |      |           |           |        | the claiming reader |
//! | reassign a reading request         |       |           |           |        | reading leads |
//! | acknowledge a critical result      |       |           | the requester; after escalation, its facility | | |
//! | read studies and patients of reading requests |  |    |           |        | reading facility |
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
//! Imaging ([`study_scope`]) follows the same lines at the level of studies: a
//! study belongs to the facility that sent it. Experts see only the studies
//! attached to their live cases, not their own facility's archive, because
//! they read for the consortium rather than for their hospital. Radiologists
//! see their own facility's studies and those sent to their facility's
//! worklist for a reading. A consultation lends its studies only while it
//! is live ([`LIVE_CONSULTATION`]): cancelling or declining it takes them
//! back. Break-the-glass grants do not reach imaging yet. A modality
//! sending over DIMSE acts for its facility: it may store there and C-FIND
//! that facility's studies only.
//!
//! A study named in a request body (attached to a consultation, sent for a
//! reading, recorded as an examination's images) must be one the caller may
//! read and, when the record is about a patient, that patient's
//! ([`check_named_studies`]). Otherwise a UID read off a list would lend the
//! caller another facility's images.

use ferry_dicom_store::index::StudyRow;
use ferry_dicom_store::StudyScope;
use sqlx::AnyConnection;

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ErrorCode};

/// Roles that treat patients and so may look them up at all.
pub const CARE_ROLES: [Role; 3] = [Role::Clinician, Role::Expert, Role::Radiologist];

pub fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    require_any(caller, &[Role::Admin], "administrators")
}

/// Separation of duties: whoever manages accounts does not hand themselves
/// the right to read patients. An account may keep the clinical roles it
/// has, but only another administrator can add one to it.
pub fn check_own_role_grant(current: &[Role], wanted: &[Role]) -> Result<(), ApiError> {
    let added: Vec<&str> = wanted
        .iter()
        .filter(|role| CARE_ROLES.contains(role) && !current.contains(role))
        .map(|role| role.as_str())
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    Err(ApiError::forbidden(
        ErrorCode::SelfGrantRefused,
        format!(
            "you cannot grant yourself a clinical role ({}); another administrator must",
            added.join(", ")
        ),
    ))
}

/// Whether setting this account's password takes a second administrator:
/// it is (or is being made) another administrator's. Then a password reset
/// request waits for a second administrator's confirmation
/// (`crate::user::reset`), so that no one administrator can take over
/// another's account.
pub fn password_set_needs_second_admin(
    actor_user_id: Option<i64>,
    target_user_id: i64,
    target_roles: &[Role],
    new_roles: Option<&[Role]>,
) -> bool {
    let is_admin =
        target_roles.contains(&Role::Admin) || new_roles.is_some_and(|r| r.contains(&Role::Admin));
    is_admin && actor_user_id != Some(target_user_id)
}

/// The administrator who confirms a password reset is neither the one who
/// asked for it nor its target.
pub fn check_reset_confirmer(
    caller: &Caller,
    requested_by: i64,
    target_user_id: i64,
) -> Result<(), ApiError> {
    require_admin(caller)?;
    if caller.user_id == requested_by || caller.user_id == target_user_id {
        return Err(ApiError::forbidden(
            ErrorCode::SecondAdminRequired,
            "another administrator than the one who asked for this reset, and than its target, must confirm it",
        ));
    }
    Ok(())
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
/// clinicians get facility scope; `-1` matches no facility.
pub fn scope_facility(caller: &Caller) -> i64 {
    if caller.has(Role::Clinician) {
        caller.facility_id
    } else {
        -1
    }
}

/// SQL predicate on a `patient p`: in scope for facility `$1`, user `$2`, at
/// instant `$3`. Queries that use it bind those first.
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
    .bind(scope_facility(caller))
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
    .bind(scope_facility(caller))
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

/// SQL predicate on a `consultation c`: it still lends its patient and
/// studies to those working on it. `requested` to `awaiting_opinion` are the
/// open states; `completed` still counts because its signed opinion stays
/// amendable by the expert (who needs the images to amend it) and the expert
/// keeps the patient in scope through it ([`PATIENT_IN_SCOPE`]).
/// `cancelled` and `declined` end it: nobody works on the case any more.
pub const LIVE_CONSULTATION: &str = "c.status NOT IN ('cancelled', 'declined')";

/// What a user may do in the imaging store: the studies they may read, and
/// the facility their uploads are filed under (`None`: they may not store).
/// See the table at the top of this module.
pub async fn study_scope(
    conn: &mut AnyConnection,
    user_id: i64,
    facility_id: i64,
    roles: &[Role],
) -> Result<(StudyScope, Option<i64>), sqlx::Error> {
    let mut facilities = Vec::new();
    let mut studies: Vec<String> = Vec::new();
    if roles.contains(&Role::Clinician) || roles.contains(&Role::Radiologist) {
        facilities.push(facility_id);
    }
    if roles.contains(&Role::Clinician) {
        studies.extend(
            sqlx::query_scalar::<_, String>(&format!(
                "SELECT DISTINCT cs.study_instance_uid FROM consultation_study cs \
                 JOIN consultation c ON c.id = cs.consultation_id \
                 WHERE c.requesting_facility_id = $1 AND {LIVE_CONSULTATION}"
            ))
            .bind(facility_id)
            .fetch_all(&mut *conn)
            .await?,
        );
    }
    if roles.contains(&Role::Expert) {
        studies.extend(
            sqlx::query_scalar::<_, String>(&format!(
                "SELECT DISTINCT cs.study_instance_uid FROM consultation_study cs \
                 JOIN consultation c ON c.id = cs.consultation_id \
                 WHERE c.expert_id = $1 AND {LIVE_CONSULTATION}"
            ))
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?,
        );
    }
    if roles.contains(&Role::Radiologist) {
        studies.extend(
            sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT study_instance_uid FROM reading_request \
                 WHERE reading_facility_id = $1 AND status <> 'cancelled'",
            )
            .bind(facility_id)
            .fetch_all(&mut *conn)
            .await?,
        );
    }
    studies.sort();
    studies.dedup();
    let store_facility = (roles.contains(&Role::Clinician) || roles.contains(&Role::Radiologist))
        .then_some(facility_id);
    Ok((
        StudyScope::Limited {
            facilities,
            studies,
        },
        store_facility,
    ))
}

/// The studies a modality (by DIMSE) may find: its own facility's.
pub fn modality_scope(facility_id: i64) -> StudyScope {
    StudyScope::Limited {
        facilities: vec![facility_id],
        studies: Vec::new(),
    }
}

/// Decides whether the studies named in a request body may be used there:
/// each must be stored, readable by the caller ([`study_scope`]) and, when
/// `patient_id` is given, that patient's. `found` pairs each UID with what
/// the store holds for it (`Imaging::named_study`).
///
/// A study the caller may not read is answered exactly as one that does not
/// exist (404 `not_found`, "study not found", the reading request's answer
/// since it was written), so that asking does not tell whether another
/// facility holds a UID. Only a study the caller may read can be refused
/// for belonging to another patient. Nothing is written, not even the link
/// of a study to its patient: a caller who may not read a study must not
/// change it.
pub async fn check_named_studies(
    conn: &mut AnyConnection,
    caller: &Caller,
    found: &[(String, Option<StudyRow>)],
    patient_id: Option<i64>,
    field: &str,
) -> Result<(), ApiError> {
    if found.is_empty() {
        return Ok(());
    }
    let (scope, _) = study_scope(conn, caller.user_id, caller.facility_id, &caller.roles).await?;
    for (uid, study) in found {
        let Some(study) = study
            .as_ref()
            .filter(|s| scope.allows(s.facility_id, &s.study_uid))
        else {
            return Err(ApiError::NotFound { what: "study" });
        };
        let Some(patient) = patient_id else {
            continue;
        };
        if study_patient(conn, study).await? != Some(patient) {
            return Err(ApiError::invalid(
                ErrorCode::StudyOfAnotherPatient,
                field,
                format!(
                    "study {uid} is not this patient's: its Patient ID matches no record of \
                     theirs at the facility that sent it"
                ),
            ));
        }
    }
    Ok(())
}

/// The consortium patient of a study: the one it is linked to, or for a
/// study not linked yet (sent before the patient was registered), the one
/// the link would name: whose record number at the sending facility is the
/// DICOM Patient ID.
async fn study_patient(
    conn: &mut AnyConnection,
    study: &StudyRow,
) -> Result<Option<i64>, sqlx::Error> {
    if study.patient_id.is_some() {
        return Ok(study.patient_id);
    }
    sqlx::query_scalar(
        "SELECT patient_id FROM patient_record WHERE facility_id = $1 AND record_number = $2",
    )
    .bind(study.facility_id)
    .bind(study.dicom_patient_id.trim())
    .fetch_optional(conn)
    .await
}
