//! Extractors that fail with the API's own error envelope instead of axum's
//! plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, ErrorCode};

/// A JSON body. Syntax errors are 400, a body that does not fit the type
/// (unknown field, wrong type, missing field, unknown enum value) is 422 naming
/// the field, a body over the limit is 413, a non-JSON content type is 415.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = media_type(&req)
            .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&body_bytes(req, state).await?).map(ApiJson)
    }
}

/// `Option<ApiJson<T>>`: a body a route added to a request that used to be
/// sent bare (a sign step that now names the patient shown), so an old
/// client that sends nothing still gets `None`. Anything sent is read as
/// [`ApiJson`] reads it; bytes without a content type are 415.
impl<T, S> OptionalFromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req.headers().get(header::CONTENT_TYPE).is_some() {
            return <Self as FromRequest<S>>::from_request(req, state)
                .await
                .map(Some);
        }
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(None)
        } else {
            Err(ApiError::UnsupportedMediaType)
        }
    }
}

/// The request's media type, lower case, without parameters.
fn media_type(req: &Request) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
}

/// The whole body; over the configured limit is a 413 that names the limit.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map(|limit| limit.0)
        .unwrap_or(0);
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest {
                code: ErrorCode::UnreadableBody,
                message: rejection.body_text(),
            }
        }
    })
}

/// The configured body limit, put into each request's extensions so the 413
/// can say what it is.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::Invalid {
                code: ErrorCode::InvalidBody,
                message: inner.to_string(),
                field: (path != ".").then_some(path),
            },
            _ => ApiError::BadRequest {
                code: ErrorCode::MalformedJson,
                message: format!("the body is not valid JSON: {inner}"),
            },
        }
    })
}

/// Path parameters; a malformed one (e.g. a non-numeric id) is a 400.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection: PathRejection| ApiError::BadRequest {
                code: ErrorCode::InvalidPath,
                message: rejection.body_text(),
            })
    }
}

/// Query parameters; unknown or malformed ones are a 400.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection: QueryRejection| ApiError::BadRequest {
                code: ErrorCode::InvalidQuery,
                message: rejection.body_text(),
            })
    }
}

/// For PATCH bodies: tells an absent field (`None`) from an explicit `null`
/// (`Some(None)`). Use with `#[serde(default, deserialize_with = "…")]`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A `text/csv` body as text. The wrong type is 415, a body over the limit
/// 413, bytes that are not UTF-8 a 400.
pub struct CsvBody(pub String);

impl<S> FromRequest<S> for CsvBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if media_type(&req).as_deref() != Some("text/csv") {
            return Err(ApiError::ExpectedMediaType {
                expected: "text/csv",
            });
        }
        let bytes = body_bytes(req, state).await?;
        String::from_utf8(bytes.to_vec())
            .map(CsvBody)
            .map_err(|_| ApiError::BadRequest {
                code: ErrorCode::UnreadableBody,
                message: "the body is not UTF-8 text".to_owned(),
            })
    }
}
