//! C-FIND over the index: an identifier becomes the same query QIDO-RS runs
//! ([`crate::dicomweb::query::parse`]), so the two doors match, page and
//! restrict by [`StudyScope`] identically.
//!
//! Every non-empty attribute of the identifier is a matching key, named by
//! its tag; attributes the index does not hold are ignored as matching keys
//! (as PS3.18 allows QIDO-RS to) but still answered as return keys, from the
//! stored metadata of one instance of each result. Each answer carries
//! exactly the keys the identifier asked for, empty where the store has no
//! value, plus Query/Retrieve Level and Specific Character Set (UTF-8: the
//! index keeps text decoded).

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::Value as Json;

use crate::dicomweb::qido;
use crate::dicomweb::query::{parse, Include, Level};
use crate::dimse::QueryLevel;
use crate::{Store, StudyScope};

/// Why a C-FIND could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FindError {
    /// A matching key is malformed (a bad date range, an invalid UID).
    #[error("{0}")]
    InvalidQuery(String),
    /// The index could not be read.
    #[error("the index failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The store could not be read.
    #[error("the store failed: {0}")]
    Store(#[from] crate::StoreError),
}

/// One answer to a C-FIND.
#[derive(Debug, Clone)]
pub struct FindMatch {
    /// The study the answer comes from, for the audit trail.
    pub study_uid: String,
    /// The identifier to send back.
    pub identifier: InMemDicomObject,
}

/// Runs the query an identifier describes at `level`, limited to `scope`.
/// `PATIENT` level is answered from studies, one answer per Patient ID.
pub async fn find(
    store: &Store,
    level: QueryLevel,
    identifier: &InMemDicomObject,
    scope: &StudyScope,
) -> Result<Vec<FindMatch>, FindError> {
    let index_level = match level {
        QueryLevel::Patient | QueryLevel::Study => Level::Study,
        QueryLevel::Series => Level::Series,
        QueryLevel::Image => Level::Instance,
    };
    let mut params = Vec::new();
    let mut keys = Vec::new();
    for element in identifier.iter() {
        let tag = element.header().tag;
        if tag == tags::QUERY_RETRIEVE_LEVEL
            || tag == tags::SPECIFIC_CHARACTER_SET
            || tag.element() == 0
        {
            continue;
        }
        keys.push((tag, element.vr()));
        if element.vr() == VR::SQ {
            continue; // sequence matching is not supported; answered empty
        }
        let value = element
            .to_str()
            .map(|v| v.trim_matches([' ', '\0']).to_owned())
            .unwrap_or_default();
        // Some SCUs send `*` where PS3.4 wants an empty value (universal
        // matching); on UIDs the QIDO-RS parser would refuse it.
        if !value.is_empty() && !value.chars().all(|c| c == '*') {
            params.push((key(tag), value));
        }
    }
    let mut query = parse(index_level, &params, &[], scope).map_err(FindError::InvalidQuery)?;
    query.include = Include::Tags(keys.iter().map(|(tag, _)| key(*tag)).collect());
    let pool = store.index().pool();
    let results = match index_level {
        Level::Study => qido::study_results(pool, "", &query).await?,
        Level::Series => qido::series_results(pool, "", &query).await?,
        Level::Instance => qido::instance_results(pool, "", &query).await?,
    };
    let mut seen_patients = Vec::new();
    let mut out = Vec::with_capacity(results.len());
    for (study_uid, json) in results {
        if level == QueryLevel::Patient {
            let patient = json_text(&json, "00100020").unwrap_or_default();
            if seen_patients.contains(&patient) {
                continue;
            }
            seen_patients.push(patient);
        }
        out.push(FindMatch {
            study_uid,
            identifier: answer(level, &keys, &json),
        });
    }
    Ok(out)
}

fn key(tag: Tag) -> String {
    crate::json::tag_key(tag.group(), tag.element())
}

/// The values of a DICOM JSON attribute as one DICOM string (`\`-separated).
fn json_text(json: &Json, key: &str) -> Option<String> {
    let values = json.get(key)?.get("Value")?.as_array()?;
    let parts: Vec<String> = values
        .iter()
        .filter_map(|v| match v {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            Json::Object(pn) => pn
                .get("Alphabetic")
                .and_then(Json::as_str)
                .map(str::to_owned),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("\\"))
}

/// The identifier sent back: every requested key, filled from `json` where the
/// store has a value that fits the requested VR, empty otherwise.
fn answer(level: QueryLevel, keys: &[(Tag, VR)], json: &Json) -> InMemDicomObject {
    let mut object = InMemDicomObject::new_empty();
    object.put(DataElement::new(
        tags::SPECIFIC_CHARACTER_SET,
        VR::CS,
        PrimitiveValue::from("ISO_IR 192"),
    ));
    object.put(DataElement::new(
        tags::QUERY_RETRIEVE_LEVEL,
        VR::CS,
        PrimitiveValue::from(level.as_str()),
    ));
    for (tag, vr) in keys {
        let text = json_text(json, &key(*tag));
        let value = match (vr, text) {
            (VR::SQ, _) | (_, None) => PrimitiveValue::Empty,
            (VR::US, Some(t)) => t
                .parse::<u16>()
                .map(PrimitiveValue::from)
                .unwrap_or(PrimitiveValue::Empty),
            (VR::UL, Some(t)) => t
                .parse::<u32>()
                .map(PrimitiveValue::from)
                .unwrap_or(PrimitiveValue::Empty),
            // Other binary VRs are never index or metadata text we could
            // convert faithfully; answered empty rather than mis-encoded.
            (VR::SS | VR::SL | VR::FL | VR::FD | VR::OB | VR::OW | VR::UN, Some(_)) => {
                PrimitiveValue::Empty
            }
            (_, Some(t)) => PrimitiveValue::from(t),
        };
        if *vr == VR::SQ {
            object.put(DataElement::new(
                *tag,
                VR::SQ,
                dicom_core::value::DataSetSequence::<InMemDicomObject>::empty(),
            ));
        } else {
            object.put(DataElement::new(*tag, *vr, value));
        }
    }
    object
}
