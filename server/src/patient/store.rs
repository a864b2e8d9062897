//! SQL for `patient` and `patient_record`.

use sqlx::{AnyConnection, FromRow};

use super::{PatientRecordView, PatientView, Sex};
use crate::policy::{FacilityScope, PATIENT_IN_SCOPE};

#[derive(Debug, Clone, FromRow)]
pub struct PatientRow {
    pub id: i64,
    pub national_id: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub sex: String,
    pub birth_date: String,
    pub phone: String,
}

/// `national_id` is the one the patient holds, or else the one their
/// registration gave that is waiting for review (see `register`).
const SELECT: &str =
    "SELECT p.id, COALESCE(p.national_id, p.unverified_national_id) AS national_id, \
     p.family_name, p.given_name, p.sex, p.birth_date, p.phone FROM patient p";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<PatientRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn find_by_national_id(
    conn: &mut AnyConnection,
    national_id: &str,
) -> Result<Option<PatientRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE p.national_id = $1"))
        .bind(national_id)
        .fetch_optional(conn)
        .await
}

pub async fn has_record_at(
    conn: &mut AnyConnection,
    patient_id: i64,
    facility_id: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM patient_record WHERE patient_id = $1 AND facility_id = $2",
    )
    .bind(patient_id)
    .bind(facility_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_pattern(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// Patients in the caller's scope whose name contains `query`, or whose
/// national identifier or a record number equals it.
pub async fn search(
    conn: &mut AnyConnection,
    scope_facility: FacilityScope,
    user_id: i64,
    now: i64,
    query: &str,
    limit: i64,
) -> Result<Vec<PatientRow>, sqlx::Error> {
    // A resident identity number matches as the index spells it (upper-case
    // X), however it was typed; anything else matches as typed.
    let today = jiff::Zoned::now().date();
    let national_id = super::resident_id::validate(query.trim(), today)
        .unwrap_or_else(|_| query.trim().to_owned());
    let sql = format!(
        "{SELECT} WHERE {PATIENT_IN_SCOPE} AND ( \
           lower(p.family_name || p.given_name) LIKE $4 ESCAPE '\\' \
           OR lower(p.family_name || ' ' || p.given_name) LIKE $4 ESCAPE '\\' \
           OR lower(p.given_name || ' ' || p.family_name) LIKE $4 ESCAPE '\\' \
           OR COALESCE(p.national_id, p.unverified_national_id) = $7 \
           OR EXISTS (SELECT 1 FROM patient_record s WHERE s.patient_id = p.id AND s.record_number = $5)) \
         ORDER BY p.family_name, p.given_name, p.id LIMIT $6"
    );
    sqlx::query_as(&sql)
        .bind(scope_facility.id())
        .bind(user_id)
        .bind(now)
        .bind(like_pattern(query.trim()))
        .bind(query.trim())
        .bind(limit)
        .bind(national_id)
        .fetch_all(conn)
        .await
}

pub async fn records(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Vec<PatientRecordView>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT r.facility_id, f.name, r.record_number FROM patient_record r \
         JOIN facility f ON f.id = r.facility_id WHERE r.patient_id = $1 ORDER BY r.id",
    )
    .bind(patient_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(facility_id, facility_name, record_number)| PatientRecordView {
                facility_id,
                facility_name,
                record_number,
            },
        )
        .collect())
}

pub async fn view(conn: &mut AnyConnection, row: PatientRow) -> Result<PatientView, sqlx::Error> {
    let records = records(conn, row.id).await?;
    Ok(PatientView {
        id: row.id,
        national_id: row.national_id,
        family_name: row.family_name,
        given_name: row.given_name,
        sex: Sex::parse(&row.sex),
        birth_date: row.birth_date,
        phone: row.phone,
        records,
    })
}

pub struct PatientValues<'a> {
    pub national_id: Option<&'a str>,
    /// Only at registration: held apart from `national_id`, not unique.
    pub unverified_national_id: Option<&'a str>,
    pub family_name: &'a str,
    pub given_name: &'a str,
    pub sex: Sex,
    pub birth_date: &'a str,
    pub phone: &'a str,
}

pub async fn insert(
    conn: &mut AnyConnection,
    values: &PatientValues<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO patient (national_id, family_name, given_name, sex, birth_date, phone, \
         created_at, updated_at, unverified_national_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
    )
    .bind(values.national_id)
    .bind(values.family_name)
    .bind(values.given_name)
    .bind(values.sex.as_str())
    .bind(values.birth_date)
    .bind(values.phone)
    .bind(now)
    .bind(values.unverified_national_id)
    .fetch_one(conn)
    .await
}

/// Changes a patient. `set_national_id`: whether `values.national_id` is
/// written (which also settles an identifier waiting for review) or both
/// identifiers stay as they are.
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    values: &PatientValues<'_>,
    set_national_id: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    let national_id = if set_national_id {
        "national_id = $1, unverified_national_id = NULL"
    } else {
        "national_id = national_id"
    };
    sqlx::query(&format!(
        "UPDATE patient SET {national_id}, family_name = $2, given_name = $3, sex = $4, \
         birth_date = $5, phone = $6, updated_at = $7 WHERE id = $8"
    ))
    .bind(values.national_id)
    .bind(values.family_name)
    .bind(values.given_name)
    .bind(values.sex.as_str())
    .bind(values.birth_date)
    .bind(values.phone)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_record(
    conn: &mut AnyConnection,
    patient_id: i64,
    facility_id: i64,
    record_number: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO patient_record (patient_id, facility_id, record_number, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(patient_id)
    .bind(facility_id)
    .bind(record_number)
    .bind(now)
    .fetch_one(conn)
    .await
}
