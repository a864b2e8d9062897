//! From a Part 10 waveform instance to an [`Ecg`]: the multiplex group to
//! plot, its channels mapped to lead names, its samples scaled to µV.

use dicom_core::value::{PrimitiveValue, Value};
use dicom_dictionary_std::tags;
use dicom_object::mem::InMemElement;
use dicom_object::{InMemDicomObject, Tag};

use super::{is_ecg, Ecg, EcgError, Lead, LEADS};

/// Sampling rates outside this range are not an ECG (the standard allows
/// 200 Hz to 1 kHz for 12-lead; Holter and research devices go wider).
const SAMPLING_HZ: std::ops::RangeInclusive<f64> = 1.0..=100_000.0;

/// Reads the multiplex group to plot: the 12-channel `RHYTHM` group, else
/// the first 12-channel group. Blocking.
pub fn parse(file: &[u8]) -> Result<Ecg, EcgError> {
    // As everywhere the store reads files: a parser assertion on malformed
    // input is a file we cannot read, not a server fault.
    std::panic::catch_unwind(|| parse_checked(file)).unwrap_or_else(|_| {
        Err(EcgError::Unreadable(
            "the DICOM parser could not make sense of this file".into(),
        ))
    })
}

fn parse_checked(file: &[u8]) -> Result<Ecg, EcgError> {
    // Declared lengths first, so the parser never allocates more than the
    // file holds.
    crate::lengths::check_bytes(file).map_err(|e| EcgError::Unreadable(e.to_string()))?;
    let collected =
        crate::pixels::collect(file).map_err(|e| EcgError::Unreadable(e.to_string()))?;
    let dataset = &collected.dataset;
    let sop_class = text(dataset, tags::SOP_CLASS_UID).unwrap_or_default();
    if !is_ecg(&sop_class) {
        return Err(EcgError::NotEcg(sop_class));
    }
    let groups = element(dataset, tags::WAVEFORM_SEQUENCE)
        .and_then(|e| e.items())
        .filter(|items| !items.is_empty())
        .ok_or(EcgError::Missing("WaveformSequence"))?;
    let channels_of = |g: &InMemDicomObject| int(g, tags::NUMBER_OF_WAVEFORM_CHANNELS);
    let is_rhythm = |g: &InMemDicomObject| {
        text(g, tags::MULTIPLEX_GROUP_LABEL).is_some_and(|l| l.eq_ignore_ascii_case("RHYTHM"))
    };
    let group = groups
        .iter()
        .find(|g| is_rhythm(g) && channels_of(g) == Some(12))
        .or_else(|| groups.iter().find(|g| channels_of(g) == Some(12)))
        .or_else(|| groups.iter().find(|g| is_rhythm(g)))
        .unwrap_or(&groups[0]);
    group_to_ecg(group)
}

fn group_to_ecg(group: &InMemDicomObject) -> Result<Ecg, EcgError> {
    let channels = int(group, tags::NUMBER_OF_WAVEFORM_CHANNELS)
        .ok_or(EcgError::Missing("NumberOfWaveformChannels"))?;
    if channels != 12 {
        return Err(EcgError::ChannelCount(channels));
    }
    let samples = int(group, tags::NUMBER_OF_WAVEFORM_SAMPLES)
        .filter(|n| *n > 0)
        .ok_or(EcgError::Missing("NumberOfWaveformSamples"))?;
    let sampling_frequency = float(group, tags::SAMPLING_FREQUENCY)
        .filter(|f| SAMPLING_HZ.contains(f))
        .ok_or(EcgError::Missing("SamplingFrequency"))?;
    let bits = int(group, tags::WAVEFORM_BITS_ALLOCATED)
        .ok_or(EcgError::Missing("WaveformBitsAllocated"))?;
    let interpretation = text(group, tags::WAVEFORM_SAMPLE_INTERPRETATION)
        .ok_or(EcgError::Missing("WaveformSampleInterpretation"))?;
    if bits != 16 || interpretation != "SS" {
        return Err(EcgError::SampleFormat {
            interpretation,
            bits: u32::try_from(bits).unwrap_or(u32::MAX),
        });
    }
    let definitions = element(group, tags::CHANNEL_DEFINITION_SEQUENCE)
        .and_then(|e| e.items())
        .filter(|items| items.len() == channels)
        .ok_or(EcgError::Missing("ChannelDefinitionSequence"))?;
    let raw = element(group, tags::WAVEFORM_DATA)
        .map(samples_of)
        .ok_or(EcgError::Missing("WaveformData"))??;
    let expected = samples.saturating_mul(channels).saturating_mul(2);
    if raw.len().saturating_mul(2) != expected {
        return Err(EcgError::DataLength {
            samples,
            channels,
            expected,
            found: raw.len() * 2,
        });
    }

    let mut leads: Vec<Option<Lead>> = vec![None; LEADS.len()];
    for (channel, definition) in definitions.iter().enumerate() {
        let (label, name) = lead_of(definition);
        let slot = label
            .and_then(|l| LEADS.iter().position(|x| *x == l))
            .filter(|i| leads[*i].is_none())
            .ok_or_else(|| EcgError::UnknownLead {
                channel: channel + 1,
                name,
            })?;
        let (scale, offset) = scaling(definition)?;
        // Samples are interleaved: sample i of channel c is raw[i * channels + c].
        let microvolts = raw
            .iter()
            .skip(channel)
            .step_by(channels)
            .map(|v| (f64::from(*v) * scale + offset) as f32)
            .collect();
        leads[slot] = Some(Lead {
            label: LEADS[slot],
            microvolts,
        });
    }
    // Twelve channels, each a distinct lead of the twelve: all are filled.
    let leads = leads.into_iter().flatten().collect();
    Ok(Ecg {
        sampling_frequency,
        group_label: text(group, tags::MULTIPLEX_GROUP_LABEL),
        leads,
    })
}

/// The waveform data as signed 16-bit values, whatever VR the reader gave it.
fn samples_of(e: &InMemElement) -> Result<Vec<i16>, EcgError> {
    match e.value() {
        Value::Primitive(PrimitiveValue::U16(v)) => Ok(v
            .iter()
            .map(|x| i16::from_ne_bytes(x.to_ne_bytes()))
            .collect()),
        Value::Primitive(PrimitiveValue::I16(v)) => Ok(v.to_vec()),
        // OB, or OW read without a dictionary: little-endian pairs (the
        // waveform transfer syntaxes are little endian). An odd byte left
        // over fails the length check.
        Value::Primitive(PrimitiveValue::U8(v)) => Ok(v
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()),
        Value::Primitive(PrimitiveValue::Empty) => Ok(Vec::new()),
        _ => Err(EcgError::Missing("WaveformData")),
    }
}

/// `(µV per sample unit, µV offset)`: value = raw × sensitivity × correction
/// + baseline, in the sensitivity's unit (PS3.3 C.10.9.1.4.3), then to µV.
fn scaling(definition: &InMemDicomObject) -> Result<(f64, f64), EcgError> {
    let sensitivity = float(definition, tags::CHANNEL_SENSITIVITY)
        .filter(|s| *s != 0.0)
        .ok_or(EcgError::Missing("ChannelSensitivity"))?;
    let correction = float(definition, tags::CHANNEL_SENSITIVITY_CORRECTION_FACTOR)
        .filter(|c| *c != 0.0)
        .unwrap_or(1.0);
    let baseline = float(definition, tags::CHANNEL_BASELINE).unwrap_or(0.0);
    let unit = element(definition, tags::CHANNEL_SENSITIVITY_UNITS_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|items| items.first())
        .and_then(|code| text(code, tags::CODE_VALUE))
        .ok_or(EcgError::Missing("ChannelSensitivityUnitsSequence"))?;
    let to_microvolts = match unit.as_str() {
        "uV" | "µV" => 1.0,
        "mV" => 1_000.0,
        "V" => 1_000_000.0,
        _ => return Err(EcgError::Unit(unit)),
    };
    Ok((
        sensitivity * correction * to_microvolts,
        baseline * to_microvolts,
    ))
}

/// The lead a channel records, from its Channel Source Sequence: the code
/// value when it is an SCP-ECG (`5.6.3-9-N`) or MDC (`2:N`) lead code, else
/// the code meaning (`Lead I (Einthoven)`, `aVR`). Also what to call the
/// source in an error.
fn lead_of(definition: &InMemDicomObject) -> (Option<&'static str>, String) {
    let source = element(definition, tags::CHANNEL_SOURCE_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|items| items.first());
    let value = source.and_then(|s| text(s, tags::CODE_VALUE));
    let meaning = source.and_then(|s| text(s, tags::CODE_MEANING));
    let label = value
        .as_deref()
        .and_then(lead_by_code)
        .or_else(|| meaning.as_deref().and_then(lead_by_meaning));
    let described = meaning.or(value).unwrap_or_else(|| "no source".into());
    (label, described)
}

fn lead_by_code(value: &str) -> Option<&'static str> {
    let number = value
        .strip_prefix("5.6.3-9-")
        .or_else(|| value.strip_prefix("2:"))?
        .parse::<u32>()
        .ok()?;
    match number {
        1 => Some("I"),
        2 => Some("II"),
        3..=8 => LEADS.get(number as usize + 3).copied(),
        61 => Some("III"),
        62 => Some("aVR"),
        63 => Some("aVL"),
        64 => Some("aVF"),
        _ => None,
    }
}

fn lead_by_meaning(meaning: &str) -> Option<&'static str> {
    let meaning = meaning.trim();
    let meaning = meaning
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("lead "))
        .map_or(meaning, |_| &meaning[5..]);
    let name = meaning
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .next()?;
    LEADS.iter().copied().find(|l| l.eq_ignore_ascii_case(name))
}

fn element(o: &InMemDicomObject, tag: Tag) -> Option<&InMemElement> {
    o.get(tag)
}

fn text(o: &InMemDicomObject, tag: Tag) -> Option<String> {
    element(o, tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_matches(['\0', ' ']).to_owned())
        .filter(|s| !s.is_empty())
}

fn int(o: &InMemDicomObject, tag: Tag) -> Option<usize> {
    element(o, tag).and_then(|e| e.to_int::<usize>().ok())
}

fn float(o: &InMemDicomObject, tag: Tag) -> Option<f64> {
    element(o, tag)
        .and_then(|e| e.to_float64().ok())
        .filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_codes_and_meanings_name_the_twelve_leads() {
        assert_eq!(lead_by_code("5.6.3-9-1"), Some("I"));
        assert_eq!(lead_by_code("5.6.3-9-61"), Some("III"));
        assert_eq!(lead_by_code("5.6.3-9-3"), Some("V1"));
        assert_eq!(lead_by_code("5.6.3-9-8"), Some("V6"));
        assert_eq!(lead_by_code("2:64"), Some("aVF"));
        assert_eq!(lead_by_code("5.6.3-9-9"), None);
        assert_eq!(lead_by_meaning("Lead I (Einthoven)"), Some("I"));
        assert_eq!(lead_by_meaning("lead aVR"), Some("aVR"));
        assert_eq!(lead_by_meaning("AVL"), Some("aVL"));
        assert_eq!(lead_by_meaning("V4, unipolar"), Some("V4"));
        assert_eq!(lead_by_meaning("Lead"), None);
        assert_eq!(lead_by_meaning("Respiration"), None);
        assert_eq!(lead_by_meaning("Lead IV"), None);
    }
}
