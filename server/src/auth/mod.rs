//! Who is calling: sessions, password checks, and the [`Caller`] extractor every
//! protected handler takes. Signing in and out are the accounts area's
//! ([`crate::user::sign_in`]).
//!
//! A session is an opaque random token, sent as `Authorization: Bearer …` by API
//! clients or as the `ferry_session` cookie (HttpOnly, SameSite=Strict) by the
//! web client. Only its SHA-256 is stored.

pub mod live;
pub mod password;
pub mod store;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::REQUEST_ID_HEADER;

pub const SESSION_COOKIE: &str = "ferry_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Scheduler,
    Clinician,
    Expert,
    Radiologist,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Scheduler,
        Role::Clinician,
        Role::Expert,
        Role::Radiologist,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Scheduler => "scheduler",
            Role::Clinician => "clinician",
            Role::Expert => "expert",
            Role::Radiologist => "radiologist",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// Experts and radiologists are routed work by specialty, so they need one.
    pub fn needs_specialty(self) -> bool {
        matches!(self, Role::Expert | Role::Radiologist)
    }
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let client_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let request_id = parts
            .headers
            .get(REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            // Also checked by the layer that sets request ids; checked here
            // again because this value goes into the audit trail.
            .filter(|id| crate::telemetry::valid_request_id(id))
            .map(str::to_owned);
        Ok(RequestCtx {
            client_addr,
            request_id,
        })
    }
}

/// A signed-in user, resolved from a live session.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub username: String,
    pub facility_id: i64,
    pub roles: Vec<Role>,
    pub session_id: i64,
    pub ctx: RequestCtx,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            name: self.username.clone(),
            client_addr: self.ctx.client_addr.clone(),
            request_id: self.ctx.request_id.clone(),
        }
    }
}

/// The token presented by the request: the bearer header wins over the cookie.
pub fn presented_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    session_cookie(&parts.headers)
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, token)| token.to_owned())
}

/// DICOMweb reads its caller from `Authorization` only, and the web client
/// cannot put its HttpOnly session cookie there: this copies the cookie in
/// when no header was sent, so the viewer's requests (and its `<img>`
/// thumbnails) carry the session like every API call. SameSite=Strict keeps
/// other sites' pages from sending it.
pub async fn session_cookie_as_bearer(mut request: Request) -> Request {
    if request.headers().contains_key(header::AUTHORIZATION) {
        return request;
    }
    let value = session_cookie(request.headers())
        .and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok());
    if let Some(value) = value {
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    request
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = presented_token(parts).ok_or(ApiError::Unauthenticated)?;
        let (session, roles) =
            store::find_live_caller(state.db.pool(), &token, crate::time::now_ms())
                .await?
                .ok_or(ApiError::Unauthenticated)?;
        tracing::Span::current().record("user_id", session.user_id);
        let Ok(ctx) = RequestCtx::from_request_parts(parts, &state).await;
        Ok(Caller {
            user_id: session.user_id,
            username: session.username,
            facility_id: session.facility_id,
            roles,
            session_id: session.session_id,
            ctx,
        })
    }
}
