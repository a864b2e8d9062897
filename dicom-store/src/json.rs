//! The DICOM JSON model (PS3.18 Annex F): data sets as JSON objects keyed by
//! the eight-digit hexadecimal tag, each with its `vr` and `Value`.
//!
//! [`dataset_to_json`] converts a parsed data set (used for the metadata the
//! store keeps per instance); [`JsonDataset`] builds one attribute at a time
//! from index rows (used by QIDO-RS and STOW-RS responses).

use base64::Engine as _;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::VR;
use dicom_object::InMemDicomObject;
use serde_json::{json, Map, Value as Json};

/// Binary values longer than this are left out of the metadata: they are bulk
/// data (waveform samples, overlays, icons) that a viewer fetches separately.
const INLINE_BINARY_LIMIT: usize = 1024;

/// Stands for the DICOMweb root in stored metadata. The root a client reaches
/// Ferry by is known only per request, so [`with_root`] puts it in when the
/// metadata is served.
pub const BULK_ROOT: &str = "{{dicomweb-root}}";

/// Converts a data set to the DICOM JSON model, leaving out bulk data (pixel
/// data, and binary values over 1 KiB) and group-length elements.
pub fn dataset_to_json(dataset: &InMemDicomObject) -> Json {
    to_json(dataset, None)
}

/// As [`dataset_to_json`], but a top-level binary value left out as bulk data
/// gets a `BulkDataURI` of `{bulk_base}{tag}` (PS3.18 F.2.6), so a viewer can
/// fetch it. Nested bulk values are left out without one.
pub fn dataset_to_json_with_bulk(dataset: &InMemDicomObject, bulk_base: &str) -> Json {
    to_json(dataset, Some(bulk_base))
}

/// Replaces [`BULK_ROOT`] in stored metadata with the root the client used.
/// Only the start of a `BulkDataURI` value is replaced: an attribute value
/// cannot contain the unescaped quote that precedes it.
pub fn with_root(metadata: &str, root: &str) -> String {
    metadata.replace(
        &format!("\"BulkDataURI\":\"{BULK_ROOT}"),
        &format!("\"BulkDataURI\":\"{root}"),
    )
}

fn to_json(dataset: &InMemDicomObject, bulk_base: Option<&str>) -> Json {
    let mut object = Map::new();
    for element in dataset.iter() {
        let tag = element.header().tag;
        // Group lengths (gggg,0000) are an encoding detail PS3.18 says to omit.
        if tag.element() == 0 {
            continue;
        }
        let vr = element.vr();
        let mut attribute = Map::new();
        attribute.insert("vr".to_owned(), Json::String(vr.to_string().to_owned()));
        match element.value() {
            Value::Sequence(sequence) => {
                let items: Vec<Json> = sequence
                    .items()
                    .iter()
                    .map(|item| to_json(item, None))
                    .collect();
                if !items.is_empty() {
                    attribute.insert("Value".to_owned(), Json::Array(items));
                }
            }
            // Encapsulated pixel data is bulk data by definition.
            Value::PixelSequence(_) => {}
            Value::Primitive(value) => {
                if let Some((key, value)) = primitive_to_json(vr, value) {
                    attribute.insert(key.to_owned(), value);
                }
            }
        }
        let binary = matches!(
            vr,
            VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN
        );
        if let Some(base) = bulk_base.filter(|_| binary && attribute.len() == 1) {
            let uri = format!("{base}{}", tag_key(tag.group(), tag.element()));
            attribute.insert("BulkDataURI".to_owned(), Json::String(uri));
        }
        object.insert(tag_key(tag.group(), tag.element()), Json::Object(attribute));
    }
    Json::Object(object)
}

/// The JSON key of a tag: eight upper-case hexadecimal digits.
pub fn tag_key(group: u16, element: u16) -> String {
    format!("{group:04X}{element:04X}")
}

fn primitive_to_json(vr: VR, value: &PrimitiveValue) -> Option<(&'static str, Json)> {
    if matches!(value, PrimitiveValue::Empty) {
        return None;
    }
    match vr {
        VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN => {
            let bytes = value.to_bytes();
            (bytes.len() <= INLINE_BINARY_LIMIT).then(|| {
                (
                    "InlineBinary",
                    Json::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                )
            })
        }
        VR::PN => {
            let names: Vec<Json> = strings(value)
                .into_iter()
                .map(|name| match name {
                    Some(name) => json!({ "Alphabetic": name }),
                    None => Json::Null,
                })
                .collect();
            Some(("Value", Json::Array(names)))
        }
        VR::IS | VR::DS => {
            let numbers = strings(value)
                .into_iter()
                .map(|s| s.and_then(|s| number(&s)).unwrap_or(Json::Null))
                .collect();
            Some(("Value", Json::Array(numbers)))
        }
        VR::AT => {
            let tags = match value {
                PrimitiveValue::Tags(tags) => tags
                    .iter()
                    .map(|t| Json::String(tag_key(t.group(), t.element())))
                    .collect(),
                _ => Vec::new(),
            };
            Some(("Value", Json::Array(tags)))
        }
        VR::SS | VR::US | VR::SL | VR::UL | VR::SV | VR::UV | VR::FL | VR::FD => {
            Some(("Value", Json::Array(numbers_of(value))))
        }
        // Text VRs: one string per value, an empty value as null (PS3.18 F.2.5).
        _ => {
            let texts = strings(value)
                .into_iter()
                .map(|s| s.map(Json::String).unwrap_or(Json::Null))
                .collect();
            Some(("Value", Json::Array(texts)))
        }
    }
}

fn strings(value: &PrimitiveValue) -> Vec<Option<String>> {
    value
        .to_multi_str()
        .iter()
        .map(|s| {
            let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
            (!s.is_empty()).then(|| s.to_owned())
        })
        .collect()
}

fn number(text: &str) -> Option<Json> {
    if let Ok(int) = text.parse::<i64>() {
        return Some(Json::from(int));
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Json::Number)
}

fn numbers_of(value: &PrimitiveValue) -> Vec<Json> {
    match value {
        PrimitiveValue::U8(v) => v.iter().map(|n| Json::from(*n)).collect(),
        PrimitiveValue::I16(v) => v.iter().map(|n| Json::from(*n)).collect(),
        PrimitiveValue::U16(v) => v.iter().map(|n| Json::from(*n)).collect(),
        PrimitiveValue::I32(v) => v.iter().map(|n| Json::from(*n)).collect(),
        PrimitiveValue::U32(v) => v.iter().map(|n| Json::from(*n)).collect(),
        PrimitiveValue::I64(v) => v.iter().map(|n| Json::from(*n)).collect(),
        PrimitiveValue::U64(v) => v.iter().map(|n| Json::from(*n)).collect(),
        PrimitiveValue::F32(v) => v.iter().map(|n| float(f64::from(*n))).collect(),
        PrimitiveValue::F64(v) => v.iter().map(|n| float(*n)).collect(),
        other => strings(other)
            .into_iter()
            .map(|s| s.and_then(|s| number(&s)).unwrap_or(Json::Null))
            .collect(),
    }
}

fn float(n: f64) -> Json {
    // JSON has no NaN or infinity; PS3.18 leaves them unrepresentable.
    serde_json::Number::from_f64(n)
        .map(Json::Number)
        .unwrap_or(Json::Null)
}

/// A DICOM JSON data set built attribute by attribute, for responses made
/// from index rows rather than from a parsed file.
#[derive(Debug, Default, Clone)]
pub struct JsonDataset(Map<String, Json>);

impl JsonDataset {
    /// An empty data set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a text attribute (any string VR); `None` or an empty string adds
    /// the attribute with no value, which PS3.18 allows for required return keys.
    pub fn text(&mut self, tag: (u16, u16), vr: &str, value: Option<&str>) -> &mut Self {
        let value = value.filter(|v| !v.is_empty());
        let attribute = match value {
            Some(v) if vr == "PN" => json!({ "vr": vr, "Value": [{ "Alphabetic": v }] }),
            Some(v) => json!({
                "vr": vr,
                "Value": v.split('\\').map(Json::from).collect::<Vec<_>>()
            }),
            None => json!({ "vr": vr }),
        };
        self.0.insert(tag_key(tag.0, tag.1), attribute);
        self
    }

    /// Adds an integer attribute (IS, US, UL, ...).
    pub fn int(&mut self, tag: (u16, u16), vr: &str, value: Option<i64>) -> &mut Self {
        let attribute = match value {
            Some(v) => json!({ "vr": vr, "Value": [v] }),
            None => json!({ "vr": vr }),
        };
        self.0.insert(tag_key(tag.0, tag.1), attribute);
        self
    }

    /// Adds a sequence attribute.
    pub fn sequence(&mut self, tag: (u16, u16), items: Vec<JsonDataset>) -> &mut Self {
        let items: Vec<Json> = items.into_iter().map(JsonDataset::into_json).collect();
        let attribute = if items.is_empty() {
            json!({ "vr": "SQ" })
        } else {
            json!({ "vr": "SQ", "Value": items })
        };
        self.0.insert(tag_key(tag.0, tag.1), attribute);
        self
    }

    /// Whether the data set has this attribute.
    pub fn contains(&self, tag: (u16, u16)) -> bool {
        self.0.contains_key(&tag_key(tag.0, tag.1))
    }

    /// Merges the attributes of `other` that this data set lacks.
    pub fn merge_missing(&mut self, other: &Map<String, Json>) {
        for (key, value) in other {
            if !self.0.contains_key(key) {
                self.0.insert(key.clone(), value.clone());
            }
        }
    }

    /// The JSON object, with its keys in tag order (the map is sorted).
    pub fn into_json(self) -> Json {
        Json::Object(self.0)
    }
}
