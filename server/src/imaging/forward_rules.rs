//! Forwarding rules and the outbox as administrators see them: which
//! facility's instances (of which modality) go to which destination, and
//! what is waiting, failing or sent ([`super::forward`]).

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, FromRow};
use utoipa::ToSchema;

use crate::audit::{Action, Actor, AuditEntry};
use crate::error::{ApiError, ErrorCode};
use crate::time::rfc3339;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewForwardRule {
    /// The sending facility; unset for every facility.
    pub facility_id: Option<i64>,
    /// A DICOM modality (`CT`, `DX`, ...); unset for every modality.
    pub modality: Option<String>,
    /// A reading route: set, a study is forwarded once a reading request
    /// is routed by it (and what arrives for it afterwards), e.g. to the
    /// reading facility's PACS; unset, everything matching is forwarded
    /// as it arrives.
    pub reading_route_id: Option<i64>,
    /// The C-MOVE destination to forward to (its id).
    pub destination_id: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema, FromRow)]
pub struct ForwardRuleView {
    pub id: i64,
    pub facility_id: Option<i64>,
    pub modality: Option<String>,
    pub reading_route_id: Option<i64>,
    pub destination_id: i64,
    /// The destination's AE title.
    pub destination: String,
}

/// One outbox row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxEntry {
    pub id: i64,
    /// The destination's AE title.
    pub destination: String,
    pub study_instance_uid: String,
    pub sop_instance_uid: String,
    /// `pending` or `sent`.
    pub state: String,
    /// Attempts that failed so far.
    pub attempts: i32,
    /// When the next attempt is due (pending rows).
    pub next_attempt_at: Option<String>,
    /// What kind of failure the last attempt met: `unreachable` (no
    /// association), `refused` (a failure status), `not_accepted` (no
    /// presentation context for the instance), `not_convertible` (into any
    /// syntax the destination takes), `association` (broken or timed out
    /// part-way) or `unreadable` (the stored instance could not be read).
    pub last_error_kind: Option<String>,
    /// Why the last attempt failed, in the network stack's words.
    pub last_error: Option<String>,
    /// The destination's last C-STORE status.
    pub last_status: Option<i32>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// The outbox at a glance, and its rows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Outbox {
    pub pending: i64,
    /// Pending rows that failed at least once.
    pub failing: i64,
    pub sent: i64,
    pub entries: Vec<OutboxEntry>,
}

#[derive(Debug, FromRow)]
struct OutboxRow {
    id: i64,
    destination: String,
    study_instance_uid: String,
    sop_instance_uid: String,
    state: String,
    attempts: i32,
    next_attempt_at: i64,
    last_error_kind: Option<String>,
    last_error: Option<String>,
    last_status: Option<i32>,
    created_at: i64,
    sent_at: Option<i64>,
}

pub async fn rules(conn: &mut AnyConnection) -> Result<Vec<ForwardRuleView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.id, r.facility_id, r.modality, r.reading_route_id, r.destination_id, \
         d.ae_title AS destination \
         FROM dicom_forward_rule r JOIN dicom_destination d ON d.id = r.destination_id ORDER BY r.id",
    )
    .fetch_all(conn)
    .await
}

pub async fn create(
    tx: &mut crate::db::Tx,
    actor: &Actor,
    new: NewForwardRule,
) -> Result<ForwardRuleView, ApiError> {
    let modality = new
        .modality
        .as_deref()
        .map(crate::examination::check_modality)
        .transpose()?;
    if let Some(facility) = new.facility_id {
        crate::facility::store::get(tx, facility)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    ErrorCode::InvalidReference,
                    "facility_id",
                    "no such facility",
                )
            })?;
    }
    if let Some(route) = new.reading_route_id {
        // The reading area owns routes but builds on imaging, so the check
        // reads its table here rather than calling it.
        let known: Option<i64> = sqlx::query_scalar("SELECT id FROM reading_route WHERE id = $1")
            .bind(route)
            .fetch_optional(&mut **tx)
            .await?;
        if known.is_none() {
            return Err(ApiError::invalid(
                ErrorCode::InvalidReference,
                "reading_route_id",
                "no such reading route",
            ));
        }
    }
    let known: Option<i64> = sqlx::query_scalar("SELECT id FROM dicom_destination WHERE id = $1")
        .bind(new.destination_id)
        .fetch_optional(&mut **tx)
        .await?;
    if known.is_none() {
        return Err(ApiError::invalid(
            ErrorCode::InvalidReference,
            "destination_id",
            "no such destination",
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO dicom_forward_rule (facility_id, modality, reading_route_id, destination_id, \
         created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(new.facility_id)
    .bind(&modality)
    .bind(new.reading_route_id)
    .bind(new.destination_id)
    .bind(crate::time::now_ms())
    .fetch_one(&mut **tx)
    .await?;
    crate::audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Create, "forward_rule.create")
            .entity("forward_rule", id)
            .detail(serde_json::json!({
                "facility_id": new.facility_id,
                "modality": modality,
                "reading_route_id": new.reading_route_id,
                "destination_id": new.destination_id,
            })),
    )
    .await?;
    rules(tx)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(ApiError::NotFound { what: "rule" })
}

pub async fn delete(tx: &mut crate::db::Tx, actor: &Actor, id: i64) -> Result<(), ApiError> {
    let done = sqlx::query("DELETE FROM dicom_forward_rule WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound { what: "rule" });
    }
    crate::audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Delete, "forward_rule.delete").entity("forward_rule", id),
    )
    .await?;
    Ok(())
}

/// The counts, and the most recent rows of `state` (`pending`, `failing`
/// or `sent`; all when `None`), newest first.
pub async fn outbox(
    conn: &mut AnyConnection,
    state: Option<&str>,
    limit: i64,
) -> Result<Outbox, sqlx::Error> {
    let (pending, failing, sent): (i64, i64, i64) = sqlx::query_as(
        "SELECT \
         COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN state = 'pending' AND attempts > 0 THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END), 0) FROM dicom_outbox",
    )
    .fetch_one(&mut *conn)
    .await?;
    let filter = match state {
        Some("pending") => "WHERE o.state = 'pending'",
        Some("failing") => "WHERE o.state = 'pending' AND o.attempts > 0",
        Some("sent") => "WHERE o.state = 'sent'",
        _ => "",
    };
    let rows: Vec<OutboxRow> = sqlx::query_as(&format!(
        "SELECT o.id, d.ae_title AS destination, s.study_uid AS study_instance_uid, \
         i.sop_instance_uid, o.state, o.attempts, o.next_attempt_at, o.last_error_kind, o.last_error, \
         o.last_status, o.created_at, o.sent_at \
         FROM dicom_outbox o JOIN dicom_destination d ON d.id = o.destination_id \
         JOIN dicom_instance i ON i.id = o.instance_id \
         JOIN dicom_series se ON se.id = i.series_id JOIN dicom_study s ON s.id = se.study_id \
         {filter} ORDER BY o.id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Outbox {
        pending,
        failing,
        sent,
        entries: rows
            .into_iter()
            .map(|r| OutboxEntry {
                next_attempt_at: (r.state == "pending").then(|| rfc3339(r.next_attempt_at)),
                id: r.id,
                destination: r.destination,
                study_instance_uid: r.study_instance_uid,
                sop_instance_uid: r.sop_instance_uid,
                state: r.state,
                attempts: r.attempts,
                last_error_kind: r.last_error_kind,
                last_error: r.last_error,
                last_status: r.last_status,
                created_at: rfc3339(r.created_at),
                sent_at: r.sent_at.map(rfc3339),
            })
            .collect(),
    })
}
