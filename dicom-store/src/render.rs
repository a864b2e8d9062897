//! Rendered images and thumbnails (PS3.18 §10.4.1.1.3): one frame decoded,
//! windowed to 8 bits, scaled to a viewport, and encoded as JPEG or PNG.
//!
//! Decoding covers native pixel data, RLE Lossless, the JPEG processes 1, 2
//! and 4 (8 and 12 bits; 12-bit streams by [`crate::transcode`]) and the
//! lossless ones, JPEG 2000 (the pure-Rust port of OpenJPEG) and greyscale
//! JPEG-LS (by [`crate::transcode`] too). Any other syntax or stream (colour
//! JPEG-LS, video, deflated frames) is [`RenderError::Unsupported`], which
//! WADO-RS answers with 406: never a wrong picture.
//!
//! A stored file is read for its header and then for the one frame drawn
//! ([`crate::one_frame`]), never whole, and the image's declared size is
//! judged first: more than [`MAX_SAMPLES`] in all or [`MAX_FRAME_SAMPLES`]
//! in the frame is [`RenderError::TooLarge`] (422, with the sizes), before
//! a byte of pixel data is read or a buffer sized by the header is made.

use std::io::{Cursor, Read, Seek};
use std::path::Path;

use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutOption, WindowLevel};
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};

use crate::one_frame::{FrameFile, Geometry};
use crate::pixels::FrameError;

/// The most samples (rows × columns × samples per pixel) in the frame
/// rendered: its decoding holds a few copies of it (stored, decoded,
/// windowed), some 200 MB at 16 bits. 2²⁵ is a 5,792² grey frame, more than
/// a mammogram's 4,096 × 5,376, or a 3,344² colour one.
pub const MAX_FRAME_SAMPLES: u64 = 1 << 25;

/// The most samples (rows × columns × frames × samples per pixel) in an
/// image rendered at all: one frame is read and decoded, but a bigger
/// declared image is a header no modality writes (2³⁰ holds a 70-frame
/// breast tomosynthesis or 4,096 frames of 512 × 512).
pub const MAX_SAMPLES: u64 = 1 << 30;

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
    /// The image declares more pixels than [`MAX_SAMPLES`], or a frame
    /// more than [`MAX_FRAME_SAMPLES`]; refused before anything is decoded.
    #[error("the image is too large to render: {0}")]
    TooLarge(String),
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
    guarded(
        || FrameFile::open(Cursor::new(file), Cursor::new(file)),
        how,
    )
}

/// Renders one frame of a stored file, reading the header and that frame
/// only. Blocking and CPU-heavy: call from `spawn_blocking`.
pub fn render_file(path: &Path, how: &Rendering) -> Result<Vec<u8>, RenderError> {
    guarded(|| FrameFile::open_path(path), how)
}

fn guarded<S: Read + Seek>(
    open: impl FnOnce() -> Result<FrameFile<S>, FrameError> + std::panic::UnwindSafe,
    how: &Rendering,
) -> Result<Vec<u8>, RenderError> {
    // A codec assertion on malformed pixel data is a picture we cannot
    // make, not a server fault.
    std::panic::catch_unwind(|| render_checked(open()?, how)).unwrap_or_else(|_| {
        Err(RenderError::Unsupported(
            "the pixel data could not be decoded".into(),
        ))
    })
}

impl From<FrameError> for RenderError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::NoPixelData => {
                RenderError::Unsupported("the instance has no pixel data".into())
            }
            FrameError::NoSuchFrame(n, of) => RenderError::NoSuchFrame(n, of),
            FrameError::Unsplittable => RenderError::Unsupported(e.to_string()),
            FrameError::Unreadable(_) => RenderError::Unreadable(e.to_string()),
        }
    }
}

/// Refuses, from the header alone, an image too large to render.
fn check_size(g: &Geometry) -> Result<(), RenderError> {
    let described = || {
        format!(
            "{} rows × {} columns × {} frames × {} samples per pixel = {} samples",
            g.rows,
            g.columns,
            g.frames,
            g.samples,
            g.total_samples()
        )
    };
    if g.frame_samples() == 0 {
        return Err(RenderError::Unsupported(format!(
            "the image declares no pixels ({})",
            described()
        )));
    }
    if g.frame_samples() > MAX_FRAME_SAMPLES {
        return Err(RenderError::TooLarge(format!(
            "one frame has {} samples ({}); Ferry renders frames of at most {MAX_FRAME_SAMPLES}",
            g.frame_samples(),
            described()
        )));
    }
    if g.total_samples() > MAX_SAMPLES {
        return Err(RenderError::TooLarge(format!(
            "{}; Ferry renders images of at most {MAX_SAMPLES}",
            described()
        )));
    }
    Ok(())
}

fn render_checked<S: Read + Seek>(
    file: FrameFile<S>,
    how: &Rendering,
) -> Result<Vec<u8>, RenderError> {
    let transfer_syntax = file.transfer_syntax().to_owned();
    // Decoding allocates what Rows, Columns and the sample size declare, so
    // those are judged before any pixel is read: a hostile header must not
    // cost gigabytes.
    let geometry = file.geometry();
    check_size(&geometry)?;
    if u64::from(how.frame) >= geometry.frames {
        return Err(RenderError::NoSuchFrame(
            how.frame + 1,
            geometry.frames as u32,
        ));
    }
    // One frame only: a multi-frame object is neither read nor decoded
    // whole for one picture.
    let mut object = file.into_frame_object(how.frame)?;
    crate::transcode::decode_in_place(&mut object)
        .map_err(|e| RenderError::Unsupported(e.to_string()))?;
    let decoded = object
        .decode_pixel_data_frame(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(rows: u64, columns: u64, frames: u64, samples: u64) -> Geometry {
        Geometry {
            rows,
            columns,
            frames,
            samples,
            bits_allocated: 16,
        }
    }

    #[test]
    fn images_past_the_pixel_limits_are_refused_with_their_size() {
        assert!(
            check_size(&geometry(4096, 5376, 1, 1)).is_ok(),
            "a mammogram"
        );
        assert!(
            check_size(&geometry(512, 512, 4096, 1)).is_ok(),
            "a long cine"
        );
        let Err(RenderError::TooLarge(why)) = check_size(&geometry(6000, 6000, 1, 1)) else {
            panic!("a 6000² frame is over the frame limit");
        };
        assert!(why.contains("6000 rows × 6000 columns × 1 frames"), "{why}");
        let Err(RenderError::TooLarge(why)) = check_size(&geometry(4096, 4096, 100, 1)) else {
            panic!("100 frames of 4096² are over the image limit");
        };
        assert!(why.contains(&format!("at most {MAX_SAMPLES}")), "{why}");
        assert!(matches!(
            check_size(&geometry(0, 512, 1, 1)),
            Err(RenderError::Unsupported(_))
        ));
    }
}
