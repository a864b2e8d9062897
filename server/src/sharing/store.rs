//! SQL for `sharing_consent` and `sharing_consent_facility`.

use sqlx::{AnyConnection, FromRow};

use super::record::{RecordRow, COLUMNS, JOINS, ORDER};
use super::{ConsentScope, ConsentView, GivenBy, NamedFacility};

#[derive(Debug, Clone, FromRow)]
pub struct ConsentRow {
    pub id: i64,
    pub patient_id: i64,
    pub scope: String,
    #[sqlx(flatten)]
    pub record: RecordRow,
}

fn select() -> String {
    format!("SELECT k.id, k.patient_id, k.scope, {COLUMNS} FROM sharing_consent k {JOINS}")
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<ConsentRow>, sqlx::Error> {
    sqlx::query_as(&format!("{} WHERE k.id = $1", select()))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A patient's consents, the one in force first, then newest first.
pub async fn of_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Vec<ConsentRow>, sqlx::Error> {
    sqlx::query_as(&format!("{} WHERE k.patient_id = $1 {ORDER}", select()))
        .bind(patient_id)
        .fetch_all(conn)
        .await
}

pub struct NewConsentRow<'a> {
    pub patient_id: i64,
    pub scope: ConsentScope,
    pub given_by: GivenBy,
    pub guardian_name: Option<&'a str>,
    pub form_reference: &'a str,
    pub recorded_by: i64,
    pub recorded_at_facility_id: i64,
    pub now: i64,
}

/// Inserts a consent; a second one in force for the patient is refused by
/// the unique index `sharing_consent_one_in_force`.
pub async fn insert(conn: &mut AnyConnection, new: &NewConsentRow<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO sharing_consent (patient_id, scope, given_by, guardian_name, form_reference, \
         recorded_by, recorded_at_facility_id, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(new.patient_id)
    .bind(new.scope.as_str())
    .bind(new.given_by.as_str())
    .bind(new.guardian_name)
    .bind(new.form_reference)
    .bind(new.recorded_by)
    .bind(new.recorded_at_facility_id)
    .bind(new.now)
    .fetch_one(conn)
    .await
}

pub async fn name_facility(
    conn: &mut AnyConnection,
    consent_id: i64,
    facility_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sharing_consent_facility (consent_id, facility_id) VALUES ($1, $2)")
        .bind(consent_id)
        .bind(facility_id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn view(conn: &mut AnyConnection, row: ConsentRow) -> Result<ConsentView, sqlx::Error> {
    let facilities: Vec<(i64, String)> = sqlx::query_as(
        "SELECT f.id, f.name FROM sharing_consent_facility kf JOIN facility f ON f.id = kf.facility_id \
         WHERE kf.consent_id = $1 ORDER BY f.name",
    )
    .bind(row.id)
    .fetch_all(conn)
    .await?;
    Ok(ConsentView {
        id: row.id,
        patient_id: row.patient_id,
        scope: ConsentScope::parse(&row.scope),
        facilities: facilities
            .into_iter()
            .map(|(id, name)| NamedFacility { id, name })
            .collect(),
        record: row.record.view(),
    })
}
