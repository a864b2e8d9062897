//! SQL for `sharing_consent` and `sharing_consent_facility`.

use sqlx::{AnyConnection, FromRow};

use super::{ConsentScope, ConsentView, GivenBy, NamedFacility};
use crate::time::rfc3339;

#[derive(Debug, Clone, FromRow)]
pub struct ConsentRow {
    pub id: i64,
    pub patient_id: i64,
    pub scope: String,
    pub given_by: String,
    pub guardian_name: Option<String>,
    pub form_reference: String,
    pub recorded_by: i64,
    pub recorded_by_name: String,
    pub recorded_at_facility_id: i64,
    pub recorded_at_facility_name: String,
    pub recorded_at: i64,
    pub withdrawn_by: Option<i64>,
    pub withdrawn_by_name: Option<String>,
    pub withdrawn_at: Option<i64>,
    pub withdrawal_reason: Option<String>,
}

const SELECT: &str = "SELECT k.id, k.patient_id, k.scope, k.given_by, k.guardian_name, \
     k.form_reference, k.recorded_by, ru.display_name AS recorded_by_name, \
     k.recorded_at_facility_id, f.name AS recorded_at_facility_name, k.recorded_at, \
     k.withdrawn_by, wu.display_name AS withdrawn_by_name, k.withdrawn_at, k.withdrawal_reason \
     FROM sharing_consent k JOIN app_user ru ON ru.id = k.recorded_by \
     JOIN facility f ON f.id = k.recorded_at_facility_id \
     LEFT JOIN app_user wu ON wu.id = k.withdrawn_by";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<ConsentRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE k.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A patient's consents, the one in force first, then newest first.
pub async fn of_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Vec<ConsentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE k.patient_id = $1 \
         ORDER BY CASE WHEN k.withdrawn_at IS NULL THEN 0 ELSE 1 END, k.recorded_at DESC, k.id DESC"
    ))
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

/// Withdraws a consent still in force; false when it was already withdrawn.
pub async fn withdraw(
    conn: &mut AnyConnection,
    id: i64,
    by: i64,
    reason: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sharing_consent SET withdrawn_by = $2, withdrawn_at = $3, withdrawal_reason = $4 \
         WHERE id = $1 AND withdrawn_at IS NULL",
    )
    .bind(id)
    .bind(by)
    .bind(now)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
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
        given_by: GivenBy::parse(&row.given_by),
        guardian_name: row.guardian_name,
        form_reference: row.form_reference,
        recorded_by: row.recorded_by,
        recorded_by_name: row.recorded_by_name,
        recorded_at_facility_id: row.recorded_at_facility_id,
        recorded_at_facility_name: row.recorded_at_facility_name,
        recorded_at: rfc3339(row.recorded_at),
        in_force: row.withdrawn_at.is_none(),
        withdrawn_by: row.withdrawn_by,
        withdrawn_by_name: row.withdrawn_by_name,
        withdrawn_at: row.withdrawn_at.map(rfc3339),
        withdrawal_reason: row.withdrawal_reason,
    })
}
