//! Reading the audit trail with filters.

use sqlx::AnyPool;

use super::chain::{ChainedEvent, SELECT_EVENT};

/// Filters for listing events; every one given must match.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub actor_user_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub facility_id: Option<i64>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub subtype: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only events older than this sequence number (for paging backwards).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

enum Bind {
    Int(i64),
    Text(String),
}

/// Newest first.
pub async fn list(pool: &AnyPool, filter: &EventFilter) -> Result<Vec<ChainedEvent>, sqlx::Error> {
    let mut conditions: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let mut add = |column: &str, op: &str, value: Bind| {
        binds.push(value);
        conditions.push(format!("{column} {op} ${}", binds.len()));
    };
    if let Some(v) = filter.actor_user_id {
        add("actor_user_id", "=", Bind::Int(v));
    }
    if let Some(v) = filter.patient_id {
        add("patient_id", "=", Bind::Int(v));
    }
    if let Some(v) = filter.facility_id {
        add("facility_id", "=", Bind::Int(v));
    }
    if let Some(v) = &filter.entity_type {
        add("entity_type", "=", Bind::Text(v.clone()));
    }
    if let Some(v) = &filter.entity_id {
        add("entity_id", "=", Bind::Text(v.clone()));
    }
    if let Some(v) = &filter.subtype {
        add("subtype", "=", Bind::Text(v.clone()));
    }
    if let Some(v) = &filter.action {
        add("action", "=", Bind::Text(v.clone()));
    }
    if let Some(v) = &filter.outcome {
        add("outcome", "=", Bind::Text(v.clone()));
    }
    if let Some(v) = filter.since_ms {
        add("recorded_at", ">=", Bind::Int(v));
    }
    if let Some(v) = filter.until_ms {
        add("recorded_at", "<", Bind::Int(v));
    }
    if let Some(v) = filter.before_seq {
        add("seq", "<", Bind::Int(v));
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "{SELECT_EVENT}{where_clause} ORDER BY seq DESC LIMIT ${}",
        binds.len() + 1
    );
    let mut query = sqlx::query_as::<_, ChainedEvent>(&sql);
    for bind in binds {
        query = match bind {
            Bind::Int(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
        };
    }
    query.bind(filter.limit).fetch_all(pool).await
}
