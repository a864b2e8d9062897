//! Legacy WADO-URI (PS3.18 §9): one object by `studyUID`, `seriesUID` and
//! `objectUID`, for viewers that predate WADO-RS. `contentType` chooses the
//! stored object (`application/dicom`) or a rendered picture (`image/jpeg`,
//! the default, or `image/png`), with `windowCenter`/`windowWidth`,
//! `rows`/`columns`, `frameNumber` and `imageQuality`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::rendered::render_off_thread;
use super::wado::{audit, blob_stream, local_file, visible};
use super::{WebCode, WebError};
use crate::render::{Format, Rendering};
use crate::StoreState;

/// `GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…`.
pub async fn wado(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let param = |name: &str| params.get(name).map(String::as_str);
    if param("requestType") != Some("WADO") {
        return Err(WebError::bad_request("requestType must be WADO"));
    }
    let required = |name: &'static str| {
        param(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| WebError::bad_request(format!("{name} is required")))
    };
    let (study, series, object) = (
        required("studyUID")?,
        required("seriesUID")?,
        required("objectUID")?,
    );
    let content_type = param("contentType").unwrap_or("image/jpeg");
    let (principal, rows) = visible(&state, &headers, study, Some(series), Some(object)).await?;
    let row = &rows[0];
    let (media, body) = match content_type {
        // Sent from the blob in chunks, never held whole.
        "application/dicom" => (
            "application/dicom",
            Body::from_stream(blob_stream(
                state.store.blobs().clone(),
                row.blob_key.clone(),
            )),
        ),
        "image/jpeg" | "image/png" => {
            let how = rendering(content_type, &params)?;
            let media = how.format.media_type();
            let file = local_file(&state, row).await?;
            (media, Body::from(render_off_thread(file, how).await?))
        }
        other => {
            return Err(WebError::new(WebCode::NotAcceptable, format!("contentType {other} is not offered; use application/dicom, image/jpeg or image/png"),
            ))
        }
    };
    audit(&state, &principal, study, 1).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(media))],
        body,
    )
        .into_response())
}

fn rendering(content_type: &str, params: &HashMap<String, String>) -> Result<Rendering, WebError> {
    let param = |name: &str| params.get(name).map(String::as_str);
    let number = |name: &str| -> Result<Option<f64>, WebError> {
        param(name)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| WebError::bad_request(format!("{name} is a number")))
            })
            .transpose()
    };
    let window = match (number("windowCenter")?, number("windowWidth")?) {
        (Some(c), Some(w)) if w > 0.0 => Some((c, w)),
        (None, None) => None,
        _ => {
            return Err(WebError::bad_request(
                "windowCenter and windowWidth go together, with a positive width",
            ))
        }
    };
    let size = |name: &str| -> Result<Option<u32>, WebError> {
        number(name)?
            .map(|n| {
                (1.0..=8192.0)
                    .contains(&n)
                    .then_some(n as u32)
                    .ok_or_else(|| WebError::bad_request(format!("{name} is 1 to 8192")))
            })
            .transpose()
    };
    let viewport = match (size("columns")?, size("rows")?) {
        (None, None) => None,
        (w, h) => Some((w.or(h).unwrap_or(1), h.or(w).unwrap_or(1))),
    };
    let frame = match number("frameNumber")? {
        Some(n) if n >= 1.0 => n as u32 - 1,
        Some(_) => return Err(WebError::bad_request("frameNumber starts at 1")),
        None => 0,
    };
    let quality = match number("imageQuality")? {
        Some(q) if (1.0..=100.0).contains(&q) => q as u8,
        Some(_) => return Err(WebError::bad_request("imageQuality is 1 to 100")),
        None => 90,
    };
    Ok(Rendering {
        frame,
        window,
        viewport,
        format: if content_type == "image/png" {
            Format::Png
        } else {
            Format::Jpeg
        },
        quality,
    })
}
