//! Examinations asked for at member facilities (a CT of the head, a chest
//! radiograph, an ECG), looked up across the whole consortium so that one
//! already done elsewhere is recognised instead of repeated: asking again for
//! the same modality and body part within `duplicate_exam_window_days` is
//! answered with the existing examination unless a reason to repeat is given.
//! The imaging store links the resulting study by its Study Instance UID.

pub mod body_part;
pub mod recognition;
pub mod recognition_routes;
pub mod routes;
pub mod store;
pub mod worklist;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};

/// A day in milliseconds.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExamStatus {
    Requested,
    Performed,
    Cancelled,
}

impl ExamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExamStatus::Requested => "requested",
            ExamStatus::Performed => "performed",
            ExamStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<ExamStatus> {
        [
            ExamStatus::Requested,
            ExamStatus::Performed,
            ExamStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn next(self) -> &'static [ExamStatus] {
        match self {
            ExamStatus::Requested => &[ExamStatus::Performed, ExamStatus::Cancelled],
            ExamStatus::Performed | ExamStatus::Cancelled => &[],
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExaminationView {
    pub id: i64,
    pub patient_id: i64,
    pub facility_id: i64,
    pub facility_name: String,
    /// The facility's tier: `tertiary`, `secondary`, `primary` or `village`.
    pub facility_tier: String,
    pub requested_by: i64,
    /// DICOM modality, e.g. `CT`, `DX`, `ECG`.
    pub modality: String,
    /// DICOM Body Part Examined, e.g. `HEAD`, `CHEST`.
    pub body_part: String,
    pub status: ExamStatus,
    pub requested_at: String,
    pub performed_at: Option<String>,
    /// The day it was performed (else asked for), `YYYY-MM-DD` in the
    /// facility's time zone.
    pub date: String,
    pub study_instance_uid: Option<String>,
    /// Why it was asked for again although the consortium had a recent one.
    pub repeat_reason: Option<String>,
    /// Accession Number (0008,0050): on the modality worklist, and how the
    /// arriving study is matched to this examination.
    pub accession_number: Option<String>,
    /// The Study Instance UID the worklist asks the modality to use.
    pub planned_study_uid: Option<String>,
    /// When it is scheduled to be done.
    pub scheduled_at: String,
    /// The AE title of the station it is scheduled on; null for any
    /// modality of the facility.
    pub station_ae: Option<String>,
    /// Requested Procedure Description, shown on the modality's worklist.
    pub procedure_description: String,
    /// The modality's progress (MPPS): `scheduled`, `in_progress`,
    /// `completed` or `discontinued`.
    pub step_status: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExamination {
    pub modality: String,
    pub body_part: String,
    /// Asks for the examination although the consortium already holds a
    /// recent one of the same modality and body part.
    pub repeat_reason: Option<String>,
    /// When it is to be done (RFC 3339); unset: now.
    #[serde(default)]
    pub scheduled_at: Option<String>,
    /// The AE title of the modality it is to be done on; unset: any
    /// modality of the facility finds it on its worklist.
    #[serde(default)]
    pub station_ae: Option<String>,
    /// What is to be done, in words, for the radiographer.
    #[serde(default)]
    pub procedure_description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Performed {
    /// The study that holds the images, when there is one.
    pub study_instance_uid: Option<String>,
}

/// DICOM modality defined terms (PS3.3 C.7.3.1.1.1) that a member facility
/// may order or acquire.
const MODALITIES: &[&str] = &[
    "AR", "ASMT", "AU", "BDUS", "BI", "BMD", "CR", "CT", "DG", "DOC", "DX", "ECG", "EPS", "ES",
    "GM", "HC", "HD", "IO", "IOL", "IVOCT", "IVUS", "KER", "LEN", "LS", "MG", "MR", "NM", "OAM",
    "OCT", "OP", "OPM", "OPT", "OPV", "OSS", "OT", "PT", "PX", "RESP", "RF", "RG", "SM", "SRF",
    "TG", "US", "VA", "XA", "XC",
];

pub fn check_modality(text: &str) -> Result<String, ApiError> {
    let modality = text.trim().to_ascii_uppercase();
    if MODALITIES.contains(&modality.as_str()) {
        Ok(modality)
    } else {
        Err(ApiError::invalid(
            ErrorCode::InvalidModality,
            "modality",
            format!(
                "{:?} is not a DICOM modality such as CT, CR, DX, US, MR or ECG",
                text.trim()
            ),
        ))
    }
}

/// Body Part Examined is a DICOM code string: upper-case letters, digits,
/// space and underscore, at most 16 characters. A name typed in Chinese or
/// English (头颅, 腰椎, "lumbar spine") becomes its term first
/// ([`body_part::BODY_PARTS`]).
pub fn check_body_part(text: &str) -> Result<String, ApiError> {
    if let Some(term) = body_part::dicom_term(text) {
        return Ok(term.to_owned());
    }
    let part = text.trim().to_ascii_uppercase();
    let ok = (1..=16).contains(&part.len())
        && part
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'_');
    if ok {
        Ok(part)
    } else {
        Err(ApiError::invalid(
            ErrorCode::InvalidBodyPart,
            "body_part",
            "body_part is a body part named in Chinese or English (头颅, 胸部, chest) or a DICOM Body Part Examined such as HEAD or CHEST (letters, digits, _; at most 16)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_to_upper_case() {
        assert_eq!(check_modality(" ct ").ok().as_deref(), Some("CT"));
        assert_eq!(check_body_part("chest").ok().as_deref(), Some("CHEST"));
        assert_eq!(
            check_body_part("left_knee").ok().as_deref(),
            Some("LEFT_KNEE")
        );
        assert!(check_modality("XRAY").is_err());
        assert!(check_body_part("").is_err());
        assert!(check_body_part("head-neck").is_err());
        assert!(check_body_part("ABDOMENPELVISCHEST").is_err());
        assert_eq!(check_body_part("头颅").ok().as_deref(), Some("HEAD"));
        assert_eq!(check_body_part("腰椎").ok().as_deref(), Some("LSPINE"));
        assert!(check_body_part("肚子").is_err());
    }
}
