//! The audit trail: who did what to which record, when, and from where.
//!
//! A change's events are written in the same transaction as the change, so
//! there is no change without its event and no event without its change. A
//! read's events go through the [`journal::Journal`], which commits the
//! events of many reads at once and answers each read only once its events
//! are durable. They are append-only (database triggers refuse UPDATE and DELETE) and
//! hash-chained: each stores the SHA-256 of its predecessor, so an edit or
//! deletion made behind the database's back is found by [`chain::verify`]
//! (`ferry audit verify`). The fields follow FHIR AuditEvent, and [`fhir`]
//! exports them as such.

pub mod chain;
pub mod fhir;
pub mod journal;
pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::Tx;

/// FHIR AuditEvent.action: create, read, update, delete, execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Execute,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Read => "read",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Execute => "execute",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// Who acted. `user_id` is empty for anonymous sign-in attempts and for the
/// command line, whose `name` says which it was.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub name: String,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// The local command line (`ferry user create`, the demo seed).
    pub fn system(name: &str) -> Self {
        Self {
            user_id: None,
            name: format!("system:{name}"),
            client_addr: None,
            request_id: None,
        }
    }
}

/// One event to append; built with the methods below.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub action: Action,
    /// Ferry's own event name, e.g. `patient.read`, `user.login`, `break_glass.open`.
    pub subtype: String,
    pub outcome: Outcome,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub patient_id: Option<i64>,
    pub facility_id: Option<i64>,
    pub detail: Value,
}

impl AuditEntry {
    pub fn new(action: Action, subtype: &str) -> Self {
        Self {
            action,
            subtype: subtype.to_owned(),
            outcome: Outcome::Success,
            entity_type: None,
            entity_id: None,
            patient_id: None,
            facility_id: None,
            detail: Value::Object(Default::default()),
        }
    }

    pub fn login(subtype: &str, outcome: Outcome) -> Self {
        Self::new(Action::Execute, subtype).outcome(outcome)
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn entity(mut self, kind: &str, id: impl ToString) -> Self {
        self.entity_type = Some(kind.to_owned());
        self.entity_id = Some(id.to_string());
        self
    }

    pub fn patient(mut self, patient_id: i64) -> Self {
        self.patient_id = Some(patient_id);
        self
    }

    pub fn facility(mut self, facility_id: i64) -> Self {
        self.facility_id = Some(facility_id);
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// A read that answered with a list: the `kind` records it returned
    /// (by id) and the patients they concern, in the detail. The event
    /// names the patient when there is one, so that a patient's access log
    /// finds the lists that showed them alone.
    pub fn list_read(
        subtype: &str,
        facility_id: i64,
        kind: &str,
        ids: &[i64],
        patients: &[i64],
    ) -> Self {
        let mut patients = patients.to_vec();
        patients.sort_unstable();
        patients.dedup();
        let mut entry = Self::new(Action::Read, subtype)
            .facility(facility_id)
            .detail(serde_json::json!({ kind: ids, "patients": patients }));
        if let [only] = patients[..] {
            entry = entry.patient(only);
        }
        entry
    }
}

/// The names of the fields a PATCH carried, for an update event's detail:
/// which fields changed, never their values.
pub fn changed_fields<const N: usize>(fields: [(&'static str, bool); N]) -> Vec<&'static str> {
    fields
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
}

/// Appends one event inside the caller's transaction and returns its sequence
/// number. Bumping the chain head first takes its row lock (PostgreSQL) or runs
/// under the write lock (SQLite), so concurrent appenders line up and the chain
/// never forks.
pub async fn append(tx: &mut Tx, actor: &Actor, entry: AuditEntry) -> Result<i64, sqlx::Error> {
    append_all(tx, actor, vec![entry]).await
}

/// Appends several events of one actor in order, in the caller's
/// transaction, in three statements whatever their number: the chain head
/// is moved past all of them at once, their hashes are chained here, and
/// they go in by multi-row `INSERT`s. Returns the last sequence number (0
/// when there was nothing to append).
pub async fn append_all(
    tx: &mut Tx,
    actor: &Actor,
    entries: Vec<AuditEntry>,
) -> Result<i64, sqlx::Error> {
    append_each(
        tx,
        entries.into_iter().map(|entry| (actor, entry)).collect(),
    )
    .await
}

/// As [`append_all`], each event with its own actor: the
/// [`journal::Journal`] commits many requests' events at once.
pub async fn append_each(
    tx: &mut Tx,
    entries: Vec<(&Actor, AuditEntry)>,
) -> Result<i64, sqlx::Error> {
    let Ok(count) = i64::try_from(entries.len()) else {
        return Err(sqlx::Error::Protocol(
            "too many audit events at once".into(),
        ));
    };
    if count == 0 {
        return Ok(0);
    }
    let _timer = crate::telemetry::tallies::AUDIT_APPEND.start_timer();
    let (last, mut prev_hash): (i64, String) = sqlx::query_as(
        "UPDATE audit_chain_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash",
    )
    .bind(count)
    .fetch_one(&mut **tx)
    .await?;
    let recorded_at = crate::time::now_ms();
    let mut events = Vec::with_capacity(entries.len());
    for (seq, (actor, entry)) in (last - count + 1..).zip(entries) {
        let mut event = chain::ChainedEvent {
            seq,
            recorded_at,
            action: entry.action.as_str().to_owned(),
            subtype: entry.subtype,
            outcome: entry.outcome.as_str().to_owned(),
            actor_user_id: actor.user_id,
            actor_name: actor.name.clone(),
            client_addr: actor.client_addr.clone(),
            request_id: actor.request_id.clone(),
            entity_type: entry.entity_type,
            entity_id: entry.entity_id,
            patient_id: entry.patient_id,
            facility_id: entry.facility_id,
            detail: entry.detail.to_string(),
            prev_hash: std::mem::take(&mut prev_hash),
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        prev_hash = event.hash.clone();
        events.push(event);
    }
    // 16 values a row: 500 rows stay under both engines' bound on values
    // per statement.
    for chunk in events.chunks(500) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|row| {
                let marks: Vec<String> =
                    (1..=16).map(|col| format!("${}", row * 16 + col)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO audit_event (seq, recorded_at, action, subtype, outcome, actor_user_id, \
             actor_name, client_addr, request_id, entity_type, entity_id, patient_id, facility_id, \
             detail, prev_hash, hash) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for event in chunk {
            query = query
                .bind(event.seq)
                .bind(event.recorded_at)
                .bind(&event.action)
                .bind(&event.subtype)
                .bind(&event.outcome)
                .bind(event.actor_user_id)
                .bind(&event.actor_name)
                .bind(&event.client_addr)
                .bind(&event.request_id)
                .bind(&event.entity_type)
                .bind(&event.entity_id)
                .bind(event.patient_id)
                .bind(event.facility_id)
                .bind(&event.detail)
                .bind(&event.prev_hash)
                .bind(&event.hash);
        }
        query.execute(&mut **tx).await?;
    }
    sqlx::query("UPDATE audit_chain_head SET hash = $1 WHERE id = 1")
        .bind(&prev_hash)
        .execute(&mut **tx)
        .await?;
    Ok(last)
}
