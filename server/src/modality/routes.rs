//! `/facilities/{id}/modalities` and `/modalities/{id}`: administrators
//! register, change and remove a facility's modalities; the facility's own staff may
//! list them. Likewise `/facilities/{id}/dicom-destinations` and
//! `/dicom-destinations/{id}`, the places its callers may C-MOVE images to.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::destinations::{self, DestinationView, NewDestination};
use super::{store, ModalityView, NewModality};
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
        .routes(routes!(list_modalities, create_modality))
        .routes(routes!(update_modality, delete_modality))
        .routes(routes!(list_destinations, create_destination))
        .routes(routes!(delete_destination))
}

/// The modalities of a facility. Administrators, and the facility's own staff.
#[utoipa::path(get, path = "/facilities/{id}/modalities", tag = "facilities",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ModalityView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_modalities(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<ModalityView>>> {
    if caller.facility_id != id {
        policy::require_admin(&caller)?;
    }
    let mut conn = state.db.pool().acquire().await?;
    crate::facility::store::get(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })?;
    let rows = store::of_facility(&mut conn, id).await?;
    Ok(Json(rows.iter().map(store::ModalityRow::view).collect()))
}

/// Registers a modality's calling AE title for a facility. Administrators only.
#[utoipa::path(post, path = "/facilities/{id}/modalities", tag = "facilities",
    params(("id" = i64, Path)), request_body = NewModality,
    responses(
        (status = 201, body = ModalityView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "AE title already registered"),
        (status = 422, body = ErrorBody, description = "Not a valid AE title"),
    ),
    security(("bearer" = [])))]
async fn create_modality(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewModality>,
) -> ApiResult<(StatusCode, Json<ModalityView>)> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let row = super::create(&mut tx, &caller.actor(), id, body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.view())))
}

/// Changes what is registered of a modality (AE title, hosts, type, port,
/// associations). Administrators only.
#[utoipa::path(put, path = "/modalities/{id}", tag = "facilities",
    params(("id" = i64, Path)), request_body = NewModality,
    responses(
        (status = 200, body = ModalityView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "AE title already registered"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn update_modality(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewModality>,
) -> ApiResult<Json<ModalityView>> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let row = super::update(&mut tx, &caller.actor(), id, body).await?;
    tx.commit().await?;
    Ok(Json(row.view()))
}

/// Removes a modality; its next association is refused. Administrators only.
#[utoipa::path(delete, path = "/modalities/{id}", tag = "facilities",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_modality(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    super::delete(&mut tx, &caller.actor(), id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A facility's C-MOVE destinations. Administrators, and the facility's own staff.
#[utoipa::path(get, path = "/facilities/{id}/dicom-destinations", tag = "facilities",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<DestinationView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_destinations(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<DestinationView>>> {
    if caller.facility_id != id {
        policy::require_admin(&caller)?;
    }
    let mut conn = state.db.pool().acquire().await?;
    crate::facility::store::get(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })?;
    let rows = destinations::of_facility(&mut conn, id).await?;
    Ok(Json(
        rows.iter()
            .map(destinations::DestinationRow::view)
            .collect(),
    ))
}

/// Registers a storage SCP the facility's callers may C-MOVE to.
/// Administrators only.
#[utoipa::path(post, path = "/facilities/{id}/dicom-destinations", tag = "facilities",
    params(("id" = i64, Path)), request_body = NewDestination,
    responses(
        (status = 201, body = DestinationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The facility has a destination of that AE title"),
        (status = 422, body = ErrorBody, description = "Not a valid AE title, host or port"),
    ),
    security(("bearer" = [])))]
async fn create_destination(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewDestination>,
) -> ApiResult<(StatusCode, Json<DestinationView>)> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let row = destinations::create(&mut tx, &caller.actor(), id, body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.view())))
}

/// Removes a C-MOVE destination. Administrators only.
#[utoipa::path(delete, path = "/dicom-destinations/{id}", tag = "facilities",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_destination(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    destinations::delete(&mut tx, &caller.actor(), id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
