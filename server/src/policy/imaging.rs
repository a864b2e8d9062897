//! Imaging studies: what a user or a modality may read and store, and which
//! studies a request body may name.

use ferry_dicom_store::index::StudyRow;
use ferry_dicom_store::StudyScope;
use sqlx::AnyConnection;

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ErrorCode};

/// SQL predicate on a `consultation c`: it still lends its patient and
/// studies to those working on it. `requested` to `awaiting_opinion` are the
/// open states; `completed` still counts because its signed opinion stays
/// amendable by the expert (who needs the images to amend it) and the expert
/// keeps the patient in scope through it ([`PATIENT_IN_SCOPE`](super::PATIENT_IN_SCOPE)).
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
