//! SQL of the `reading_request` table.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Priority, ReadingRequestView, TaskStatus, PRIORITY_RANK};
use crate::db::Tx;
use crate::time::rfc3339;

// The patient's name and record number come with each row, so that a
// worklist or report names whom it is about without a read per row; they
// are shown only to whoever may see the request itself. The record number
// is the requesting facility's, the one on the images and the request form.
static SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT r.id, r.study_instance_uid, r.patient_id, r.requesting_facility_id, \
         rf.name AS requesting_facility_name, r.requested_by, ru.display_name AS requested_by_name, \
         r.reading_facility_id, df.name AS reading_facility_name, r.route_id, r.modality, r.body_part, \
         r.clinical_question, r.priority, r.requested_reader_id, r.reader_id, rd.display_name AS reader_name, \
         r.status, r.status_reason, r.due_at, r.claimed_at, r.completed_at, r.created_at, \
         pt.family_name AS patient_family_name, pt.given_name AS patient_given_name, \
         pt.sex AS patient_sex, pt.birth_date AS patient_birth_date, \
         {} AS patient_record_number \
         FROM reading_request r \
         JOIN facility rf ON rf.id = r.requesting_facility_id \
         JOIN facility df ON df.id = r.reading_facility_id \
         JOIN app_user ru ON ru.id = r.requested_by \
         LEFT JOIN app_user rd ON rd.id = r.reader_id \
         LEFT JOIN patient pt ON pt.id = r.patient_id",
        crate::patient_label::record_number_sql("r.patient_id", "r.requesting_facility_id")
    )
});

/// A reading request with its instants as stored (UTC milliseconds).
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: i64,
    pub study_instance_uid: String,
    pub patient_id: Option<i64>,
    pub requesting_facility_id: i64,
    pub requesting_facility_name: String,
    pub requested_by: i64,
    pub requested_by_name: String,
    pub reading_facility_id: i64,
    pub reading_facility_name: String,
    pub route_id: Option<i64>,
    pub modality: String,
    pub body_part: String,
    pub clinical_question: String,
    pub priority: Priority,
    pub requested_reader_id: Option<i64>,
    pub reader_id: Option<i64>,
    pub reader_name: Option<String>,
    pub status: TaskStatus,
    pub status_reason: Option<String>,
    pub due_at: i64,
    pub claimed_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub patient_name: Option<String>,
    pub patient_record_number: Option<String>,
    pub patient_sex: Option<String>,
    pub patient_birth_date: Option<String>,
}

impl RequestRow {
    /// Its two facilities, for the access decisions in `policy::reading`.
    pub fn parties(&self) -> crate::policy::reading::ReadingParties {
        crate::policy::reading::ReadingParties {
            requesting_facility: self.requesting_facility_id,
            reading_facility: self.reading_facility_id,
        }
    }
}

impl RequestRow {
    pub fn view(&self, now: i64) -> ReadingRequestView {
        ReadingRequestView {
            id: self.id,
            study_instance_uid: self.study_instance_uid.clone(),
            patient_id: self.patient_id,
            requesting_facility_id: self.requesting_facility_id,
            requesting_facility_name: self.requesting_facility_name.clone(),
            requested_by: self.requested_by,
            requested_by_name: self.requested_by_name.clone(),
            reading_facility_id: self.reading_facility_id,
            reading_facility_name: self.reading_facility_name.clone(),
            route_id: self.route_id,
            modality: self.modality.clone(),
            body_part: self.body_part.clone(),
            clinical_question: self.clinical_question.clone(),
            priority: self.priority,
            requested_reader_id: self.requested_reader_id,
            reader_id: self.reader_id,
            reader_name: self.reader_name.clone(),
            status: self.status,
            status_reason: self.status_reason.clone(),
            created_at: rfc3339(self.created_at),
            due_at: rfc3339(self.due_at),
            // Floor division, so one second overdue already reads as -1.
            minutes_left: self
                .status
                .is_open()
                .then(|| (self.due_at - now).div_euclid(60_000)),
            claimed_at: self.claimed_at.map(rfc3339),
            completed_at: self.completed_at.map(rfc3339),
            patient_name: self.patient_name.clone(),
            patient_record_number: self.patient_record_number.clone(),
            patient_sex: self.patient_sex.clone(),
            patient_birth_date: self.patient_birth_date.clone(),
        }
    }
}

fn row(r: &AnyRow) -> Result<RequestRow, sqlx::Error> {
    let priority: String = r.try_get("priority")?;
    let status: String = r.try_get("status")?;
    Ok(RequestRow {
        id: r.try_get("id")?,
        study_instance_uid: r.try_get("study_instance_uid")?,
        patient_id: r.try_get("patient_id")?,
        requesting_facility_id: r.try_get("requesting_facility_id")?,
        requesting_facility_name: r.try_get("requesting_facility_name")?,
        requested_by: r.try_get("requested_by")?,
        requested_by_name: r.try_get("requested_by_name")?,
        reading_facility_id: r.try_get("reading_facility_id")?,
        reading_facility_name: r.try_get("reading_facility_name")?,
        route_id: r.try_get("route_id")?,
        modality: r.try_get("modality")?,
        body_part: r.try_get("body_part")?,
        clinical_question: r.try_get("clinical_question")?,
        priority: Priority::parse(&priority).unwrap_or(Priority::Routine),
        requested_reader_id: r.try_get("requested_reader_id")?,
        reader_id: r.try_get("reader_id")?,
        reader_name: r.try_get("reader_name")?,
        status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Cancelled),
        status_reason: r.try_get("status_reason")?,
        due_at: r.try_get("due_at")?,
        claimed_at: r.try_get("claimed_at")?,
        completed_at: r.try_get("completed_at")?,
        created_at: r.try_get("created_at")?,
        patient_name: match (
            r.try_get::<Option<String>, _>("patient_family_name")?,
            r.try_get::<Option<String>, _>("patient_given_name")?,
        ) {
            (Some(family), given) => Some(crate::patient_label::display_name(
                &family,
                given.as_deref().unwrap_or(""),
            )),
            (None, _) => None,
        },
        patient_record_number: r.try_get("patient_record_number")?,
        patient_sex: r.try_get("patient_sex")?,
        patient_birth_date: r.try_get("patient_birth_date")?,
    })
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query(&format!("{} WHERE r.id = $1", *SELECT))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

pub struct NewRow<'a> {
    pub study_instance_uid: &'a str,
    pub patient_id: Option<i64>,
    pub requesting_facility_id: i64,
    pub requested_by: i64,
    pub reading_facility_id: i64,
    pub route_id: Option<i64>,
    pub modality: &'a str,
    pub body_part: &'a str,
    pub clinical_question: &'a str,
    pub priority: Priority,
    pub requested_reader_id: Option<i64>,
    pub due_at: i64,
}

pub async fn insert(tx: &mut Tx, new: &NewRow<'_>, now: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO reading_request (study_instance_uid, patient_id, requesting_facility_id, requested_by, \
         reading_facility_id, route_id, modality, body_part, clinical_question, priority, requested_reader_id, \
         status, due_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'requested', $12, $13, $13) RETURNING id",
    )
    .bind(new.study_instance_uid)
    .bind(new.patient_id)
    .bind(new.requesting_facility_id)
    .bind(new.requested_by)
    .bind(new.reading_facility_id)
    .bind(new.route_id)
    .bind(new.modality)
    .bind(new.body_part)
    .bind(new.clinical_question)
    .bind(new.priority.as_str())
    .bind(new.requested_reader_id)
    .bind(new.due_at)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// Filters of a list; each narrows it.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub reading_facility_id: Option<i64>,
    pub requesting_facility_id: Option<i64>,
    pub statuses: Vec<TaskStatus>,
    pub modality: Option<String>,
    pub body_part: Option<String>,
    pub priority: Option<Priority>,
    pub reader_id: Option<i64>,
    pub study_instance_uid: Option<String>,
}

/// Requests matching the filter, most pressing first: priority, then age.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<Vec<RequestRow>, sqlx::Error> {
    let mut sql = format!("{} WHERE 1 = 1", *SELECT);
    let mut next = 1;
    let mut param = |sql: &mut String, clause: &str| {
        sql.push_str(&clause.replace('?', &format!("${next}")));
        next += 1;
    };
    if filter.reading_facility_id.is_some() {
        param(&mut sql, " AND r.reading_facility_id = ?");
    }
    if filter.requesting_facility_id.is_some() {
        param(&mut sql, " AND r.requesting_facility_id = ?");
    }
    if filter.modality.is_some() {
        param(&mut sql, " AND r.modality = ?");
    }
    if filter.body_part.is_some() {
        param(&mut sql, " AND r.body_part = ?");
    }
    if filter.priority.is_some() {
        param(&mut sql, " AND r.priority = ?");
    }
    if filter.reader_id.is_some() {
        param(&mut sql, " AND r.reader_id = ?");
    }
    if filter.study_instance_uid.is_some() {
        param(&mut sql, " AND r.study_instance_uid = ?");
    }
    if !filter.statuses.is_empty() {
        // Statuses come from the enum, never from the client's text.
        let list: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        sql.push_str(&format!(" AND r.status IN ({})", list.join(", ")));
    }
    sql.push_str(&format!(
        " ORDER BY {PRIORITY_RANK}, r.created_at, r.id LIMIT {limit} OFFSET {offset}"
    ));
    let mut query = sqlx::query(&sql);
    for value in [filter.reading_facility_id, filter.requesting_facility_id]
        .into_iter()
        .flatten()
    {
        query = query.bind(value);
    }
    for value in [&filter.modality, &filter.body_part].into_iter().flatten() {
        query = query.bind(value.clone());
    }
    if let Some(priority) = filter.priority {
        query = query.bind(priority.as_str());
    }
    if let Some(reader) = filter.reader_id {
        query = query.bind(reader);
    }
    if let Some(uid) = &filter.study_instance_uid {
        query = query.bind(uid.clone());
    }
    query.fetch_all(conn).await?.iter().map(row).collect()
}

/// Claims an unclaimed request for `reader`. The condition on the status
/// makes it one winner among any number of readers racing.
pub async fn claim(tx: &mut Tx, id: i64, reader: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE reading_request SET status = 'accepted', reader_id = $1, claimed_at = $2, updated_at = $2 \
         WHERE id = $3 AND status = 'requested'",
    )
    .bind(reader)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a claimed request back on the worklist, if `reader` still holds it
/// and has signed nothing on it yet.
pub async fn release(tx: &mut Tx, id: i64, reader: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE reading_request SET status = 'requested', reader_id = NULL, claimed_at = NULL, updated_at = $1 \
         WHERE id = $2 AND reader_id = $3 AND status IN ('accepted', 'in-progress') \
         AND NOT EXISTS (SELECT 1 FROM reading_report p WHERE p.reading_request_id = $2 AND p.signed_at IS NOT NULL)",
    )
    .bind(now)
    .bind(id)
    .bind(reader)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives an open request to another reader (a lead's decision). A request
/// already being written stays `in-progress` with its draft.
pub async fn reassign(
    tx: &mut Tx,
    id: i64,
    from: Option<i64>,
    to: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE reading_request SET reader_id = $1, claimed_at = $2, updated_at = $2, \
         status = CASE WHEN status = 'requested' THEN 'accepted' ELSE status END \
         WHERE id = $3 AND status IN ('requested', 'accepted', 'in-progress') \
         AND COALESCE(reader_id, -1) = $4",
    )
    .bind(to)
    .bind(now)
    .bind(id)
    .bind(from.unwrap_or(-1))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a request from one status to another; false if it was not in `from`.
pub async fn transition(
    tx: &mut Tx,
    id: i64,
    from: &[TaskStatus],
    to: TaskStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let completed = if to == TaskStatus::Completed {
        ", completed_at = $1"
    } else {
        ""
    };
    let done = sqlx::query(&format!(
        "UPDATE reading_request SET status = $2, status_reason = COALESCE($3, status_reason), \
         updated_at = $1{completed} WHERE id = $4 AND status IN ({})",
        from.join(", ")
    ))
    .bind(now)
    .bind(to.as_str())
    .bind(reason)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Active radiologists of a facility, to tell them of new work.
pub async fn readers_of(tx: &mut Tx, facility_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u.id FROM app_user u JOIN user_role ur ON ur.user_id = u.id AND ur.role = 'radiologist' \
         WHERE u.facility_id = $1 AND u.active = 1 ORDER BY u.id",
    )
    .bind(facility_id)
    .fetch_all(&mut **tx)
    .await
}

/// Is this user a radiologist of this facility (and active)?
pub async fn is_reader_at(
    conn: &mut AnyConnection,
    user_id: i64,
    facility_id: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT u.id FROM app_user u JOIN user_role ur ON ur.user_id = u.id AND ur.role = 'radiologist' \
         WHERE u.id = $1 AND u.facility_id = $2 AND u.active = 1",
    )
    .bind(user_id)
    .bind(facility_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// A reader's facility, if the user is an active radiologist.
pub async fn reader_facility(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u.facility_id FROM app_user u \
         JOIN user_role ur ON ur.user_id = u.id AND ur.role = 'radiologist' \
         WHERE u.id = $1 AND u.active = 1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

pub async fn is_lead(conn: &mut AnyConnection, user_id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT user_id FROM reading_lead WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// The patients of the reading requests `user_id` asked for that are still
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
        "SELECT patient_id, MAX(created_at) AS last_at FROM reading_request WHERE requested_by = $1 \
         AND status NOT IN ('completed', 'cancelled') AND patient_id IS NOT NULL \
         GROUP BY patient_id ORDER BY last_at DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}
