//! 12-lead ECG plots of DICOM waveform instances (12-lead ECG and General
//! ECG storage, PS3.3 A.34), drawn the way a cardiologist reads them on
//! paper: 25 mm/s, 10 mm/mV on a 1 mm / 5 mm grid, leads in three rows of
//! four 2.5 s columns (I, aVR, V1, V4 / II, aVL, V2, V5 / III, aVF, V3, V6)
//! under a 1 mV calibration pulse each, and a lead II rhythm strip of up to
//! 10 s along the bottom.
//!
//! - [`parse`] reads the multiplex group to plot into an [`Ecg`]: twelve
//!   leads, by name, in microvolts.
//! - [`svg`], [`raster`] and [`render_ecg`] draw it: SVG in millimetres,
//!   or a PNG/JPEG raster at [`PX_PER_MM`].
//!
//! A record shorter than 10 s (a median beat, say) shows the same window in
//! every column, so the twelve complexes line up as they do on a median-beat
//! printout.
//!
//! Nothing is allocated from a count the file declares: the samples are
//! taken from the waveform data actually present, after checking that it
//! holds exactly samples × channels values, and the drawing's size depends
//! only on the plot's fixed layout.

mod font;
mod layout;
mod parse;
mod raster;
mod svg;

pub use parse::parse;
pub use raster::{raster, PX_PER_MM};
pub use svg::svg;

/// SOP Class UID of 12-lead ECG Waveform Storage.
pub const TWELVE_LEAD_ECG: &str = "1.2.840.10008.5.1.4.1.1.9.1.1";
/// SOP Class UID of General ECG Waveform Storage.
pub const GENERAL_ECG: &str = "1.2.840.10008.5.1.4.1.1.9.1.2";

/// The twelve leads, in the order [`Ecg::leads`] holds them.
pub const LEADS: [&str; 12] = [
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
];

/// Paper speed.
pub const MM_PER_SECOND: f64 = 25.0;
/// Gain.
pub const MM_PER_MILLIVOLT: f64 = 10.0;

/// Whether a SOP class is one this module plots.
pub fn is_ecg(sop_class_uid: &str) -> bool {
    matches!(
        sop_class_uid.trim_end_matches('\0'),
        TWELVE_LEAD_ECG | GENERAL_ECG
    )
}

/// One multiplex group of a 12-lead ECG, ready to plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Ecg {
    /// Samples per second.
    pub sampling_frequency: f64,
    /// The group's Multiplex Group Label (`RHYTHM`, `MEDIAN BEAT`), if any.
    pub group_label: Option<String>,
    /// The twelve leads in the order of [`LEADS`], each with as many samples.
    pub leads: Vec<Lead>,
}

/// One lead of an [`Ecg`].
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    /// Its name, one of [`LEADS`].
    pub label: &'static str,
    /// Its samples in microvolts, baseline and sensitivity applied.
    pub microvolts: Vec<f32>,
}

impl Ecg {
    /// The lead with this name.
    pub fn lead(&self, label: &str) -> Option<&Lead> {
        self.leads.iter().find(|l| l.label == label)
    }

    /// Samples per lead.
    pub fn samples(&self) -> usize {
        self.leads.first().map_or(0, |l| l.microvolts.len())
    }

    /// The record's length in seconds.
    pub fn duration(&self) -> f64 {
        self.samples() as f64 / self.sampling_frequency
    }
}

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcgFormat {
    /// `image/svg+xml`, in millimetres: scales without loss, and the traces
    /// stay inspectable.
    Svg,
    /// `image/png`.
    Png,
    /// `image/jpeg`, for clients that take nothing else (thumbnails).
    Jpeg,
}

impl EcgFormat {
    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Svg => "image/svg+xml",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }
}

/// Why a waveform could not be plotted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EcgError {
    /// The file could not be read as DICOM.
    #[error("the waveform could not be read: {0}")]
    Unreadable(String),
    /// The instance is not an ECG waveform; the value is its SOP class.
    #[error("not an ECG waveform (SOP class {0})")]
    NotEcg(String),
    /// A required attribute is absent or unusable; the value is its keyword.
    #[error("the waveform lacks a usable {0}")]
    Missing(&'static str),
    /// The multiplex group to plot does not have twelve channels.
    #[error("a 12-lead plot needs 12 channels; this waveform has {0}")]
    ChannelCount(usize),
    /// Samples other than signed 16-bit.
    #[error(
        "waveform samples are {interpretation} in {bits} bits; only SS in 16 bits is supported"
    )]
    SampleFormat {
        /// Waveform Sample Interpretation.
        interpretation: String,
        /// Waveform Bits Allocated.
        bits: u32,
    },
    /// The waveform data does not hold the samples the group declares.
    #[error(
        "the waveform data holds {found} bytes; {samples} samples of {channels} channels need {expected}"
    )]
    DataLength {
        /// Number of Waveform Samples.
        samples: usize,
        /// Number of Waveform Channels.
        channels: usize,
        /// Bytes those need.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// A channel whose source is not one of the twelve leads, or a lead given twice.
    #[error("channel {channel} is {name:?}, not one of the twelve leads or a repeat")]
    UnknownLead {
        /// 1-based channel number.
        channel: usize,
        /// Its source's code meaning or value.
        name: String,
    },
    /// Channel sensitivity in a unit other than V, mV or µV.
    #[error("channel sensitivity in {0:?}; only V, mV and uV are supported")]
    Unit(String),
    /// The raster could not be encoded.
    #[error("the plot could not be encoded: {0}")]
    Encoding(String),
}

impl EcgError {
    /// Whether the instance itself cannot be plotted (a 4xx), rather than
    /// the store failing to read it.
    pub fn is_data_error(&self) -> bool {
        !matches!(self, Self::Unreadable(_) | Self::Encoding(_))
    }
}

/// Parses a waveform instance and draws its 12-lead plot. Blocking and
/// CPU-bound: call from `spawn_blocking`.
pub fn render_ecg(file: &[u8], format: EcgFormat) -> Result<Vec<u8>, EcgError> {
    let ecg = parse(file)?;
    match format {
        EcgFormat::Svg => Ok(svg(&ecg).into_bytes()),
        EcgFormat::Png => raster::encode(&raster(&ecg), image::ImageFormat::Png),
        EcgFormat::Jpeg => raster::encode(&raster(&ecg), image::ImageFormat::Jpeg),
    }
}

#[cfg(test)]
mod tests;
