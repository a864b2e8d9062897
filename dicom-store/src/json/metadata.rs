//! The metadata the store keeps per instance: a parsed data set written
//! straight into DICOM JSON text (PS3.18 Annex F).
//!
//! Ingest does this once per instance. Building a `serde_json::Value` tree
//! first (a map, a string and a vector per attribute, then serialising the
//! tree) was the largest share of the server's CPU for the small instances
//! modalities send in bulk, so the text is written directly, in tag order.

use std::fmt::Write as _;

use base64::Engine as _;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

/// Binary values longer than this are left out of the metadata: they are bulk
/// data (waveform samples, overlays, icons) that a viewer fetches separately.
const INLINE_BINARY_LIMIT: usize = 1024;

const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// Writes `dataset` as a DICOM JSON object, leaving out pixel data, binary
/// values over 1 KiB and group-length elements.
///
/// A binary value left out gets a `BulkDataURI` (PS3.18 F.2.6), so a viewer
/// can fetch it: `{bulk_base}{tag}` at the top level, and inside sequences
/// the path to it, `{bulk_base}{sequence}.{item}.{tag}` (items counted from
/// 0), as for the samples of an ECG's Waveform Sequence. With `pixel_data` set, Pixel Data (7FE0,0010) is
/// listed with that VR and its `BulkDataURI` whatever the data set holds
/// there (the store reads data sets only up to the pixel data).
pub fn instance_metadata(
    dataset: &InMemDicomObject,
    bulk_base: &str,
    pixel_data: Option<VR>,
) -> String {
    let mut out = String::with_capacity(4096);
    object(&mut out, dataset, bulk_base, pixel_data);
    out
}

fn object(out: &mut String, dataset: &InMemDicomObject, bulk_base: &str, pixel_data: Option<VR>) {
    out.push('{');
    let mut first = true;
    let mut pixel_data = pixel_data.map(|vr| (bulk_base, vr));
    for element in dataset.iter() {
        let tag = element.header().tag;
        // Group lengths (gggg,0000) are an encoding detail PS3.18 says to omit.
        if tag.element() == 0 {
            continue;
        }
        if let Some((base, vr)) = pixel_data.filter(|_| tag >= PIXEL_DATA) {
            separate(out, &mut first);
            pixel_data_attribute(out, vr, base);
            pixel_data = None;
            if tag == PIXEL_DATA {
                continue;
            }
        }
        separate(out, &mut first);
        attribute(out, element, bulk_base);
    }
    if let Some((base, vr)) = pixel_data {
        separate(out, &mut first);
        pixel_data_attribute(out, vr, base);
    }
    out.push('}');
}

fn separate(out: &mut String, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(',');
    }
}

fn pixel_data_attribute(out: &mut String, vr: VR, base: &str) {
    key(out, PIXEL_DATA);
    out.push_str("{\"vr\":\"");
    out.push_str(vr.to_string());
    out.push_str("\",\"BulkDataURI\":");
    bulk_uri(out, base, PIXEL_DATA);
    out.push('}');
}

/// `"GGGGEEEE"`: a tag as DICOM JSON writes it, as a key or an AT value.
/// By hand: it is written for every attribute of every instance stored,
/// and `write!` costs several times as much.
fn quoted_tag(out: &mut String, tag: Tag) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('"');
    for half in [tag.group(), tag.element()] {
        for shift in [12, 8, 4, 0] {
            out.push(char::from(HEX[usize::from((half >> shift) & 0xF)]));
        }
    }
    out.push('"');
}

/// The key of an attribute, and its colon.
fn key(out: &mut String, tag: Tag) {
    quoted_tag(out, tag);
    out.push(':');
}

fn bulk_uri(out: &mut String, base: &str, tag: Tag) {
    string(
        out,
        &format!("{base}{}", super::tag_key(tag.group(), tag.element())),
    );
}

fn attribute(out: &mut String, element: &InMemElement, bulk_base: &str) {
    let tag = element.header().tag;
    let vr = element.vr();
    key(out, tag);
    out.push_str("{\"vr\":\"");
    out.push_str(vr.to_string());
    out.push('"');
    let has_value = match element.value() {
        Value::Sequence(sequence) => {
            let items = sequence.items();
            if !items.is_empty() {
                out.push_str(",\"Value\":[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let mut base = String::with_capacity(bulk_base.len() + 12);
                    base.push_str(bulk_base);
                    base.push_str(&super::tag_key(tag.group(), tag.element()));
                    base.push('.');
                    base.push_str(itoa::Buffer::new().format(i));
                    base.push('.');
                    object(out, item, &base, None);
                }
                out.push(']');
            }
            !items.is_empty()
        }
        // Encapsulated pixel data is bulk data by definition.
        Value::PixelSequence(_) => false,
        Value::Primitive(value) => primitive(out, vr, value),
    };
    if !has_value && is_binary(vr) {
        out.push_str(",\"BulkDataURI\":");
        bulk_uri(out, bulk_base, tag);
    }
    out.push('}');
}

fn is_binary(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN
    )
}

/// Writes `,"Value":[...]` or `,"InlineBinary":"..."`; false when the value
/// is empty or bulk data, and nothing was written.
fn primitive(out: &mut String, vr: VR, value: &PrimitiveValue) -> bool {
    if matches!(value, PrimitiveValue::Empty) {
        return false;
    }
    if is_binary(vr) {
        let bytes = value.to_bytes();
        if bytes.len() > INLINE_BINARY_LIMIT {
            return false;
        }
        out.push_str(",\"InlineBinary\":\"");
        base64::engine::general_purpose::STANDARD.encode_string(&bytes, out);
        out.push('"');
        return true;
    }
    out.push_str(",\"Value\":[");
    match vr {
        VR::PN => texts(out, value, |out, name| {
            out.push_str("{\"Alphabetic\":");
            string(out, name);
            out.push('}');
        }),
        VR::IS | VR::DS => texts(out, value, number),
        VR::AT => {
            if let PrimitiveValue::Tags(tags) = value {
                for (i, tag) in tags.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quoted_tag(out, *tag);
                }
            }
        }
        VR::SS | VR::US | VR::SL | VR::UL | VR::SV | VR::UV | VR::FL | VR::FD => {
            numbers(out, value);
        }
        // Text VRs: one string per value (PS3.18 F.2.5).
        _ => texts(out, value, string),
    }
    out.push(']');
    true
}

/// One JSON value per value of a text element, `null` for an empty one
/// (PS3.18 F.2.5), with DICOM's space and NUL padding trimmed.
fn texts(out: &mut String, value: &PrimitiveValue, mut write: impl FnMut(&mut String, &str)) {
    for (i, text) in value.to_multi_str().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match text.trim_matches(|c: char| c == ' ' || c == '\0') {
            "" => out.push_str("null"),
            text => write(out, text),
        }
    }
}

/// An IS or DS value as a JSON number; `null` when it is not a finite number.
fn number(out: &mut String, text: &str) {
    if let Ok(int) = text.parse::<i64>() {
        out.push_str(itoa::Buffer::new().format(int));
    } else {
        float(out, text.parse::<f64>().unwrap_or(f64::NAN));
    }
}

fn float(out: &mut String, n: f64) {
    // JSON has no NaN or infinity; PS3.18 leaves them unrepresentable.
    match serde_json::Number::from_f64(n) {
        Some(number) => {
            let _ = write!(out, "{number}");
        }
        None => out.push_str("null"),
    }
}

fn numbers(out: &mut String, value: &PrimitiveValue) {
    fn list<T: itoa::Integer + Copy>(out: &mut String, values: &[T]) {
        let mut buffer = itoa::Buffer::new();
        for (i, n) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(buffer.format(*n));
        }
    }
    fn floats(out: &mut String, values: impl Iterator<Item = f64>) {
        for (i, n) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            float(out, n);
        }
    }
    match value {
        PrimitiveValue::U8(v) => list(out, v),
        PrimitiveValue::I16(v) => list(out, v),
        PrimitiveValue::U16(v) => list(out, v),
        PrimitiveValue::I32(v) => list(out, v),
        PrimitiveValue::U32(v) => list(out, v),
        PrimitiveValue::I64(v) => list(out, v),
        PrimitiveValue::U64(v) => list(out, v),
        PrimitiveValue::F32(v) => floats(out, v.iter().map(|n| f64::from(*n))),
        PrimitiveValue::F64(v) => floats(out, v.iter().copied()),
        other => texts(out, other, number),
    }
}

/// A JSON string, escaped as RFC 8259 requires.
fn string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1F => "",
            _ => continue,
        };
        // Every byte escaped is ASCII, so `i` is on a character boundary.
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::InMemDicomObject;
    use serde_json::{json, Value as Json};

    use super::*;

    fn metadata(dataset: &InMemDicomObject, pixel_data: Option<VR>) -> Json {
        let text = instance_metadata(dataset, "B/", pixel_data);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn element(tag: Tag, vr: VR, value: PrimitiveValue) -> InMemElement {
        DataElement::new(tag, vr, value)
    }

    #[test]
    fn each_kind_of_value_has_its_json_form() {
        let item = InMemDicomObject::from_element_iter([
            element(tags::CODE_VALUE, VR::SH, "T-A0100 ".into()),
            element(Tag(0x0009, 0x1020), VR::OB, vec![0u8; 2000].into()),
        ]);
        let dataset = InMemDicomObject::from_element_iter([
            element(Tag(0x0008, 0x0000), VR::UL, PrimitiveValue::from(8u32)),
            element(
                tags::IMAGE_TYPE,
                VR::CS,
                PrimitiveValue::Strs(dicom_core::smallvec::smallvec![
                    "ORIGINAL".to_owned(),
                    String::new(),
                    "AXIAL".to_owned()
                ]),
            ),
            element(tags::PATIENT_NAME, VR::PN, "Wang^Fang ".into()),
            element(
                tags::PATIENT_COMMENTS,
                VR::LT,
                "say \"hi\"\\\n\u{1}é".into(),
            ),
            element(tags::SLICE_THICKNESS, VR::DS, "2.50 ".into()),
            element(
                tags::INSTANCE_NUMBER,
                VR::IS,
                PrimitiveValue::Strs(["7".to_owned(), "x".to_owned()].into()),
            ),
            element(tags::ROWS, VR::US, PrimitiveValue::from(8u16)),
            element(
                tags::REAL_WORLD_VALUE_SLOPE,
                VR::FD,
                PrimitiveValue::F64([0.5, f64::NAN].into()),
            ),
            element(
                tags::FRAME_INCREMENT_POINTER,
                VR::AT,
                PrimitiveValue::Tags(dicom_core::smallvec::smallvec![tags::FRAME_TIME]),
            ),
            element(Tag(0x6000, 0x3000), VR::OW, vec![1u8; 2048].into()),
            element(Tag(0x0009, 0x1010), VR::OB, vec![1u8, 2, 3, 4].into()),
            element(tags::STUDY_DESCRIPTION, VR::LO, PrimitiveValue::Empty),
            DataElement::new(
                tags::ANATOMIC_REGION_SEQUENCE,
                VR::SQ,
                dicom_core::value::DataSetSequence::from(vec![item]),
            ),
        ]);
        assert_eq!(
            metadata(&dataset, None),
            json!({
                "00080008": { "vr": "CS", "Value": ["ORIGINAL", null, "AXIAL"] },
                "00081030": { "vr": "LO" },
                "00082218": { "vr": "SQ", "Value": [
                    { "00080100": { "vr": "SH", "Value": ["T-A0100"] },
                      "00091020": { "vr": "OB", "BulkDataURI": "B/00082218.0.00091020" } }
                ] },
                "00100010": { "vr": "PN", "Value": [{ "Alphabetic": "Wang^Fang" }] },
                "00104000": { "vr": "LT", "Value": ["say \"hi\"\\\n\u{1}é"] },
                "00180050": { "vr": "DS", "Value": [2.5] },
                "00280009": { "vr": "AT", "Value": ["00181063"] },
                "00200013": { "vr": "IS", "Value": [7, null] },
                "00280010": { "vr": "US", "Value": [8] },
                "00409225": { "vr": "FD", "Value": [0.5, null] },
                "60003000": { "vr": "OW", "BulkDataURI": "B/60003000" },
                "00091010": { "vr": "OB", "InlineBinary": "AQIDBA==" },
            })
        );
    }

    #[test]
    fn pixel_data_is_listed_in_tag_order() {
        let dataset = InMemDicomObject::from_element_iter([
            element(tags::ROWS, VR::US, PrimitiveValue::from(8u16)),
            element(Tag(0xFFFA, 0xFFFA), VR::SQ, PrimitiveValue::Empty),
        ]);
        let text = instance_metadata(&dataset, "{{root}}/x/", Some(VR::OW));
        assert_eq!(
            text,
            concat!(
                r#"{"00280010":{"vr":"US","Value":[8]},"#,
                r#""7FE00010":{"vr":"OW","BulkDataURI":"{{root}}/x/7FE00010"},"#,
                r#""FFFAFFFA":{"vr":"SQ"}}"#
            )
        );
        let empty = instance_metadata(&InMemDicomObject::new_empty(), "b/", Some(VR::OB));
        assert_eq!(
            empty,
            r#"{"7FE00010":{"vr":"OB","BulkDataURI":"b/7FE00010"}}"#
        );
        assert_eq!(
            instance_metadata(&InMemDicomObject::new_empty(), "b/", None),
            "{}"
        );
    }
}
