//! A patient's latest stored study with a series of a modality and body
//! part: what the duplicate-examination check finds when the images came
//! straight from a modality, with no examination asked for in Ferry.

use sqlx::AnyConnection;

/// A stored study that may make an examination a repeat.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredPrior {
    pub study_instance_uid: String,
    /// `YYYYMMDD`, as DICOM gives it.
    pub study_date: String,
    pub facility_id: i64,
    pub facility_name: String,
    pub facility_tier: String,
}

/// The patient's most recent study dated `since` (`YYYYMMDD`) or later with
/// a series of `modality` and `body_part`, at any member facility. A study
/// not linked to the patient counts when its Patient ID is the patient's
/// record number at the facility that sent it, as on the patient page.
pub async fn latest_stored(
    conn: &mut AnyConnection,
    patient_id: i64,
    modality: &str,
    body_part: &str,
    since: &str,
) -> Result<Option<StoredPrior>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.study_uid AS study_instance_uid, s.study_date, s.facility_id, \
         f.name AS facility_name, f.tier AS facility_tier \
         FROM dicom_study s JOIN facility f ON f.id = s.facility_id \
         WHERE (s.patient_id = $1 OR (s.patient_id IS NULL AND EXISTS (\
           SELECT 1 FROM patient_record r WHERE r.patient_id = $1 \
           AND r.facility_id = s.facility_id AND r.record_number = s.dicom_patient_id))) \
         AND s.study_date >= $4 \
         AND EXISTS (SELECT 1 FROM dicom_series se WHERE se.study_id = s.id \
           AND se.modality = $2 AND se.body_part = $3) \
         ORDER BY s.study_date DESC, s.id DESC LIMIT 1",
    )
    .bind(patient_id)
    .bind(modality)
    .bind(body_part)
    .bind(since)
    .fetch_optional(conn)
    .await
}
