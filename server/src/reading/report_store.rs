//! SQL of the `reading_report` and `reading_report_sr` tables.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::report::{ReportKind, ReportView};
use crate::db::Tx;
use crate::time::rfc3339;

const SELECT: &str = "SELECT p.id, p.reading_request_id, p.version, p.author_id, u.display_name, p.template, \
     p.kind, p.findings, p.impression, p.critical, p.amendment_reason, p.signed_at, p.content_sha256, \
     p.created_at, p.updated_at, s.sop_instance_uid, s.series_instance_uid, s.stored_at \
     FROM reading_report p JOIN app_user u ON u.id = p.author_id \
     LEFT JOIN reading_report_sr s ON s.report_id = p.id";

/// A reading request's standing report, as another member facility reads it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReportElsewhere {
    pub reading_request_id: i64,
    pub study_instance_uid: String,
    pub modality: String,
    pub body_part: String,
    /// The facility that asked for the reading, and its tier.
    pub facility_name: String,
    pub facility_tier: String,
    pub reading_facility_name: String,
    pub author_name: String,
    pub kind: ReportKind,
    pub findings: String,
    pub impression: String,
    pub signed_at: String,
}

/// The standing (last signed) report of each reading of a patient that
/// another facility than `facility_id` asked for, newest first.
pub async fn standing_elsewhere(
    conn: &mut AnyConnection,
    patient_id: i64,
    facility_id: i64,
) -> Result<Vec<ReportElsewhere>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p.reading_request_id, q.study_instance_uid, q.modality, q.body_part, \
         f.name AS facility_name, f.tier AS facility_tier, rf.name AS reading_facility_name, \
         u.display_name, p.kind, p.findings, p.impression, p.signed_at \
         FROM reading_report p JOIN reading_request q ON q.id = p.reading_request_id \
         JOIN facility f ON f.id = q.requesting_facility_id \
         JOIN facility rf ON rf.id = q.reading_facility_id JOIN app_user u ON u.id = p.author_id \
         WHERE q.patient_id = $1 AND q.requesting_facility_id <> $2 AND p.signed_at IS NOT NULL \
         AND p.version = (SELECT MAX(l.version) FROM reading_report l \
           WHERE l.reading_request_id = p.reading_request_id AND l.signed_at IS NOT NULL) \
         ORDER BY p.signed_at DESC LIMIT 200",
    )
    .bind(patient_id)
    .bind(facility_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ReportElsewhere {
                reading_request_id: row.try_get("reading_request_id")?,
                study_instance_uid: row.try_get("study_instance_uid")?,
                modality: row.try_get("modality")?,
                body_part: row.try_get("body_part")?,
                facility_name: row.try_get("facility_name")?,
                facility_tier: row.try_get("facility_tier")?,
                reading_facility_name: row.try_get("reading_facility_name")?,
                author_name: row.try_get("display_name")?,
                kind: ReportKind::parse(row.try_get("kind")?),
                findings: row.try_get("findings")?,
                impression: row.try_get("impression")?,
                signed_at: rfc3339(row.try_get("signed_at")?),
            })
        })
        .collect()
}

/// A version with its instants as stored, and its SR's identity.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub id: i64,
    pub reading_request_id: i64,
    pub version: i64,
    pub author_id: i64,
    pub author_name: String,
    pub template: String,
    pub kind: ReportKind,
    pub findings: String,
    pub impression: String,
    pub critical: bool,
    pub amendment_reason: Option<String>,
    pub signed_at: Option<i64>,
    pub content_sha256: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sr_sop_instance_uid: Option<String>,
    pub sr_series_instance_uid: Option<String>,
    pub sr_stored_at: Option<i64>,
}

impl ReportRow {
    /// The view, given the newest signed version of the same request.
    pub fn view(&self, latest_signed: Option<i64>) -> ReportView {
        let superseded_by = match (self.signed_at, latest_signed) {
            (Some(_), Some(latest)) if latest > self.version => Some(latest),
            _ => None,
        };
        ReportView {
            id: self.id,
            reading_request_id: self.reading_request_id,
            version: self.version,
            author_id: self.author_id,
            author_name: self.author_name.clone(),
            template: self.template.clone(),
            kind: self.kind,
            findings: self.findings.clone(),
            impression: self.impression.clone(),
            critical: self.critical,
            amendment_reason: self.amendment_reason.clone(),
            signed_at: self.signed_at.map(rfc3339),
            content_sha256: self.content_sha256.clone(),
            superseded: superseded_by.is_some(),
            superseded_by_version: superseded_by,
            sr_sop_instance_uid: self.sr_sop_instance_uid.clone(),
            sr_filed: self.sr_stored_at.is_some(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

fn row(r: &AnyRow) -> Result<ReportRow, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    let critical: i64 = r.try_get("critical")?;
    Ok(ReportRow {
        id: r.try_get("id")?,
        reading_request_id: r.try_get("reading_request_id")?,
        version: r.try_get("version")?,
        author_id: r.try_get("author_id")?,
        author_name: r.try_get("display_name")?,
        template: r.try_get("template")?,
        kind: ReportKind::parse(&kind),
        findings: r.try_get("findings")?,
        impression: r.try_get("impression")?,
        critical: critical != 0,
        amendment_reason: r.try_get("amendment_reason")?,
        signed_at: r.try_get("signed_at")?,
        content_sha256: r.try_get("content_sha256")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        sr_sop_instance_uid: r.try_get("sop_instance_uid")?,
        sr_series_instance_uid: r.try_get("series_instance_uid")?,
        sr_stored_at: r.try_get("stored_at")?,
    })
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<ReportRow>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

/// Every version of a request's report, oldest first.
pub async fn of_request(
    conn: &mut AnyConnection,
    request_id: i64,
) -> Result<Vec<ReportRow>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE p.reading_request_id = $1 ORDER BY p.version"
    ))
    .bind(request_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(row)
    .collect()
}

/// The newest signed version number among these.
pub fn latest_signed(versions: &[ReportRow]) -> Option<i64> {
    versions
        .iter()
        .filter(|v| v.signed_at.is_some())
        .map(|v| v.version)
        .max()
}

pub struct Content<'a> {
    pub template: &'a str,
    pub kind: ReportKind,
    pub findings: &'a str,
    pub impression: &'a str,
    pub critical: bool,
    pub amendment_reason: Option<&'a str>,
}

pub async fn insert(
    tx: &mut Tx,
    request_id: i64,
    version: i64,
    author_id: i64,
    content: &Content<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO reading_report (reading_request_id, version, author_id, template, kind, findings, \
         impression, critical, amendment_reason, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
    )
    .bind(request_id)
    .bind(version)
    .bind(author_id)
    .bind(content.template)
    .bind(content.kind.as_str())
    .bind(content.findings)
    .bind(content.impression)
    .bind(i64::from(content.critical))
    .bind(content.amendment_reason)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// Updates a draft; false if it was signed meanwhile.
pub async fn update_draft(
    tx: &mut Tx,
    id: i64,
    content: &Content<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE reading_report SET template = $1, kind = $2, findings = $3, impression = $4, critical = $5, \
         amendment_reason = $6, updated_at = $7 WHERE id = $8 AND signed_at IS NULL",
    )
    .bind(content.template)
    .bind(content.kind.as_str())
    .bind(content.findings)
    .bind(content.impression)
    .bind(i64::from(content.critical))
    .bind(content.amendment_reason)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn sign(tx: &mut Tx, id: i64, digest: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE reading_report SET signed_at = $1, content_sha256 = $2, updated_at = $1 \
         WHERE id = $3 AND signed_at IS NULL",
    )
    .bind(now)
    .bind(digest)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Fixes the identity of a signed version's SR, to be filed after commit.
pub async fn insert_sr(
    tx: &mut Tx,
    report_id: i64,
    series_uid: &str,
    sop_uid: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reading_report_sr (report_id, series_instance_uid, sop_instance_uid) VALUES ($1, $2, $3)",
    )
    .bind(report_id)
    .bind(series_uid)
    .bind(sop_uid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
