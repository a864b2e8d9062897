//! JPEG-LS (ITU-T T.87; DICOM's Lossless 1.2.840.10008.1.2.4.80 and
//! Near-Lossless .81) frames, decoded by the pure-Rust `pure_jpegls` crate:
//! dicom-pixeldata's own JPEG-LS codec is CharLS, C++ built with cmake,
//! which `cargo run` on a fresh machine would then need.
//!
//! The crate decodes one-component scans and reads headers loosely: it steps
//! over the scan header by its component count rather than its length, never
//! looks at the mapping table or the point transform, and wants the EOI
//! marker right after the scan, where CharLS (and so dcmtk) pads a stream of
//! odd length with a fill byte. So every segment up to the scan is checked
//! here first, against itself and against the DICOM header; what the crate
//! would misread is refused with the reason, and the fill byte is dropped.
//! Colour (more than one component) is refused: the crate does not decode
//! it, and a wrong picture is worse than none.

use std::borrow::Cow;

use super::Samples;

/// What the DICOM header says a frame holds, for the stream to agree with.
pub(super) struct Expected {
    pub rows: u64,
    pub columns: u64,
    pub samples: u64,
    pub bits_allocated: u64,
    /// Pixel Representation 1: samples of fewer bits than allocated are
    /// sign-extended, as native signed samples are.
    pub signed: bool,
}

/// One frame decoded.
pub(super) struct Decoded {
    pub samples: Samples,
    /// The stream's NEAR: above 0, samples are within that of the original.
    pub near: u8,
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DRI: u8 = 0xDD;
const SOF55: u8 = 0xF7;
const LSE: u8 = 0xF8;
const COM: u8 = 0xFE;

/// What the headers before the scan say, once checked.
struct Header {
    precision: u8,
    height: u16,
    width: u16,
    near: u8,
    /// Where the entropy-coded scan starts.
    scan_at: usize,
}

/// The samples of one frame's JPEG-LS stream, row by row.
pub(super) fn decode(stream: &[u8], expected: &Expected) -> Result<Decoded, String> {
    let header = header(stream, expected)?;
    let stream = without_fill(stream, header.scan_at);
    let (width, height) = (u32::from(header.width), u32::from(header.height));
    // The crate's own checks make its errors; an assertion of its on a
    // hostile stream is one more.
    let (words, _, _) = std::panic::catch_unwind(|| ::jpegls::decode(&stream, width, height))
        .map_err(|_| "the decoder failed on the stream".to_owned())?
        .map_err(|e| e.to_string())?;
    if words.len() as u64 != expected.rows * expected.columns {
        return Err(format!(
            "{} samples decoded for {} × {}",
            words.len(),
            expected.columns,
            expected.rows
        ));
    }
    let top = (1u32 << header.precision) - 1;
    if words.iter().any(|&w| u32::from(w) > top) {
        return Err(format!("a sample past {} bits", header.precision));
    }
    let extend = |w: u16| {
        if expected.signed && header.precision < 16 {
            let shift = 16 - u32::from(header.precision);
            (((w << shift) as i16) >> shift) as u16
        } else {
            w
        }
    };
    let samples = if expected.bits_allocated == 8 {
        // Precision is at most 8 here ([`header`]), so the low byte is the
        // whole (sign-extended) sample.
        Samples::Bytes(words.into_iter().map(|w| extend(w) as u8).collect())
    } else {
        Samples::Words(words.into_iter().map(extend).collect())
    };
    Ok(Decoded {
        samples,
        near: header.near,
    })
}

/// Checks the markers from SOI to the scan, as T.87 Annex C lays them out,
/// and everything in them the crate would take on trust.
fn header(stream: &[u8], expected: &Expected) -> Result<Header, String> {
    if stream.get(..2) != Some(&[0xFF, SOI]) {
        return Err("not a JPEG-LS stream (no SOI marker)".into());
    }
    // (precision, height, width, component id)
    let mut frame: Option<(u8, u16, u16, u8)> = None;
    let mut preset_maxval = 0u16;
    let mut at = 2;
    loop {
        let (Some(&0xFF), Some(&marker)) = (stream.get(at), stream.get(at + 1)) else {
            return Err(format!("no marker at byte {at} before the scan"));
        };
        let length = stream
            .get(at + 2..at + 4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or("a truncated segment")?;
        let segment = stream
            .get(at + 4..at + 2 + length.max(2))
            .filter(|_| length >= 2)
            .ok_or("a truncated segment")?;
        at += 2 + length;
        match marker {
            SOF55 => {
                if frame.is_some() {
                    return Err("a second frame header".into());
                }
                let &[precision, y0, y1, x0, x1, components, ..] = segment else {
                    return Err("a truncated frame header".into());
                };
                if u64::from(components) != expected.samples {
                    return Err(format!(
                        "the stream has {components} components, the header says {} samples per pixel",
                        expected.samples
                    ));
                }
                if components != 1 {
                    return Err(format!(
                        "{components} components: JPEG-LS is decoded for greyscale (one component) only"
                    ));
                }
                if segment.len() != 9 {
                    return Err("a frame header of the wrong length".into());
                }
                let (height, width) = (u16::from_be_bytes([y0, y1]), u16::from_be_bytes([x0, x1]));
                if u64::from(height) != expected.rows || u64::from(width) != expected.columns {
                    return Err(format!(
                        "the stream is {width} × {height}, the header says {} × {}",
                        expected.columns, expected.rows
                    ));
                }
                let fits = match expected.bits_allocated {
                    8 => 2..=8,
                    16 => 2..=16,
                    other => return Err(format!("{other} bits allocated")),
                };
                if !fits.contains(&precision) {
                    return Err(format!(
                        "a sample precision of {precision} bits in {} bits allocated",
                        expected.bits_allocated
                    ));
                }
                frame = Some((precision, height, width, segment[6]));
            }
            LSE => match segment.first() {
                Some(1) if segment.len() == 11 => {
                    let field = |i: usize| u16::from_be_bytes([segment[i], segment[i + 1]]);
                    preset_maxval = field(1);
                    // T.87 C.2.4.1.1: a RESET below 3 stops the statistics
                    // being halved, and their sums then overflow.
                    if field(9) < 3 {
                        return Err(format!("a preset RESET of {}", field(9)));
                    }
                }
                Some(1) => return Err("a preset-parameters segment of the wrong length".into()),
                Some(2 | 3) => {
                    return Err("mapping tables (palette JPEG-LS) are not decoded".into())
                }
                Some(id) => return Err(format!("a JPEG-LS extension segment of type {id}")),
                None => return Err("an empty JPEG-LS extension segment".into()),
            },
            SOS => {
                let (precision, height, width, component) =
                    frame.ok_or("a scan before its frame header")?;
                let &[1, selector, mapping, near, interleave, transform] = segment else {
                    return Err("a scan header of one component is 6 bytes".into());
                };
                if selector != component {
                    return Err(format!(
                        "the scan codes component {selector}, the frame has {component}"
                    ));
                }
                if mapping != 0 {
                    return Err("mapping tables (palette JPEG-LS) are not decoded".into());
                }
                if interleave != 0 {
                    return Err(format!("interleave mode {interleave} for one component"));
                }
                if transform != 0 {
                    return Err(format!("a point transform of {transform}"));
                }
                let top = (1u32 << precision) - 1;
                let maxval = match u32::from(preset_maxval) {
                    0 => top,
                    m if m <= top => m,
                    m => return Err(format!("MAXVAL {m} past {precision} bits")),
                };
                if u32::from(near) > (maxval / 2).min(255) {
                    return Err(format!("NEAR {near} for MAXVAL {maxval}"));
                }
                return Ok(Header {
                    precision,
                    height,
                    width,
                    near,
                    scan_at: at,
                });
            }
            DRI => return Err("restart intervals are not decoded".into()),
            0xE0..=0xEF | COM => {}
            other => return Err(format!("marker FF{other:02X} before the scan")),
        }
    }
}

/// The stream as the crate reads it. CharLS pads a stream of odd length
/// with a fill byte before EOI (`FF FF D9`); the crate takes the fill for a
/// marker. In the scan a 0xFF byte is always followed by one below 0x80, so
/// 0xFF bytes just before EOI are fill.
fn without_fill(stream: &[u8], scan_at: usize) -> Cow<'_, [u8]> {
    let mut end = stream.len();
    // Zeros after EOI: DICOM's padding to an even length.
    while end > scan_at && stream[end - 1] == 0 {
        end -= 1;
    }
    if end < scan_at + 3 || stream[end - 3..end] != [0xFF, 0xFF, EOI] {
        return Cow::Borrowed(stream);
    }
    let mut fill = end - 3;
    while fill > scan_at && stream[fill - 1] == 0xFF {
        fill -= 1;
    }
    let mut fixed = stream[..fill].to_vec();
    fixed.extend_from_slice(&[0xFF, EOI]);
    Cow::Owned(fixed)
}

#[cfg(test)]
mod tests;
