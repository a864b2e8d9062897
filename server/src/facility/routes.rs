//! `/facilities`: everyone signed in reads them; administrators change them.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{store, FacilityPatch, FacilityView, NewFacility};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::policy;
use crate::state::AppState;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_facilities, create_facility))
        .routes(routes!(get_facility, update_facility))
}

/// All facilities of the consortium.
#[utoipa::path(get, path = "/facilities", tag = "facilities",
    responses((status = 200, body = Vec<FacilityView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_facilities(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<FacilityView>>> {
    let mut conn = state.db.pool().acquire().await?;
    let rows = store::list(&mut conn).await?;
    Ok(Json(rows.iter().map(store::FacilityRow::view).collect()))
}

/// Adds a facility. Administrators only.
#[utoipa::path(post, path = "/facilities", tag = "facilities", request_body = NewFacility,
    responses(
        (status = 201, body = FacilityView),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Name taken"),
        (status = 422, body = ErrorBody, description = "Invalid tier, time zone or parent"),
    ),
    security(("bearer" = [])))]
async fn create_facility(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewFacility>,
) -> ApiResult<(StatusCode, Json<FacilityView>)> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let row = super::create(&mut tx, &caller.actor(), body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.view())))
}

/// One facility.
#[utoipa::path(get, path = "/facilities/{id}", tag = "facilities", params(("id" = i64, Path)),
    responses((status = 200, body = FacilityView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_facility(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<FacilityView>> {
    let mut conn = state.db.pool().acquire().await?;
    let row = store::get(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })?;
    Ok(Json(row.view()))
}

/// Changes a facility. Administrators only.
#[utoipa::path(patch, path = "/facilities/{id}", tag = "facilities", params(("id" = i64, Path)),
    request_body = FacilityPatch,
    responses(
        (status = 200, body = FacilityView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn update_facility(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<FacilityPatch>,
) -> ApiResult<Json<FacilityView>> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let row = super::update(&mut tx, &caller.actor(), id, patch).await?;
    tx.commit().await?;
    Ok(Json(row.view()))
}
