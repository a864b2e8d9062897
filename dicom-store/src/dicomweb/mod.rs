//! DICOMweb (PS3.18) over HTTP: STOW-RS ([`stow`]), QIDO-RS ([`qido`]) and
//! WADO-RS ([`wado`], [`wado_frames`], [`rendered`]) and legacy WADO-URI
//! ([`wado_uri`]).
//!
//! [`router`] returns the routes relative to where the server mounts them
//! (for example under `/dicomweb`). Every route needs `Authorization: Bearer`;
//! the token is resolved by the server's [`crate::StudyAccess`]. DICOMweb
//! answers keep PS3.18's own status semantics and bodies (`application/dicom+json`);
//! failures outside PS3.18 (no token, bad query, malformed body) use Ferry's
//! envelope `{"error":{"code":…,"message":…,"details":{}}}`, the same as the
//! rest of the API, with a code from [`WebCode`].

mod accept;
mod multipart;
pub mod qido;
pub mod query;
pub mod rendered;
pub mod stow;
pub mod wado;
pub mod wado_frames;
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
/// | GET | `/studies/{study}[/series/{series}]/rendered` | every instance's first frame (an ECG's plot), one part each |
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
            get(wado_frames::frames),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/bulk/{tag}",
            get(wado_frames::bulk),
        )
        .route("/studies/{study}/thumbnail", get(rendered::study_thumbnail))
        .route("/studies/{study}/rendered", get(rendered::study))
        .route(
            "/studies/{study}/series/{series}/rendered",
            get(rendered::series),
        )
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

/// The codes a DICOMweb failure is sent with, each with its status.
///
/// The server lists every one of them among its own API error codes (with the
/// same string and status), so a client reads one list for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebCode {
    /// 400: a malformed query, body or multipart framing.
    BadRequest,
    /// 401: no valid bearer token.
    Unauthenticated,
    /// 403: the account may not do this (e.g. store studies).
    Forbidden,
    /// 404: no such study, series or instance, or not visible to the caller.
    NotFound,
    /// 404: the instance has no frame of that number.
    NoSuchFrame,
    /// 404: the instance has no pixel data to serve frames from.
    NoPixelData,
    /// 406: none of the media types the `Accept` header allows is offered.
    NotAcceptable,
    /// 406: the pixel data is in a syntax the renderer does not decode.
    CannotRender,
    /// 413: a STOW-RS request or one of its parts is over the limit.
    TooLarge,
    /// 413: more parts than a STOW-RS request may carry.
    TooManyParts,
    /// 415: a STOW-RS body that is not `multipart/related` DICOM.
    UnsupportedMediaType,
    /// 422: a waveform the ECG plotter cannot draw.
    CannotPlotEcg,
    /// 422: a frame too large to render.
    TooLargeToRender,
    /// 500: the cause is logged, never sent.
    Internal,
}

impl WebCode {
    /// Every code, for the server's check that it lists them all.
    pub const ALL: &'static [WebCode] = &[
        Self::BadRequest,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::NoSuchFrame,
        Self::NoPixelData,
        Self::NotAcceptable,
        Self::CannotRender,
        Self::TooLarge,
        Self::TooManyParts,
        Self::UnsupportedMediaType,
        Self::CannotPlotEcg,
        Self::TooLargeToRender,
        Self::Internal,
    ];

    /// The string sent in `error.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::NoSuchFrame => "no_such_frame",
            Self::NoPixelData => "no_pixel_data",
            Self::NotAcceptable => "not_acceptable",
            Self::CannotRender => "cannot_render",
            Self::TooLarge => "too_large",
            Self::TooManyParts => "too_many_parts",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::CannotPlotEcg => "cannot_plot_ecg",
            Self::TooLargeToRender => "too_large_to_render",
            Self::Internal => "internal",
        }
    }

    /// The status a failure with this code is answered with.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound | Self::NoSuchFrame | Self::NoPixelData => StatusCode::NOT_FOUND,
            Self::NotAcceptable | Self::CannotRender => StatusCode::NOT_ACCEPTABLE,
            Self::TooLarge | Self::TooManyParts => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::CannotPlotEcg | Self::TooLargeToRender => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A failure outside PS3.18's own bodies, sent in Ferry's JSON envelope.
#[derive(Debug)]
pub struct WebError {
    code: WebCode,
    message: String,
}

impl WebError {
    /// A failure with this code (which decides the status) and message.
    pub fn new(code: WebCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(WebCode::BadRequest, message)
    }

    /// 500; the cause is logged here and not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "DICOMweb request failed");
        Self::new(WebCode::Internal, "the request could not be completed")
    }

    /// The status this failure is answered with.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// Its code.
    pub fn code(&self) -> WebCode {
        self.code
    }

    /// What it says.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        // The server's `ErrorBody` shape, written out here because this crate
        // does not depend on the server; DICOMweb failures carry no details.
        let body = json!({
            "error": { "code": self.code.as_str(), "message": self.message, "details": {} }
        });
        let status = self.status();
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Resolves the caller from `Authorization: Bearer …`, or 401.
pub async fn authenticate(state: &StoreState, headers: &HeaderMap) -> Result<Principal, WebError> {
    let unauthorized =
        || WebError::new(WebCode::Unauthenticated, "a valid bearer token is required");
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

/// The DICOMweb root as this client reached it, for the absolute URLs
/// answers carry (bulk data, retrieve URLs): `public_url`'s when set.
pub(super) fn root_url(state: &StoreState, headers: &HeaderMap) -> String {
    if let Some(root) = &state.public_root {
        return root.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}{}", state.base_url)
}
