//! WADO-RS rendered resources and thumbnails: a frame as a JPEG or PNG a
//! browser can show, with `window`, `viewport` and `quality` query
//! parameters. Syntaxes that cannot be decoded here answer 406 with the
//! reason.
//!
//! An ECG waveform instance (12-lead or General ECG) has no frames; its
//! `rendered` resource and thumbnails are its 12-lead plot (see
//! [`crate::ecg`]): PNG by default and for `*/*` or `image/*`, SVG when
//! `image/svg+xml` is preferred, and JPEG, rasterised like the PNG, for a
//! client that accepts nothing else. A waveform that cannot be plotted as
//! twelve leads (another channel count, another sample format) answers 422
//! with the reason, which names what was found.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use image::DynamicImage;

use super::wado::{audit, local_file, read_all, visible, LocalFile};
use super::{WebCode, WebError};
use crate::ecg::{self, EcgError, EcgFormat};
use crate::render::{render_file, Format, RenderError, Rendering};
use crate::StoreState;

/// Frames rendered at once. Decoding is CPU-bound (on two cores more at
/// once only queue for the CPU) and holds a few copies of its frame: a
/// 4,000² 16-bit frame costs about 100 MB while it is rendered, and the
/// largest frame allowed twice that. The rest wait their turn.
static RENDERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The largest ECG object plotted; a 12-lead ECG is tens of kilobytes.
const MAX_ECG_BYTES: i64 = 64 << 20;

const JPEG: &str = "image/jpeg";
const PNG: &str = "image/png";
const SVG: &str = "image/svg+xml";

type Params = Query<HashMap<String, String>>;

/// `GET …/instances/{instance}/rendered`: the first frame.
pub async fn instance(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop)): Path<(String, String, String)>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&params, 0, None)?;
    respond(
        &state,
        &headers,
        &study,
        Some(&series),
        Some(&sop),
        how,
        true,
    )
    .await
}

/// `GET …/instances/{instance}/frames/{frames}/rendered`: the first frame
/// listed. A waveform has no frames: 406, as for any instance without
/// pixel data.
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
    let how = rendering(&params, frame - 1, None)?;
    respond(
        &state,
        &headers,
        &study,
        Some(&series),
        Some(&sop),
        how,
        false,
    )
    .await
}

/// `GET …/instances/{instance}/thumbnail`.
pub async fn instance_thumbnail(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop)): Path<(String, String, String)>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&params, 0, Some((128, 128)))?;
    respond(
        &state,
        &headers,
        &study,
        Some(&series),
        Some(&sop),
        how,
        true,
    )
    .await
}

/// `GET /studies/{study}/series/{series}/thumbnail`: of the series' middle instance.
pub async fn series_thumbnail(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&params, 0, Some((128, 128)))?;
    respond(&state, &headers, &study, Some(&series), None, how, true).await
}

/// `GET /studies/{study}/thumbnail`: of its first series' middle instance.
pub async fn study_thumbnail(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path(study): Path<String>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&params, 0, Some((128, 128)))?;
    respond(&state, &headers, &study, None, None, how, true).await
}

/// The most instances one study- or series-level `rendered` request draws;
/// a larger study is asked for series by series or instance by instance.
const MAX_RENDERED_INSTANCES: usize = 256;

/// `GET /studies/{study}/rendered`: each instance's first frame (an ECG's
/// plot), one part each.
pub async fn study(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path(study): Path<String>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&params, 0, None)?;
    respond_all(&state, &headers, &study, None, how).await
}

/// `GET /studies/{study}/series/{series}/rendered`.
pub async fn series(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, WebError> {
    let how = rendering(&params, 0, None)?;
    respond_all(&state, &headers, &study, Some(&series), how).await
}

/// Renders every instance of a study or series into a
/// `multipart/related` answer of one media type (PS3.18 §10.4.1.1.3).
/// Instances with nothing to draw (reports, a syntax not decoded here) are
/// left out; when none can be drawn the answer is 406.
async fn respond_all(
    state: &StoreState,
    headers: &HeaderMap,
    study: &str,
    series: Option<&str>,
    mut how: Rendering,
) -> Result<Response, WebError> {
    let (principal, rows) = visible(state, headers, study, series, None).await?;
    if rows.len() > MAX_RENDERED_INSTANCES {
        return Err(WebError::new(
            WebCode::TooLargeToRender,
            format!(
                "this holds {} instances and at most {MAX_RENDERED_INSTANCES} are rendered at once; ask series by series or instance by instance",
                rows.len()
            ),
        ));
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A multipart accept names its parts' type (`type="image/png"`).
    let wanted = accept
        .split("type=")
        .nth(1)
        .map(|t| {
            t.trim_matches(|c| c == '"' || c == ' ')
                .split([';', ',', '"'])
                .next()
                .unwrap_or("")
        })
        .unwrap_or(accept);
    let (format, media_type) = match negotiate(wanted, &[JPEG, PNG]) {
        Some(PNG) => (Format::Png, PNG),
        Some(_) => (Format::Jpeg, JPEG),
        None => {
            return Err(not_acceptable(
                "rendered images are image/jpeg or image/png",
            ))
        }
    };
    how.format = format;
    let mut parts = Vec::new();
    for row in &rows {
        let drawn = if ecg::is_ecg(&row.sop_class_uid) && row.size <= MAX_ECG_BYTES {
            let ecg_format = match format {
                Format::Png => EcgFormat::Png,
                Format::Jpeg => EcgFormat::Jpeg,
            };
            let file = read_all(state, row).await?;
            plot_off_thread(file, ecg_format, how).await
        } else {
            let file = local_file(state, row).await?;
            render_off_thread(file, how).await
        };
        match drawn {
            Ok(body) => parts.push(axum::body::Bytes::from(body)),
            Err(e) if e.code() == WebCode::Internal => return Err(e),
            Err(e) => {
                tracing::debug!(sop = %row.sop_instance_uid, error = %e.message(), "not rendered")
            }
        }
    }
    if parts.is_empty() {
        return Err(WebError::new(
            WebCode::CannotRender,
            "nothing here can be rendered: no instance has pixel data Ferry decodes",
        ));
    }
    audit(state, &principal, study, parts.len()).await?;
    Ok(super::wado::multipart_of(media_type, "", parts))
}

/// Finds the instance to show, negotiates the format for its kind (a frame
/// or an ECG plot) and draws it. `how.format` is ignored: it is decided here.
async fn respond(
    state: &StoreState,
    headers: &HeaderMap,
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
    mut how: Rendering,
    plot_waveforms: bool,
) -> Result<Response, WebError> {
    let (principal, rows) = visible(state, headers, study, series, sop).await?;
    // A series or study is shown by an image from its middle, as PACS do.
    let first_series = &rows[0].series_uid;
    let in_series: Vec<_> = rows
        .iter()
        .filter(|r| &r.series_uid == first_series)
        .collect();
    let row = in_series[in_series.len() / 2];
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (media_type, body) = if plot_waveforms && ecg::is_ecg(&row.sop_class_uid) {
        let format = match negotiate(accept, &[PNG, SVG, JPEG]) {
            Some(SVG) => EcgFormat::Svg,
            Some(JPEG) => EcgFormat::Jpeg,
            Some(_) => EcgFormat::Png,
            None => {
                return Err(not_acceptable(
                    "ECG plots are image/png, image/svg+xml or image/jpeg",
                ))
            }
        };
        // A plot is made from the whole waveform in memory: an object far
        // larger than any ECG is refused before it is read.
        if row.size > MAX_ECG_BYTES {
            return Err(WebError::new(
                WebCode::CannotPlotEcg,
                format!(
                    "an ECG of {} bytes is larger than Ferry plots ({MAX_ECG_BYTES})",
                    row.size
                ),
            ));
        }
        let file = read_all(state, row).await?;
        (
            format.media_type(),
            plot_off_thread(file, format, how).await?,
        )
    } else {
        how.format = match negotiate(accept, &[JPEG, PNG]) {
            Some(PNG) => Format::Png,
            Some(_) => Format::Jpeg,
            None => {
                return Err(not_acceptable(
                    "rendered images are image/jpeg or image/png",
                ))
            }
        };
        let file = local_file(state, row).await?;
        (how.format.media_type(), render_off_thread(file, how).await?)
    };
    audit(state, &principal, study, 1).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(media_type))],
        body,
    )
        .into_response())
}

fn not_acceptable(message: &str) -> WebError {
    WebError::new(WebCode::NotAcceptable, message)
}

/// The offer an `Accept` header prefers: the highest q-value, an offer's
/// q-value taken from the most specific range that matches it; between
/// equals, the one named outright (`image/png` over `*/*`), then the
/// earlier offer. No header takes the first offer.
fn negotiate(accept: &str, offers: &[&'static str]) -> Option<&'static str> {
    if accept.trim().is_empty() {
        return offers.first().copied();
    }
    let ranges: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|range| {
            let range = range.to_ascii_lowercase();
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_owned();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=")?.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            (!media.is_empty()).then_some((media, q))
        })
        .collect();
    // (q-value, specificity) of an offer: 2 named, 1 by `type/*`, 0 by `*/*`.
    let rank = |offer: &str| {
        let family = offer.split('/').next().unwrap_or(offer);
        let find = |matches: &dyn Fn(&str) -> bool| ranges.iter().find(|(m, _)| matches(m));
        find(&|m| m == offer)
            .map(|(_, q)| (*q, 2))
            .or_else(|| find(&|m| m.strip_suffix("/*") == Some(family)).map(|(_, q)| (*q, 1)))
            .or_else(|| find(&|m| m == "*/*").map(|(_, q)| (*q, 0)))
            .unwrap_or((0.0, 0))
    };
    let mut best: Option<(&'static str, (f32, u8))> = None;
    for offer in offers {
        let r = rank(offer);
        if r.0 > 0.0 && best.is_none_or(|(_, b)| r > b) {
            best = Some((offer, r));
        }
    }
    best.map(|(offer, _)| offer)
}

/// Plots an ECG on the blocking pool: 422 for a waveform that is not
/// twelve plottable leads, with the reason.
async fn plot_off_thread(
    file: Vec<u8>,
    format: EcgFormat,
    how: Rendering,
) -> Result<Vec<u8>, WebError> {
    tokio::task::spawn_blocking(move || plot(&file, format, &how))
        .await
        .map_err(|e| WebError::internal(&e))?
        .map_err(|e| {
            if e.is_data_error() {
                WebError::new(WebCode::CannotPlotEcg, e.to_string())
            } else {
                WebError::internal(&e)
            }
        })
}

/// The plot; a raster is shrunk to the viewport (a thumbnail), an SVG
/// scales by itself.
fn plot(file: &[u8], format: EcgFormat, how: &Rendering) -> Result<Vec<u8>, EcgError> {
    let ecg = ecg::parse(file)?;
    let format = match format {
        EcgFormat::Svg => return Ok(ecg::svg(&ecg).into_bytes()),
        EcgFormat::Png => Format::Png,
        EcgFormat::Jpeg => Format::Jpeg,
    };
    let image = DynamicImage::ImageRgb8(ecg::raster(&ecg));
    let image = match how.viewport {
        Some((w, h)) if w > 0 && h > 0 && (w < image.width() || h < image.height()) => {
            image.resize(w, h, image::imageops::FilterType::Triangle)
        }
        _ => image,
    };
    crate::render::encode(&image, format, how.quality)
        .map_err(|e| EcgError::Encoding(e.to_string()))
}

/// Renders on the blocking pool (decoding is CPU-bound) and maps the failure
/// to its HTTP answer: 406 for what cannot be decoded here, 422 for an image
/// larger than Ferry renders (with its size and the limit), 404 for a
/// missing frame.
pub(super) async fn render_off_thread(
    file: LocalFile,
    how: Rendering,
) -> Result<Vec<u8>, WebError> {
    let _permit = RENDERS
        .acquire()
        .await
        .map_err(|e| WebError::internal(&e))?;
    tokio::task::spawn_blocking(move || render_file(&file.path, &how))
        .await
        .map_err(|e| WebError::internal(&e))?
        .map_err(|e| match e {
            RenderError::Unsupported(_) => WebError::new(WebCode::CannotRender, e.to_string()),
            RenderError::TooLarge(_) => WebError::new(WebCode::TooLargeToRender, e.to_string()),
            RenderError::NoSuchFrame(..) => WebError::new(WebCode::NoSuchFrame, e.to_string()),
            RenderError::Unreadable(_) => WebError::internal(&e),
        })
}

/// The query parameters; the format is negotiated once the instance is known.
fn rendering(
    params: &HashMap<String, String>,
    frame: u32,
    default_viewport: Option<(u32, u32)>,
) -> Result<Rendering, WebError> {
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
        format: Format::Jpeg,
        quality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_pick_by_quality_then_specificity_then_order() {
        let ecg = [PNG, SVG, JPEG];
        assert_eq!(negotiate("", &ecg), Some(PNG));
        assert_eq!(negotiate("*/*", &ecg), Some(PNG));
        assert_eq!(negotiate("image/*", &ecg), Some(PNG));
        assert_eq!(negotiate("image/svg+xml", &ecg), Some(SVG));
        assert_eq!(negotiate("image/png;q=0.5, image/svg+xml", &ecg), Some(SVG));
        assert_eq!(negotiate("image/*;q=0.8, image/svg+xml", &ecg), Some(SVG));
        assert_eq!(negotiate("image/jpeg", &ecg), Some(JPEG));
        assert_eq!(negotiate("image/*, image/png;q=0", &ecg), Some(SVG));
        assert_eq!(negotiate("application/pdf", &ecg), None);
        let frames = [JPEG, PNG];
        assert_eq!(negotiate("*/*", &frames), Some(JPEG));
        assert_eq!(negotiate("image/png", &frames), Some(PNG));
        assert_eq!(negotiate("IMAGE/PNG", &frames), Some(PNG));
        assert_eq!(negotiate("image/png, image/jpeg", &frames), Some(JPEG));
        assert_eq!(negotiate("image/png, */*", &frames), Some(PNG));
        assert_eq!(
            negotiate("image/jpeg;q=0.5, image/png;q=0.9", &frames),
            Some(PNG)
        );
        assert_eq!(negotiate("image/svg+xml", &frames), None);
    }
}
