//! 12-lead ECG plots of real waveforms: pydicom's full 10 s sample, checked
//! against pydicom's own reading of it, and the fixture edited into shapes
//! that cannot be plotted.

use std::collections::BTreeSet;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use ferry_dicom_store::ecg::{self, render_ecg, EcgError, EcgFormat, LEADS, PX_PER_MM};

use crate::helpers::*;

/// pydicom's `waveform_ecg.dcm`: a RHYTHM group of 10,000 samples at 1 kHz
/// and a MEDIAN BEAT group.
fn pydicom_ecg() -> std::path::PathBuf {
    let out = ferry_test_tools::command("python3")
        .args([
            "-c",
            "import pydicom, os; print(os.path.join(os.path.dirname(pydicom.__file__), \
             'data', 'test_files', 'waveform_ecg.dcm'))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pydicom is installed: pip install pydicom"
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The fixture with only its first `keep` channels, or (`truncate`) with its
/// waveform data cut short; a fresh SOP Instance UID either way.
pub fn edited_fixture(keep: usize, truncate: bool) -> Vec<u8> {
    rewrite("waveform_ecg_rhythm.dcm", |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
        let mut groups = o
            .element(tags::WAVEFORM_SEQUENCE)
            .expect("a waveform sequence")
            .items()
            .expect("items")
            .to_vec();
        let group = &mut groups[0];
        let data = group
            .element(tags::WAVEFORM_DATA)
            .expect("waveform data")
            .to_multi_int::<u16>()
            .expect("OW");
        let mut kept: Vec<u16> = data
            .chunks(12)
            .flat_map(|sample| sample[..keep].to_vec())
            .collect();
        if truncate {
            kept.truncate(kept.len() / 2 + 3);
        }
        let definitions = group
            .element(tags::CHANNEL_DEFINITION_SEQUENCE)
            .expect("channel definitions")
            .items()
            .expect("items")[..keep]
            .to_vec();
        group.put(DataElement::new(
            tags::CHANNEL_DEFINITION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(definitions),
        ));
        group.put(DataElement::new(
            tags::NUMBER_OF_WAVEFORM_CHANNELS,
            VR::US,
            PrimitiveValue::from(keep as u16),
        ));
        group.put(DataElement::new(
            tags::WAVEFORM_DATA,
            VR::OW,
            PrimitiveValue::U16(kept.into()),
        ));
        o.put(DataElement::new(
            tags::WAVEFORM_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(groups),
        ));
    })
}

#[test]
fn pydicoms_ten_second_ecg_parses_to_the_values_pydicom_reads() {
    let path = pydicom_ecg();
    let bytes = std::fs::read(&path).expect("pydicom's sample");
    let parsed = ecg::parse(&bytes).expect("parses");
    assert_eq!(parsed.group_label.as_deref(), Some("RHYTHM"));
    assert_eq!(parsed.samples(), 10_000);
    assert!((parsed.duration() - 10.0).abs() < 1e-9);

    // pydicom applies sensitivity, correction and baseline the same way.
    let script = r#"
import json, sys, pydicom
d = pydicom.dcmread(sys.argv[1])
a = d.waveform_array(0)
print(json.dumps([[float(a[i, c]) for c in range(12)] for i in (0, 1, 777, 5000, 9999)]))
"#;
    let out = ferry_test_tools::command("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<Vec<f64>> = serde_json::from_slice(&out.stdout).expect("JSON");
    // pydicom's channel order is the file's: I, II, III, aVR, aVL, aVF, V1–V6.
    for (row, i) in expected.iter().zip([0, 1, 777, 5000, 9999]) {
        for (c, value) in row.iter().enumerate() {
            let ours = f64::from(parsed.leads[c].microvolts[i]);
            assert!(
                (ours - value).abs() < 1e-3,
                "{} sample {i}: {ours} vs {value}",
                LEADS[c]
            );
        }
    }
}

#[test]
fn pydicoms_ecg_renders_as_a_well_formed_svg_and_a_png() {
    let path = pydicom_ecg();
    let bytes = std::fs::read(&path).expect("pydicom's sample");
    let svg = render_ecg(&bytes, EcgFormat::Svg).expect("renders");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let svg_path = dir.path().join("ecg.svg");
    std::fs::write(&svg_path, &svg).expect("written");

    // Parsed by a real XML parser, not by string matching.
    let script = r#"
import json, sys, xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(sys.argv[1]).getroot()
print(json.dumps({
    "viewBox": root.get("viewBox"),
    "width": root.get("width"),
    "labels": [t.text for t in root.iterfind(".//s:text[@class='lead-label']", ns)],
    "traces": [[p.get("data-lead"), p.get("data-rhythm")] for p in root.iterfind(".//s:polyline[@data-lead]", ns)],
    "grid": [p.get("class") for p in root.iterfind(".//s:path", ns)],
}))
"#;
    let out = ferry_test_tools::command("python3")
        .args(["-c", script])
        .arg(&svg_path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let labels: BTreeSet<&str> = doc["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| l.as_str().expect("text"))
        .collect();
    assert_eq!(labels, LEADS.into_iter().collect());
    let traces = doc["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 13);
    assert_eq!(
        traces.iter().filter(|t| t[1] == "true").collect::<Vec<_>>(),
        vec![&serde_json::json!(["II", "true"])]
    );
    assert_eq!(doc["grid"], serde_json::json!(["grid-minor", "grid-major"]));
    // 5 mm margins, a 10 mm calibration pulse, 4 × 2.5 s at 25 mm/s; four
    // 30 mm rows under an 8 mm caption band.
    let width = 5.0 + 10.0 + 4.0 * 2.5 * 25.0 + 5.0;
    let height = 5.0 + 8.0 + 4.0 * 30.0 + 5.0;
    assert_eq!(doc["viewBox"], format!("0 0 {width} {height}"));
    assert_eq!(doc["width"], format!("{width}mm"));

    let png = render_ecg(&bytes, EcgFormat::Png).expect("renders");
    let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .expect("a PNG")
        .to_rgb8();
    assert_eq!(
        image.dimensions(),
        ((width * PX_PER_MM) as u32, (height * PX_PER_MM) as u32)
    );
    let dark = image
        .pixels()
        .filter(|p| p.0.iter().all(|c| *c < 60))
        .count();
    assert!(dark > 10_000, "{dark} dark pixels");
}

#[test]
fn three_channels_are_refused_naming_the_count() {
    let err = ecg::parse(&edited_fixture(3, false)).expect_err("three channels");
    assert!(matches!(err, EcgError::ChannelCount(3)), "{err}");
    assert_eq!(
        err.to_string(),
        "a 12-lead plot needs 12 channels; this waveform has 3"
    );
}

#[test]
fn truncated_waveform_data_is_an_error_not_a_panic() {
    let err = ecg::parse(&edited_fixture(12, true)).expect_err("truncated");
    assert!(matches!(err, EcgError::DataLength { .. }), "{err}");
    assert!(
        err.to_string().contains("1200 samples of 12 channels"),
        "{err}"
    );

    let whole = fixture_bytes("waveform_ecg_rhythm.dcm");
    let cut = &whole[..whole.len() - 2_000];
    assert!(render_ecg(cut, EcgFormat::Png).is_err());
}
