//! `/catalogue`: administrators keep the graded diagnosis catalogue, one entry
//! at a time or as a whole CSV file.

use axum::extract::{FromRef, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{csv, store, CatalogueEntryView, Entry, NewCatalogueEntry};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, CsvBody};
use crate::policy;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_entries, add_entry))
        .routes(routes!(delete_entry))
        .routes(routes!(export_catalogue))
        .routes(routes!(import_catalogue))
}

/// The catalogue, in code order.
#[utoipa::path(get, path = "/catalogue", tag = "catalogue",
    responses((status = 200, body = Vec<CatalogueEntryView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_entries(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<CatalogueEntryView>>> {
    policy::require_admin(&caller)?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(store::list(&mut conn).await?))
}

/// Adds one code or range with the tiers that treat it.
#[utoipa::path(post, path = "/catalogue", tag = "catalogue", request_body = NewCatalogueEntry,
    responses(
        (status = 201, body = CatalogueEntryView),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Not an ICD-10 code, a reversed range, or no tier"),
    ),
    security(("bearer" = [])))]
async fn add_entry(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewCatalogueEntry>,
) -> ApiResult<(StatusCode, Json<CatalogueEntryView>)> {
    policy::require_admin(&caller)?;
    let entry = Entry::new(
        &body.code_from,
        body.code_to.as_deref(),
        body.tiers,
        &body.label,
    )?;
    let mut tx = state.db.begin_write().await?;
    let id = store::insert(&mut tx, &entry, now_ms()).await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "catalogue.create")
            .entity("diagnosis_catalogue", id)
            .detail(serde_json::json!({ "code_from": entry.code_from, "code_to": entry.code_to })),
    )
    .await?;
    let view = store::get(&mut tx, id).await?.ok_or(ApiError::NotFound {
        what: "catalogue entry",
    })?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Removes one entry.
#[utoipa::path(delete, path = "/catalogue/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn delete_entry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let entry = store::get(&mut tx, id).await?.ok_or(ApiError::NotFound {
        what: "catalogue entry",
    })?;
    store::delete(&mut tx, id).await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Delete, "catalogue.delete")
            .entity("diagnosis_catalogue", id)
            .detail(serde_json::json!({ "code_from": entry.code_from, "code_to": entry.code_to })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The catalogue as CSV: header `code_from,code_to,tiers,label`, tiers joined
/// by `|`. Importing this file gives back the same catalogue.
#[utoipa::path(get, path = "/catalogue/export", tag = "catalogue",
    responses(
        (status = 200, body = String, content_type = "text/csv",
            description = "Header `code_from,code_to,tiers,label`, then one entry per line in code order; \
                           tiers joined by `|`, e.g. `I10,I15,primary|village,Hypertensive diseases`"),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn export_catalogue(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    policy::require_admin(&caller)?;
    let mut conn = state.db.pool().acquire().await?;
    let catalogue = store::load(&mut conn).await?;
    let text = csv::export(&catalogue).map_err(|err| ApiError::Internal(err.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"diagnosis-catalogue.csv\"",
            ),
        ],
        text,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportSummary {
    /// Entries the import replaced.
    pub removed: u64,
    /// Entries now in the catalogue.
    pub imported: usize,
}

/// Replaces the whole catalogue with a CSV file, all or nothing. A faulty file
/// is refused with the line (`details.line`, 1 being the header) and, when
/// one column is at fault, its name (`details.field`); nothing changes.
#[utoipa::path(post, path = "/catalogue/import", tag = "catalogue",
    request_body(content = String, content_type = "text/csv",
        description = "Header `code_from,code_to,tiers,label`, then one entry per line: ICD-10 codes \
                       (`code_to` empty for a single code), tiers from tertiary, secondary, primary, \
                       village joined by `|`, and a label; RFC 4180 quoting",
        example = "code_from,code_to,tiers,label\nI10,I15,primary|village,Hypertensive diseases\n"),
    responses(
        (status = 200, body = ImportSummary),
        (status = 403, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "Not text/csv"),
        (status = 422, body = ErrorBody, description = "A faulty line, named in details.line"),
    ),
    security(("bearer" = [])))]
async fn import_catalogue(
    State(state): State<AppState>,
    caller: Caller,
    CsvBody(text): CsvBody,
) -> ApiResult<Json<ImportSummary>> {
    policy::require_admin(&caller)?;
    let entries = csv::import(&text).map_err(|err| ApiError::InvalidWith {
        code: ErrorCode::InvalidCsv,
        message: format!("line {}: {}", err.line, err.message),
        details: match err.field {
            Some(field) => serde_json::json!({ "line": err.line, "field": field }),
            None => serde_json::json!({ "line": err.line }),
        },
    })?;
    let mut tx = state.db.begin_write().await?;
    let removed = super::replace(&mut tx, &caller.actor(), &entries).await?;
    tx.commit().await?;
    Ok(Json(ImportSummary {
        removed,
        imported: entries.len(),
    }))
}
