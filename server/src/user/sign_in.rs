//! `POST /auth/login`, `POST /auth/logout`, `GET /me`.

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Actor, AuditEntry, Outcome};
use crate::auth::{password, store, Caller, RequestCtx, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};
use crate::user::{self, UserView};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    pub user: UserView,
}

/// Sign in. A wrong password and an unknown user get the same 401; after
/// repeated failures the name is locked out for a while (429). A name that
/// no account can have is refused with 422, and when too many sign-ins are
/// being checked at once the server answers 429 (`busy`) with `Retry-After`.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse, description = "Signed in; the token is also set as an HttpOnly cookie"),
        (status = 401, body = ErrorBody, description = "Wrong username or password"),
        (status = 422, body = ErrorBody, description = "Not a possible username"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts, or too many sign-ins at once"),
    ))]
async fn login(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    // Before anything is stored under it (throttle, audit trail): a name no
    // account can have is refused as bad input. This says nothing about which
    // accounts exist (the rule is the public one every account was made by),
    // and it keeps a megabyte of "name" out of the database.
    let username = user::normalize_username(&body.username)?;
    let settings = &state.settings;
    let pool = state.db.pool();
    let now = now_ms();
    let actor = Actor {
        user_id: None,
        name: username.clone(),
        client_addr: ctx.client_addr.clone(),
        request_id: ctx.request_id.clone(),
    };
    let turn = state.password_checks.turn().await?;

    let window_ms =
        i64::try_from(settings.login_lockout_seconds.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    let mut tx = state.db.begin_write().await?;
    let claimed = store::claim_attempt(
        &mut tx,
        &username,
        now,
        window_ms,
        settings.login_max_failures,
    )
    .await?;
    if let Err(left_ms) = claimed {
        audit::append(
            &mut tx,
            &actor,
            AuditEntry::login("user.login", Outcome::Failure)
                .detail(serde_json::json!({ "reason": "locked_out" })),
        )
        .await?;
        tx.commit().await?;
        return Err(ApiError::TooManyAttempts {
            retry_after_secs: u64::try_from(left_ms / 1000 + 1).unwrap_or(1),
        });
    }
    tx.commit().await?;

    let account = user::store::credentials(pool, &username).await?;
    let ok = password::verify(
        turn,
        body.password,
        account.as_ref().map(|a| a.password_hash.clone()),
    )
    .await?;
    let mut tx = state.db.begin_write().await?;
    let account = match account {
        Some(account) if ok => account,
        _ => {
            // The attempt was counted when it was claimed.
            audit::append(
                &mut tx,
                &actor,
                AuditEntry::login("user.login", Outcome::Failure)
                    .detail(serde_json::json!({ "reason": "invalid_credentials" })),
            )
            .await?;
            tx.commit().await?;
            return Err(ApiError::InvalidCredentials);
        }
    };

    tracing::Span::current().record("user_id", account.id);
    store::clear_failures(&mut tx, &username).await?;
    let token = store::new_token();
    let ttl_ms =
        i64::try_from(settings.session_ttl_minutes.saturating_mul(60_000)).unwrap_or(i64::MAX / 2);
    let expires_at = now.saturating_add(ttl_ms);
    let session_id = store::insert_session(
        &mut tx,
        &token,
        account.id,
        now,
        expires_at,
        ctx.client_addr.as_deref(),
    )
    .await?;
    let actor = Actor {
        user_id: Some(account.id),
        ..actor
    };
    audit::append(
        &mut tx,
        &actor,
        AuditEntry::login("user.login", Outcome::Success)
            .entity("session", session_id)
            .facility(account.facility_id),
    )
    .await?;
    let view = user::store::view(&mut tx, account.id)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    tx.commit().await?;

    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ttl_ms / 1000,
        if settings.secure_cookies() {
            "; Secure"
        } else {
            ""
        }
    );
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    let body = LoginResponse {
        token,
        expires_at: rfc3339(expires_at),
        user: view,
    };
    Ok((StatusCode::OK, headers, Json(body)).into_response())
}

/// Sign out: revokes the session that made this request, ends its open
/// notification streams and call connections, and clears the cookie.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let mut tx = state.db.begin_write().await?;
    store::revoke_session(&mut tx, caller.session_id, now_ms()).await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::login("user.logout", Outcome::Success).entity("session", caller.session_id),
    )
    .await?;
    tx.commit().await?;
    state.sessions.end_session(caller.session_id);
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&clear) {
        headers.insert(header::SET_COOKIE, value);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/me", tag = "auth",
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<UserView>> {
    let mut conn = state.db.pool().acquire().await?;
    let view = user::store::view(&mut conn, caller.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(Json(view))
}
