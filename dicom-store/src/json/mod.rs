//! The DICOM JSON model (PS3.18 Annex F): data sets as JSON objects keyed by
//! the eight-digit hexadecimal tag, each with its `vr` and `Value`.
//!
//! [`instance_metadata`] writes a parsed data set as the metadata the store
//! keeps per instance; [`JsonDataset`] builds one attribute at a time from
//! index rows (used by QIDO-RS and STOW-RS responses).

mod metadata;

pub use metadata::instance_metadata;

use serde_json::{json, Map, Value as Json};

/// Stands for the DICOMweb root in stored metadata. The root a client reaches
/// Ferry by is known only per request, so [`with_root`] puts it in when the
/// metadata is served.
pub const BULK_ROOT: &str = "{{dicomweb-root}}";

/// Replaces [`BULK_ROOT`] in stored metadata with the root the client used.
/// Only the start of a `BulkDataURI` value is replaced: an attribute value
/// cannot contain the unescaped quote that precedes it.
pub fn with_root(metadata: &str, root: &str) -> String {
    metadata.replace(
        &format!("\"BulkDataURI\":\"{BULK_ROOT}"),
        &format!("\"BulkDataURI\":\"{root}"),
    )
}

/// The JSON key of a tag: eight upper-case hexadecimal digits.
pub fn tag_key(group: u16, element: u16) -> String {
    format!("{group:04X}{element:04X}")
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
