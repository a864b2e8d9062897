//! Images waiting for a patient: studies a facility sent whose Patient ID
//! is no record number of that facility and that name no order, so the
//! store could not file them under anyone. Nobody would see them on a
//! patient's page; the sending facility's clinicians are shown them and file
//! each under the right patient or order. Filing is audited, and the study
//! then shows on that patient's page like any other.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::audit::{Action, AuditEntry};
use crate::auth::Caller;
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode};

/// A study waiting for a patient, with what its images say of the patient.
#[derive(Debug, Clone, Serialize, ToSchema, FromRow)]
pub struct UnlinkedStudy {
    pub study_instance_uid: String,
    /// The Patient ID the modality sent.
    pub dicom_patient_id: String,
    /// The patient's name as the images carry it (DICOM PN).
    pub patient_name: Option<String>,
    /// `YYYYMMDD`.
    pub patient_birth_date: Option<String>,
    pub patient_sex: Option<String>,
    pub accession_number: Option<String>,
    /// `YYYYMMDD`.
    pub study_date: Option<String>,
    pub description: Option<String>,
    /// Modalities in Study, `\\`-separated.
    pub modalities: String,
    pub instances: i64,
}

/// Whom to file a study under: a patient of the caller's facility, or an
/// examination ordered there (whose patient it then is).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileStudy {
    pub patient_id: Option<i64>,
    pub examination_id: Option<i64>,
}

/// A study filed, and under whom.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FiledStudy {
    pub study_instance_uid: String,
    pub patient_id: i64,
}

/// The most studies listed at once, oldest first: the longest waiting.
const PAGE: i64 = 200;

/// Studies of `facility_id` that are linked to nobody and that no record
/// number of the facility claims.
pub async fn waiting(tx: &mut Tx, facility_id: i64) -> Result<Vec<UnlinkedStudy>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT s.study_uid AS study_instance_uid, s.dicom_patient_id, s.patient_name, \
         s.patient_birth_date, s.patient_sex, s.accession_number, s.study_date, \
         s.study_description AS description, s.modalities, s.num_instances AS instances \
         FROM dicom_study s WHERE s.facility_id = $1 AND s.patient_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM patient_record r WHERE r.facility_id = s.facility_id \
           AND r.record_number = s.dicom_patient_id) \
         ORDER BY s.id LIMIT {PAGE}"
    ))
    .bind(facility_id)
    .fetch_all(&mut **tx)
    .await
}

/// The facility that sent a study and whether it is filed under a patient.
async fn study_state(tx: &mut Tx, study_uid: &str) -> Result<Option<(i64, bool)>, sqlx::Error> {
    let row: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT facility_id, patient_id FROM dicom_study WHERE study_uid = $1")
            .bind(study_uid)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(facility, patient)| (facility, patient.is_some())))
}

/// Files the study under the patient or the order `to` names, for a
/// clinician of the facility that sent it. Returns the patient.
pub async fn file(
    mut tx: Tx,
    journal: &crate::audit::journal::Journal,
    caller: &Caller,
    study_uid: &str,
    to: &FileStudy,
) -> Result<(Tx, i64), ApiError> {
    // A study of another facility is answered as one that does not exist.
    let not_found = || ApiError::NotFound { what: "study" };
    let (facility_id, linked) = study_state(&mut tx, study_uid)
        .await?
        .ok_or_else(not_found)?;
    if !crate::policy::imaging::may_reconcile(caller, facility_id) {
        return Err(not_found());
    }
    if linked {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyLinked,
            "the study is filed under a patient already",
        ));
    }
    let (patient_id, examination_id) = match (to.patient_id, to.examination_id) {
        (Some(patient), None) => (patient, None),
        (None, Some(exam)) => {
            let row = crate::examination::store::get(&mut tx, exam)
                .await?
                .filter(|row| row.facility_id == caller.facility_id)
                .ok_or(ApiError::NotFound {
                    what: "examination",
                })?;
            (row.patient_id, Some(exam))
        }
        _ => {
            return Err(ApiError::invalid(
                ErrorCode::InvalidBody,
                "patient_id",
                "give either patient_id or examination_id",
            ))
        }
    };
    let (mut tx, access, _) =
        crate::patient::access::authorize(tx, journal, caller, patient_id, "dicom.file").await?;
    if !crate::policy::imaging::may_file_under(access) {
        return Err(crate::policy::out_of_scope());
    }
    sqlx::query(
        "UPDATE dicom_study SET patient_id = $1 WHERE study_uid = $2 AND patient_id IS NULL",
    )
    .bind(patient_id)
    .bind(study_uid)
    .execute(&mut *tx)
    .await?;
    if let Some(exam) = examination_id {
        crate::examination::store::finish(
            &mut tx,
            exam,
            crate::examination::ExamStatus::Performed,
            Some(study_uid),
            crate::time::now_ms(),
        )
        .await?;
    }
    crate::audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "dicom.file")
            .entity("study", study_uid)
            .patient(patient_id)
            .facility(facility_id)
            .detail(serde_json::json!({ "examination_id": examination_id })),
    )
    .await?;
    Ok((tx, patient_id))
}
