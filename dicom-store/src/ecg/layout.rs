//! Where everything goes on the page, in millimetres from the top-left
//! corner: one drawing that the SVG writer and the rasteriser both render,
//! so the two outputs cannot drift apart.

use super::{Ecg, MM_PER_MILLIVOLT, MM_PER_SECOND};

/// White space around the grid.
pub(crate) const MARGIN: f64 = 5.0;
/// The band above the grid that holds the caption.
pub(crate) const HEADER: f64 = 8.0;
/// Room at the start of each row for the calibration pulse.
pub(crate) const CALIBRATION: f64 = 10.0;
/// Height of one row (six 5 mm squares).
pub(crate) const ROW: f64 = 30.0;
/// Baseline of a row below its top: more room above, where QRS peaks go.
const BASELINE: f64 = 18.0;
/// Height of label text.
pub(crate) const TEXT: f64 = 3.5;
/// Longest stretch shown in one column of the 3 × 4 grid.
const COLUMN_SECONDS: f64 = 2.5;
/// Longest rhythm strip.
const RHYTHM_SECONDS: f64 = 10.0;
/// Samples closer together than this are thinned to their extremes: finer
/// detail than a pen's width is invisible, while peaks (QRS, pacing spikes)
/// keep their height.
const BIN: f64 = 0.1;

/// The 3 × 4 layout row by row, then the rhythm strip.
static ROWS: [&[&str]; 4] = [
    &["I", "aVR", "V1", "V4"],
    &["II", "aVL", "V2", "V5"],
    &["III", "aVF", "V3", "V6"],
    &["II"],
];

/// A drawing of a 12-lead ECG.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plot {
    /// Page size.
    pub width: f64,
    pub height: f64,
    /// The grid: left, top, width, height; whole 5 mm squares.
    pub grid: [f64; 4],
    /// Every lead segment, then the rhythm strip.
    pub traces: Vec<Trace>,
    /// One calibration pulse per row.
    pub pulses: Vec<Vec<(f64, f64)>>,
    /// Lead names, then the caption.
    pub labels: Vec<Label>,
}

/// One lead's polyline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Trace {
    pub lead: &'static str,
    pub rhythm: bool,
    pub points: Vec<(f64, f64)>,
}

/// Text placed with its baseline's left end at `(x, y)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Label {
    pub x: f64,
    pub y: f64,
    pub text: String,
    pub caption: bool,
}

/// Lays out the plot of `ecg`.
pub(crate) fn plot(ecg: &Ecg) -> Plot {
    let duration = ecg.duration();
    let column = duration.min(COLUMN_SECONDS);
    // Ten seconds or more: the classic consecutive windows. Less: every
    // column shows the same window.
    let consecutive = duration >= 4.0 * COLUMN_SECONDS;
    let column_mm = column * MM_PER_SECOND;
    let grid_width = whole_squares(CALIBRATION + 4.0 * column_mm);
    let grid = [MARGIN, MARGIN + HEADER, grid_width, 4.0 * ROW];
    let trace_left = grid[0] + CALIBRATION;

    let mut traces = Vec::with_capacity(13);
    let mut labels = Vec::with_capacity(14);
    let mut pulses = Vec::with_capacity(4);
    for (r, leads) in ROWS.iter().enumerate() {
        let top = grid[1] + r as f64 * ROW;
        let baseline = top + BASELINE;
        pulses.push(pulse(grid[0], baseline));
        let rhythm = r == 3;
        for (c, lead) in leads.iter().enumerate() {
            let (start, seconds) = match (rhythm, consecutive) {
                (true, _) => (0.0, duration.min(RHYTHM_SECONDS)),
                (false, true) => (c as f64 * column, column),
                (false, false) => (0.0, column),
            };
            let left = trace_left + c as f64 * column_mm;
            let lead = *lead;
            let Some(samples) = ecg.lead(lead).map(|l| &l.microvolts[..]) else {
                continue;
            };
            traces.push(Trace {
                lead,
                rhythm,
                points: points(
                    samples,
                    ecg.sampling_frequency,
                    start,
                    seconds,
                    left,
                    baseline,
                ),
            });
            labels.push(Label {
                x: left + 1.0,
                y: top + 1.5 + TEXT,
                text: lead.to_owned(),
                caption: false,
            });
        }
    }
    labels.push(Label {
        x: MARGIN,
        y: MARGIN + TEXT + 1.0,
        text: caption(ecg.sampling_frequency),
        caption: true,
    });
    Plot {
        width: grid[2] + 2.0 * MARGIN,
        height: grid[1] + grid[3] + MARGIN,
        grid,
        traces,
        pulses,
        labels,
    }
}

/// Rounds a length up to whole 5 mm squares.
fn whole_squares(mm: f64) -> f64 {
    (mm / 5.0).ceil().max(1.0) * 5.0
}

/// "25 mm/s  10 mm/mV  500 Hz".
fn caption(sampling_frequency: f64) -> String {
    let hz = if sampling_frequency.fract() == 0.0 {
        format!("{sampling_frequency:.0}")
    } else {
        format!("{sampling_frequency:.1}")
    };
    format!("{MM_PER_SECOND:.0} mm/s  {MM_PER_MILLIVOLT:.0} mm/mV  {hz} Hz")
}

/// A 1 mV, 0.2 s square pulse standing on the row's baseline.
fn pulse(left: f64, baseline: f64) -> Vec<(f64, f64)> {
    let top = baseline - MM_PER_MILLIVOLT;
    let (rise, fall) = (left + 2.5, left + 2.5 + 0.2 * MM_PER_SECOND);
    vec![
        (left + 1.0, baseline),
        (rise, baseline),
        (rise, top),
        (fall, top),
        (fall, baseline),
        (left + CALIBRATION - 1.0, baseline),
    ]
}

/// The samples from `start` for `seconds`, placed from `left` on `baseline`
/// (up is positive), thinned to the minimum and maximum of each [`BIN`].
fn points(
    microvolts: &[f32],
    hz: f64,
    start: f64,
    seconds: f64,
    left: f64,
    baseline: f64,
) -> Vec<(f64, f64)> {
    let first = ((start * hz).round() as usize).min(microvolts.len());
    let count = ((seconds * hz).round() as usize).min(microvolts.len() - first);
    let window = &microvolts[first..first + count];
    let dx = MM_PER_SECOND / hz;
    let at = |i: usize| {
        let y = baseline - f64::from(window[i]) / 1000.0 * MM_PER_MILLIVOLT;
        (left + i as f64 * dx, y)
    };
    let per_bin = (BIN / dx).floor() as usize;
    if per_bin <= 2 {
        return (0..window.len()).map(at).collect();
    }
    let mut out = Vec::with_capacity(2 * window.len() / per_bin + 2);
    for (b, bin) in window.chunks(per_bin).enumerate() {
        let base = b * per_bin;
        let mut low = 0;
        let mut high = 0;
        for (i, v) in bin.iter().enumerate() {
            if *v < bin[low] {
                low = i;
            }
            if *v > bin[high] {
                high = i;
            }
        }
        let (a, z) = (low.min(high), low.max(high));
        out.push(at(base + a));
        if z != a {
            out.push(at(base + z));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_every_peak() {
        // 1 kHz: 0.025 mm a sample, four to a bin.
        let mut samples = vec![0.0f32; 100];
        samples[41] = 1500.0;
        samples[42] = -300.0;
        let points = points(&samples, 1000.0, 0.0, 1.0, 0.0, 50.0);
        assert!(points.len() < samples.len() / 2 + 2);
        let top = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let bottom = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        assert!((top - (50.0 - 15.0)).abs() < 1e-9);
        assert!((bottom - (50.0 + 3.0)).abs() < 1e-9);
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0), "x increases");
    }

    #[test]
    fn the_caption_names_speed_gain_and_rate() {
        assert_eq!(caption(500.0), "25 mm/s  10 mm/mV  500 Hz");
        assert_eq!(caption(499.5), "25 mm/s  10 mm/mV  499.5 Hz");
    }
}
