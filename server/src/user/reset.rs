//! `/users/{id}/password-resets`: another administrator's password, set by
//! two administrators. The first asks for the reset with the new password;
//! a second (neither the first nor the target) confirms it, and only then
//! does it take effect: the target's sessions end and the target is told who
//! reset it. A request not confirmed within [`RESET_TTL_MS`] lapses.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{store, UserView};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::{password, Caller, Role};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::notify::Outbox;
use crate::policy;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

/// How long a reset waits for its second administrator.
pub const RESET_TTL_MS: i64 = 24 * 60 * 60 * 1000;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPasswordReset {
    /// At least 12 characters.
    pub password: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PasswordResetView {
    pub id: i64,
    pub target_user_id: i64,
    pub requested_by: i64,
    pub expires_at: String,
}

/// Asks for another administrator's password to be set; a second
/// administrator confirms it. Accounts that are not administrators' are
/// changed at once with `PATCH /users/{id}`.
#[utoipa::path(post, path = "/users/{id}/password-resets", tag = "users",
    params(("id" = i64, Path)), request_body = NewPasswordReset,
    responses(
        (status = 202, body = PasswordResetView, description = "Waiting for a second administrator"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_an_administrator`: change it with PATCH"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn request_reset(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewPasswordReset>,
) -> ApiResult<(StatusCode, Json<PasswordResetView>)> {
    policy::require_admin(&caller)?;
    password::check_strength(&body.password)?;
    let hash = password::hash(body.password).await?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let target = store::view(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "user" })?;
    if !policy::password_set_needs_second_admin(Some(caller.user_id), id, &target.roles, None) {
        return Err(ApiError::conflict(
            ErrorCode::NotAnAdministrator,
            "only another administrator's password needs a second administrator; \
             change this one with PATCH /api/v1/users/{id}",
        ));
    }
    let expires_at = now.saturating_add(RESET_TTL_MS);
    let reset_id: i64 = sqlx::query_scalar(
        "INSERT INTO admin_password_reset \
         (target_user_id, requested_by, password_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(id)
    .bind(caller.user_id)
    .bind(&hash)
    .bind(now)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "user.password_reset.request")
            .entity("user", id)
            .facility(target.facility_id)
            .detail(serde_json::json!({ "reset_id": reset_id })),
    )
    .await?;
    let mut outbox = Outbox::new();
    let payload = serde_json::json!({
        "reset_id": reset_id, "target_user_id": id, "requested_by": caller.user_id,
    });
    for admin in crate::notify::store::users_with_role(&mut tx, Role::Admin).await? {
        if admin != caller.user_id && admin != id {
            outbox
                .push(
                    &mut tx,
                    admin,
                    "user.password_reset.pending",
                    payload.clone(),
                )
                .await?;
        }
    }
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok((
        StatusCode::ACCEPTED,
        Json(PasswordResetView {
            id: reset_id,
            target_user_id: id,
            requested_by: caller.user_id,
            expires_at: rfc3339(expires_at),
        }),
    ))
}

#[derive(sqlx::FromRow)]
struct PendingReset {
    requested_by: i64,
    password_hash: Option<String>,
    expires_at: i64,
}

/// Confirms another administrator's request to reset a password: the new
/// password takes effect, the target's sessions end, and the target is told.
#[utoipa::path(post, path = "/users/{id}/password-resets/{reset_id}/confirm", tag = "users",
    params(("id" = i64, Path), ("reset_id" = i64, Path)),
    responses(
        (status = 200, body = UserView),
        (status = 403, body = ErrorBody, description = "`second_admin_required`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Confirmed already, or lapsed"),
    ),
    security(("bearer" = [])))]
async fn confirm_reset(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, reset_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<UserView>> {
    policy::require_admin(&caller)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let pending: PendingReset = sqlx::query_as(
        "SELECT requested_by, password_hash, expires_at FROM admin_password_reset \
         WHERE id = $1 AND target_user_id = $2",
    )
    .bind(reset_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound {
        what: "password reset",
    })?;
    policy::check_reset_confirmer(&caller, pending.requested_by, id)?;
    let Some(hash) = pending.password_hash else {
        return Err(ApiError::conflict(
            ErrorCode::ResetConfirmed,
            "this reset was confirmed already",
        ));
    };
    if pending.expires_at <= now {
        return Err(ApiError::conflict(
            ErrorCode::ResetLapsed,
            "this reset waited too long for its confirmation; ask for a new one",
        ));
    }
    let settled = sqlx::query(
        "UPDATE admin_password_reset SET password_hash = NULL, confirmed_by = $1, confirmed_at = $2 \
         WHERE id = $3 AND password_hash IS NOT NULL",
    )
    .bind(caller.user_id)
    .bind(now)
    .bind(reset_id)
    .execute(&mut *tx)
    .await?;
    if settled.rows_affected() != 1 {
        return Err(ApiError::conflict(
            ErrorCode::ResetConfirmed,
            "this reset was confirmed already",
        ));
    }
    store::set_password(&mut tx, id, &hash).await?;
    crate::auth::store::revoke_sessions_of_user(&mut tx, id, now).await?;
    let target = store::view(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "user" })?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "user.password_reset.confirm")
            .entity("user", id)
            .facility(target.facility_id)
            .detail(serde_json::json!({
                "reset_id": reset_id, "requested_by": pending.requested_by,
            })),
    )
    .await?;
    let mut outbox = Outbox::new();
    outbox
        .push(
            &mut tx,
            id,
            "user.password_reset",
            serde_json::json!({
                "requested_by": pending.requested_by, "confirmed_by": caller.user_id,
            }),
        )
        .await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(target))
}
