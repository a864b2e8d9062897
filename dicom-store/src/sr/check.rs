//! What [`basic_text_sr`](super::basic_text_sr) refuses: anything DICOM
//! would read differently from what was meant.

use super::{SrError, SrReport};
use crate::uid;

pub(super) fn check(r: &SrReport) -> Result<(), SrError> {
    let uid = |attribute: &'static str, value: &str| {
        uid::validate(value)
            .map(|_| ())
            .map_err(|source| SrError::InvalidUid { attribute, source })
    };
    uid("StudyInstanceUID", &r.study.uid)?;
    uid("SeriesInstanceUID", &r.series_uid)?;
    uid("SOPInstanceUID", &r.sop_instance_uid)?;
    for e in &r.evidence {
        uid("ReferencedSeriesSequence.SeriesInstanceUID", &e.series_uid)?;
        uid("ReferencedSOPClassUID", &e.sop_class_uid)?;
        uid("ReferencedSOPInstanceUID", &e.sop_instance_uid)?;
    }
    if let Some(p) = &r.predecessor {
        uid(
            "PredecessorDocumentsSequence.StudyInstanceUID",
            &p.study_uid,
        )?;
        uid(
            "PredecessorDocumentsSequence.SeriesInstanceUID",
            &p.instance.series_uid,
        )?;
        uid(
            "PredecessorDocumentsSequence.ReferencedSOPClassUID",
            &p.instance.sop_class_uid,
        )?;
        uid(
            "PredecessorDocumentsSequence.ReferencedSOPInstanceUID",
            &p.instance.sop_instance_uid,
        )?;
    }
    if non_blank_str(&r.findings).is_none() && non_blank_str(&r.impression).is_none() {
        return Err(SrError::NoText);
    }
    required("PatientID", &r.patient.id)?;
    required("VerifyingObserverName", &r.reader.name)?;
    required("VerifyingOrganization", &r.reader.organization)?;
    date("ContentDate", &r.content_date)?;
    time("ContentTime", &r.content_time)?;
    if let Some(d) = non_blank(&r.patient.birth_date) {
        date("PatientBirthDate", d)?;
    }
    if let Some(d) = non_blank(&r.study.date) {
        date("StudyDate", d)?;
    }
    if let Some(t) = non_blank(&r.study.time) {
        time("StudyTime", t)?;
    }
    if let Some(sex) = non_blank(&r.patient.sex) {
        if !matches!(sex, "M" | "F" | "O") {
            return Err(invalid("PatientSex", sex, "M, F or O"));
        }
    }
    let short_texts = [
        ("PatientID", Some(&r.patient.id)),
        ("PatientName", r.patient.name.as_ref()),
        ("AccessionNumber", r.study.accession_number.as_ref()),
        ("StudyID", r.study.id.as_ref()),
        (
            "ReferringPhysicianName",
            r.study.referring_physician.as_ref(),
        ),
        ("InstitutionName", r.institution_name.as_ref()),
        ("VerifyingObserverName", Some(&r.reader.name)),
        ("VerifyingOrganization", Some(&r.reader.organization)),
    ];
    for (attribute, value) in short_texts {
        if let Some(value) = value {
            if value.chars().any(|c| c == '\\' || c.is_control()) {
                return Err(invalid(
                    attribute,
                    value,
                    "one value, no backslash or control character",
                ));
            }
        }
    }
    Ok(())
}

fn required(attribute: &'static str, value: &str) -> Result<(), SrError> {
    if value.trim().is_empty() {
        return Err(SrError::Missing(attribute));
    }
    Ok(())
}

fn invalid(attribute: &'static str, value: &str, reason: &'static str) -> SrError {
    SrError::InvalidValue {
        attribute,
        value: value.to_owned(),
        reason,
    }
}

fn date(attribute: &'static str, value: &str) -> Result<(), SrError> {
    if value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid(attribute, value, "a DICOM date, YYYYMMDD"))
    }
}

fn time(attribute: &'static str, value: &str) -> Result<(), SrError> {
    let (whole, fraction) = match value.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (value, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let whole_ok = matches!(whole.len(), 2 | 4 | 6) && digits(whole);
    let fraction_ok = match fraction {
        None => true,
        Some(f) => whole.len() == 6 && (1..=6).contains(&f.len()) && digits(f),
    };
    if whole_ok && fraction_ok {
        Ok(())
    } else {
        Err(invalid(attribute, value, "a DICOM time, HHMMSS[.FFFFFF]"))
    }
}

pub(super) fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().and_then(non_blank_str)
}

pub(super) fn non_blank_str(value: &str) -> Option<&str> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then_some(trimmed)
}
