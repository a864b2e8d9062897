//! The modality worklist's side of `examination`: examinations still to be
//! done at a facility as scheduled procedure steps, the steps a modality
//! reports (MPPS), and the examination an arriving study belongs to.

use sqlx::{AnyConnection, FromRow};

/// One scheduled procedure step, with what the worklist shows of its
/// patient and orderer.
#[derive(Debug, Clone, FromRow)]
pub struct ScheduledStep {
    pub id: i64,
    pub patient_id: i64,
    pub family_name: String,
    pub given_name: String,
    pub birth_date: String,
    pub sex: String,
    /// The patient's record number at the facility, when it has one.
    pub record_number: Option<String>,
    pub modality: String,
    pub body_part: String,
    pub accession_number: Option<String>,
    pub planned_study_uid: Option<String>,
    pub scheduled_at: Option<i64>,
    pub requested_at: i64,
    pub station_ae: Option<String>,
    pub procedure_description: String,
    pub step_status: String,
    pub ordered_by: String,
    pub time_zone: String,
}

/// What a worklist query may narrow by; `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct StepFilter {
    pub modality: Option<String>,
    /// A station sees the steps scheduled on it and those on no station.
    pub station_ae: Option<String>,
    /// Scheduled at or after, in milliseconds.
    pub from: Option<i64>,
    /// Scheduled before, in milliseconds.
    pub until: Option<i64>,
    pub accession_number: Option<String>,
    pub record_number: Option<String>,
}

/// Steps of `facility_id` that are still to be done (`requested`, not
/// discontinued), narrowed by `filter`, earliest first.
pub async fn scheduled(
    conn: &mut AnyConnection,
    facility_id: i64,
    filter: &StepFilter,
) -> Result<Vec<ScheduledStep>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT e.id, e.patient_id, p.family_name, p.given_name, p.birth_date, p.sex, \
         r.record_number, e.modality, e.body_part, e.accession_number, e.planned_study_uid, \
         e.scheduled_at, e.requested_at, e.station_ae, e.procedure_description, e.step_status, \
         u.display_name AS ordered_by, f.time_zone \
         FROM examination e \
         JOIN patient p ON p.id = e.patient_id \
         JOIN app_user u ON u.id = e.requested_by \
         JOIN facility f ON f.id = e.facility_id \
         LEFT JOIN patient_record r ON r.patient_id = e.patient_id AND r.facility_id = e.facility_id \
         WHERE e.facility_id = $1 AND e.status = 'requested' \
         AND e.step_status IN ('scheduled', 'in_progress')",
    );
    let mut n = 1;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    let mut texts: Vec<String> = Vec::new();
    let mut numbers: Vec<i64> = Vec::new();
    // Binds go in the order their placeholders are numbered: texts first.
    if let Some(modality) = &filter.modality {
        sql.push_str(&format!(" AND e.modality = {}", next()));
        texts.push(modality.clone());
    }
    if let Some(station) = &filter.station_ae {
        sql.push_str(&format!(
            " AND (e.station_ae IS NULL OR e.station_ae = {})",
            next()
        ));
        texts.push(station.clone());
    }
    if let Some(accession) = &filter.accession_number {
        sql.push_str(&format!(" AND e.accession_number = {}", next()));
        texts.push(accession.clone());
    }
    if let Some(record) = &filter.record_number {
        sql.push_str(&format!(" AND r.record_number = {}", next()));
        texts.push(record.clone());
    }
    if let Some(from) = filter.from {
        sql.push_str(&format!(
            " AND COALESCE(e.scheduled_at, e.requested_at) >= {}",
            next()
        ));
        numbers.push(from);
    }
    if let Some(until) = filter.until {
        sql.push_str(&format!(
            " AND COALESCE(e.scheduled_at, e.requested_at) < {}",
            next()
        ));
        numbers.push(until);
    }
    sql.push_str(" ORDER BY COALESCE(e.scheduled_at, e.requested_at), e.id LIMIT 1000");
    let mut query = sqlx::query_as::<_, ScheduledStep>(&sql).bind(facility_id);
    for text in texts {
        query = query.bind(text);
    }
    for number in numbers {
        query = query.bind(number);
    }
    query.fetch_all(conn).await
}

/// The examination of `facility_id` a procedure step or study names, by
/// accession number or by the Study Instance UID the worklist gave.
pub async fn named(
    conn: &mut AnyConnection,
    facility_id: i64,
    accession_number: Option<&str>,
    study_uid: Option<&str>,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    if accession_number.is_none() && study_uid.is_none() {
        return Ok(None);
    }
    sqlx::query_as(
        "SELECT id, patient_id FROM examination WHERE facility_id = $1 \
         AND (accession_number = $2 OR planned_study_uid = $3) \
         ORDER BY id LIMIT 1",
    )
    .bind(facility_id)
    .bind(accession_number)
    .bind(study_uid)
    .fetch_optional(conn)
    .await
}

/// The examination whose step is the MPPS instance `mpps_uid`.
pub async fn by_step(
    conn: &mut AnyConnection,
    facility_id: i64,
    mpps_uid: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, step_status FROM examination WHERE facility_id = $1 AND mpps_uid = $2",
    )
    .bind(facility_id)
    .bind(mpps_uid)
    .fetch_optional(conn)
    .await
}

/// Marks the step of examination `id` begun, as MPPS instance `mpps_uid`.
/// False when the step was no longer scheduled.
pub async fn begin(conn: &mut AnyConnection, id: i64, mpps_uid: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE examination SET step_status = 'in_progress', mpps_uid = $1 \
         WHERE id = $2 AND step_status = 'scheduled' AND mpps_uid IS NULL",
    )
    .bind(mpps_uid)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the step of examination `id` (`completed` or `discontinued`).
/// False when it was not in progress.
pub async fn end(conn: &mut AnyConnection, id: i64, to: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE examination SET step_status = $1 WHERE id = $2 AND step_status = 'in_progress'",
    )
    .bind(to)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
