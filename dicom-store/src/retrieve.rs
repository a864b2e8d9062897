//! C-GET and C-MOVE over the index: the stored instances a retrieve
//! identifier names (PS3.4 §C.4.2.2.1, §C.4.3.2.1), within a scope.
//!
//! Only unique keys count: Patient ID at PATIENT level, then the Study,
//! Series and SOP Instance UIDs (each a `\`-separated list). A lower key
//! given without the keys above it is looked up (a Series Instance UID
//! names its study), so relational retrieves work on both models. Whatever
//! is named, only studies inside the scope are sent: a UID outside it
//! matches nothing, exactly like one that does not exist.

use std::collections::BTreeSet;

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::dicomweb::qido;
use crate::dicomweb::query::{parse, Level};
use crate::dimse::QueryLevel;
use crate::find::FindError;
use crate::index::InstanceRow;
use crate::{Store, StudyScope};

/// The unique keys of a retrieve identifier.
#[derive(Debug, Default)]
struct Keys {
    patient_id: Option<String>,
    studies: Vec<String>,
    series: Vec<String>,
    instances: Vec<String>,
}

fn values(identifier: &InMemDicomObject, tag: dicom_object::Tag) -> Vec<String> {
    identifier
        .get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|v| {
            v.split('\\')
                .map(|s| s.trim_matches([' ', '\0']).to_owned())
                .filter(|s| !s.is_empty() && s != "*")
                .collect()
        })
        .unwrap_or_default()
}

impl Keys {
    fn of(level: QueryLevel, identifier: &InMemDicomObject) -> Result<Self, FindError> {
        let keys = Self {
            patient_id: values(identifier, tags::PATIENT_ID).into_iter().next(),
            studies: values(identifier, tags::STUDY_INSTANCE_UID),
            series: values(identifier, tags::SERIES_INSTANCE_UID),
            instances: values(identifier, tags::SOP_INSTANCE_UID),
        };
        let missing = match level {
            QueryLevel::Patient => keys.patient_id.is_none().then_some("Patient ID"),
            QueryLevel::Study => keys.studies.is_empty().then_some("Study Instance UID"),
            QueryLevel::Series => keys.series.is_empty().then_some("Series Instance UID"),
            QueryLevel::Image => keys.instances.is_empty().then_some("SOP Instance UID"),
        };
        if let Some(key) = missing {
            return Err(FindError::InvalidQuery(format!(
                "a {} level retrieve needs its unique key, {key}",
                level.as_str()
            )));
        }
        for uid in keys
            .studies
            .iter()
            .chain(&keys.series)
            .chain(&keys.instances)
        {
            crate::uid::validate(uid).map_err(|e| FindError::InvalidQuery(e.to_string()))?;
        }
        Ok(keys)
    }
}

/// The instances `identifier` names at `level`, in study, series and
/// instance order, limited to `scope`.
pub async fn instances_for(
    store: &Store,
    level: QueryLevel,
    identifier: &InMemDicomObject,
    scope: &StudyScope,
) -> Result<Vec<InstanceRow>, FindError> {
    let mut keys = Keys::of(level, identifier)?;
    if keys.studies.is_empty() {
        let mut studies = BTreeSet::new();
        for uid in &keys.series {
            if let Some(series) = store.series(uid).await? {
                studies.insert(series.study_uid);
            }
        }
        if keys.series.is_empty() {
            for uid in &keys.instances {
                if let Some(instance) = store.instance(uid).await? {
                    studies.insert(instance.study_uid);
                }
            }
        }
        if studies.is_empty() && keys.patient_id.is_none() {
            return Ok(Vec::new());
        }
        keys.studies = studies.into_iter().collect();
    }
    // The study query applies the scope, the same one QIDO-RS and C-FIND
    // apply.
    let mut params = Vec::new();
    if let Some(patient) = &keys.patient_id {
        params.push(("PatientID".to_owned(), patient.clone()));
    }
    if !keys.studies.is_empty() {
        params.push(("StudyInstanceUID".to_owned(), keys.studies.join(",")));
    }
    let query = parse(Level::Study, &params, &[], scope).map_err(FindError::InvalidQuery)?;
    let studies = qido::study_results(store.index().pool(), "", &query).await?;
    let series: BTreeSet<&str> = keys.series.iter().map(String::as_str).collect();
    let sops: BTreeSet<&str> = keys.instances.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for (study_uid, _) in studies {
        let rows = store.instances_in(&study_uid, None, None).await?;
        out.extend(rows.into_iter().filter(|row| {
            (series.is_empty() || series.contains(row.series_uid.as_str()))
                && (sops.is_empty() || sops.contains(row.sop_instance_uid.as_str()))
        }));
    }
    Ok(out)
}
