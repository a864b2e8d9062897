//! SQL for `examination`.

use sqlx::{AnyConnection, FromRow};

use super::{ExamStatus, ExaminationView};
use crate::time::rfc3339;

#[derive(Debug, Clone, FromRow)]
pub struct ExaminationRow {
    pub id: i64,
    pub patient_id: i64,
    pub facility_id: i64,
    pub facility_name: String,
    pub facility_tier: String,
    pub time_zone: String,
    pub requested_by: i64,
    pub modality: String,
    pub body_part: String,
    pub status: String,
    pub requested_at: i64,
    pub performed_at: Option<i64>,
    pub study_instance_uid: Option<String>,
    pub repeat_reason: Option<String>,
    pub accession_number: Option<String>,
    pub planned_study_uid: Option<String>,
    pub scheduled_at: Option<i64>,
    pub station_ae: Option<String>,
    pub procedure_description: String,
    pub step_status: String,
}

impl ExaminationRow {
    pub fn status(&self) -> ExamStatus {
        // The CHECK constraint admits only the three states.
        ExamStatus::parse(&self.status).unwrap_or(ExamStatus::Cancelled)
    }

    pub fn view(self) -> ExaminationView {
        let at = self.performed_at.unwrap_or(self.requested_at);
        let date = jiff::Timestamp::from_millisecond(at)
            .ok()
            .zip(jiff::tz::TimeZone::get(&self.time_zone).ok())
            .map(|(instant, zone)| instant.to_zoned(zone).date().to_string())
            .unwrap_or_else(|| rfc3339(at).chars().take(10).collect());
        ExaminationView {
            status: self.status(),
            id: self.id,
            patient_id: self.patient_id,
            facility_id: self.facility_id,
            facility_name: self.facility_name,
            facility_tier: self.facility_tier,
            requested_by: self.requested_by,
            modality: self.modality,
            body_part: self.body_part,
            requested_at: rfc3339(self.requested_at),
            performed_at: self.performed_at.map(rfc3339),
            date,
            study_instance_uid: self.study_instance_uid,
            repeat_reason: self.repeat_reason,
            accession_number: self.accession_number,
            planned_study_uid: self.planned_study_uid,
            scheduled_at: rfc3339(self.scheduled_at.unwrap_or(self.requested_at)),
            station_ae: self.station_ae,
            procedure_description: self.procedure_description,
            step_status: self.step_status,
        }
    }
}

const SELECT: &str =
    "SELECT e.id, e.patient_id, e.facility_id, f.name AS facility_name, f.tier AS facility_tier, \
     f.time_zone, \
     e.requested_by, e.modality, e.body_part, e.status, e.requested_at, e.performed_at, \
     e.study_instance_uid, e.repeat_reason, e.accession_number, e.planned_study_uid, \
     e.scheduled_at, e.station_ae, e.procedure_description, e.step_status \
     FROM examination e JOIN facility f ON f.id = e.facility_id";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<ExaminationRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE e.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Every examination of the patient at any member facility, newest first.
pub async fn for_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Vec<ExaminationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE e.patient_id = $1 ORDER BY e.requested_at DESC, e.id DESC"
    ))
    .bind(patient_id)
    .fetch_all(conn)
    .await
}

/// The most recent examination of the same modality and body part, asked for
/// or performed at any member facility since `since`; cancelled ones do not
/// count.
pub async fn recent_duplicate(
    conn: &mut AnyConnection,
    patient_id: i64,
    modality: &str,
    body_part: &str,
    since: i64,
) -> Result<Option<ExaminationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE e.patient_id = $1 AND e.modality = $2 AND e.body_part = $3 \
         AND e.status IN ('requested', 'performed') \
         AND coalesce(e.performed_at, e.requested_at) >= $4 \
         ORDER BY coalesce(e.performed_at, e.requested_at) DESC, e.id DESC LIMIT 1"
    ))
    .bind(patient_id)
    .bind(modality)
    .bind(body_part)
    .bind(since)
    .fetch_optional(conn)
    .await
}

pub struct ExaminationValues<'a> {
    pub patient_id: i64,
    pub facility_id: i64,
    pub requested_by: i64,
    pub modality: &'a str,
    pub body_part: &'a str,
    pub repeat_reason: Option<&'a str>,
    pub scheduled_at: i64,
    pub station_ae: Option<&'a str>,
    pub procedure_description: &'a str,
}

/// The accession number of examination `id`: unique because ids are, and
/// within the 16 characters of a DICOM SH.
pub fn accession_number(id: i64) -> String {
    format!("F{id:07}")
}

pub async fn insert(
    conn: &mut AnyConnection,
    values: &ExaminationValues<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let planned_study_uid = format!("2.25.{}", uuid::Uuid::new_v4().as_u128());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO examination (patient_id, facility_id, requested_by, modality, body_part, status, \
         requested_at, repeat_reason, planned_study_uid, scheduled_at, station_ae, \
         procedure_description) \
         VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(values.patient_id)
    .bind(values.facility_id)
    .bind(values.requested_by)
    .bind(values.modality)
    .bind(values.body_part)
    .bind(now)
    .bind(values.repeat_reason)
    .bind(&planned_study_uid)
    .bind(values.scheduled_at)
    .bind(values.station_ae)
    .bind(values.procedure_description)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE examination SET accession_number = $1 WHERE id = $2")
        .bind(accession_number(id))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(id)
}

/// Moves a `requested` examination to `performed` (stamped, with its study if
/// any) or `cancelled`. False when it was no longer `requested`.
pub async fn finish(
    conn: &mut AnyConnection,
    id: i64,
    to: ExamStatus,
    study_instance_uid: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = match to {
        ExamStatus::Performed => {
            sqlx::query(
                "UPDATE examination SET status = 'performed', performed_at = $1, \
                 study_instance_uid = $2 WHERE id = $3 AND status = 'requested'",
            )
            .bind(now)
            .bind(study_instance_uid)
            .bind(id)
            .execute(conn)
            .await?
        }
        ExamStatus::Cancelled => sqlx::query(
            "UPDATE examination SET status = 'cancelled' WHERE id = $1 AND status = 'requested'",
        )
        .bind(id)
        .execute(conn)
        .await?,
        ExamStatus::Requested => return Ok(false),
    };
    Ok(done.rows_affected() == 1)
}
