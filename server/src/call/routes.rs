//! `GET /signal/{consultation}` (the WebSocket of a consultation's call) and
//! `GET /api/v1/ice-servers` (STUN and TURN for the caller).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ferry_signaling::origin::AllowedOrigins;
use ferry_signaling::room::Rooms;
use ferry_signaling::session::{self, Hooks, Limits, Participant};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::consented_recording::Recordings;
use super::{admission, CallHooks};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

/// The signalling WebSocket, outside `/api/v1` because it is not a JSON API.
pub fn signal_router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
    Rooms: FromRef<S>,
    Recordings: FromRef<S>,
{
    Router::new().route("/signal/{consultation}", get(signal))
}

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(ice_servers))
}

/// Joins the call of a consultation. Admission is decided before the
/// upgrade, so a refusal is an ordinary HTTP error with the API's body.
async fn signal(
    State(state): State<AppState>,
    State(rooms): State<Rooms>,
    State(recordings): State<Recordings>,
    headers: HeaderMap,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let now = now_ms();
    let open_before = state.settings.call_open_before_ms();
    let mut tx = state.db.begin_write().await?;
    let start_rule = crate::policy::consent::StartRule::of(&state.settings);
    let peer = admission::admit(&mut tx, &caller, id, open_before, start_rule, now).await?;
    let upgrade = upgrade.map_err(|e| ApiError::BadRequest {
        code: ErrorCode::WebsocketRequired,
        message: format!("open this path as a WebSocket: {e}"),
    })?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Execute, "call.joined")
            .entity("consultation", id)
            .facility(caller.facility_id),
    )
    .await?;
    tx.commit().await?;
    let limits = Limits::default();
    let hooks: Arc<dyn Hooks> = Arc::new(CallHooks {
        db: state.db.clone(),
        refused: state.metrics.signal_refused.clone(),
        recordings,
        session: state.sessions.watch(caller.session_id, caller.user_id),
    });
    let who = Participant {
        room: id.to_string(),
        peer,
    };
    // Signalling messages are a few kilobytes; tungstenite's 128 KiB default
    // buffers would be most of what an idle call connection costs.
    Ok(upgrade
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_message_bytes)
        .on_upgrade(move |socket| session::serve(socket, rooms, who, limits, hooks))
        .into_response())
}

/// Refuses a WebSocket opened by a page of another site, which would ride
/// the user's session cookie ([`ferry_signaling::origin`]). Without
/// `public_url` the server does not know the name it is reached by, so a
/// page from the request's own `Host` passes as well.
fn check_origin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let settings = &state.settings;
    let allowed = AllowedOrigins::new(settings.own_origins(), settings.public_url.is_none());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    // An `Origin` that is not text is no origin of ours: it is refused, not
    // taken for an absent one.
    let origin = match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        None => Some(None),
        Some(Ok(origin)) => Some(Some(origin)),
        Some(Err(_)) => None,
    };
    if origin.is_some_and(|origin| allowed.permits(origin, host)) {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        code: ErrorCode::ForeignOrigin,
        message: "this page's origin may not open a call connection".to_owned(),
    })
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IceServers {
    /// Hand to `new RTCPeerConnection({ iceServers })`.
    pub ice_servers: Vec<IceServer>,
    /// When the TURN credential lapses; fetch again before then.
    pub expires_at: Option<String>,
}

/// STUN and TURN servers for the caller. TURN credentials are minted for
/// the caller alone and expire after `turn_ttl_seconds`, in the TURN REST
/// scheme that coturn checks with its shared secret (`use-auth-secret`).
#[utoipa::path(get, path = "/ice-servers", tag = "calls",
    responses((status = 200, body = IceServers), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn ice_servers(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<IceServers>> {
    let settings = &state.settings;
    let mut servers = Vec::new();
    if !settings.stun_urls.is_empty() {
        servers.push(IceServer {
            urls: settings.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    let mut expires_at = None;
    if let (Some(secret), false) = (&settings.turn_secret, settings.turn_urls.is_empty()) {
        let now_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let credential = ferry_signaling::turn::credential(
            secret.expose_secret().as_bytes(),
            &caller.user_id.to_string(),
            now_secs,
            settings.turn_ttl_seconds,
        )
        .map_err(|e| ApiError::Internal(e.into()))?;
        expires_at = Some(rfc3339(
            i64::try_from(credential.expires_at)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
        ));
        servers.push(IceServer {
            urls: settings.turn_urls.clone(),
            username: Some(credential.username),
            credential: Some(credential.password),
        });
    }
    Ok(Json(IceServers {
        ice_servers: servers,
        expires_at,
    }))
}
