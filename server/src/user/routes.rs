//! `/users`: account management for administrators.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{store, NewUser, UserPatch, UserView};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::policy;
use crate::state::AppState;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .merge(super::reset::router())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only users of this facility.
    pub facility_id: Option<i64>,
}

/// Users, optionally of one facility. Administrators only.
#[utoipa::path(get, path = "/users", tag = "users", params(UserQuery),
    responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> ApiResult<Json<Vec<UserView>>> {
    policy::require_admin(&caller)?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(store::list(&mut conn, query.facility_id).await?))
}

/// Creates an account. Administrators only.
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses(
        (status = 201, body = UserView),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Username taken"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let id = super::create(&mut tx, &caller.actor(), body).await?;
    let view = store::view(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "user" })?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One account. Administrators only.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<UserView>> {
    policy::require_admin(&caller)?;
    let mut conn = state.db.pool().acquire().await?;
    store::view(&mut conn, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound { what: "user" })
}

/// Changes an account: name, password, facility, roles, specialties, active.
/// Administrators only.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    request_body = UserPatch,
    responses(
        (status = 200, body = UserView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<UserView>> {
    policy::require_admin(&caller)?;
    let ends_sessions = patch.active == Some(false) || patch.password.is_some();
    let mut tx = state.db.begin_write().await?;
    super::update(&mut tx, &caller.actor(), id, patch).await?;
    let view = store::view(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "user" })?;
    tx.commit().await?;
    if ends_sessions {
        state.sessions.end_user(id);
    }
    Ok(Json(view))
}
