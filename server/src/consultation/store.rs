//! SQL of `consultation` and `consultation_study`.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{ConsultationView, Status, Urgency};
use crate::db::Tx;
pub use crate::policy::consultation::Viewer;
use crate::roster::Service;
use crate::time::rfc3339;

#[derive(Debug, Clone)]
pub struct ConsultationRow {
    pub id: i64,
    pub patient_id: i64,
    pub patient_name: String,
    pub patient_record_number: Option<String>,
    pub requested_by: i64,
    pub requested_by_name: String,
    pub requesting_facility_id: i64,
    pub requesting_facility_name: String,
    pub expert_id: Option<i64>,
    pub expert_name: Option<String>,
    pub specialty: String,
    pub urgency: Urgency,
    pub service: Service,
    pub reason: String,
    pub clinical_summary: String,
    pub status: Status,
    pub status_reason: Option<String>,
    pub created_at: i64,
    pub accepted_at: Option<i64>,
    pub escalated_at: Option<i64>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// The start of its active (held or booked) booking.
    pub booking_start: Option<i64>,
}

impl ConsultationRow {
    pub fn view(
        &self,
        studies: Vec<String>,
        clinical: bool,
        open_before_ms: i64,
    ) -> ConsultationView {
        ConsultationView {
            id: self.id,
            patient_id: self.patient_id,
            patient_name: self.patient_name.clone(),
            patient_record_number: self.patient_record_number.clone(),
            requested_by: self.requested_by,
            requested_by_name: self.requested_by_name.clone(),
            requesting_facility_id: self.requesting_facility_id,
            requesting_facility_name: self.requesting_facility_name.clone(),
            expert_id: self.expert_id,
            expert_name: self.expert_name.clone(),
            specialty: self.specialty.clone(),
            urgency: self.urgency,
            service: self.service,
            reason: clinical.then(|| self.reason.clone()),
            clinical_summary: clinical.then(|| self.clinical_summary.clone()),
            status: self.status,
            status_reason: self.status_reason.clone(),
            studies,
            created_at: rfc3339(self.created_at),
            accepted_at: self.accepted_at.map(rfc3339),
            escalated_at: self.escalated_at.map(rfc3339),
            started_at: self.started_at.map(rfc3339),
            completed_at: self.completed_at.map(rfc3339),
            call_opens_at: super::call_opens_at(self.status, self.booking_start, open_before_ms)
                .map(rfc3339),
        }
    }
}

const SELECT: &str = "SELECT c.id, c.patient_id, p.family_name, p.given_name, cpr.record_number, c.requested_by, \
     r.display_name AS requested_by_name, c.requesting_facility_id, f.name AS facility_name, \
     c.expert_id, e.display_name AS expert_name, \
     c.specialty, c.urgency, c.service, c.reason, c.clinical_summary, c.status, c.status_reason, \
     c.created_at, c.accepted_at, c.escalated_at, c.started_at, c.completed_at, \
     (SELECT b.start_at FROM booking b WHERE b.consultation_id = c.id AND b.status IN ('held', 'booked')) \
     AS booking_start \
     FROM consultation c JOIN patient p ON p.id = c.patient_id \
     JOIN facility f ON f.id = c.requesting_facility_id \
     LEFT JOIN patient_record cpr ON cpr.patient_id = c.patient_id AND cpr.facility_id = c.requesting_facility_id \
     JOIN app_user r ON r.id = c.requested_by \
     LEFT JOIN app_user e ON e.id = c.expert_id";

fn row(row: &AnyRow) -> Result<ConsultationRow, sqlx::Error> {
    let family: String = row.try_get("family_name")?;
    let given: String = row.try_get("given_name")?;
    let status: String = row.try_get("status")?;
    Ok(ConsultationRow {
        id: row.try_get("id")?,
        patient_id: row.try_get("patient_id")?,
        patient_name: crate::patient_label::display_name(&family, &given),
        patient_record_number: row.try_get("record_number")?,
        requested_by: row.try_get("requested_by")?,
        requested_by_name: row.try_get("requested_by_name")?,
        requesting_facility_id: row.try_get("requesting_facility_id")?,
        requesting_facility_name: row.try_get("facility_name")?,
        expert_id: row.try_get("expert_id")?,
        expert_name: row.try_get("expert_name")?,
        specialty: row.try_get("specialty")?,
        urgency: Urgency::parse(row.try_get("urgency")?),
        service: Service::parse(row.try_get("service")?),
        reason: row.try_get("reason")?,
        clinical_summary: row.try_get("clinical_summary")?,
        status: Status::parse(&status).unwrap_or(Status::Cancelled),
        status_reason: row.try_get("status_reason")?,
        created_at: row.try_get("created_at")?,
        accepted_at: row.try_get("accepted_at")?,
        escalated_at: row.try_get("escalated_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        booking_start: row.try_get("booking_start")?,
    })
}

pub async fn get(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<ConsultationRow>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

pub async fn studies(conn: &mut AnyConnection, id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT study_instance_uid FROM consultation_study WHERE consultation_id = $1 \
         ORDER BY study_instance_uid",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// The studies of each of `ids`, in one query: a list's rows take them
/// together.
pub async fn studies_of(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<String>>, sqlx::Error> {
    let mut found: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT consultation_id, study_instance_uid FROM consultation_study \
             WHERE consultation_id IN ({}) ORDER BY study_instance_uid",
            marks.join(", ")
        );
        let mut query = sqlx::query_as::<_, (i64, String)>(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&mut *conn).await?;
        for (id, uid) in rows {
            found.entry(id).or_default().push(uid);
        }
    }
    Ok(found)
}

pub const VISIBLE: &str = "(c.requesting_facility_id = $1 OR c.expert_id = $2 \
     OR (c.status = 'requested' AND c.urgency <> 'routine' AND EXISTS (SELECT 1 FROM on_call_shift s \
         WHERE s.expert_id = $2 AND lower(s.specialty) = lower(c.specialty) AND s.starts_at <= $3 AND s.ends_at > $3)) \
     OR EXISTS (SELECT 1 FROM app_user x WHERE x.id = c.expert_id AND x.facility_id = $4) \
     OR ($4 > 0 AND c.status = 'requested' AND c.urgency <> 'routine'))";

pub struct ListFilter {
    pub status: Option<Status>,
    pub patient_id: Option<i64>,
    pub limit: i64,
}

pub async fn list(
    conn: &mut AnyConnection,
    viewer: Viewer,
    filter: &ListFilter,
) -> Result<Vec<ConsultationRow>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE {VISIBLE} AND ($5 = '' OR c.status = $5) AND ($6 = 0 OR c.patient_id = $7) \
         ORDER BY c.id DESC LIMIT $8"
    ))
    .bind(viewer.clinician_facility.id())
    .bind(viewer.expert_id)
    .bind(viewer.now)
    .bind(viewer.scheduler_facility.id())
    .bind(filter.status.map(|s| s.as_str()).unwrap_or(""))
    .bind(i64::from(filter.patient_id.is_some()))
    .bind(filter.patient_id.unwrap_or(0))
    .bind(filter.limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(row)
    .collect()
}

pub async fn is_visible(
    conn: &mut AnyConnection,
    viewer: Viewer,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT c.id FROM consultation c WHERE {VISIBLE} AND c.id = $5"
    ))
    .bind(viewer.clinician_facility.id())
    .bind(viewer.expert_id)
    .bind(viewer.now)
    .bind(viewer.scheduler_facility.id())
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

pub struct NewRow<'a> {
    pub patient_id: i64,
    pub requested_by: i64,
    pub requesting_facility_id: i64,
    pub expert_id: Option<i64>,
    pub specialty: &'a str,
    pub urgency: Urgency,
    pub service: Service,
    pub reason: &'a str,
    pub clinical_summary: &'a str,
    pub studies: &'a [String],
}

pub async fn insert(tx: &mut Tx, new: &NewRow<'_>, now: i64) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO consultation (patient_id, requested_by, requesting_facility_id, expert_id, specialty, \
         urgency, service, reason, clinical_summary, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'requested', $10, $10) RETURNING id",
    )
    .bind(new.patient_id)
    .bind(new.requested_by)
    .bind(new.requesting_facility_id)
    .bind(new.expert_id)
    .bind(new.specialty)
    .bind(new.urgency.as_str())
    .bind(new.service.as_str())
    .bind(new.reason)
    .bind(new.clinical_summary)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    for uid in new.studies {
        sqlx::query(
            "INSERT INTO consultation_study (consultation_id, study_instance_uid) VALUES ($1, $2)",
        )
        .bind(id)
        .bind(uid)
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// Moves the consultation from `from` to `to` only if it is still in `from`;
/// false when another request changed it first.
pub async fn transition(
    tx: &mut Tx,
    id: i64,
    from: Status,
    to: Status,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE consultation SET status = $1, status_reason = COALESCE($2, status_reason), updated_at = $3, \
         started_at = CASE WHEN $1 = 'in_progress' THEN $3 ELSE started_at END, \
         completed_at = CASE WHEN $1 = 'completed' THEN $3 ELSE completed_at END \
         WHERE id = $4 AND status = $5",
    )
    .bind(to.as_str())
    .bind(reason)
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Assigns the expert and schedules a requested consultation (a booking or an
/// on-call acceptance). False if it was no longer requested or another expert
/// got it first: exactly one caller wins.
pub async fn schedule(
    tx: &mut Tx,
    id: i64,
    expert_id: i64,
    accepted: bool,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE consultation SET status = 'scheduled', expert_id = $1, updated_at = $2, \
         accepted_at = CASE WHEN $3 = 1 THEN $2 ELSE accepted_at END \
         WHERE id = $4 AND status = 'requested' AND (expert_id IS NULL OR expert_id = $1)",
    )
    .bind(expert_id)
    .bind(now)
    .bind(i64::from(accepted))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The patients of the consultations `user_id` asked for that are still
/// open, each with when the newest of them was asked for (ms), newest first:
/// the clinician's open work on their "today / my patients" list. Not when
/// it last changed: the server's own steps (an escalation, an offer) would
/// then move a patient above the one the clinician has just opened.
pub async fn open_patients_requested_by(
    conn: &mut AnyConnection,
    user_id: i64,
    limit: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT patient_id, MAX(created_at) AS last_at FROM consultation WHERE requested_by = $1 \
         AND status NOT IN ('completed', 'cancelled', 'declined') \
         GROUP BY patient_id ORDER BY last_at DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}
