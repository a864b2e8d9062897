//! Reports: what a version holds and the rules it must satisfy. The routes
//! are in [`super::report_routes`].
//!
//! The reader holding a request drafts a report (from a template), edits it,
//! and signs it. A signed version is immutable. A preliminary report may come
//! first; signing a final one completes the request. After a final, each new
//! version is an amendment with its reason: the earlier version is kept,
//! shown as superseded, and the requester is told. Every signed version is
//! filed into the study as a DICOM SR ([`super::sr`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::report_store::ReportRow;
use crate::error::{ApiError, ApiResult, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    Preliminary,
    Final,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Preliminary => "preliminary",
            ReportKind::Final => "final",
        }
    }

    pub fn parse(text: &str) -> ReportKind {
        if text == "preliminary" {
            ReportKind::Preliminary
        } else {
            ReportKind::Final
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportView {
    pub id: i64,
    pub reading_request_id: i64,
    pub version: i64,
    pub author_id: i64,
    pub author_name: String,
    pub template: String,
    pub kind: ReportKind,
    pub findings: String,
    pub impression: String,
    /// A critical finding the requester must acknowledge.
    pub critical: bool,
    /// Why this version replaces a signed final one.
    pub amendment_reason: Option<String>,
    pub signed_at: Option<String>,
    /// SHA-256 of what was signed.
    pub content_sha256: Option<String>,
    /// A later signed version replaces this one.
    pub superseded: bool,
    pub superseded_by_version: Option<i64>,
    /// The SOP Instance UID of this version's SR in the study.
    pub sr_sop_instance_uid: Option<String>,
    /// Whether that SR is in the imaging store yet.
    pub sr_filed: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// A template name (`GET /report-templates`); defaults to the one for
    /// the request's modality. Its text starts any part not given.
    pub template: Option<String>,
    /// The language of the default template when `template` is not given:
    /// `en` (the default) or `zh-CN`.
    pub language: Option<String>,
    /// Default `final`.
    pub kind: Option<ReportKind>,
    pub findings: Option<String>,
    pub impression: Option<String>,
    #[serde(default)]
    pub critical: bool,
    /// Required for a version after a signed final report.
    pub amendment_reason: Option<String>,
    /// The patient the screen showed. When given, it must be the request's
    /// patient, else 409 `patient_mismatch` and nothing is written.
    pub patient_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportPatch {
    pub kind: Option<ReportKind>,
    pub findings: Option<String>,
    pub impression: Option<String>,
    pub critical: Option<bool>,
    pub amendment_reason: Option<String>,
    /// The patient the screen showed; as for [`NewReport::patient_id`].
    pub patient_id: Option<i64>,
}

pub(super) fn check_text(field: &str, text: &str) -> ApiResult<String> {
    if text.chars().count() > 20_000 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!("{field} may have at most 20000 characters"),
        ));
    }
    Ok(text.trim().to_owned())
}

pub(super) fn check_reason(text: Option<&str>) -> ApiResult<Option<String>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(reason) if reason.chars().count() <= 2000 => Ok(Some(reason.to_owned())),
        Some(_) => Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "amendment_reason",
            "amendment_reason may have at most 2000 characters",
        )),
        None => Ok(None),
    }
}

/// What a version must satisfy given the versions signed before it.
pub(super) fn check_version(
    after_final: bool,
    kind: ReportKind,
    findings: &str,
    impression: &str,
    reason: Option<&str>,
) -> ApiResult<()> {
    if findings.is_empty() && impression.is_empty() {
        return Err(ApiError::invalid(
            ErrorCode::EmptyReport,
            "findings",
            "a report needs findings or an impression",
        ));
    }
    if after_final && kind != ReportKind::Final {
        return Err(ApiError::invalid(
            ErrorCode::AmendmentMustBeFinal,
            "kind",
            "a final report is amended by another final version",
        ));
    }
    if after_final && reason.is_none() {
        return Err(ApiError::invalid(
            ErrorCode::AmendmentReasonRequired,
            "amendment_reason",
            "an amendment of a signed final report states why",
        ));
    }
    Ok(())
}

/// The digest recorded at signing: over the content and who signed which
/// version of which request, so the signature cannot be moved.
pub fn content_digest(report: &ReportRow, signed_at: i64) -> String {
    let canonical = serde_json::json!({
        "reading_request_id": report.reading_request_id,
        "version": report.version,
        "author_id": report.author_id,
        "kind": report.kind,
        "findings": report.findings,
        "impression": report.impression,
        "critical": report.critical,
        "amendment_reason": report.amendment_reason,
        "signed_at": signed_at,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}
