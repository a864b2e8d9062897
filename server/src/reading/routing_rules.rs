//! Routing rules (`/reading-routes`) and reading leads (`/reading-leads`),
//! both kept by administrators.
//!
//! A rule sends reading requests to a reading facility's worklist. It names
//! any of the sending facility, the modality and the body part; an unnamed
//! one matches anything. The rule naming the most of them wins, then the
//! lower `precedence`, then the older rule, so a catch-all rule and a
//! specific exception can live side by side.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{body_part_text, code_text};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ResultExt};
use crate::extract::{ApiJson, ApiPath};
use crate::policy::require_admin;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_routes, create_route))
        .routes(routes!(delete_route))
        .routes(routes!(list_leads))
        .routes(routes!(set_lead))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteView {
    pub id: i64,
    pub reading_facility_id: i64,
    pub reading_facility_name: String,
    /// Absent: any sending facility.
    pub sending_facility_id: Option<i64>,
    /// Absent: any modality.
    pub modality: Option<String>,
    /// Absent: any body part.
    pub body_part: Option<String>,
    pub precedence: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoute {
    pub reading_facility_id: i64,
    pub sending_facility_id: Option<i64>,
    pub modality: Option<String>,
    pub body_part: Option<String>,
    /// Lower wins among equally specific rules; default 100.
    pub precedence: Option<i64>,
}

const SELECT: &str = "SELECT r.id, r.reading_facility_id, f.name, r.sending_facility_id, r.modality, \
     r.body_part, r.precedence, r.created_at FROM reading_route r JOIN facility f ON f.id = r.reading_facility_id";

fn view(row: &sqlx::any::AnyRow) -> Result<RouteView, sqlx::Error> {
    Ok(RouteView {
        id: row.try_get(0)?,
        reading_facility_id: row.try_get(1)?,
        reading_facility_name: row.try_get(2)?,
        sending_facility_id: row.try_get(3)?,
        modality: row.try_get(4)?,
        body_part: row.try_get(5)?,
        precedence: row.try_get(6)?,
        created_at: rfc3339(row.try_get(7)?),
    })
}

/// The rule for a request: `(rule id, reading facility)`.
pub async fn resolve(
    conn: &mut AnyConnection,
    sending_facility_id: i64,
    modality: &str,
    body_part: &str,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, reading_facility_id FROM reading_route \
         WHERE (sending_facility_id IS NULL OR sending_facility_id = $1) \
         AND (modality IS NULL OR modality = $2) AND (body_part IS NULL OR body_part = $3) \
         ORDER BY (CASE WHEN sending_facility_id IS NULL THEN 0 ELSE 1 END \
                 + CASE WHEN modality IS NULL THEN 0 ELSE 1 END \
                 + CASE WHEN body_part IS NULL THEN 0 ELSE 1 END) DESC, precedence, id LIMIT 1",
    )
    .bind(sending_facility_id)
    .bind(modality)
    .bind(body_part)
    .fetch_optional(conn)
    .await
}

/// Every routing rule, in the order they are tried.
#[utoipa::path(get, path = "/reading-routes", tag = "reading",
    responses((status = 200, body = Vec<RouteView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_routes(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<RouteView>>> {
    require_admin(&caller)?;
    let mut conn = state.db.pool().acquire().await?;
    let rows = sqlx::query(&format!(
        "{SELECT} ORDER BY (CASE WHEN r.sending_facility_id IS NULL THEN 0 ELSE 1 END \
         + CASE WHEN r.modality IS NULL THEN 0 ELSE 1 END \
         + CASE WHEN r.body_part IS NULL THEN 0 ELSE 1 END) DESC, r.precedence, r.id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(Json(rows.iter().map(view).collect::<Result<_, _>>()?))
}

/// Adds a routing rule.
#[utoipa::path(post, path = "/reading-routes", tag = "reading", request_body = NewRoute,
    responses((status = 201, body = RouteView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_route(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewRoute>,
) -> ApiResult<(StatusCode, Json<RouteView>)> {
    require_admin(&caller)?;
    let modality = body
        .modality
        .as_deref()
        .map(|m| code_text("modality", m, 16))
        .transpose()?;
    let body_part = body.body_part.as_deref().map(body_part_text).transpose()?;
    let precedence = body.precedence.unwrap_or(100);
    if !(0..=1000).contains(&precedence) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "precedence",
            "precedence is 0 to 1000",
        ));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO reading_route (reading_facility_id, sending_facility_id, modality, body_part, precedence, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(body.reading_facility_id)
    .bind(body.sending_facility_id)
    .bind(&modality)
    .bind(&body_part)
    .bind(precedence)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .on_foreign_key_violation(|| {
        ApiError::invalid(
            ErrorCode::UnknownFacility,
            "reading_facility_id",
            "reading_facility_id and sending_facility_id must name existing facilities",
        )
    })?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "reading.route_created")
            .entity("reading_route", id)
            .facility(body.reading_facility_id)
            .detail(serde_json::json!({
                "sending_facility_id": body.sending_facility_id, "modality": modality,
                "body_part": body_part, "precedence": precedence,
            })),
    )
    .await?;
    let row = sqlx::query(&format!("{SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let route = view(&row)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(route)))
}

/// Removes a routing rule. Requests it already routed keep their worklist.
#[utoipa::path(delete, path = "/reading-routes/{id}", tag = "reading", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_route(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query("DELETE FROM reading_route WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound {
            what: "reading route",
        });
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Delete, "reading.route_deleted").entity("reading_route", id),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeadView {
    pub user_id: i64,
    pub display_name: String,
    pub facility_id: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadChange {
    /// True makes the radiologist a reading lead; false takes it away.
    pub lead: bool,
}

/// Reading leads: radiologists who may reassign their facility's requests.
#[utoipa::path(get, path = "/reading-leads", tag = "reading",
    responses((status = 200, body = Vec<LeadView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_leads(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<LeadView>>> {
    require_admin(&caller)?;
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.display_name, u.facility_id FROM reading_lead l JOIN app_user u ON u.id = l.user_id \
         ORDER BY u.facility_id, u.id",
    )
    .fetch_all(state.db.pool())
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(user_id, display_name, facility_id)| LeadView {
                user_id,
                display_name,
                facility_id,
            })
            .collect(),
    ))
}

/// Makes a radiologist a reading lead, or not.
#[utoipa::path(put, path = "/reading-leads/{user_id}", tag = "reading", params(("user_id" = i64, Path)),
    request_body = LeadChange,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Not a radiologist")),
    security(("bearer" = [])))]
async fn set_lead(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<LeadChange>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    if body.lead {
        if super::store::reader_facility(&mut tx, user_id)
            .await?
            .is_none()
        {
            return Err(ApiError::invalid(
                ErrorCode::NotARadiologist,
                "user_id",
                "only an active radiologist can be a reading lead",
            ));
        }
        sqlx::query(
            "INSERT INTO reading_lead (user_id, created_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query("DELETE FROM reading_lead WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "reading.lead_changed")
            .entity("app_user", user_id)
            .detail(serde_json::json!({ "lead": body.lead })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
