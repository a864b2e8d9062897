//! WADO-RS rendered resources and thumbnails: a frame as a JPEG or PNG a
//! browser can show, with `window`, `viewport` and `quality` query
//! parameters. Syntaxes that cannot be decoded here answer 406 with the
//! reason.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::wado::{audit, read_all, visible};
use super::WebError;
use crate::render::{render, Format, RenderError, Rendering};
use crate::StoreState;

type Params = Query<HashMap<String, String>>;

/// `GET …/instances/{instance}/rendered`: the first frame.
pub async fn instance(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop)): Path<(String, String, String)>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&headers, &params, 0, None)?;
    respond(&state, &headers, &study, Some(&series), Some(&sop), how).await
}

/// `GET …/instances/{instance}/frames/{frames}/rendered`: the first frame listed.
pub async fn frame(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop, frames)): Path<(String, String, String, String)>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let frame = frames
        .split(',')
        .next()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| WebError::bad_request("frames are 1-based numbers separated by commas"))?;
    let how = rendering(&headers, &params, frame - 1, None)?;
    respond(&state, &headers, &study, Some(&series), Some(&sop), how).await
}

/// `GET …/instances/{instance}/thumbnail`.
pub async fn instance_thumbnail(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop)): Path<(String, String, String)>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&headers, &params, 0, Some((128, 128)))?;
    respond(&state, &headers, &study, Some(&series), Some(&sop), how).await
}

/// `GET /studies/{study}/series/{series}/thumbnail`: of the series' middle instance.
pub async fn series_thumbnail(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&headers, &params, 0, Some((128, 128)))?;
    respond(&state, &headers, &study, Some(&series), None, how).await
}

/// `GET /studies/{study}/thumbnail`: of its first series' middle instance.
pub async fn study_thumbnail(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path(study): Path<String>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&headers, &params, 0, Some((128, 128)))?;
    respond(&state, &headers, &study, None, None, how).await
}

async fn respond(
    state: &StoreState,
    headers: &HeaderMap,
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
    how: Rendering,
) -> Result<Response, WebError> {
    let (principal, rows) = visible(state, headers, study, series, sop).await?;
    // A series or study is shown by an image from its middle, as PACS do.
    let first_series = &rows[0].series_uid;
    let in_series: Vec<_> = rows
        .iter()
        .filter(|r| &r.series_uid == first_series)
        .collect();
    let row = in_series[in_series.len() / 2];
    let file = read_all(state, row).await?;
    let image = render_off_thread(file, how).await?;
    audit(state, &principal, study, 1).await;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(how.format.media_type()),
        )],
        image,
    )
        .into_response())
}

/// Renders on the blocking pool (decoding is CPU-bound) and maps the failure
/// to its HTTP answer: 406 for what cannot be decoded here, 404 for a missing
/// frame.
pub(super) async fn render_off_thread(file: Vec<u8>, how: Rendering) -> Result<Vec<u8>, WebError> {
    tokio::task::spawn_blocking(move || render(&file, &how))
        .await
        .map_err(|e| WebError::internal(&e))?
        .map_err(|e| match e {
            RenderError::Unsupported(_) => {
                WebError::new(StatusCode::NOT_ACCEPTABLE, "cannot_render", e.to_string())
            }
            RenderError::NoSuchFrame(..) => {
                WebError::new(StatusCode::NOT_FOUND, "no_such_frame", e.to_string())
            }
            RenderError::Unreadable(_) => WebError::internal(&e),
        })
}

fn rendering(
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    frame: u32,
    default_viewport: Option<(u32, u32)>,
) -> Result<Rendering, WebError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format = if accept.contains("image/png") && !accept.contains("image/jpeg") {
        Format::Png
    } else if accept.is_empty()
        || accept.contains("image/jpeg")
        || accept.contains("image/*")
        || accept.contains("*/*")
    {
        Format::Jpeg
    } else {
        return Err(WebError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "rendered images are image/jpeg or image/png",
        ));
    };
    let numbers = |name: &str| -> Result<Option<Vec<f64>>, WebError> {
        params
            .get(name)
            .map(|v| {
                v.split(',')
                    .take(2)
                    .map(|n| n.trim().parse::<f64>().ok().filter(|n| n.is_finite()))
                    .collect::<Option<Vec<f64>>>()
                    .filter(|v| v.len() == 2)
                    .ok_or_else(|| {
                        WebError::bad_request(format!("{name} is two comma-separated numbers"))
                    })
            })
            .transpose()
    };
    let window = match numbers("window")? {
        Some(v) if v[1] > 0.0 => Some((v[0], v[1])),
        Some(_) => return Err(WebError::bad_request("the window width must be positive")),
        None => None,
    };
    let viewport = match numbers("viewport")? {
        Some(v) if v[0] >= 1.0 && v[1] >= 1.0 && v[0] <= 8192.0 && v[1] <= 8192.0 => {
            Some((v[0] as u32, v[1] as u32))
        }
        Some(_) => return Err(WebError::bad_request("viewport sizes are 1 to 8192")),
        None => default_viewport,
    };
    let quality = match params.get("quality") {
        Some(q) => q
            .parse::<u8>()
            .ok()
            .filter(|q| (1..=100).contains(q))
            .ok_or_else(|| WebError::bad_request("quality is 1 to 100"))?,
        None => 90,
    };
    Ok(Rendering {
        frame,
        window,
        viewport,
        format,
        quality,
    })
}
