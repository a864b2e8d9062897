//! `/recognition-rules`: the consortium's rules of mutual recognition,
//! listed for everyone (the duplicate warning cites them) and kept by
//! administrators.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::recognition::{NewRecognitionRule, RecognitionRule};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ResultExt};
use crate::extract::{ApiJson, ApiPath};
use crate::policy::require_admin;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_rules, add_rule))
        .routes(routes!(delete_rule))
}

/// The rules, by modality.
#[utoipa::path(get, path = "/recognition-rules", tag = "examinations",
    responses((status = 200, body = Vec<RecognitionRule>)),
    security(("bearer" = [])))]
async fn list_rules(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<RecognitionRule>>> {
    let rules = sqlx::query_as(
        "SELECT id, modality, body_part, min_tier, valid_days FROM recognition_rule \
         ORDER BY modality, body_part, min_tier",
    )
    .fetch_all(state.db.pool())
    .await?;
    Ok(Json(rules))
}

/// Adds a rule: results of `modality` (and `body_part`, or any) from
/// facilities of `min_tier` or higher count for `valid_days`.
#[utoipa::path(post, path = "/recognition-rules", tag = "examinations",
    request_body = NewRecognitionRule,
    responses(
        (status = 201, body = RecognitionRule),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`recognition_rule_exists`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn add_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewRecognitionRule>,
) -> ApiResult<(StatusCode, Json<RecognitionRule>)> {
    require_admin(&caller)?;
    let modality = super::check_modality(&body.modality)?;
    let body_part = match body.body_part.as_deref().map(str::trim) {
        None | Some("") => String::new(),
        Some(part) => super::check_body_part(part)?,
    };
    if !(1..=3650).contains(&body.valid_days) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "valid_days",
            "valid_days is 1 to 3650",
        ));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO recognition_rule (modality, body_part, min_tier, valid_days, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(&modality)
    .bind(&body_part)
    .bind(body.min_tier.as_str())
    .bind(body.valid_days)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .on_unique_violation(|| {
        ApiError::conflict(
            ErrorCode::RecognitionRuleExists,
            "a rule for this modality, body part and tier exists; delete it to change it",
        )
    })?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "recognition_rule.created")
            .entity("recognition_rule", id)
            .detail(serde_json::json!({
                "modality": modality, "body_part": body_part,
                "min_tier": body.min_tier.as_str(), "valid_days": body.valid_days,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(RecognitionRule {
            id,
            modality,
            body_part,
            min_tier: body.min_tier.as_str().to_owned(),
            valid_days: body.valid_days,
        }),
    ))
}

/// Deletes a rule.
#[utoipa::path(delete, path = "/recognition-rules/{id}", tag = "examinations",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let done = sqlx::query("DELETE FROM recognition_rule WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound {
            what: "recognition rule",
        });
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Delete, "recognition_rule.deleted").entity("recognition_rule", id),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
