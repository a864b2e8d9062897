//! The plot rasterised: the grid in ECG-paper red, then every stroke and
//! glyph into one coverage mask that is laid over it in black once, so
//! where strokes overlap (a trace's joints) they do not darken twice.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};

use super::font;
use super::layout::{self, Plot, TEXT};
use super::svg::{MAJOR, MINOR};
use super::{Ecg, EcgError};

/// Raster resolution: 5 px/mm, about 127 dpi, enough for 1 mm grid squares
/// of five pixels.
pub const PX_PER_MM: f64 = 5.0;
/// Half the pen's width, in pixels (a 0.3 mm pen).
const HALF_PEN: f64 = 0.15 * PX_PER_MM;

/// Draws `ecg` at [`PX_PER_MM`].
pub fn raster(ecg: &Ecg) -> RgbImage {
    draw(&layout::plot(ecg))
}

pub(crate) fn encode(image: &RgbImage, format: ImageFormat) -> Result<Vec<u8>, EcgError> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .map_err(|e| EcgError::Encoding(e.to_string()))?;
    Ok(out.into_inner())
}

fn draw(plot: &Plot) -> RgbImage {
    let width = px(plot.width).ceil() as u32;
    let height = px(plot.height).ceil() as u32;
    let mut image = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    grid(&mut image, plot);
    let mut ink = Mask::new(width, height);
    for line in plot
        .pulses
        .iter()
        .chain(plot.traces.iter().map(|t| &t.points))
    {
        for pair in line.windows(2) {
            ink.segment(
                (px(pair[0].0), px(pair[0].1)),
                (px(pair[1].0), px(pair[1].1)),
            );
        }
    }
    for label in &plot.labels {
        ink.text(px(label.x), px(label.y), &label.text);
    }
    for (pixel, coverage) in image.pixels_mut().zip(&ink.coverage) {
        for channel in &mut pixel.0 {
            *channel = (f32::from(*channel) * (1.0 - coverage)).round() as u8;
        }
    }
    image
}

fn px(mm: f64) -> f64 {
    mm * PX_PER_MM
}

/// One-pixel minor lines every millimetre, two-pixel major lines every 5 mm.
fn grid(image: &mut RgbImage, plot: &Plot) {
    let [left, top, width, height] = plot.grid;
    let (x0, y0) = (px(left).round() as u32, px(top).round() as u32);
    let (x1, y1) = (
        px(left + width).round() as u32,
        px(top + height).round() as u32,
    );
    for (step, colour, thickness) in [(1, MINOR, 1), (5, MAJOR, 2)] {
        for i in (0..=width.round() as u32).step_by(step) {
            let x = px(left + f64::from(i)).round() as u32;
            fill(image, x, y0, thickness, y1 - y0 + 1, colour);
        }
        for i in (0..=height.round() as u32).step_by(step) {
            let y = px(top + f64::from(i)).round() as u32;
            fill(image, x0, y, x1 - x0 + 1, thickness, colour);
        }
    }
}

fn fill(image: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: [u8; 3]) {
    for yy in y..(y + h).min(image.height()) {
        for xx in x..(x + w).min(image.width()) {
            image.put_pixel(xx, yy, Rgb(colour));
        }
    }
}

/// How much ink covers each pixel, 0 to 1.
struct Mask {
    width: u32,
    height: u32,
    coverage: Vec<f32>,
}

impl Mask {
    fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            coverage: vec![0.0; width as usize * height as usize],
        }
    }

    fn cover(&mut self, x: i64, y: i64, amount: f64) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let cell = &mut self.coverage[y as usize * self.width as usize + x as usize];
        *cell = cell.max(amount as f32);
    }

    /// An anti-aliased stroke of the pen's width: each pixel near the
    /// segment is covered by how far its centre lies inside the stroke.
    fn segment(&mut self, a: (f64, f64), b: (f64, f64)) {
        let reach = HALF_PEN + 1.0;
        let (x0, x1) = (a.0.min(b.0) - reach, a.0.max(b.0) + reach);
        let (y0, y1) = (a.1.min(b.1) - reach, a.1.max(b.1) + reach);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let length2 = dx * dx + dy * dy;
        for y in y0.floor() as i64..=y1.ceil() as i64 {
            for x in x0.floor() as i64..=x1.ceil() as i64 {
                let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
                let t = if length2 > 0.0 {
                    (((cx - a.0) * dx + (cy - a.1) * dy) / length2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let distance = (cx - a.0 - t * dx).hypot(cy - a.1 - t * dy);
                let amount = (HALF_PEN + 0.5 - distance).clamp(0.0, 1.0);
                if amount > 0.0 {
                    self.cover(x, y, amount);
                }
            }
        }
    }

    /// Text in the built-in font, scaled to [`TEXT`], its baseline at `y`.
    fn text(&mut self, x: f64, y: f64, text: &str) {
        let scale = (px(TEXT) / font::HEIGHT as f64).round().max(1.0) as i64;
        let top = y.round() as i64 - font::HEIGHT as i64 * scale;
        let mut left = x.round() as i64;
        for c in text.chars() {
            if let Some(rows) = font::glyph(c) {
                for (r, bits) in rows.iter().enumerate() {
                    for col in 0..font::WIDTH {
                        if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                            for dy in 0..scale {
                                for dx in 0..scale {
                                    let gx = left + col as i64 * scale + dx;
                                    let gy = top + r as i64 * scale + dy;
                                    self.cover(gx, gy, 1.0);
                                }
                            }
                        }
                    }
                }
            }
            left += (font::WIDTH as i64 + 1) * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stroke_is_solid_along_its_middle_and_fades_at_its_edges() {
        let mut mask = Mask::new(20, 20);
        mask.segment((2.0, 10.5), (18.0, 10.5));
        let at = |x: usize, y: usize| mask.coverage[y * 20 + x];
        assert_eq!(at(10, 10), 1.0);
        assert!(at(10, 11) > 0.0 && at(10, 11) < 1.0, "{}", at(10, 11));
        assert_eq!(at(10, 13), 0.0);
        assert_eq!(at(10, 2), 0.0);
    }
}
