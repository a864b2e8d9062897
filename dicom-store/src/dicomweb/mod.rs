//! DICOMweb (PS3.18) over HTTP: STOW-RS ([`stow`]), QIDO-RS ([`qido`]) and
//! WADO-RS ([`wado`], [`rendered`]) and legacy WADO-URI ([`wado_uri`]).
//!
//! [`router`] returns the routes relative to where the server mounts them
//! (for example under `/dicomweb`). Every route needs `Authorization: Bearer`;
//! the token is resolved by the server's [`crate::StudyAccess`]. DICOMweb
//! answers keep PS3.18's own status semantics and bodies (`application/dicom+json`);
//! failures outside PS3.18 (no token, bad query, malformed body) use Ferry's
//! envelope `{"error":{"code":…,"message":…}}`.

pub mod multipart;
pub mod qido;
pub mod query;
pub mod rendered;
pub mod stow;
pub mod wado;
pub mod wado_uri;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::{Principal, StoreState};

/// The media type of DICOM JSON bodies.
pub const DICOM_JSON: &str = "application/dicom+json";

/// The DICOMweb routes:
///
/// | method | path | |
/// |---|---|---|
/// | POST | `/studies`, `/studies/{study}` | STOW-RS |
/// | GET | `/studies` | QIDO-RS, studies |
/// | GET | `/series`, `/studies/{study}/series` | QIDO-RS, series |
/// | GET | `/instances`, `/studies/{study}/instances`, `/studies/{study}/series/{series}/instances` | QIDO-RS, instances |
/// | GET | `/studies/{study}[/series/{series}[/instances/{instance}]]` | WADO-RS, instances as stored |
/// | GET | `…/metadata` at each of those levels | WADO-RS metadata with `BulkDataURI`s |
/// | GET | `…/instances/{instance}/frames/{list}` | WADO-RS frames, as stored |
/// | GET | `…/instances/{instance}/bulk/{tag}` | bulk data named by the metadata |
/// | GET | `…/instances/{instance}[/frames/{list}]/rendered` | a frame as JPEG or PNG (`window`, `viewport`, `quality`); an ECG waveform's 12-lead plot as PNG, SVG or JPEG |
/// | GET | `/studies/{study}[/series/{series}[/instances/{instance}]]/thumbnail` | a small JPEG or PNG (of the plot, for an ECG) |
/// | GET | `/wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…` | legacy WADO-URI |
pub fn router<S>(state: StoreState) -> Router<S> {
    Router::new()
        .route("/studies", get(qido::studies).post(stow::store))
        .route(
            "/studies/{study}",
            get(wado::study).post(stow::store_into_study),
        )
        .route("/studies/{study}/metadata", get(wado::study_metadata))
        .route("/studies/{study}/series/{series}", get(wado::series))
        .route(
            "/studies/{study}/series/{series}/metadata",
            get(wado::series_metadata),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}",
            get(wado::instance),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/metadata",
            get(wado::instance_metadata),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
            get(wado::frames),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/bulk/{tag}",
            get(wado::bulk),
        )
        .route("/studies/{study}/thumbnail", get(rendered::study_thumbnail))
        .route("/wado", get(wado_uri::wado))
        .route(
            "/studies/{study}/series/{series}/thumbnail",
            get(rendered::series_thumbnail),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/rendered",
            get(rendered::instance),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/thumbnail",
            get(rendered::instance_thumbnail),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered",
            get(rendered::frame),
        )
        .route("/series", get(qido::all_series))
        .route("/studies/{study}/series", get(qido::study_series))
        .route("/instances", get(qido::all_instances))
        .route("/studies/{study}/instances", get(qido::study_instances))
        .route(
            "/studies/{study}/series/{series}/instances",
            get(qido::series_instances),
        )
        .with_state(state)
}

/// A failure outside PS3.18's own bodies, sent in Ferry's JSON envelope.
#[derive(Debug)]
pub struct WebError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl WebError {
    /// A failure with this status, machine-readable code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 500; the cause is logged here and not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "DICOMweb request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request could not be completed",
        )
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Resolves the caller from `Authorization: Bearer …`, or 401.
pub async fn authenticate(state: &StoreState, headers: &HeaderMap) -> Result<Principal, WebError> {
    let unauthorized = || {
        WebError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required",
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthorized)?;
    state
        .access
        .authenticate(token)
        .await
        .map_err(|e| WebError::internal(&e))?
        .ok_or_else(unauthorized)
}

/// A DICOM JSON response.
pub fn dicom_json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(DICOM_JSON))],
        body,
    )
        .into_response()
}
