//! SQL of the `opinion` table.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{OpinionView, Recommendation};
use crate::db::Tx;
use crate::time::rfc3339;

const SELECT: &str = "SELECT o.id, o.consultation_id, o.version, o.author_id, u.display_name, o.findings, \
     o.diagnosis_codes, o.recommendation, o.amendment_reason, o.signed_at, o.content_sha256, o.created_at, \
     o.updated_at FROM opinion o JOIN app_user u ON u.id = o.author_id";

fn view(row: &AnyRow) -> Result<OpinionView, sqlx::Error> {
    let codes: String = row.try_get("diagnosis_codes")?;
    Ok(OpinionView {
        id: row.try_get("id")?,
        consultation_id: row.try_get("consultation_id")?,
        version: row.try_get("version")?,
        author_id: row.try_get("author_id")?,
        author_name: row.try_get("display_name")?,
        findings: row.try_get("findings")?,
        diagnosis_codes: serde_json::from_str(&codes).unwrap_or_default(),
        recommendation: Recommendation::parse(row.try_get("recommendation")?),
        amendment_reason: row.try_get("amendment_reason")?,
        signed_at: row.try_get::<Option<i64>, _>("signed_at")?.map(rfc3339),
        content_sha256: row.try_get("content_sha256")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<OpinionView>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE o.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(view)
        .transpose()
}

pub async fn of_consultation(
    conn: &mut AnyConnection,
    consultation_id: i64,
) -> Result<Vec<OpinionView>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE o.consultation_id = $1 ORDER BY o.version"
    ))
    .bind(consultation_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(view)
    .collect()
}

/// A consultation's standing opinion, as another member facility reads it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OpinionElsewhere {
    pub consultation_id: i64,
    pub specialty: String,
    /// The facility that asked for the consultation, and its tier.
    pub facility_name: String,
    pub facility_tier: String,
    pub author_name: String,
    pub findings: String,
    pub diagnosis_codes: Vec<String>,
    pub recommendation: Recommendation,
    pub signed_at: String,
}

/// The standing (last signed) opinion of each consultation about a patient
/// that another facility than `facility_id` asked for, newest first.
pub async fn standing_elsewhere(
    conn: &mut AnyConnection,
    patient_id: i64,
    facility_id: i64,
) -> Result<Vec<OpinionElsewhere>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT o.consultation_id, c.specialty, f.name AS facility_name, f.tier AS facility_tier, \
         u.display_name, o.findings, o.diagnosis_codes, o.recommendation, o.signed_at \
         FROM opinion o JOIN consultation c ON c.id = o.consultation_id \
         JOIN facility f ON f.id = c.requesting_facility_id JOIN app_user u ON u.id = o.author_id \
         WHERE c.patient_id = $1 AND c.requesting_facility_id <> $2 AND o.signed_at IS NOT NULL \
         AND o.version = (SELECT MAX(l.version) FROM opinion l \
           WHERE l.consultation_id = o.consultation_id AND l.signed_at IS NOT NULL) \
         ORDER BY o.signed_at DESC LIMIT 200",
    )
    .bind(patient_id)
    .bind(facility_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let codes: String = row.try_get("diagnosis_codes")?;
            Ok(OpinionElsewhere {
                consultation_id: row.try_get("consultation_id")?,
                specialty: row.try_get("specialty")?,
                facility_name: row.try_get("facility_name")?,
                facility_tier: row.try_get("facility_tier")?,
                author_name: row.try_get("display_name")?,
                findings: row.try_get("findings")?,
                diagnosis_codes: serde_json::from_str(&codes).unwrap_or_default(),
                recommendation: Recommendation::parse(row.try_get("recommendation")?),
                signed_at: rfc3339(row.try_get("signed_at")?),
            })
        })
        .collect()
}

pub struct Content<'a> {
    pub findings: &'a str,
    pub diagnosis_codes: &'a [String],
    pub recommendation: Recommendation,
    pub amendment_reason: Option<&'a str>,
}

pub async fn insert(
    tx: &mut Tx,
    consultation_id: i64,
    version: i64,
    author_id: i64,
    content: &Content<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO opinion (consultation_id, version, author_id, findings, diagnosis_codes, recommendation, \
         amendment_reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(consultation_id)
    .bind(version)
    .bind(author_id)
    .bind(content.findings)
    .bind(serde_json::json!(content.diagnosis_codes).to_string())
    .bind(content.recommendation.as_str())
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
        "UPDATE opinion SET findings = $1, diagnosis_codes = $2, recommendation = $3, amendment_reason = $4, \
         updated_at = $5 WHERE id = $6 AND signed_at IS NULL",
    )
    .bind(content.findings)
    .bind(serde_json::json!(content.diagnosis_codes).to_string())
    .bind(content.recommendation.as_str())
    .bind(content.amendment_reason)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn sign(tx: &mut Tx, id: i64, digest: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE opinion SET signed_at = $1, content_sha256 = $2, updated_at = $1 \
         WHERE id = $3 AND signed_at IS NULL",
    )
    .bind(now)
    .bind(digest)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
