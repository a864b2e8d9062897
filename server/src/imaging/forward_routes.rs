//! `/forwarding-rules` and `/forwarding-outbox`: administrators say which
//! stored instances go on to which destination, and watch the queue, its
//! failures and retries ([`super::forward_rules`]).

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::forward_rules::{self, ForwardRuleView, NewForwardRule, Outbox};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::policy;
use crate::state::AppState;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(delete_rule))
        .routes(routes!(show_outbox))
}

/// The forwarding rules. Administrators.
#[utoipa::path(get, path = "/forwarding-rules", tag = "imaging",
    responses((status = 200, body = Vec<ForwardRuleView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ForwardRuleView>>> {
    policy::require_admin(&caller)?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(forward_rules::rules(&mut conn).await?))
}

/// Forwards what a facility (or every facility) stores, of a modality (or
/// every one), to a destination, from now on. Administrators.
#[utoipa::path(post, path = "/forwarding-rules", tag = "imaging", request_body = NewForwardRule,
    responses((status = 201, body = ForwardRuleView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "No such facility or destination, or not a modality")),
    security(("bearer" = [])))]
async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewForwardRule>,
) -> ApiResult<(StatusCode, Json<ForwardRuleView>)> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let rule = forward_rules::create(&mut tx, &caller.actor(), body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// Stops a rule; what it queued is still sent. Administrators.
#[utoipa::path(delete, path = "/forwarding-rules/{id}", tag = "imaging",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    forward_rules::delete(&mut tx, &caller.actor(), id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OutboxQuery {
    /// `pending`, `failing` (pending, failed at least once) or `sent`; all
    /// when unset.
    state: Option<String>,
    /// At most this many rows (1 to 1000, default 100).
    limit: Option<i64>,
}

/// The forwarding outbox: counts and the newest rows. Administrators.
#[utoipa::path(get, path = "/forwarding-outbox", tag = "imaging", params(OutboxQuery),
    responses((status = 200, body = Outbox), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn show_outbox(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> ApiResult<Json<Outbox>> {
    policy::require_admin(&caller)?;
    let which = query.state.as_deref();
    if which.is_some_and(|s| !matches!(s, "pending" | "failing" | "sent")) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "state",
            "state is pending, failing or sent",
        ));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "limit",
            "limit is 1 to 1000",
        ));
    }
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(forward_rules::outbox(&mut conn, which, limit).await?))
}
