//! Opinions: what the expert concluded about a consultation. The assigned
//! expert drafts findings, ICD-10 diagnosis codes and a recommendation, then
//! signs. A signed version is immutable (the database refuses to change it);
//! an amendment is a new version, signed in turn, that keeps every earlier
//! one and notifies the requester.

pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recommendation {
    TreatLocally,
    ReferUp,
    FurtherExamination,
}

impl Recommendation {
    pub fn as_str(self) -> &'static str {
        match self {
            Recommendation::TreatLocally => "treat_locally",
            Recommendation::ReferUp => "refer_up",
            Recommendation::FurtherExamination => "further_examination",
        }
    }

    pub fn parse(text: &str) -> Recommendation {
        match text {
            "refer_up" => Recommendation::ReferUp,
            "further_examination" => Recommendation::FurtherExamination,
            _ => Recommendation::TreatLocally,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpinionView {
    pub id: i64,
    pub consultation_id: i64,
    pub version: i64,
    pub author_id: i64,
    pub author_name: String,
    pub findings: String,
    pub diagnosis_codes: Vec<String>,
    pub recommendation: Recommendation,
    /// Why this version replaces the previous one (versions after the first).
    pub amendment_reason: Option<String>,
    pub signed_at: Option<String>,
    /// SHA-256 of the signed content.
    pub content_sha256: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOpinion {
    pub findings: String,
    pub diagnosis_codes: Vec<String>,
    pub recommendation: Recommendation,
    /// Required for an amendment of a signed opinion.
    pub amendment_reason: Option<String>,
    /// The patient the screen showed. When given, it must be the
    /// consultation's patient, else 409 `patient_mismatch` and nothing is
    /// written.
    pub patient_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpinionPatch {
    pub findings: Option<String>,
    pub diagnosis_codes: Option<Vec<String>>,
    pub recommendation: Option<Recommendation>,
    pub amendment_reason: Option<String>,
    /// The patient the screen showed; as for [`NewOpinion::patient_id`].
    pub patient_id: Option<i64>,
}

/// The optional body of a signature; a client may send none.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignOpinion {
    /// The patient the screen showed. When given, it must be the
    /// consultation's patient, else 409 `patient_mismatch` and nothing is
    /// signed.
    pub patient_id: Option<i64>,
}

/// Refuses a write whose screen showed another patient than the
/// consultation's.
pub fn same_patient(consultation_patient: i64, shown: Option<i64>) -> Result<(), ApiError> {
    crate::shown_patient::check(Some(consultation_patient), shown, "consultation")
}

pub fn check_findings(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 20_000 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "findings",
            "findings must have 1 to 20000 characters",
        ));
    }
    Ok(text.to_owned())
}

pub fn check_codes(codes: &[String]) -> Result<Vec<String>, ApiError> {
    if codes.is_empty() || codes.len() > 20 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidDiagnosisCodes,
            "diagnosis_codes",
            "give 1 to 20 ICD-10 codes",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(codes.len());
    for code in codes {
        let code = crate::icd10::normalize(code).ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidDiagnosisCode,
                "diagnosis_codes",
                format!("{code:?} is not an ICD-10 code such as I21.4"),
            )
        })?;
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

/// The digest recorded at signing: over the content and who signed which
/// version of which consultation, so the signature cannot be moved.
pub fn content_digest(view: &OpinionView, signed_at: i64) -> String {
    let canonical = serde_json::json!({
        "consultation_id": view.consultation_id,
        "version": view.version,
        "author_id": view.author_id,
        "findings": view.findings,
        "diagnosis_codes": view.diagnosis_codes,
        "recommendation": view.recommendation,
        "amendment_reason": view.amendment_reason,
        "signed_at": signed_at,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}
