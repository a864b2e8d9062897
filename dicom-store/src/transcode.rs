//! Stored instances and frames in a transfer syntax other than the stored
//! one, for WADO-RS clients that ask for it (PS3.18 §8.7.3.5).
//!
//! Two conversions are made, and no other:
//!
//! - between the native syntaxes: Implicit or Explicit VR Little Endian out
//!   of either of them or of Explicit VR Big Endian, whose pixel data is
//!   turned little endian on the way;
//! - decoding: native Implicit or Explicit VR Little Endian out of any
//!   compressed syntax a decoder is built in for ([`decodable`]: RLE, the
//!   JPEG processes, JPEG 2000), 12-bit JPEG Extended by [`jpeg12`], written
//!   here because no Rust JPEG crate reads 12-bit DCT streams, and greyscale
//!   JPEG-LS by [`jpegls`] (the `pure_jpegls` crate, its headers checked
//!   here first).
//!
//! Nothing is compressed: an archive that recompresses what it was sent loses
//! detail the sender chose to keep, and every caller can read native data.
//!
//! A conversion holds the instance in memory, stored and converted, so it is
//! refused (not attempted) past [`MAX_CONVERTED_BYTES`]; sent as stored, an
//! instance of any size streams from its blob.

use std::io::Cursor;

use dicom_core::value::{PixelFragmentSequence, PrimitiveValue};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{FileDicomObject, InMemDicomObject};
use dicom_pixeldata::{PixelDecoder, Transcode};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::one_frame::{FrameFile, Geometry};
use crate::pixels::{collect, Collected, FrameError};
use crate::validate::is_native;

/// Implicit VR Little Endian.
pub const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian.
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
/// Explicit VR Big Endian (retired).
pub const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";

/// The most bytes converted: neither the stored instance nor its pixel data
/// decoded may be larger. A conversion holds the stored bytes, the decoded
/// pixel data and the written result at once (some 3 × 256 MiB at the
/// limit), and at most [`CONVERSIONS_AT_ONCE`] run together, so a burst of
/// requests for a huge study costs a bounded gigabyte and a half, not a
/// gigabyte per request. 256 MiB is a 512 × 512 CT of 500 slices in one
/// enhanced multi-frame instance, or a 4,096 × 5,376 mammogram ten times.
pub const MAX_CONVERTED_BYTES: u64 = 1 << 28;

/// Conversions that run at once; the rest wait. Decoding is CPU-bound, and
/// the machine this is sized for has two cores.
pub const CONVERSIONS_AT_ONCE: usize = 2;

/// Why a conversion was not made.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// Ferry cannot produce that transfer syntax from this one, or the pixel
    /// data would not decode.
    #[error("{0}")]
    Unsupported(String),
    /// The instance is larger than [`MAX_CONVERTED_BYTES`] stored or decoded.
    #[error("{0}")]
    TooLarge(String),
    /// A frame number outside `1..=frames`.
    #[error("frame {0} does not exist (the instance has {1})")]
    NoSuchFrame(u32, u32),
    /// The stored file could not be read.
    #[error("the stored instance could not be read: {0}")]
    Unreadable(String),
}

impl From<FrameError> for TranscodeError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::NoSuchFrame(n, of) => TranscodeError::NoSuchFrame(n, of),
            FrameError::Unreadable(_) => TranscodeError::Unreadable(e.to_string()),
            FrameError::NoPixelData | FrameError::Unsplittable => {
                TranscodeError::Unsupported(e.to_string())
            }
        }
    }
}

/// Whether compressed pixel data of this transfer syntax can be decoded
/// here (12-bit JPEG Extended and JPEG-LS included, by [`decode_in_place`]).
/// Colour JPEG-LS is not, which only its stream tells: it is refused when
/// decoded.
pub fn decodable(transfer_syntax: &str) -> bool {
    matches!(transfer_syntax, JPEG_LS_LOSSLESS | JPEG_LS_NEAR_LOSSLESS)
        || TransferSyntaxRegistry
            .get(transfer_syntax)
            .is_some_and(|ts| {
                ts.is_encapsulated_pixel_data()
                    && ts.can_decode_all()
                    && !ts.is_unsupported_pixel_encapsulation()
            })
}

fn name_of(transfer_syntax: &str) -> String {
    match TransferSyntaxRegistry.get(transfer_syntax) {
        Some(ts) => format!("{} ({transfer_syntax})", ts.name()),
        None => transfer_syntax.to_owned(),
    }
}

/// Why an instance stored in `stored` cannot be sent in `wanted`, judged from
/// the two syntaxes alone; `Ok` when it can (as stored when they are equal).
pub fn check(stored: &str, wanted: &str) -> Result<(), String> {
    if stored == wanted {
        return Ok(());
    }
    if !matches!(wanted, IMPLICIT_VR_LE | EXPLICIT_VR_LE) {
        return Err(format!(
            "Ferry sends instances as stored ({}) or converted to Explicit or Implicit VR Little Endian, not in {}",
            name_of(stored),
            name_of(wanted)
        ));
    }
    if matches!(stored, IMPLICIT_VR_LE | EXPLICIT_VR_LE | EXPLICIT_VR_BE) || decodable(stored) {
        Ok(())
    } else {
        Err(format!(
            "the instance is stored in {}, which Ferry cannot decode; ask for transfer-syntax={stored} or * to get it as stored",
            name_of(stored)
        ))
    }
}

/// The refusal of an instance too large to convert, judged from what the
/// index knows, so that a study's answer is settled before it starts: its
/// stored size, and its pixels (rows × columns × frames) at two bytes each,
/// a 16-bit grey image's size (the index keeps no bit depth; an 8-bit one
/// is held to half its real limit). [`convert`] judges the exact decoded
/// size again from the header, which catches colour.
pub fn check_indexed_size(stored_bytes: u64, pixels: u64) -> Result<(), String> {
    let decoded = pixels.saturating_mul(2);
    if stored_bytes > MAX_CONVERTED_BYTES || decoded > MAX_CONVERTED_BYTES {
        return Err(too_large(stored_bytes.max(decoded)));
    }
    Ok(())
}

fn too_large(bytes: u64) -> String {
    format!(
        "the instance takes {bytes} bytes converted; Ferry converts instances of at most {MAX_CONVERTED_BYTES} bytes (ask for transfer-syntax=* to get it as stored)"
    )
}

/// Bytes of native pixel data the header declares, rounded up to whole bytes.
fn decoded_bytes(g: &Geometry) -> u64 {
    g.total_samples()
        .saturating_mul(g.bits_allocated.max(8).div_ceil(8))
}

/// A stored Part 10 file rewritten in `wanted` (Implicit or Explicit VR
/// Little Endian), with a file meta group that says so and names Ferry as
/// the writer. Blocking and, for compressed pixel data, CPU-heavy: call
/// from `spawn_blocking`.
///
/// Elements after the pixel data (trailing padding, digital signatures,
/// which no longer hold for the rewritten data set) are not carried over.
pub fn convert(part10: &[u8], wanted: &str) -> Result<Vec<u8>, TranscodeError> {
    // A codec assertion on malformed pixel data is a conversion we cannot
    // make, not a server fault.
    std::panic::catch_unwind(|| convert_checked(part10, wanted)).unwrap_or_else(|_| {
        Err(TranscodeError::Unsupported(
            "the pixel data could not be decoded".into(),
        ))
    })
}

fn convert_checked(part10: &[u8], wanted: &str) -> Result<Vec<u8>, TranscodeError> {
    let target = match wanted {
        IMPLICIT_VR_LE => {
            dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased()
        }
        EXPLICIT_VR_LE => {
            dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased()
        }
        other => {
            return Err(TranscodeError::Unsupported(format!(
                "Ferry does not convert to {}",
                name_of(other)
            )))
        }
    };
    if part10.len() as u64 > MAX_CONVERTED_BYTES {
        return Err(TranscodeError::TooLarge(too_large(part10.len() as u64)));
    }
    let collected = collect(part10)?;
    check(&collected.transfer_syntax, wanted).map_err(TranscodeError::Unsupported)?;
    let geometry = Geometry::of(&collected.dataset);
    let has_pixels = !collected.fragments.is_empty();
    if has_pixels && decoded_bytes(&geometry) > MAX_CONVERTED_BYTES {
        return Err(TranscodeError::TooLarge(too_large(decoded_bytes(
            &geometry,
        ))));
    }
    let stored = collected.transfer_syntax.clone();
    // The first item is the basic offset table, the second the first
    // frame's stream (or its first fragment).
    let own = collected
        .fragments
        .get(1)
        .and_then(|first| own_decoder(&stored, first));
    let mut object = if let Some(own) = own {
        let frames = crate::pixels::read_frames(part10)?.frames;
        if frames.len() as u64 != geometry.frames {
            return Err(TranscodeError::Unsupported(format!(
                "{} frames in the pixel data, {} in the header",
                frames.len(),
                geometry.frames
            )));
        }
        let Collected {
            meta, mut dataset, ..
        } = collected;
        let mut samples: Option<Samples> = None;
        let mut near_lossless = false;
        for frame in frames {
            let (decoded, near) = decode_own(own, &stored, &frame, &dataset)?;
            near_lossless |= near > 0;
            match &mut samples {
                None => samples = Some(decoded),
                Some(all) => all.append(decoded)?,
            }
        }
        if let Some(samples) = samples {
            samples.put_into(&mut dataset);
        }
        if near_lossless {
            // Native samples no longer show that they are not the
            // original's; the header must say so (PS3.3 C.7.6.1.1.5).
            dataset.put(DataElement::new(
                tags::LOSSY_IMAGE_COMPRESSION,
                VR::CS,
                PrimitiveValue::from("01"),
            ));
        }
        let mut object = dataset.with_exact_meta(meta);
        after_decoding(&mut object);
        object
    } else {
        object_of(collected)?
    };
    if !is_native(&stored) && has_pixels && own.is_none() {
        object
            .transcode(&target)
            .map_err(|e| TranscodeError::Unsupported(format!("{}: {e}", name_of(&stored))))?;
        after_decoding(&mut object);
    }
    object.update_meta(|meta| {
        meta.set_transfer_syntax(&target);
        meta.implementation_class_uid = crate::dimse::negotiate::IMPLEMENTATION_CLASS_UID.into();
        meta.implementation_version_name =
            Some(crate::dimse::negotiate::IMPLEMENTATION_VERSION_NAME.into());
    });
    let mut out = Vec::with_capacity(part10.len().max(decoded_bytes(&geometry) as usize) + 1024);
    object
        .write_all(&mut out)
        .map_err(|e| TranscodeError::Unsupported(format!("writing {}: {e}", name_of(wanted))))?;
    Ok(out)
}

/// The collected instance as one object again, its pixel data as stored
/// except that native big-endian samples are put in little-endian order
/// (the collector hands pixel data over as the file's bytes, while every
/// other element was decoded into values and is re-encoded by the writer).
fn object_of(collected: Collected) -> Result<FileDicomObject<InMemDicomObject>, TranscodeError> {
    let Collected {
        meta,
        transfer_syntax,
        mut dataset,
        mut fragments,
    } = collected;
    let geometry = Geometry::of(&dataset);
    if fragments.is_empty() {
        // No pixel data: a report, a waveform, a presentation state.
    } else if is_native(&transfer_syntax) {
        let mut pixels = fragments.concat();
        if transfer_syntax == EXPLICIT_VR_BE {
            let width = match geometry.bits_allocated {
                8 => 1,
                16 => 2,
                32 => 4,
                64 => 8,
                other => {
                    return Err(TranscodeError::Unsupported(format!(
                        "big-endian pixel data of {other} bits allocated is not converted"
                    )))
                }
            };
            if width > 1 {
                for word in pixels.chunks_exact_mut(width) {
                    word.reverse();
                }
            }
        }
        let vr = if geometry.bits_allocated > 8 {
            VR::OW
        } else {
            VR::OB
        };
        dataset.put(DataElement::new(
            tags::PIXEL_DATA,
            vr,
            PrimitiveValue::from(pixels),
        ));
    } else {
        // The first item is the basic offset table.
        let table = fragments.remove(0);
        let offsets: Vec<u32> = table
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        dataset.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PixelFragmentSequence::new(offsets, fragments),
        ));
    }
    Ok(dataset.with_exact_meta(meta))
}

/// What decoding changes besides the pixel data: the decoders hand over
/// colour samples interleaved (dicom-pixeldata sets the photometric
/// interpretation but not the planar configuration), and the attributes
/// that describe encapsulated pixel data no longer apply.
fn after_decoding(object: &mut FileDicomObject<InMemDicomObject>) {
    let samples = object
        .get(tags::SAMPLES_PER_PIXEL)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(1);
    if samples > 1 {
        object.put(DataElement::new(
            tags::PLANAR_CONFIGURATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ));
    }
    for tag in [
        tags::EXTENDED_OFFSET_TABLE,
        tags::EXTENDED_OFFSET_TABLE_LENGTHS,
        tags::ENCAPSULATED_PIXEL_DATA_VALUE_TOTAL_LENGTH,
    ] {
        object.remove_element(tag);
    }
}

/// Frames (1-based numbers) of a stored instance as native little-endian
/// samples, decoded when they are compressed; colour comes out RGB,
/// interleaved. Each frame is read and decoded alone. Blocking and
/// CPU-heavy: call from `spawn_blocking`.
pub fn decode_frames(part10: &[u8], wanted: &[u32]) -> Result<Vec<Vec<u8>>, TranscodeError> {
    std::panic::catch_unwind(|| {
        wanted
            .iter()
            .map(|&n| decode_frame(part10, n))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap_or_else(|_| {
        Err(TranscodeError::Unsupported(
            "the pixel data could not be decoded".into(),
        ))
    })
}

fn decode_frame(part10: &[u8], n: u32) -> Result<Vec<u8>, TranscodeError> {
    let file = FrameFile::open(Cursor::new(part10), Cursor::new(part10))?;
    let stored = file.transfer_syntax().to_owned();
    let geometry = file.geometry();
    if !decodable(&stored) {
        return Err(TranscodeError::Unsupported(format!(
            "the frames are stored in {}, which Ferry cannot decode",
            name_of(&stored)
        )));
    }
    let frame_bytes = geometry
        .frame_samples()
        .saturating_mul(geometry.bits_allocated.max(8).div_ceil(8));
    if frame_bytes == 0 {
        return Err(TranscodeError::Unsupported(
            "the image declares no pixels".into(),
        ));
    }
    if frame_bytes > MAX_CONVERTED_BYTES {
        return Err(TranscodeError::TooLarge(format!(
            "a frame of {} rows × {} columns × {} samples is {frame_bytes} bytes decoded; Ferry decodes frames of at most {MAX_CONVERTED_BYTES}",
            geometry.rows, geometry.columns, geometry.samples
        )));
    }
    let index = n
        .checked_sub(1)
        .ok_or(TranscodeError::NoSuchFrame(n, geometry.frames as u32))?;
    let mut object = file.into_frame_object(index)?;
    decode_in_place(&mut object)?;
    let decoded = object
        .decode_pixel_data_frame(0)
        .map_err(|e| TranscodeError::Unsupported(format!("{}: {e}", name_of(&stored))))?;
    let bytes = match decoded.bits_allocated() {
        8 => decoded.data().to_vec(),
        16 => decoded
            .data_ow()
            .into_iter()
            .flat_map(u16::to_le_bytes)
            .collect(),
        other => {
            return Err(TranscodeError::Unsupported(format!(
                "decoded frames of {other} bits allocated are not sent"
            )))
        }
    };
    Ok(bytes)
}

/// JPEG Extended (Process 2 & 4).
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
/// JPEG-LS Lossless.
const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
/// JPEG-LS Near-Lossless.
const JPEG_LS_NEAR_LOSSLESS: &str = "1.2.840.10008.1.2.4.81";

/// A decoder of this crate's own, for pixel data dicom-pixeldata's codecs
/// here do not read.
#[derive(Debug, Clone, Copy)]
enum Own {
    /// JPEG Extended of 12 bits: dicom-pixeldata's JPEG decoder reads 8-bit
    /// DCT streams only.
    Jpeg12,
    /// JPEG-LS: dicom-pixeldata's codec is CharLS, C++.
    JpegLs,
}

/// Which of this crate's decoders reads pixel data of this syntax whose
/// first frame's stream is `first`, if one does.
fn own_decoder(transfer_syntax: &str, first: &[u8]) -> Option<Own> {
    match transfer_syntax {
        JPEG_EXTENDED if jpeg12::precision(first) == Some(12) => Some(Own::Jpeg12),
        JPEG_LS_LOSSLESS | JPEG_LS_NEAR_LOSSLESS => Some(Own::JpegLs),
        _ => None,
    }
}

/// Native samples out of this crate's own decoders, one frame's or more.
#[derive(Debug)]
enum Samples {
    /// Bits Allocated 8.
    Bytes(Vec<u8>),
    /// Bits Allocated 16, as numbers (written little endian).
    Words(Vec<u16>),
}

impl Samples {
    fn append(&mut self, more: Samples) -> Result<(), TranscodeError> {
        match (self, more) {
            (Samples::Bytes(all), Samples::Bytes(more)) => all.extend(more),
            (Samples::Words(all), Samples::Words(more)) => all.extend(more),
            _ => {
                return Err(TranscodeError::Unsupported(
                    "frames of different sample sizes".into(),
                ))
            }
        }
        Ok(())
    }

    fn put_into(self, dataset: &mut InMemDicomObject) {
        let (vr, value) = match self {
            Samples::Bytes(bytes) => (VR::OB, PrimitiveValue::U8(bytes.into())),
            Samples::Words(words) => (VR::OW, PrimitiveValue::U16(words.into())),
        };
        dataset.put(DataElement::new(tags::PIXEL_DATA, vr, value));
    }
}

/// One frame decoded by `own`, checked against the data set's header, and
/// the stream's NEAR (0 but for near-lossless JPEG-LS).
fn decode_own(
    own: Own,
    transfer_syntax: &str,
    stream: &[u8],
    dataset: &InMemDicomObject,
) -> Result<(Samples, u8), TranscodeError> {
    let geometry = Geometry::of(dataset);
    match own {
        Own::Jpeg12 => {
            let samples = jpeg12::decode(stream, geometry.rows, geometry.columns)
                .map_err(|e| TranscodeError::Unsupported(format!("12-bit JPEG Extended: {e}")))?;
            Ok((Samples::Words(samples), 0))
        }
        Own::JpegLs => {
            let expected = jpegls::Expected {
                rows: geometry.rows,
                columns: geometry.columns,
                samples: geometry.samples,
                bits_allocated: geometry.bits_allocated,
                signed: dataset
                    .get(tags::PIXEL_REPRESENTATION)
                    .and_then(|e| e.to_int::<u16>().ok())
                    == Some(1),
            };
            let decoded = jpegls::decode(stream, &expected).map_err(|e| {
                TranscodeError::Unsupported(format!("{}: {e}", name_of(transfer_syntax)))
            })?;
            Ok((decoded.samples, decoded.near))
        }
    }
}

/// Decodes, in place, one-frame pixel data that this crate decodes itself
/// where dicom-pixeldata's codecs stop ([`Own`]). The object then holds
/// native samples and says Explicit VR Little Endian. Anything else is
/// left as it is for dicom-pixeldata to decode.
pub(crate) fn decode_in_place(
    object: &mut FileDicomObject<InMemDicomObject>,
) -> Result<(), TranscodeError> {
    let stored = object
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_owned();
    if !matches!(
        stored.as_str(),
        JPEG_EXTENDED | JPEG_LS_LOSSLESS | JPEG_LS_NEAR_LOSSLESS
    ) {
        return Ok(());
    }
    let stream = match object.element(tags::PIXEL_DATA).map(|e| e.value()) {
        Ok(dicom_core::DicomValue::PixelSequence(sequence)) => sequence.fragments().concat(),
        _ => return Ok(()),
    };
    let Some(own) = own_decoder(&stored, &stream) else {
        return Ok(());
    };
    let (samples, _) = decode_own(own, &stored, &stream, object)?;
    samples.put_into(object);
    object.update_meta(|meta| {
        meta.set_transfer_syntax(
            &dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN,
        )
    });
    Ok(())
}

mod jpeg12;
mod jpegls;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fixture;

    fn pixel_data(file: &[u8]) -> Vec<u8> {
        let object = dicom_object::OpenFileOptions::new()
            .from_reader(&file[128..])
            .expect("parses");
        object
            .element(tags::PIXEL_DATA)
            .expect("pixel data")
            .to_bytes()
            .expect("bytes")
            .into_owned()
    }

    fn transfer_syntax(file: &[u8]) -> String {
        let object = dicom_object::OpenFileOptions::new()
            .from_reader(&file[128..])
            .expect("parses");
        object
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_owned()
    }

    #[test]
    fn native_syntaxes_convert_into_each_other_and_big_endian_pixels_turn_little_endian() {
        let little = fixture("MR_small.dcm");
        let big = fixture("MR_small_bigendian.dcm");
        for (from, wanted) in [
            (&big, EXPLICIT_VR_LE),
            (&big, IMPLICIT_VR_LE),
            (&little, IMPLICIT_VR_LE),
        ] {
            let converted = convert(from, wanted).expect("converted");
            assert_eq!(transfer_syntax(&converted), wanted);
            assert_eq!(pixel_data(&converted), pixel_data(&little), "{wanted}");
        }
    }

    #[test]
    fn what_cannot_be_made_is_refused_with_the_reason() {
        let why = check(EXPLICIT_VR_LE, "1.2.840.10008.1.2.4.50").expect_err("no encoder");
        assert!(why.contains("JPEG Baseline"), "{why}");
        let why = check("1.2.840.10008.1.2.4.100", EXPLICIT_VR_LE).expect_err("no video decoder");
        assert!(why.contains("1.2.840.10008.1.2.4.100"), "{why}");
        assert!(check("1.2.840.10008.1.2.5", EXPLICIT_VR_LE).is_ok());
        assert!(check(EXPLICIT_VR_BE, IMPLICIT_VR_LE).is_ok());
        assert!(check_indexed_size(MAX_CONVERTED_BYTES + 1, 1).is_err());
        assert!(check_indexed_size(1024, 512 * 512 * 500).is_ok());
        assert!(check_indexed_size(1024, 4096 * 4096 * 100).is_err());
    }
}
