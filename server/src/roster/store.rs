//! SQL of `roster_rule` and `roster_exception`, and the expert directory the
//! slot search reads.

use jiff::tz::TimeZone;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::slots::{ExceptionKind, ExceptionSpec, RuleSpec};
use super::{hhmm, ExceptionKindName, ExceptionView, RuleValues, RuleView, Service};
use crate::db::Tx;
use crate::time::rfc3339;

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An expert as the scheduling code needs them.
#[derive(Debug, Clone)]
pub struct Expert {
    pub id: i64,
    pub display_name: String,
    pub facility_id: i64,
    pub facility_name: String,
    pub time_zone: String,
    pub specialties: Vec<String>,
}

impl Expert {
    pub fn tz(&self) -> TimeZone {
        TimeZone::get(&self.time_zone).unwrap_or(TimeZone::UTC)
    }
}

/// Active experts, optionally narrowed by id, specialty or facility.
pub async fn experts(
    conn: &mut AnyConnection,
    expert_id: Option<i64>,
    specialty: Option<&str>,
    facility_id: Option<i64>,
) -> Result<Vec<Expert>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT u.id, u.display_name, u.facility_id, f.name AS facility_name, f.time_zone \
         FROM app_user u JOIN facility f ON f.id = u.facility_id \
         JOIN user_role r ON r.user_id = u.id AND r.role = 'expert' \
         WHERE u.active = 1 AND ($1 = 0 OR u.id = $2) AND ($3 = 0 OR u.facility_id = $4) \
         AND ($5 = '' OR EXISTS (SELECT 1 FROM user_specialty s WHERE s.user_id = u.id AND lower(s.specialty) = lower($5))) \
         ORDER BY u.id",
    )
    .bind(i64::from(expert_id.is_some()))
    .bind(expert_id.unwrap_or(0))
    .bind(i64::from(facility_id.is_some()))
    .bind(facility_id.unwrap_or(0))
    .bind(specialty.unwrap_or(""))
    .fetch_all(&mut *conn)
    .await?;
    let mut experts: Vec<Expert> = rows
        .iter()
        .map(|row| {
            Ok(Expert {
                id: row.try_get("id")?,
                display_name: row.try_get("display_name")?,
                facility_id: row.try_get("facility_id")?,
                facility_name: row.try_get("facility_name")?,
                time_zone: row.try_get("time_zone")?,
                specialties: Vec::new(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    if experts.is_empty() {
        return Ok(experts);
    }
    let ids: Vec<i64> = experts.iter().map(|e| e.id).collect();
    let sql = format!(
        "SELECT user_id, specialty FROM user_specialty WHERE user_id IN ({}) ORDER BY specialty",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query(&sql);
    for id in &ids {
        query = query.bind(*id);
    }
    for row in query.fetch_all(&mut *conn).await? {
        let user_id: i64 = row.try_get("user_id")?;
        if let Some(expert) = experts.iter_mut().find(|e| e.id == user_id) {
            expert.specialties.push(row.try_get("specialty")?);
        }
    }
    Ok(experts)
}

pub async fn expert(conn: &mut AnyConnection, id: i64) -> Result<Option<Expert>, sqlx::Error> {
    Ok(experts(conn, Some(id), None, None)
        .await?
        .into_iter()
        .next())
}

const RULE_COLUMNS: &str =
    "id, expert_id, weekday, start_time, end_time, slot_minutes, buffer_minutes, \
     capacity, service, valid_from, valid_to, referral_priority";

fn rule_view(row: &AnyRow) -> Result<RuleView, sqlx::Error> {
    Ok(RuleView {
        id: row.try_get("id")?,
        expert_id: row.try_get("expert_id")?,
        weekday: row.try_get::<i64, _>("weekday")? as i8,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
        slot_minutes: row.try_get("slot_minutes")?,
        buffer_minutes: row.try_get("buffer_minutes")?,
        capacity: row.try_get("capacity")?,
        service: Service::parse(row.try_get("service")?),
        valid_from: row.try_get("valid_from")?,
        valid_to: row.try_get("valid_to")?,
        referral_priority: row.try_get::<i64, _>("referral_priority")? == 1,
    })
}

/// A stored rule as the generator needs it. Stored rows were checked on the
/// way in; one that no longer parses generates nothing rather than failing.
pub fn rule_spec(view: &RuleView) -> Option<RuleSpec> {
    Some(RuleSpec {
        id: view.id,
        weekday: view.weekday,
        start: view.start_time.parse().ok()?,
        end: view.end_time.parse().ok()?,
        slot_minutes: view.slot_minutes,
        buffer_minutes: view.buffer_minutes,
        capacity: view.capacity,
        service: view.service,
        valid_from: view.valid_from.parse().ok()?,
        valid_to: match &view.valid_to {
            Some(text) => Some(text.parse().ok()?),
            None => None,
        },
        referral_priority: view.referral_priority,
    })
}

pub async fn rules_of(
    conn: &mut AnyConnection,
    expert_ids: &[i64],
) -> Result<Vec<RuleView>, sqlx::Error> {
    if expert_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM roster_rule WHERE expert_id IN ({}) ORDER BY id",
        placeholders(1, expert_ids.len())
    );
    let mut query = sqlx::query(&sql);
    for id in expert_ids {
        query = query.bind(*id);
    }
    query.fetch_all(conn).await?.iter().map(rule_view).collect()
}

pub async fn get_rule(conn: &mut AnyConnection, id: i64) -> Result<Option<RuleView>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {RULE_COLUMNS} FROM roster_rule WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(rule_view)
    .transpose()
}

pub async fn insert_rule(
    tx: &mut Tx,
    expert_id: i64,
    values: &RuleValues,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO roster_rule (expert_id, weekday, start_time, end_time, slot_minutes, buffer_minutes, \
         capacity, service, valid_from, valid_to, referral_priority, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
    )
    .bind(expert_id)
    .bind(i64::from(values.weekday))
    .bind(hhmm(values.start))
    .bind(hhmm(values.end))
    .bind(values.slot_minutes)
    .bind(values.buffer_minutes)
    .bind(values.capacity)
    .bind(values.service.as_str())
    .bind(values.valid_from.to_string())
    .bind(values.valid_to.map(|d| d.to_string()))
    .bind(i64::from(values.referral_priority))
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

pub async fn update_rule(
    tx: &mut Tx,
    id: i64,
    values: &RuleValues,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE roster_rule SET weekday = $1, start_time = $2, end_time = $3, slot_minutes = $4, \
         buffer_minutes = $5, capacity = $6, service = $7, valid_from = $8, valid_to = $9, \
         referral_priority = $10, updated_at = $11 WHERE id = $12",
    )
    .bind(i64::from(values.weekday))
    .bind(hhmm(values.start))
    .bind(hhmm(values.end))
    .bind(values.slot_minutes)
    .bind(values.buffer_minutes)
    .bind(values.capacity)
    .bind(values.service.as_str())
    .bind(values.valid_from.to_string())
    .bind(values.valid_to.map(|d| d.to_string()))
    .bind(i64::from(values.referral_priority))
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn delete_rule(tx: &mut Tx, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM roster_rule WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const EXCEPTION_COLUMNS: &str =
    "id, expert_id, kind, starts_at, ends_at, slot_minutes, buffer_minutes, \
     capacity, service, reason";

/// A stored exception, with its instants as milliseconds for the generator.
#[derive(Debug, Clone)]
pub struct ExceptionRow {
    pub view: ExceptionView,
    pub spec: ExceptionSpec,
}

fn exception_row(row: &AnyRow) -> Result<ExceptionRow, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let starts_at: i64 = row.try_get("starts_at")?;
    let ends_at: i64 = row.try_get("ends_at")?;
    let slot_minutes: Option<i64> = row.try_get("slot_minutes")?;
    let buffer_minutes: Option<i64> = row.try_get("buffer_minutes")?;
    let capacity: Option<i64> = row.try_get("capacity")?;
    let service = row
        .try_get::<Option<String>, _>("service")?
        .map(|s| Service::parse(&s));
    let spec_kind = match (
        kind.as_str(),
        slot_minutes,
        buffer_minutes,
        capacity,
        service,
    ) {
        ("extra", Some(slot_minutes), Some(buffer_minutes), Some(capacity), Some(service)) => {
            ExceptionKind::Extra {
                slot_minutes,
                buffer_minutes,
                capacity,
                service,
            }
        }
        _ => ExceptionKind::Leave,
    };
    Ok(ExceptionRow {
        view: ExceptionView {
            id: row.try_get("id")?,
            expert_id: row.try_get("expert_id")?,
            kind: if kind == "extra" {
                ExceptionKindName::Extra
            } else {
                ExceptionKindName::Leave
            },
            starts_at: rfc3339(starts_at),
            ends_at: rfc3339(ends_at),
            slot_minutes,
            buffer_minutes,
            capacity,
            service,
            reason: row.try_get("reason")?,
        },
        spec: ExceptionSpec {
            kind: spec_kind,
            starts_at,
            ends_at,
        },
    })
}

/// Exceptions of these experts that touch `[from, to)`.
pub async fn exceptions_of(
    conn: &mut AnyConnection,
    expert_ids: &[i64],
    from: i64,
    to: i64,
) -> Result<Vec<ExceptionRow>, sqlx::Error> {
    if expert_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {EXCEPTION_COLUMNS} FROM roster_exception \
         WHERE starts_at < $1 AND ends_at > $2 AND expert_id IN ({}) ORDER BY starts_at, id",
        placeholders(3, expert_ids.len())
    );
    let mut query = sqlx::query(&sql).bind(to).bind(from);
    for id in expert_ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(exception_row)
        .collect()
}

pub async fn get_exception(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<ExceptionRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {EXCEPTION_COLUMNS} FROM roster_exception WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(exception_row)
    .transpose()
}

pub async fn insert_exception(
    tx: &mut Tx,
    expert_id: i64,
    spec: &ExceptionSpec,
    reason: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (kind, slot, buffer, capacity, service) = match spec.kind {
        ExceptionKind::Leave => ("leave", None, None, None, None),
        ExceptionKind::Extra {
            slot_minutes,
            buffer_minutes,
            capacity,
            service,
        } => (
            "extra",
            Some(slot_minutes),
            Some(buffer_minutes),
            Some(capacity),
            Some(service.as_str()),
        ),
    };
    sqlx::query_scalar(
        "INSERT INTO roster_exception (expert_id, kind, starts_at, ends_at, slot_minutes, buffer_minutes, \
         capacity, service, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(expert_id)
    .bind(kind)
    .bind(spec.starts_at)
    .bind(spec.ends_at)
    .bind(slot)
    .bind(buffer)
    .bind(capacity)
    .bind(service)
    .bind(reason)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

pub async fn delete_exception(tx: &mut Tx, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM roster_exception WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
