//! The `Accept` header of WADO-RS requests: its media ranges with their
//! parameters and q-values, the media type frames of each transfer syntax
//! are sent as (PS3.18 Table 8.7.3-2), and whether a client takes them.

use axum::http::{header, HeaderMap};

use super::{WebCode, WebError};

/// Whether a media range (`*/*`, `image/*`, `image/jpeg`) covers a media type.
pub(super) fn media_matches(range: &str, media: &str) -> bool {
    range == "*/*"
        || range == media
        || range
            .strip_suffix("/*")
            .is_some_and(|top| media.split('/').next() == Some(top))
}

/// The media type frames of this transfer syntax are sent as (PS3.18 Table
/// 8.7.3-2); `None` for video and other syntaxes without a frame form.
pub(super) fn frame_media_type(transfer_syntax: &str, native: bool) -> Option<&'static str> {
    if native {
        return Some("application/octet-stream");
    }
    Some(match transfer_syntax {
        "1.2.840.10008.1.2.4.50"
        | "1.2.840.10008.1.2.4.51"
        | "1.2.840.10008.1.2.4.57"
        | "1.2.840.10008.1.2.4.70" => "image/jpeg",
        "1.2.840.10008.1.2.5" => "image/dicom-rle",
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "image/jls",
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "image/jp2",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => {
            "image/jphc"
        }
        _ => return None,
    })
}

/// Pixel data as bulk data goes as stored (its frames are what to ask for
/// decoded): the client must accept its media type, or any.
pub(super) fn check_accept(
    headers: &HeaderMap,
    media: &str,
    transfer_syntax: &str,
) -> Result<(), WebError> {
    let accept = accept_of(headers);
    let ok = accept.is_empty()
        || accept.contains("*/*")
        || accept.contains(media)
        || transfer_syntax_asked(&accept).is_some_and(|ts| ts == "*" || ts == transfer_syntax);
    if ok {
        Ok(())
    } else {
        Err(WebError::new(WebCode::NotAcceptable, format!(
            "the pixel data is stored as {media} (transfer syntax {transfer_syntax}) and sent as bulk data as stored; ask for its frames to have them decoded"
        )))
    }
}

pub(super) fn accept_of(headers: &HeaderMap) -> String {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase()
}

/// One media range of an Accept header.
#[derive(Debug)]
pub(super) struct MediaRange {
    /// `type/subtype`, lower case.
    pub(super) media: String,
    /// The `type` parameter (of `multipart/related`), unquoted.
    pub(super) part: Option<String>,
    /// The `transfer-syntax` parameter.
    pub(super) transfer_syntax: Option<String>,
    /// The quality, 0 to 1 (1 when not given or unreadable).
    pub(super) q: f32,
}

impl MediaRange {
    /// What each part may be: the `type` of a multipart range (anything
    /// when it names none), else the range itself.
    pub(super) fn part_type(&self) -> &str {
        if self.media == "multipart/related" {
            self.part.as_deref().unwrap_or("*/*")
        } else {
            &self.media
        }
    }
}

/// The media ranges of an (already lower-cased) Accept header.
pub(super) fn media_ranges(accept: &str) -> Vec<MediaRange> {
    split_unquoted(accept, ',')
        .into_iter()
        .filter_map(|range| {
            let mut pieces = split_unquoted(range, ';').into_iter();
            let media = pieces.next()?.trim().to_owned();
            if media.is_empty() {
                return None;
            }
            let mut range = MediaRange {
                media,
                part: None,
                transfer_syntax: None,
                q: 1.0,
            };
            for piece in pieces {
                let Some((name, value)) = piece.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"').trim().to_owned();
                match name.trim() {
                    "type" => range.part = Some(value),
                    "transfer-syntax" => range.transfer_syntax = Some(value),
                    "q" => range.q = value.parse::<f32>().map_or(1.0, |q| q.clamp(0.0, 1.0)),
                    _ => {}
                }
            }
            Some(range)
        })
        .collect()
}

/// `text` split at `separator` where it is not inside double quotes.
pub(super) fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (at, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            pieces.push(&text[start..at]);
            start = at + c.len_utf8();
        }
    }
    pieces.push(&text[start..]);
    pieces
}

pub(super) fn transfer_syntax_asked(accept: &str) -> Option<String> {
    let at = accept.find("transfer-syntax=")? + "transfer-syntax=".len();
    let rest = &accept[at..];
    let value: String = rest
        .trim_start_matches('"')
        .chars()
        .take_while(|c| !matches!(c, '"' | ';' | ',' | ' '))
        .collect();
    Some(value)
}
