//! A signed reading report as a DICOM Basic Text SR (PS3.3 A.35.1), so the
//! report travels with the study: any PACS or viewer that receives the study
//! receives the report, and each amended version is a new instance that
//! points at the one it supersedes.
//!
//! [`basic_text_sr`] returns a Part 10 file (explicit VR little endian, UTF-8
//! text) that the store ingests like any other instance. Its content tree is
//! a *Diagnostic Imaging Report* container (LOINC 18748-4) holding up to
//! three TEXT items: the request (the clinical question), the findings and
//! the impression. The instances read are listed in *Current Requested
//! Procedure Evidence Sequence* rather than as IMAGE items, which would need
//! every SOP class sorted into image and non-image; viewers list evidence
//! from that sequence.
//!
//! Values are copied as given: identifiers taken from the study must match it
//! exactly, so lengths are not enforced. What would change their meaning is
//! refused: an invalid UID, a malformed date or time, and a backslash or
//! control character in a short text, where DICOM reads a backslash as a
//! value separator.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

use crate::uid::UidError;

mod check;

use check::{check, non_blank, non_blank_str};

/// SOP Class UID of Basic Text SR.
pub const BASIC_TEXT_SR: &str = "1.2.840.10008.5.1.4.1.1.88.11";

/// The Series Description of every report series.
pub const SERIES_DESCRIPTION: &str = "Reading report";

/// The patient, copied from the study read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SrPatient {
    /// Patient ID (0010,0020); required.
    pub id: String,
    /// Patient's Name (0010,0010), DICOM PN (`Family^Given`).
    pub name: Option<String>,
    /// Patient's Birth Date (0010,0030), `YYYYMMDD`.
    pub birth_date: Option<String>,
    /// Patient's Sex (0010,0040): `M`, `F` or `O`.
    pub sex: Option<String>,
}

/// The study read; the report is filed into it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SrStudy {
    /// Study Instance UID (0020,000D).
    pub uid: String,
    /// Accession Number (0008,0050).
    pub accession_number: Option<String>,
    /// Study ID (0020,0010).
    pub id: Option<String>,
    /// Study Date (0008,0020), `YYYYMMDD`.
    pub date: Option<String>,
    /// Study Time (0008,0030), `HHMMSS[.FFFFFF]` or a prefix of it.
    pub time: Option<String>,
    /// Referring Physician's Name (0008,0090), DICOM PN.
    pub referring_physician: Option<String>,
}

/// The reader who signed this version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SrObserver {
    /// Name as DICOM PN (`Family^Given`).
    pub name: String,
    /// Their organisation (Verifying Organization, 0040,A027).
    pub organization: String,
}

/// Whether the report may still change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    /// Preliminary Flag `PRELIMINARY`: a read that a final version will follow.
    Preliminary,
    /// Preliminary Flag `FINAL`.
    Final,
}

/// One instance of the study that the report is based on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SrReference {
    /// Series Instance UID.
    pub series_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
}

/// The earlier version of the report that this one amends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SrPredecessor {
    /// Its Study Instance UID.
    pub study_uid: String,
    /// Its series, class and instance.
    pub instance: SrReference,
}

/// Everything one signed version of a reading report holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrReport {
    /// The patient.
    pub patient: SrPatient,
    /// The study read.
    pub study: SrStudy,
    /// The report's own series (see [`crate::uid::generate`]).
    pub series_uid: String,
    /// The report's own SOP Instance UID, new for every version.
    pub sop_instance_uid: String,
    /// Series Number (0020,0011).
    pub series_number: i32,
    /// Instance Number (0020,0013); the version number suits.
    pub instance_number: i32,
    /// Content Date (0008,0023), `YYYYMMDD`: when this version was signed.
    pub content_date: String,
    /// Content Time (0008,0033), `HHMMSS[.FFFFFF]`.
    pub content_time: String,
    /// Institution Name (0008,0080) of the reading service.
    pub institution_name: Option<String>,
    /// Who signed this version.
    pub reader: SrObserver,
    /// Preliminary or final.
    pub status: ReportStatus,
    /// The clinical question the read answers.
    pub clinical_question: Option<String>,
    /// Findings; this or `impression` must have text.
    pub findings: String,
    /// Impression.
    pub impression: String,
    /// The instances read; all belong to [`SrStudy::uid`].
    pub evidence: Vec<SrReference>,
    /// The version this one supersedes, if it is an amendment.
    pub predecessor: Option<SrPredecessor>,
}

/// Why a report could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SrError {
    /// A UID field is not a valid UID.
    #[error("{attribute} is not a valid UID: {source}")]
    InvalidUid {
        /// Keyword of the attribute.
        attribute: &'static str,
        /// What is wrong with it.
        source: UidError,
    },
    /// A required value is empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// Neither findings nor impression has text.
    #[error("a report needs findings or an impression")]
    NoText,
    /// A value that DICOM would read differently from what was meant.
    #[error("{attribute} {value:?} is not valid: {reason}")]
    InvalidValue {
        /// Keyword of the attribute.
        attribute: &'static str,
        /// The value given.
        value: String,
        /// What DICOM expects.
        reason: &'static str,
    },
    /// dicom-rs refused to build or write the object.
    #[error("the report could not be encoded: {0}")]
    Encoding(String),
}

/// Encodes one version of a report as a Basic Text SR Part 10 file.
pub fn basic_text_sr(report: &SrReport) -> Result<Vec<u8>, SrError> {
    check(report)?;
    let mut o = InMemDicomObject::new_empty();
    // First, so the writer encodes every later text as UTF-8.
    put(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    put(&mut o, tags::SOP_CLASS_UID, VR::UI, BASIC_TEXT_SR);
    put(
        &mut o,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        &report.sop_instance_uid,
    );
    put(
        &mut o,
        tags::INSTANCE_CREATION_DATE,
        VR::DA,
        &report.content_date,
    );
    put(
        &mut o,
        tags::INSTANCE_CREATION_TIME,
        VR::TM,
        &report.content_time,
    );

    let p = &report.patient;
    put(&mut o, tags::PATIENT_ID, VR::LO, &p.id);
    put_opt(&mut o, tags::PATIENT_NAME, VR::PN, &p.name);
    put_opt(&mut o, tags::PATIENT_BIRTH_DATE, VR::DA, &p.birth_date);
    put_opt(&mut o, tags::PATIENT_SEX, VR::CS, &p.sex);

    let s = &report.study;
    put(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, &s.uid);
    put_opt(&mut o, tags::STUDY_DATE, VR::DA, &s.date);
    put_opt(&mut o, tags::STUDY_TIME, VR::TM, &s.time);
    put_opt(&mut o, tags::ACCESSION_NUMBER, VR::SH, &s.accession_number);
    put_opt(&mut o, tags::STUDY_ID, VR::SH, &s.id);
    put_opt(
        &mut o,
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        &s.referring_physician,
    );

    put(&mut o, tags::MODALITY, VR::CS, "SR");
    put(
        &mut o,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &report.series_uid,
    );
    put(
        &mut o,
        tags::SERIES_NUMBER,
        VR::IS,
        &report.series_number.to_string(),
    );
    put(&mut o, tags::SERIES_DESCRIPTION, VR::LO, SERIES_DESCRIPTION);
    put_seq(
        &mut o,
        tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE,
        Vec::new(),
    );
    put(&mut o, tags::MANUFACTURER, VR::LO, "Ferry");
    put_opt(
        &mut o,
        tags::INSTITUTION_NAME,
        VR::LO,
        &report.institution_name,
    );

    // SR Document General: every stored version is signed, so VERIFIED.
    put(
        &mut o,
        tags::INSTANCE_NUMBER,
        VR::IS,
        &report.instance_number.to_string(),
    );
    put(&mut o, tags::CONTENT_DATE, VR::DA, &report.content_date);
    put(&mut o, tags::CONTENT_TIME, VR::TM, &report.content_time);
    let preliminary = match report.status {
        ReportStatus::Preliminary => "PRELIMINARY",
        ReportStatus::Final => "FINAL",
    };
    put(&mut o, tags::PRELIMINARY_FLAG, VR::CS, preliminary);
    put(&mut o, tags::COMPLETION_FLAG, VR::CS, "COMPLETE");
    put(&mut o, tags::VERIFICATION_FLAG, VR::CS, "VERIFIED");
    let mut observer = InMemDicomObject::new_empty();
    put(
        &mut observer,
        tags::VERIFYING_OBSERVER_NAME,
        VR::PN,
        &report.reader.name,
    );
    put_seq(
        &mut observer,
        tags::VERIFYING_OBSERVER_IDENTIFICATION_CODE_SEQUENCE,
        Vec::new(),
    );
    put(
        &mut observer,
        tags::VERIFYING_ORGANIZATION,
        VR::LO,
        &report.reader.organization,
    );
    let signed_at = format!("{}{}", report.content_date, report.content_time);
    put(
        &mut observer,
        tags::VERIFICATION_DATE_TIME,
        VR::DT,
        &signed_at,
    );
    put_seq(&mut o, tags::VERIFYING_OBSERVER_SEQUENCE, vec![observer]);
    put_seq(&mut o, tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, Vec::new());
    if !report.evidence.is_empty() {
        let study = hierarchical_reference(&s.uid, &report.evidence);
        put_seq(
            &mut o,
            tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
            vec![study],
        );
    }
    if let Some(pred) = &report.predecessor {
        let study = hierarchical_reference(&pred.study_uid, std::slice::from_ref(&pred.instance));
        put_seq(&mut o, tags::PREDECESSOR_DOCUMENTS_SEQUENCE, vec![study]);
    }

    // SR Document Content: the root container and its text items.
    put(&mut o, tags::VALUE_TYPE, VR::CS, "CONTAINER");
    put_seq(
        &mut o,
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        vec![code("18748-4", "LN", "Diagnostic Imaging Report")],
    );
    put(&mut o, tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
    let mut items = Vec::new();
    if let Some(question) = non_blank(&report.clinical_question) {
        // LOINC "Request" is the CID 7002 concept for what was asked.
        items.push(text_item(code("55115-0", "LN", "Request"), question));
    }
    if let Some(findings) = non_blank_str(&report.findings) {
        items.push(text_item(code("121071", "DCM", "Finding"), findings));
    }
    if let Some(impression) = non_blank_str(&report.impression) {
        items.push(text_item(code("121073", "DCM", "Impression"), impression));
    }
    put_seq(&mut o, tags::CONTENT_SEQUENCE, items);

    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .implementation_class_uid(crate::dimse::negotiate::IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(crate::dimse::negotiate::IMPLEMENTATION_VERSION_NAME);
    let file = o
        .with_meta(meta)
        .map_err(|e| SrError::Encoding(e.to_string()))?;
    let mut out = Vec::new();
    file.write_all(&mut out)
        .map_err(|e| SrError::Encoding(e.to_string()))?;
    Ok(out)
}

fn put(o: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    o.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

/// A Type 2 attribute: present, and empty when unknown.
fn put_opt(o: &mut InMemDicomObject, tag: Tag, vr: VR, value: &Option<String>) {
    match non_blank(value) {
        Some(v) => put(o, tag, vr, v),
        None => {
            o.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
        }
    }
}

fn put_seq(o: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

fn code(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    let mut c = InMemDicomObject::new_empty();
    put(&mut c, tags::CODE_VALUE, VR::SH, value);
    put(&mut c, tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme);
    put(&mut c, tags::CODE_MEANING, VR::LO, meaning);
    c
}

fn text_item(concept: InMemDicomObject, text: &str) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put(&mut item, tags::RELATIONSHIP_TYPE, VR::CS, "CONTAINS");
    put(&mut item, tags::VALUE_TYPE, VR::CS, "TEXT");
    put_seq(&mut item, tags::CONCEPT_NAME_CODE_SEQUENCE, vec![concept]);
    put(&mut item, tags::TEXT_VALUE, VR::UT, text);
    item
}

/// One study item of the Hierarchical SOP Instance Reference Macro
/// (PS3.3 Table C.17-3): its series in first-seen order, each with its
/// instances, an instance listed once however often it was given.
fn hierarchical_reference(study_uid: &str, instances: &[SrReference]) -> InMemDicomObject {
    let mut series: Vec<(&str, Vec<&SrReference>)> = Vec::new();
    for r in instances {
        let seen = series.iter().any(|(_, refs)| {
            refs.iter()
                .any(|x| x.sop_instance_uid == r.sop_instance_uid)
        });
        if seen {
            continue;
        }
        match series.iter_mut().find(|(uid, _)| *uid == r.series_uid) {
            Some((_, refs)) => refs.push(r),
            None => series.push((&r.series_uid, vec![r])),
        }
    }
    let series_items = series
        .into_iter()
        .map(|(series_uid, refs)| {
            let mut item = InMemDicomObject::new_empty();
            put(&mut item, tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
            let sops = refs
                .into_iter()
                .map(|r| {
                    let mut sop = InMemDicomObject::new_empty();
                    put(
                        &mut sop,
                        tags::REFERENCED_SOP_CLASS_UID,
                        VR::UI,
                        &r.sop_class_uid,
                    );
                    put(
                        &mut sop,
                        tags::REFERENCED_SOP_INSTANCE_UID,
                        VR::UI,
                        &r.sop_instance_uid,
                    );
                    sop
                })
                .collect();
            put_seq(&mut item, tags::REFERENCED_SOP_SEQUENCE, sops);
            item
        })
        .collect();
    let mut study = InMemDicomObject::new_empty();
    put(&mut study, tags::STUDY_INSTANCE_UID, VR::UI, study_uid);
    put_seq(&mut study, tags::REFERENCED_SERIES_SEQUENCE, series_items);
    study
}

#[cfg(test)]
mod tests;
