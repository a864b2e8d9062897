//! Unit tests of the ECG plot on the shipped fixture and on waveforms built
//! here with known values.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

use super::layout::{self, CALIBRATION, HEADER, MARGIN, ROW};
use super::*;

fn fixture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/dicom/waveform_ecg_rhythm.dcm"
    ))
    .expect("the fixture exists")
}

/// SCP-ECG code numbers of the leads, in the order of [`LEADS`].
const SCPECG: [u32; 12] = [1, 2, 61, 62, 63, 64, 3, 4, 5, 6, 7, 8];

/// One multiplex group: `channels` leads (in [`LEADS`] order) of `samples`
/// samples, channel `c` sample `i` holding `value(c, i)`.
fn group(
    label: &str,
    channels: usize,
    samples: usize,
    hz: f64,
    (sensitivity, unit): (&str, &str),
    value: impl Fn(usize, usize) -> i16,
) -> InMemDicomObject {
    let text = |o: &mut InMemDicomObject, tag, vr, v: &str| {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    };
    let definitions: Vec<InMemDicomObject> = (0..channels)
        .map(|c| {
            let mut source = InMemDicomObject::new_empty();
            let code = format!("5.6.3-9-{}", SCPECG[c % 12]);
            text(&mut source, tags::CODE_VALUE, VR::SH, &code);
            text(
                &mut source,
                tags::CODING_SCHEME_DESIGNATOR,
                VR::SH,
                "SCPECG",
            );
            text(
                &mut source,
                tags::CODE_MEANING,
                VR::LO,
                &format!("Lead {}", LEADS[c % 12]),
            );
            let mut units = InMemDicomObject::new_empty();
            text(&mut units, tags::CODE_VALUE, VR::SH, unit);
            text(&mut units, tags::CODING_SCHEME_DESIGNATOR, VR::SH, "UCUM");
            let mut d = InMemDicomObject::new_empty();
            d.put(DataElement::new(
                tags::CHANNEL_SOURCE_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![source]),
            ));
            text(&mut d, tags::CHANNEL_SENSITIVITY, VR::DS, sensitivity);
            d.put(DataElement::new(
                tags::CHANNEL_SENSITIVITY_UNITS_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![units]),
            ));
            text(
                &mut d,
                tags::CHANNEL_SENSITIVITY_CORRECTION_FACTOR,
                VR::DS,
                "1",
            );
            text(&mut d, tags::CHANNEL_BASELINE, VR::DS, "0");
            d
        })
        .collect();
    let data: Vec<u16> = (0..samples)
        .flat_map(|i| (0..channels).map(move |c| (c, i)))
        .map(|(c, i)| u16::from_ne_bytes(value(c, i).to_ne_bytes()))
        .collect();
    let mut g = InMemDicomObject::new_empty();
    text(&mut g, tags::MULTIPLEX_GROUP_LABEL, VR::CS, label);
    g.put(DataElement::new(
        tags::NUMBER_OF_WAVEFORM_CHANNELS,
        VR::US,
        PrimitiveValue::from(channels as u16),
    ));
    g.put(DataElement::new(
        tags::NUMBER_OF_WAVEFORM_SAMPLES,
        VR::UL,
        PrimitiveValue::from(samples as u32),
    ));
    text(&mut g, tags::SAMPLING_FREQUENCY, VR::DS, &hz.to_string());
    g.put(DataElement::new(
        tags::CHANNEL_DEFINITION_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(definitions),
    ));
    g.put(DataElement::new(
        tags::WAVEFORM_BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16u16),
    ));
    text(&mut g, tags::WAVEFORM_SAMPLE_INTERPRETATION, VR::CS, "SS");
    g.put(DataElement::new(
        tags::WAVEFORM_DATA,
        VR::OW,
        PrimitiveValue::U16(data.into()),
    ));
    g
}

fn file(groups: Vec<InMemDicomObject>) -> Vec<u8> {
    let mut o = InMemDicomObject::new_empty();
    let mut text = |tag, vr, v: &str| {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    };
    text(tags::SOP_CLASS_UID, VR::UI, TWELVE_LEAD_ECG);
    text(tags::SOP_INSTANCE_UID, VR::UI, "2.25.7");
    text(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.8");
    text(tags::SERIES_INSTANCE_UID, VR::UI, "2.25.9");
    text(tags::PATIENT_ID, VR::LO, "P1");
    text(tags::MODALITY, VR::CS, "ECG");
    o.put(DataElement::new(
        tags::WAVEFORM_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(groups),
    ));
    let file = o
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .expect("meta");
    let mut out = Vec::new();
    file.write_all(&mut out).expect("writes");
    out
}

/// The `points` of the polyline with these attributes, as numbers.
fn polyline(svg: &str, attributes: &str) -> Vec<(f64, f64)> {
    let start = svg
        .find(&format!("<polyline {attributes} points=\""))
        .unwrap_or_else(|| panic!("no polyline {attributes}"));
    let rest = &svg[start..];
    let points = &rest[rest.find("points=\"").expect("points") + 8..];
    points[..points.find('"').expect("closing quote")]
        .split(' ')
        .map(|p| {
            let (x, y) = p.split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect()
}

/// What follows each `prefix` up to the next tag.
fn values<'a>(svg: &'a str, prefix: &str) -> Vec<&'a str> {
    svg.match_indices(prefix)
        .map(|(at, _)| {
            let rest = &svg[at + prefix.len()..];
            &rest[..rest.find('<').expect("an end")]
        })
        .collect()
}

#[test]
fn the_fixture_parses_into_twelve_named_leads_in_microvolts() {
    let ecg = parse(&fixture()).expect("parses");
    assert_eq!(ecg.sampling_frequency, 1000.0);
    assert_eq!(ecg.group_label.as_deref(), Some("MEDIAN BEAT"));
    let names: Vec<&str> = ecg.leads.iter().map(|l| l.label).collect();
    assert_eq!(names, LEADS);
    assert!(ecg.leads.iter().all(|l| l.microvolts.len() == 1200));
    assert!((ecg.duration() - 1.2).abs() < 1e-9);
    // Sensitivity 1.25 µV: every value is a multiple of it, and a QRS
    // reaches hundreds of µV.
    let lead_ii = &ecg.lead("II").expect("lead II").microvolts;
    assert!(lead_ii.iter().all(|v| (v / 1.25).fract() == 0.0));
    let peak = lead_ii.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!((200.0..5000.0).contains(&peak), "peak {peak} µV");
}

#[test]
fn the_fixture_renders_as_svg_with_every_lead_labelled_and_traced() {
    let svg =
        String::from_utf8(render_ecg(&fixture(), EcgFormat::Svg).expect("renders")).expect("UTF-8");
    assert!(svg.starts_with("<?xml"));
    assert!(svg.trim_end().ends_with("</svg>"));
    let labels = values(&svg, "<text class=\"lead-label\"");
    let names: std::collections::BTreeSet<&str> = labels
        .iter()
        .map(|l| &l[l.find('>').expect("tag end") + 1..])
        .collect();
    let expected: std::collections::BTreeSet<&str> = LEADS.into_iter().collect();
    assert_eq!(names, expected);
    assert_eq!(svg.matches("<polyline data-lead=").count(), 13);
    assert_eq!(svg.matches("data-rhythm=\"true\"").count(), 1);
    assert!(svg.contains("<polyline data-lead=\"II\" data-rhythm=\"true\""));
    assert!(svg.contains("class=\"grid-minor\"") && svg.contains("class=\"grid-major\""));
    assert!(svg.contains(">25 mm/s  10 mm/mV  1000 Hz</text>"));
    // 1.2 s in each of four columns at 25 mm/s, after the calibration pulse,
    // in whole 5 mm squares, within the margins.
    let width = 2.0 * MARGIN + ((CALIBRATION + 4.0 * 1.2 * 25.0) / 5.0).ceil() * 5.0;
    let height = 2.0 * MARGIN + HEADER + 4.0 * ROW;
    assert!(
        svg.contains(&format!("viewBox=\"0 0 {width} {height}\"")),
        "{width} × {height}: {}",
        &svg[..300]
    );
    // Every column shows the whole 1.2 s median beat, thinned to extremes
    // per 0.1 mm (four samples at 1 kHz).
    let v4 = polyline(&svg, "data-lead=\"V4\"");
    assert!((300..=600).contains(&v4.len()), "{} points", v4.len());
    let span = v4[v4.len() - 1].0 - v4[0].0;
    assert!((span - 1.2 * MM_PER_SECOND).abs() < 0.1, "{span} mm");
}

#[test]
fn the_fixture_renders_as_a_png_of_the_plots_size_with_dark_traces() {
    let png = render_ecg(&fixture(), EcgFormat::Png).expect("renders");
    let image = image::load_from_memory(&png).expect("a PNG").to_rgb8();
    let plot = layout::plot(&parse(&fixture()).expect("parses"));
    let size = (
        (plot.width * PX_PER_MM).ceil() as u32,
        (plot.height * PX_PER_MM).ceil() as u32,
    );
    assert_eq!(image.dimensions(), size);
    let dark = image
        .pixels()
        .filter(|p| p.0.iter().all(|c| *c < 60))
        .count();
    assert!(dark > 2_000, "{dark} dark pixels");
    let pink = image
        .pixels()
        .filter(|p| p.0 == super::svg::MINOR || p.0 == super::svg::MAJOR)
        .count();
    assert!(pink > 10_000, "{pink} grid pixels");
    let jpeg = render_ecg(&fixture(), EcgFormat::Jpeg).expect("renders");
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
}

#[test]
fn trace_heights_are_ten_millimetres_a_millivolt() {
    // 250 Hz, 2 s; lead I a ramp from 0, in 2.5 µV steps; lead II in mV.
    let ramp = |_: usize, i: usize| (i as i16 % 100) * 40;
    let bytes = file(vec![group("RHYTHM", 12, 500, 250.0, ("2.5", "uV"), ramp)]);
    let ecg = parse(&bytes).expect("parses");
    assert_eq!(ecg.lead("I").expect("I").microvolts[3], 300.0);
    let svg = svg(&ecg);
    let points = polyline(&svg, "data-lead=\"I\"");
    assert_eq!(points.len(), 500);
    let (x0, baseline) = points[0];
    for (i, (x, y)) in points.iter().enumerate() {
        let microvolts = f64::from(ramp(0, i)) * 2.5;
        let expected = microvolts / 1000.0 * MM_PER_MILLIVOLT;
        assert!((baseline - y - expected).abs() <= 0.006, "sample {i}: {y}");
        let seconds = i as f64 / 250.0;
        assert!(
            (x - x0 - seconds * MM_PER_SECOND).abs() <= 0.006,
            "sample {i}: {x}"
        );
    }

    let millivolts = file(vec![group("RHYTHM", 12, 500, 250.0, ("0.005", "mV"), ramp)]);
    let ecg = parse(&millivolts).expect("parses");
    assert_eq!(ecg.lead("V6").expect("V6").microvolts[3], 600.0);
}

#[test]
fn ten_seconds_are_shown_as_four_consecutive_columns() {
    // Each sample holds its own index: the first point names its time.
    let bytes = file(vec![group(
        "RHYTHM",
        12,
        1000,
        100.0,
        ("1", "uV"),
        |_, i| i as i16,
    )]);
    let plot = layout::plot(&parse(&bytes).expect("parses"));
    let first = |lead: &str, rhythm: bool| {
        let trace = plot
            .traces
            .iter()
            .find(|t| t.lead == lead && t.rhythm == rhythm)
            .expect("traced");
        (trace.points.len(), trace.points[0])
    };
    let baseline = |row: f64| MARGIN + HEADER + row * ROW + 18.0;
    let height = |uv: f64| uv / 1000.0 * MM_PER_MILLIVOLT;
    for (lead, row, column) in [
        ("I", 0.0, 0.0),
        ("aVL", 1.0, 1.0),
        ("V3", 2.0, 2.0),
        ("V4", 0.0, 3.0),
    ] {
        let (count, (_, y)) = first(lead, false);
        assert_eq!(count, 250, "{lead}");
        let sample = column * 250.0;
        assert!(
            (baseline(row) - y - height(sample)).abs() < 0.006,
            "{lead}: {y}"
        );
    }
    assert_eq!(first("II", true).0, 1000);
    assert_eq!(plot.grid[2], CALIBRATION + 250.0);
}

#[test]
fn the_rhythm_group_is_preferred_to_a_median_beat() {
    let bytes = file(vec![
        group("MEDIAN BEAT", 12, 60, 100.0, ("1", "uV"), |_, _| 1),
        group("RHYTHM", 12, 300, 100.0, ("1", "uV"), |_, _| 2),
    ]);
    let ecg = parse(&bytes).expect("parses");
    assert_eq!(ecg.group_label.as_deref(), Some("RHYTHM"));
    assert_eq!(ecg.samples(), 300);
}

#[test]
fn a_group_without_twelve_channels_is_refused_naming_its_count() {
    let bytes = file(vec![group("RHYTHM", 3, 100, 100.0, ("1", "uV"), |_, _| 0)]);
    let err = parse(&bytes).expect_err("three channels");
    assert!(matches!(err, EcgError::ChannelCount(3)));
    assert_eq!(
        err.to_string(),
        "a 12-lead plot needs 12 channels; this waveform has 3"
    );
    assert!(err.is_data_error());
}

#[test]
fn other_sample_formats_and_short_data_are_refused() {
    let mut g = group("RHYTHM", 12, 100, 100.0, ("1", "uV"), |_, _| 0);
    g.put(DataElement::new(
        tags::WAVEFORM_SAMPLE_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("UB"),
    ));
    let err = parse(&file(vec![g])).expect_err("UB");
    assert!(err.to_string().contains("UB"), "{err}");

    let mut g = group("RHYTHM", 12, 100, 100.0, ("1", "uV"), |_, _| 0);
    g.put(DataElement::new(
        tags::NUMBER_OF_WAVEFORM_SAMPLES,
        VR::UL,
        PrimitiveValue::from(4_000_000_000u32),
    ));
    let err = parse(&file(vec![g])).expect_err("declares more than it holds");
    assert!(
        matches!(err, EcgError::DataLength { found: 2400, .. }),
        "{err}"
    );

    let mut g = group("RHYTHM", 12, 100, 100.0, ("1", "uV"), |_, _| 0);
    g.put(DataElement::new(
        tags::WAVEFORM_DATA,
        VR::OW,
        PrimitiveValue::U16(vec![0u16; 12 * 99 + 5].into()),
    ));
    let err = parse(&file(vec![g])).expect_err("truncated data");
    assert!(matches!(err, EcgError::DataLength { .. }), "{err}");

    let g = group("RHYTHM", 12, 100, 100.0, ("1", "furlong"), |_, _| 0);
    assert!(matches!(parse(&file(vec![g])), Err(EcgError::Unit(_))));
}

#[test]
fn a_truncated_or_foreign_file_is_an_error_not_a_panic() {
    let bytes = fixture();
    // Up to the end of the waveform sequence: private elements follow it.
    let end = bytes
        .windows(8)
        .rposition(|w| w == [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0])
        .expect("a sequence delimiter");
    for cut in (0..end).step_by(97) {
        assert!(parse(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let ct = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/dicom/CT_small.dcm"
    ))
    .expect("the fixture exists");
    assert!(matches!(parse(&ct), Err(EcgError::NotEcg(_))));
}
