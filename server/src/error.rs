//! The one error type of the HTTP API and its mapping to status codes.
//!
//! Every failure leaves as `{"error": {"code", "message", "details"}}`. Database
//! and internal errors are logged with their cause and reach the client only as
//! `internal`, so no SQL or stack detail leaks out. The codes and their
//! statuses are one table, [`ErrorCode`] (`codes.rs`).

mod codes;

pub use codes::ErrorCode;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("sign in first: this endpoint needs a valid session")]
    Unauthenticated,
    #[error("the username or password is wrong")]
    InvalidCredentials,
    #[error("too many failed sign-in attempts; try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Too much of a costly kind of work is running (e.g. password checks).
    #[error("the server is busy; try again in {retry_after_secs} seconds")]
    Busy { retry_after_secs: u64 },
    /// The answer was not ready within the request deadline and the work
    /// was stopped: a write not yet committed was rolled back, one already
    /// committed stands.
    #[error("the server took longer than {limit_secs} seconds to answer; check whether a change was saved before trying again")]
    TimedOut { limit_secs: u64 },
    #[error("{message}")]
    Forbidden { code: ErrorCode, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
        message: String,
        details: Value,
    },
    /// Well-formed input that breaks a rule: 422 with the offending field.
    #[error("{message}")]
    Invalid {
        code: ErrorCode,
        message: String,
        field: Option<String>,
    },
    /// 422 with more to say than a field, e.g. the line of a bad CSV row.
    #[error("{message}")]
    InvalidWith {
        code: ErrorCode,
        message: String,
        details: Value,
    },
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    #[error("the request body is larger than the {limit}-byte limit")]
    PayloadTooLarge { limit: usize },
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// For the few endpoints whose body is not JSON (e.g. CSV imports).
    #[error("send the body as {expected}")]
    ExpectedMediaType { expected: &'static str },
    #[error("no route for this path")]
    NoRoute,
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("a database error occurred")]
    Database(#[from] sqlx::Error),
    #[error("an internal error occurred")]
    Internal(#[from] anyhow::Error),
}

/// The JSON envelope of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable, e.g. `record_number_taken`.
    pub code: ErrorCode,
    /// For people; may change between versions.
    pub message: String,
    /// Extra facts, e.g. `{"field": "tier"}`.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl ApiError {
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details: Value::Object(Default::default()),
        }
    }

    pub fn invalid(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// The status is the code's ([`ErrorCode::status`]), except for the few
    /// codes listed in [`ErrorCode::ALSO`] when they come as a conflict.
    pub fn status(&self) -> StatusCode {
        let code = self.code();
        if let Self::Conflict { .. } = self {
            if let Some((_, status, _)) = ErrorCode::ALSO.iter().find(|(c, ..)| *c == code) {
                return *status;
            }
        }
        code.status()
    }

    fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            Self::Busy { .. } => ErrorCode::Busy,
            Self::TimedOut { .. } => ErrorCode::TimedOut,
            Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Invalid { code, .. }
            | Self::InvalidWith { code, .. }
            | Self::BadRequest { code, .. } => *code,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType | Self::ExpectedMediaType { .. } => {
                ErrorCode::UnsupportedMediaType
            }
            Self::NoRoute => ErrorCode::NoRoute,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::Database(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Value {
        match self {
            Self::Conflict { details, .. } | Self::InvalidWith { details, .. } => details.clone(),
            Self::Invalid {
                field: Some(field), ..
            } => serde_json::json!({ "field": field }),
            Self::TooManyAttempts { retry_after_secs } | Self::Busy { retry_after_secs } => {
                serde_json::json!({ "retry_after_secs": retry_after_secs })
            }
            Self::PayloadTooLarge { limit } => serde_json::json!({ "limit_bytes": limit }),
            Self::TimedOut { limit_secs } => serde_json::json!({ "limit_secs": limit_secs }),
            _ => Value::Object(Default::default()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Database(cause) => tracing::error!(error = %cause, "database error"),
            Self::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            _ => {}
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                details: self.details(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Self::TooManyAttempts { retry_after_secs } | Self::Busy { retry_after_secs } = self {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// Turns database constraint violations into the API's errors by kind. The
/// caller knows which table it wrote, so it names the conflict; SQLite does not
/// report constraint names reliably, so nothing here matches on them.
pub trait ResultExt<T> {
    fn on_unique_violation(self, map: impl FnOnce() -> ApiError) -> Result<T, ApiError>;
    fn on_foreign_key_violation(self, map: impl FnOnce() -> ApiError) -> Result<T, ApiError>;
    fn on_check_violation(self, map: impl FnOnce() -> ApiError) -> Result<T, ApiError>;
}

fn remap(err: ApiError, kind: sqlx::error::ErrorKind, map: impl FnOnce() -> ApiError) -> ApiError {
    match err {
        ApiError::Database(sqlx::Error::Database(db)) if db.kind() == kind => map(),
        other => other,
    }
}

impl<T, E: Into<ApiError>> ResultExt<T> for Result<T, E> {
    fn on_unique_violation(self, map: impl FnOnce() -> ApiError) -> Result<T, ApiError> {
        self.map_err(|err| remap(err.into(), sqlx::error::ErrorKind::UniqueViolation, map))
    }
    fn on_foreign_key_violation(self, map: impl FnOnce() -> ApiError) -> Result<T, ApiError> {
        self.map_err(|err| remap(err.into(), sqlx::error::ErrorKind::ForeignKeyViolation, map))
    }
    fn on_check_violation(self, map: impl FnOnce() -> ApiError) -> Result<T, ApiError> {
        self.map_err(|err| remap(err.into(), sqlx::error::ErrorKind::CheckViolation, map))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
