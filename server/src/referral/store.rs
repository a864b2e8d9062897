//! SQL for `referral`.

use sqlx::{AnyConnection, FromRow};

use super::{Direction, ReferralView, Status};
use crate::time::rfc3339;

#[derive(Debug, Clone, FromRow)]
pub struct ReferralRow {
    pub id: i64,
    pub patient_id: i64,
    pub direction: String,
    pub from_facility_id: i64,
    pub from_facility_name: String,
    pub to_facility_id: i64,
    pub to_facility_name: String,
    pub requested_by: i64,
    pub reason: String,
    pub diagnosis_codes: String,
    pub justification: Option<String>,
    pub rehabilitation_plan: Option<String>,
    pub status: String,
    pub decided_by: Option<i64>,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
    pub arrived_at: Option<i64>,
    pub discharged_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    // Whom it is about, as `patient::label` names a patient (the record
    // number the sending facility knows, else the first), so that lists
    // name the patient without a read per row.
    pub patient_family_name: String,
    pub patient_given_name: String,
    pub patient_record_number: Option<String>,
}

impl ReferralRow {
    pub fn status(&self) -> Status {
        // The CHECK constraint admits only the six states.
        Status::parse(&self.status).unwrap_or(Status::Cancelled)
    }

    pub fn view(self) -> ReferralView {
        ReferralView {
            status: self.status(),
            direction: Direction::parse(&self.direction).unwrap_or(Direction::Up),
            diagnosis_codes: serde_json::from_str(&self.diagnosis_codes).unwrap_or_default(),
            id: self.id,
            patient_id: self.patient_id,
            from_facility_id: self.from_facility_id,
            from_facility_name: self.from_facility_name,
            to_facility_id: self.to_facility_id,
            to_facility_name: self.to_facility_name,
            requested_by: self.requested_by,
            reason: self.reason,
            justification: self.justification,
            rehabilitation_plan: self.rehabilitation_plan,
            decided_by: self.decided_by,
            decided_at: self.decided_at.map(rfc3339),
            decision_note: self.decision_note,
            arrived_at: self.arrived_at.map(rfc3339),
            discharged_at: self.discharged_at.map(rfc3339),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            patient_name: crate::patient_label::display_name(
                &self.patient_family_name,
                &self.patient_given_name,
            ),
            patient_record_number: self.patient_record_number,
        }
    }
}

const SELECT: &str = "SELECT r.id, r.patient_id, r.direction, r.from_facility_id, ff.name AS from_facility_name, \
     r.to_facility_id, tf.name AS to_facility_name, r.requested_by, r.reason, r.diagnosis_codes, \
     r.justification, r.rehabilitation_plan, r.status, r.decided_by, r.decided_at, r.decision_note, \
     r.arrived_at, r.discharged_at, r.created_at, r.updated_at, \
     pt.family_name AS patient_family_name, pt.given_name AS patient_given_name, \
     COALESCE((SELECT pr.record_number FROM patient_record pr \
      WHERE pr.patient_id = r.patient_id AND pr.facility_id = r.from_facility_id), \
      (SELECT pr.record_number FROM patient_record pr WHERE pr.patient_id = r.patient_id \
      ORDER BY pr.id LIMIT 1)) AS patient_record_number \
     FROM referral r JOIN facility ff ON ff.id = r.from_facility_id JOIN facility tf ON tf.id = r.to_facility_id \
     JOIN patient pt ON pt.id = r.patient_id";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<ReferralRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Referrals sent or received by `facility_id`, newest first.
pub async fn list(
    conn: &mut AnyConnection,
    facility_id: i64,
    direction: Option<Direction>,
    status: Option<Status>,
    limit: i64,
) -> Result<Vec<ReferralRow>, sqlx::Error> {
    let mut sql = format!("{SELECT} WHERE (r.from_facility_id = $1 OR r.to_facility_id = $1)");
    let mut next = 2;
    if direction.is_some() {
        sql.push_str(&format!(" AND r.direction = ${next}"));
        next += 1;
    }
    if status.is_some() {
        sql.push_str(&format!(" AND r.status = ${next}"));
        next += 1;
    }
    sql.push_str(&format!(" ORDER BY r.id DESC LIMIT ${next}"));
    let mut query = sqlx::query_as(&sql).bind(facility_id);
    if let Some(direction) = direction {
        query = query.bind(direction.as_str());
    }
    if let Some(status) = status {
        query = query.bind(status.as_str());
    }
    query.bind(limit).fetch_all(conn).await
}

/// A patient's referrals between facilities other than `facility_id`,
/// newest first.
pub async fn of_patient_elsewhere(
    conn: &mut AnyConnection,
    patient_id: i64,
    facility_id: i64,
) -> Result<Vec<ReferralRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE r.patient_id = $1 AND r.from_facility_id <> $2 AND r.to_facility_id <> $2 \
         ORDER BY r.id DESC LIMIT 200"
    ))
    .bind(patient_id)
    .bind(facility_id)
    .fetch_all(conn)
    .await
}

pub struct ReferralValues<'a> {
    pub patient_id: i64,
    pub direction: Direction,
    pub from_facility_id: i64,
    pub to_facility_id: i64,
    pub requested_by: i64,
    pub reason: &'a str,
    pub diagnosis_codes: &'a [String],
    pub justification: Option<&'a str>,
    pub rehabilitation_plan: Option<&'a str>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    values: &ReferralValues<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let codes = serde_json::to_string(values.diagnosis_codes).unwrap_or_else(|_| "[]".to_owned());
    sqlx::query_scalar(
        "INSERT INTO referral (patient_id, direction, from_facility_id, to_facility_id, requested_by, \
         reason, diagnosis_codes, justification, rehabilitation_plan, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'requested', $10, $10) RETURNING id",
    )
    .bind(values.patient_id)
    .bind(values.direction.as_str())
    .bind(values.from_facility_id)
    .bind(values.to_facility_id)
    .bind(values.requested_by)
    .bind(values.reason)
    .bind(codes)
    .bind(values.justification)
    .bind(values.rehabilitation_plan)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Moves a referral from `from` to `to`, stamping what the new state records
/// (who decided and why, arrival, discharge). False when it was no longer in
/// `from`: another request moved it first.
pub async fn transition(
    conn: &mut AnyConnection,
    id: i64,
    from: Status,
    to: Status,
    user_id: i64,
    note: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    const WHERE: &str = "WHERE id = $1 AND status = $2";
    let sql = match to {
        Status::Accepted | Status::Rejected => format!(
            "UPDATE referral SET status = $3, updated_at = $4, decided_at = $4, decided_by = $5, \
             decision_note = $6 {WHERE}"
        ),
        Status::Arrived => {
            format!("UPDATE referral SET status = $3, updated_at = $4, arrived_at = $4 {WHERE}")
        }
        Status::Discharged => {
            format!("UPDATE referral SET status = $3, updated_at = $4, discharged_at = $4 {WHERE}")
        }
        Status::Requested | Status::Cancelled => {
            format!("UPDATE referral SET status = $3, updated_at = $4 {WHERE}")
        }
    };
    let mut query = sqlx::query(&sql)
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now);
    if matches!(to, Status::Accepted | Status::Rejected) {
        query = query.bind(user_id).bind(note);
    }
    let done = query.execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Active clinicians of a facility: who hears of a referral sent there.
pub async fn clinicians_at(
    conn: &mut AnyConnection,
    facility_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u.id FROM app_user u JOIN user_role r ON r.user_id = u.id \
         WHERE r.role = 'clinician' AND u.active = 1 AND u.facility_id = $1 ORDER BY u.id",
    )
    .bind(facility_id)
    .fetch_all(conn)
    .await
}
