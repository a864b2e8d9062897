//! WADO-RS frames and bulk data (PS3.18 §10.4.1.1.5 and §10.4.1.1.6): the
//! pixel data of an instance frame by frame, and the values metadata names
//! by `BulkDataURI`. Native frames go out little endian; compressed ones as
//! stored, or decoded when the client asks for octets.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::accept::{accept_of, check_accept, frame_media_type, media_matches, media_ranges};
use super::wado::{
    audit, multipart_of, not_acceptable, not_found, read_all, transcode_failure, visible,
    CONVERSIONS,
};
use super::{WebCode, WebError};
use crate::index::InstanceRow;
use crate::pixels::{read_frames, FrameError, Frames};
use crate::transcode::{self, EXPLICIT_VR_LE, IMPLICIT_VR_LE};
use crate::StoreState;

/// `GET /studies/{study}/series/{series}/instances/{instance}/frames/{list}`:
/// the listed frames (1-based, comma-separated), as stored, or decoded to
/// native little-endian samples when the client asks for
/// `application/octet-stream` (whose default syntax is Explicit VR Little
/// Endian) and the frames are compressed.
pub async fn frames(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop, list)): Path<(String, String, String, String)>,
) -> Result<Response, WebError> {
    let wanted: Vec<u32> = list
        .split(',')
        .map(|n| n.trim().parse::<u32>().ok().filter(|n| *n >= 1))
        .collect::<Option<_>>()
        .ok_or_else(|| WebError::bad_request("frames are 1-based numbers separated by commas"))?;
    let (principal, rows) = visible(&state, &headers, &study, Some(&series), Some(&sop)).await?;
    let row = rows.into_iter().next().ok_or_else(not_found)?;
    let choice = frame_choice(&headers, &row.transfer_syntax)?;
    if choice == FrameChoice::Decode {
        let data = read_all(&state, &row).await?;
        let _permit = CONVERSIONS
            .acquire()
            .await
            .map_err(|e| WebError::internal(&e))?;
        let parts = tokio::task::spawn_blocking(move || transcode::decode_frames(&data, &wanted))
            .await
            .map_err(|e| WebError::internal(&e))?
            .map_err(transcode_failure)?;
        audit(&state, &principal, &row.study_uid, 1).await?;
        let parts = parts.into_iter().map(Bytes::from).collect();
        return Ok(multipart_of(
            "application/octet-stream",
            EXPLICIT_VR_LE,
            parts,
        ));
    }
    let frames = load_frames(&state, &row).await?;
    let media = frame_media_type(&frames.transfer_syntax, frames.native).ok_or_else(|| {
        not_acceptable(format!(
            "frames of transfer syntax {} cannot be sent as stored",
            frames.transfer_syntax
        ))
    })?;
    let total = frames.frames.len() as u32;
    let mut parts = Vec::with_capacity(wanted.len());
    for n in wanted {
        let frame = frames.frames.get(n as usize - 1).ok_or_else(|| {
            WebError::new(
                WebCode::NoSuchFrame,
                FrameError::NoSuchFrame(n, total).to_string(),
            )
        })?;
        parts.push(Bytes::from(frame.clone()));
    }
    audit(&state, &principal, &row.study_uid, 1).await?;
    // Native frames are little endian (big-endian ones were turned), so
    // they are what Explicit VR Little Endian frames are, whatever the
    // stored syntax.
    let transfer_syntax = if frames.native {
        EXPLICIT_VR_LE
    } else {
        &frames.transfer_syntax
    };
    Ok(multipart_of(media, transfer_syntax, parts))
}

/// How frames are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameChoice {
    /// As stored: native bytes (little endian), or the compressed stream.
    AsStored,
    /// Decoded to native little-endian samples.
    Decode,
}

/// What the Accept header lets frames of `stored` go as, the as-stored form
/// taken over decoding among ranges of equal quality.
fn frame_choice(headers: &HeaderMap, stored: &str) -> Result<FrameChoice, WebError> {
    let native = crate::validate::is_native(stored);
    let media = frame_media_type(stored, native);
    let ranges = media_ranges(&accept_of(headers));
    if ranges.is_empty() {
        return match media {
            Some(_) => Ok(FrameChoice::AsStored),
            None => Err(not_acceptable(format!(
                "frames of transfer syntax {stored} cannot be sent as stored"
            ))),
        };
    }
    let stored_label = if native { EXPLICIT_VR_LE } else { stored };
    let mut best: Option<(f32, FrameChoice)> = None;
    let mut why_not_decoded = None;
    for range in ranges.iter().filter(|r| r.q > 0.0) {
        let part = range.part_type();
        let ts = range.transfer_syntax.as_deref();
        let as_stored = media.is_some_and(|m| {
            ts == Some("*")
                || (media_matches(part, m)
                    && match ts {
                        None => true,
                        Some(t) => t == stored_label || (native && t == IMPLICIT_VR_LE),
                    })
        });
        let choice = if as_stored {
            FrameChoice::AsStored
        } else if !native
            && part == "application/octet-stream"
            && matches!(ts, None | Some(EXPLICIT_VR_LE) | Some(IMPLICIT_VR_LE))
        {
            if !transcode::decodable(stored) {
                why_not_decoded.get_or_insert_with(|| {
                    format!("the frames are stored in transfer syntax {stored}, which Ferry cannot decode")
                });
                continue;
            }
            FrameChoice::Decode
        } else {
            continue;
        };
        let better = match best {
            None => true,
            Some((q, chosen)) => {
                range.q > q
                    || (range.q == q
                        && chosen == FrameChoice::Decode
                        && choice == FrameChoice::AsStored)
            }
        };
        if better {
            best = Some((range.q, choice));
        }
    }
    best.map(|(_, choice)| choice).ok_or_else(|| {
        not_acceptable(why_not_decoded.unwrap_or_else(|| match media {
            Some(m) => format!(
                "the frames are stored as {m} (transfer syntax {stored}); Ferry sends them as stored, or decoded as application/octet-stream in Explicit VR Little Endian"
            ),
            None => format!("frames of transfer syntax {stored} cannot be sent as stored"),
        }))
    })
}

/// `GET /studies/{study}/series/{series}/instances/{instance}/bulk/{tag}`:
/// the value of a bulk data element named by a metadata `BulkDataURI`.
pub async fn bulk(
    State(state): State<StoreState>,
    headers: HeaderMap,
    Path((study, series, sop, tag)): Path<(String, String, String, String)>,
) -> Result<Response, WebError> {
    let (principal, rows) = visible(&state, &headers, &study, Some(&series), Some(&sop)).await?;
    let row = rows.into_iter().next().ok_or_else(not_found)?;
    let path = BulkPath::parse(&tag).ok_or_else(|| {
        WebError::bad_request(
            "a bulk data path is a tag of eight hexadecimal digits, or sequence.item.tag inside sequences",
        )
    })?;
    let bytes = if path.is_pixel_data() {
        let frames = load_frames(&state, &row).await?;
        let media = frame_media_type(&frames.transfer_syntax, frames.native)
            .unwrap_or("application/octet-stream");
        check_accept(&headers, media, &frames.transfer_syntax)?;
        audit(&state, &principal, &row.study_uid, 1).await?;
        let transfer_syntax = if frames.native {
            EXPLICIT_VR_LE
        } else {
            &frames.transfer_syntax
        };
        let parts = frames.frames.into_iter().map(Bytes::from).collect();
        return Ok(multipart_of(media, transfer_syntax, parts));
    } else {
        let data = read_all(&state, &row).await?;
        tokio::task::spawn_blocking(move || element_bytes(&data, &path))
            .await
            .map_err(|e| WebError::internal(&e))?
            .ok_or_else(not_found)?
    };
    audit(&state, &principal, &row.study_uid, 1).await?;
    Ok(multipart_of(
        "application/octet-stream",
        "",
        vec![Bytes::from(bytes)],
    ))
}

async fn load_frames(
    state: &StoreState,
    row: &InstanceRow,
) -> Result<crate::pixels::Frames, WebError> {
    let data = read_all(state, row).await?;
    let read =
        tokio::task::spawn_blocking(move || read_frames(&data).map(Frames::into_little_endian))
            .await
            .map_err(|e| WebError::internal(&e))?;
    read.map_err(|e| match e {
        FrameError::Unreadable(_) => WebError::internal(&e),
        FrameError::NoPixelData => WebError::new(WebCode::NoPixelData, e.to_string()),
        other => not_acceptable(other.to_string()),
    })
}

/// Where a bulk data value sits: a top-level tag, or the sequences and
/// items leading to it, as the metadata's `BulkDataURI`s name them
/// (`54000100.0.54001010`).
struct BulkPath {
    items: Vec<(dicom_object::Tag, usize)>,
    tag: dicom_object::Tag,
}

impl BulkPath {
    /// Nested deeper than any data set the store accepts is not a path.
    const MAX_DEPTH: usize = 32;

    fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len().is_multiple_of(2) || parts.len() > 2 * Self::MAX_DEPTH + 1 {
            return None;
        }
        let tag_of = |text: &str| parse_tag(text).map(|(g, e)| dicom_object::Tag(g, e));
        let mut items = Vec::new();
        for pair in parts[..parts.len() - 1].chunks_exact(2) {
            items.push((tag_of(pair[0])?, pair[1].parse().ok()?));
        }
        Some(Self {
            items,
            tag: tag_of(parts[parts.len() - 1])?,
        })
    }

    fn is_pixel_data(&self) -> bool {
        self.items.is_empty() && self.tag == dicom_object::Tag(0x7FE0, 0x0010)
    }
}

fn element_bytes(data: &[u8], path: &BulkPath) -> Option<Vec<u8>> {
    let collected = crate::pixels::collect(data).ok()?;
    let mut dataset = &collected.dataset;
    for (sequence, item) in &path.items {
        dataset = dataset.get(*sequence)?.items()?.get(*item)?;
    }
    let value = dataset.get(path.tag)?;
    Some(value.value().to_bytes().ok()?.into_owned())
}

fn parse_tag(text: &str) -> Option<(u16, u16)> {
    if text.len() != 8 {
        return None;
    }
    let group = u16::from_str_radix(&text[..4], 16).ok()?;
    let element = u16::from_str_radix(&text[4..], 16).ok()?;
    Some((group, element))
}
