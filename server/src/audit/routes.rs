//! `GET /audit-events` and `GET /fhir/AuditEvent`, for administrators.

use axum::extract::{FromRef, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::chain::ChainedEvent;
use super::store::{self, EventFilter};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::policy;
use crate::state::AppState;
use crate::time::{parse_rfc3339, rfc3339};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(fhir_audit_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    pub actor_user_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub facility_id: Option<i64>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// Ferry event name, e.g. `patient.read`.
    pub subtype: Option<String>,
    /// `create`, `read`, `update`, `delete` or `execute`.
    pub action: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// RFC 3339; events at or after.
    pub since: Option<String>,
    /// RFC 3339; events before.
    pub until: Option<String>,
    /// Sequence number; events before it (paging backwards).
    pub before: Option<i64>,
    /// 1 to 1000, default 100.
    pub limit: Option<i64>,
}

impl EventQuery {
    fn filter(self) -> Result<EventFilter, ApiError> {
        let instant = |field: &str, value: Option<String>| -> Result<Option<i64>, ApiError> {
            value
                .map(|text| {
                    parse_rfc3339(&text).ok_or_else(|| ApiError::BadRequest {
                        code: ErrorCode::InvalidQuery,
                        message: format!("{field} must be an RFC 3339 instant with offset"),
                    })
                })
                .transpose()
        };
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::BadRequest {
                code: ErrorCode::InvalidQuery,
                message: "limit must be between 1 and 1000".to_owned(),
            });
        }
        Ok(EventFilter {
            actor_user_id: self.actor_user_id,
            patient_id: self.patient_id,
            facility_id: self.facility_id,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            subtype: self.subtype,
            action: self.action,
            outcome: self.outcome,
            since_ms: instant("since", self.since)?,
            until_ms: instant("until", self.until)?,
            before_seq: self.before,
            limit,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub seq: i64,
    pub recorded_at: String,
    pub action: String,
    pub subtype: String,
    pub outcome: String,
    pub actor_user_id: Option<i64>,
    pub actor_name: String,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub patient_id: Option<i64>,
    pub facility_id: Option<i64>,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<ChainedEvent> for AuditEventView {
    fn from(e: ChainedEvent) -> Self {
        Self {
            seq: e.seq,
            recorded_at: rfc3339(e.recorded_at),
            action: e.action,
            subtype: e.subtype,
            outcome: e.outcome,
            actor_user_id: e.actor_user_id,
            actor_name: e.actor_name,
            client_addr: e.client_addr,
            request_id: e.request_id,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            patient_id: e.patient_id,
            facility_id: e.facility_id,
            detail: serde_json::from_str(&e.detail).unwrap_or(Value::String(e.detail)),
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// Audit events, newest first, with filters. Administrators only.
#[utoipa::path(get, path = "/audit-events", tag = "audit", params(EventQuery),
    responses((status = 200, body = Vec<AuditEventView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> ApiResult<Json<Vec<AuditEventView>>> {
    policy::require_admin(&caller)?;
    let events = store::list(state.db.pool(), &query.filter()?).await?;
    Ok(Json(events.into_iter().map(AuditEventView::from).collect()))
}

/// The same events as a FHIR R4 searchset Bundle of AuditEvent resources.
#[utoipa::path(get, path = "/fhir/AuditEvent", tag = "audit", params(EventQuery),
    responses((status = 200, description = "FHIR Bundle", content_type = "application/fhir+json"), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_audit_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> ApiResult<([(axum::http::HeaderName, &'static str); 1], Json<Value>)> {
    policy::require_admin(&caller)?;
    let events = store::list(state.db.pool(), &query.filter()?).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/fhir+json")],
        Json(super::fhir::bundle(&events)),
    ))
}
