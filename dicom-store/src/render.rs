//! Rendered images and thumbnails (PS3.18 §10.4.1.1.3): one frame decoded,
//! windowed to 8 bits, scaled to a viewport, and encoded as JPEG or PNG.
//!
//! Decoding covers native pixel data, RLE Lossless and the JPEG process 1/2/4
//! and lossless syntaxes, all in pure Rust. Any other syntax (JPEG 2000,
//! JPEG-LS, deflate, video) is [`RenderError::Unsupported`], which WADO-RS
//! answers with 406: never a wrong picture.

use std::io::Cursor;

use dicom_dictionary_std::tags;

use crate::pixels::FrameError;

/// The largest decoded frame rendered: 16k × 16k × 16-bit, or a 4k RGB
/// colour frame many times over.
const MAX_FRAME_BYTES: u64 = 512 << 20;
use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutOption, WindowLevel};
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `image/jpeg`, lossy, for viewing over thin links.
    Jpeg,
    /// `image/png`, lossless.
    Png,
}

impl Format {
    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        }
    }
}

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rendering {
    /// 0-based frame.
    pub frame: u32,
    /// `(center, width)`; `None` uses the instance's own window, or the full
    /// range when it has none.
    pub window: Option<(f64, f64)>,
    /// Largest width and height; the aspect ratio is kept.
    pub viewport: Option<(u32, u32)>,
    /// Output format.
    pub format: Format,
    /// JPEG quality, 1–100.
    pub quality: u8,
}

/// Why an instance could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The transfer syntax or photometric interpretation cannot be decoded here.
    #[error("cannot render this instance: {0}")]
    Unsupported(String),
    /// No such frame.
    #[error("frame {0} does not exist (the instance has {1})")]
    NoSuchFrame(u32, u32),
    /// The stored file could not be read.
    #[error("the stored instance could not be read: {0}")]
    Unreadable(String),
}

/// Renders one frame of a Part 10 file held in memory. Blocking and
/// CPU-heavy: call from `spawn_blocking`.
pub fn render(file: &[u8], how: &Rendering) -> Result<Vec<u8>, RenderError> {
    // A codec assertion on malformed pixel data is a picture we cannot
    // make, not a server fault.
    std::panic::catch_unwind(|| render_checked(file, how)).unwrap_or_else(|_| {
        Err(RenderError::Unsupported(
            "the pixel data could not be decoded".into(),
        ))
    })
}

fn render_checked(file: &[u8], how: &Rendering) -> Result<Vec<u8>, RenderError> {
    let object = crate::pixels::load_object(file).map_err(|e| match e {
        FrameError::NoPixelData => {
            RenderError::Unsupported("the instance has no pixel data".into())
        }
        other => RenderError::Unreadable(other.to_string()),
    })?;
    let transfer_syntax = object
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_owned();
    // Decoding allocates what Rows, Columns and the sample size declare, so
    // those are checked first: a hostile header must not cost gigabytes.
    let int = |tag| -> u64 {
        object
            .get(tag)
            .and_then(|e| e.to_int::<u64>().ok())
            .unwrap_or(0)
    };
    let frames = (int(tags::NUMBER_OF_FRAMES).max(1)) as u32;
    if how.frame >= frames {
        return Err(RenderError::NoSuchFrame(how.frame + 1, frames));
    }
    let frame_bytes = int(tags::ROWS)
        .saturating_mul(int(tags::COLUMNS))
        .saturating_mul(int(tags::SAMPLES_PER_PIXEL).max(1))
        .saturating_mul(int(tags::BITS_ALLOCATED).max(8) / 8);
    if frame_bytes == 0 || frame_bytes > MAX_FRAME_BYTES {
        return Err(RenderError::Unsupported(format!(
            "a frame of {frame_bytes} bytes is outside what Ferry renders (1 to {MAX_FRAME_BYTES})"
        )));
    }
    // One frame only: a multi-frame object is not decoded whole for one picture.
    let decoded = object
        .decode_pixel_data_frame(how.frame)
        .map_err(|e| RenderError::Unsupported(format!("transfer syntax {transfer_syntax}: {e}")))?;
    let voi = match how.window {
        Some((center, width)) => VoiLutOption::Custom(WindowLevel { center, width }),
        None => VoiLutOption::First,
    };
    // Windowed to 16 bits (dicom-pixeldata builds its LUTs for the target
    // type, and has none from high bit depths to 8), then the top byte kept.
    let options = ConvertOptions::new().with_voi_lut(voi);
    let pixels: Vec<u8> = if decoded.bits_allocated() > 8 {
        decoded
            .to_vec_frame_with_options::<u16>(0, &options)
            .map_err(|e| RenderError::Unsupported(e.to_string()))?
            .into_iter()
            .map(|v| (v >> 8) as u8)
            .collect()
    } else {
        decoded
            .to_vec_frame_with_options::<u8>(0, &options)
            .map_err(|e| RenderError::Unsupported(e.to_string()))?
    };
    let (width, height) = (decoded.columns(), decoded.rows());
    let photometric = decoded.photometric_interpretation().as_str().to_owned();
    let image = match decoded.samples_per_pixel() {
        1 => {
            // MONOCHROME1 shows low values as white; convert for display.
            let pixels = if photometric == "MONOCHROME1" {
                pixels.into_iter().map(|v| 255 - v).collect()
            } else {
                pixels
            };
            GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        }
        3 => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
        n => {
            return Err(RenderError::Unsupported(format!(
                "{n} samples per pixel ({photometric})"
            )))
        }
    }
    .ok_or_else(|| RenderError::Unsupported("pixel data shorter than its frame".into()))?;
    let image = match how.viewport {
        Some((w, h)) if w > 0 && h > 0 && (w < width || h < height) => {
            image.resize(w, h, image::imageops::FilterType::Triangle)
        }
        _ => image,
    };
    encode(&image, how.format, how.quality)
}

pub(crate) fn encode(
    image: &DynamicImage,
    format: Format,
    quality: u8,
) -> Result<Vec<u8>, RenderError> {
    let mut out = Cursor::new(Vec::new());
    let result = match format {
        Format::Png => image.write_to(&mut out, ImageFormat::Png),
        Format::Jpeg => {
            let encoder =
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
            image.write_with_encoder(encoder)
        }
    };
    result.map_err(|e| RenderError::Unsupported(format!("encoding: {e}")))?;
    Ok(out.into_inner())
}
