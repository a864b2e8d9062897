//! What every consent a patient gives records, whatever it is to (sharing,
//! a teleconsultation, a recording): who gave it, the signed form, who
//! recorded it where and when, and its withdrawal. The consent tables
//! (`sharing_consent`, `care_consent`) share these columns, and their
//! views these fields, so both read and withdraw the same way.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};
use utoipa::ToSchema;

use super::GivenBy;
use crate::time::rfc3339;

/// A consent's giver, form, recording and withdrawal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentRecord {
    pub given_by: GivenBy,
    pub guardian_name: Option<String>,
    pub form_reference: String,
    pub recorded_by: i64,
    pub recorded_by_name: String,
    pub recorded_at_facility_id: i64,
    pub recorded_at_facility_name: String,
    pub recorded_at: String,
    /// Whether it counts now: recorded and not withdrawn.
    pub in_force: bool,
    pub withdrawn_by: Option<i64>,
    pub withdrawn_by_name: Option<String>,
    pub withdrawn_at: Option<String>,
    pub withdrawal_reason: Option<String>,
}

/// [`ConsentRecord`]'s columns as [`COLUMNS`] selects them.
#[derive(Debug, Clone, FromRow)]
pub struct RecordRow {
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

/// The record's columns of a consent table aliased `k`, with [`JOINS`].
pub const COLUMNS: &str = "k.given_by, k.guardian_name, k.form_reference, k.recorded_by, \
     ru.display_name AS recorded_by_name, k.recorded_at_facility_id, \
     rf.name AS recorded_at_facility_name, k.recorded_at, k.withdrawn_by, \
     wu.display_name AS withdrawn_by_name, k.withdrawn_at, k.withdrawal_reason";

/// The joins [`COLUMNS`] needs.
pub const JOINS: &str = "JOIN app_user ru ON ru.id = k.recorded_by \
     JOIN facility rf ON rf.id = k.recorded_at_facility_id \
     LEFT JOIN app_user wu ON wu.id = k.withdrawn_by";

/// Those in force first, then the newest first.
pub const ORDER: &str =
    "ORDER BY CASE WHEN k.withdrawn_at IS NULL THEN 0 ELSE 1 END, k.recorded_at DESC, k.id DESC";

impl RecordRow {
    pub fn view(self) -> ConsentRecord {
        ConsentRecord {
            given_by: GivenBy::parse(&self.given_by),
            guardian_name: self.guardian_name,
            form_reference: self.form_reference,
            recorded_by: self.recorded_by,
            recorded_by_name: self.recorded_by_name,
            recorded_at_facility_id: self.recorded_at_facility_id,
            recorded_at_facility_name: self.recorded_at_facility_name,
            recorded_at: rfc3339(self.recorded_at),
            in_force: self.withdrawn_at.is_none(),
            withdrawn_by: self.withdrawn_by,
            withdrawn_by_name: self.withdrawn_by_name,
            withdrawn_at: self.withdrawn_at.map(rfc3339),
            withdrawal_reason: self.withdrawal_reason,
        }
    }
}

/// A consent table: the only names [`withdraw`] puts into its statement.
#[derive(Debug, Clone, Copy)]
pub enum ConsentTable {
    Sharing,
    Care,
}

impl ConsentTable {
    fn name(self) -> &'static str {
        match self {
            Self::Sharing => "sharing_consent",
            Self::Care => "care_consent",
        }
    }
}

/// Withdraws a consent still in force; false when it was already withdrawn.
pub async fn withdraw(
    conn: &mut AnyConnection,
    table: ConsentTable,
    id: i64,
    by: i64,
    reason: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(&format!(
        "UPDATE {} SET withdrawn_by = $2, withdrawn_at = $3, withdrawal_reason = $4 \
         WHERE id = $1 AND withdrawn_at IS NULL",
        table.name()
    ))
    .bind(id)
    .bind(by)
    .bind(now)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
