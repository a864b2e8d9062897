//! Which patients the DICOM Patient IDs of files about to be uploaded name,
//! so the client can hold back, before sending anything, the files of a
//! patient other than the one on screen and say whose they are.
//!
//! A Patient ID is matched as the store matches it when it files a study
//! ([`crate::imaging::Imaging::link_study`]): trimmed, and equal to a
//! record number as the facility wrote it. Only patients in the caller's
//! scope are answered; a number of anyone else reads as no match at all, so
//! the answer cannot tell "registered elsewhere" from "unknown".

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, FromRow};
use utoipa::ToSchema;

use super::Sex;
use crate::error::{ApiError, ErrorCode};
use crate::policy::{FacilityScope, PATIENT_IN_SCOPE};

/// At most this many Patient IDs in one request: one drop of a study's
/// folders names a handful; a whole disc at most a few dozen.
pub const MAX_NUMBERS: usize = 200;
/// A DICOM Patient ID (LO) holds at most 64 characters.
const MAX_LENGTH: usize = 64;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordLookup {
    /// DICOM Patient IDs as the files carry them: 1 to 200, each 1 to 64
    /// characters once trimmed.
    pub record_numbers: Vec<String>,
}

/// A patient in the caller's scope holding a record whose number is one of
/// the Patient IDs asked about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordMatch {
    /// The record number, which equals the Patient ID asked about.
    pub record_number: String,
    /// The facility whose record this is.
    pub facility_id: i64,
    pub facility_name: String,
    /// The record is the caller's own facility's: a study sent from there
    /// with this Patient ID is filed under this patient.
    pub filed_here: bool,
    pub patient_id: i64,
    pub family_name: String,
    pub given_name: String,
    pub sex: Sex,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
}

#[derive(FromRow)]
struct MatchRow {
    record_number: String,
    facility_id: i64,
    facility_name: String,
    patient_id: i64,
    family_name: String,
    given_name: String,
    sex: String,
    birth_date: String,
}

/// The Patient IDs of a request, trimmed and without repeats, or why not.
pub fn numbers(body: &RecordLookup) -> Result<Vec<String>, ApiError> {
    let invalid = |message: &str| ApiError::Invalid {
        code: ErrorCode::InvalidField,
        message: message.to_owned(),
        field: Some("record_numbers".to_owned()),
    };
    if body.record_numbers.is_empty() || body.record_numbers.len() > MAX_NUMBERS {
        return Err(invalid("record_numbers must hold 1 to 200 Patient IDs"));
    }
    let mut numbers: Vec<String> = Vec::with_capacity(body.record_numbers.len());
    for number in &body.record_numbers {
        let number = number.trim();
        if number.is_empty() || number.chars().count() > MAX_LENGTH {
            return Err(invalid(
                "each Patient ID must be 1 to 64 characters once trimmed",
            ));
        }
        if !numbers.iter().any(|n| n == number) {
            numbers.push(number.to_owned());
        }
    }
    Ok(numbers)
}

/// The records numbered as one of `numbers` of patients in scope for
/// `scope`, `user_id` at `now`, each marked `filed_here` when it is
/// `own_facility`'s.
pub async fn matches(
    conn: &mut AnyConnection,
    scope: FacilityScope,
    user_id: i64,
    own_facility: i64,
    now: i64,
    numbers: &[String],
) -> Result<Vec<RecordMatch>, sqlx::Error> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (4..numbers.len() + 4).map(|n| format!("${n}")).collect();
    // `pr`, not `r`: the scope predicate names its own `patient_record r`.
    let sql = format!(
        "SELECT pr.record_number, pr.facility_id, f.name AS facility_name, \
           p.id AS patient_id, p.family_name, p.given_name, p.sex, p.birth_date \
         FROM patient_record pr JOIN patient p ON p.id = pr.patient_id \
         JOIN facility f ON f.id = pr.facility_id \
         WHERE pr.record_number IN ({}) AND p.merged_into IS NULL AND {PATIENT_IN_SCOPE} \
         ORDER BY pr.record_number, pr.facility_id, p.id",
        marks.join(", ")
    );
    let mut query = sqlx::query_as::<_, MatchRow>(&sql)
        .bind(scope.id())
        .bind(user_id)
        .bind(now);
    for number in numbers {
        query = query.bind(number.as_str());
    }
    let rows = query.fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|row| RecordMatch {
            filed_here: row.facility_id == own_facility,
            sex: Sex::parse(&row.sex),
            record_number: row.record_number,
            facility_id: row.facility_id,
            facility_name: row.facility_name,
            patient_id: row.patient_id,
            family_name: row.family_name,
            given_name: row.given_name,
            birth_date: row.birth_date,
        })
        .collect())
}
