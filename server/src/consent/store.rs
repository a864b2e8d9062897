//! SQL for `care_consent`.

use sqlx::{AnyConnection, FromRow};

use super::{CareConsentView, ConsentKind, Subject};
use crate::sharing::record::{RecordRow, COLUMNS, JOINS, ORDER};
use crate::sharing::GivenBy;

#[derive(Debug, Clone, FromRow)]
pub struct CareConsentRow {
    pub id: i64,
    pub kind: String,
    pub patient_id: Option<i64>,
    pub consultation_id: Option<i64>,
    pub reading_request_id: Option<i64>,
    pub referral_id: Option<i64>,
    #[sqlx(flatten)]
    pub record: RecordRow,
}

/// The patient is the one of the record the consent names (a CHECK makes
/// it name exactly one).
fn select() -> String {
    format!(
        "SELECT k.id, k.kind, COALESCE(c.patient_id, r.patient_id, f.patient_id) AS patient_id, \
         k.consultation_id, k.reading_request_id, k.referral_id, {COLUMNS} \
         FROM care_consent k \
         LEFT JOIN consultation c ON c.id = k.consultation_id \
         LEFT JOIN reading_request r ON r.id = k.reading_request_id \
         LEFT JOIN referral f ON f.id = k.referral_id {JOINS}"
    )
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<CareConsentRow>, sqlx::Error> {
    sqlx::query_as(&format!("{} WHERE k.id = $1", select()))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The consents given to one service, those in force first, then newest
/// first.
pub async fn of_subject(
    conn: &mut AnyConnection,
    subject: Subject,
) -> Result<Vec<CareConsentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{} WHERE k.{} = $1 {ORDER}",
        select(),
        subject.column()
    ))
    .bind(subject.id())
    .fetch_all(conn)
    .await
}

pub struct NewRow<'a> {
    pub kind: ConsentKind,
    pub subject: Subject,
    pub given_by: GivenBy,
    pub guardian_name: Option<&'a str>,
    pub form_reference: &'a str,
    pub recorded_by: i64,
    pub recorded_at_facility_id: i64,
    pub now: i64,
}

/// Inserts a consent; a second one of its kind in force for the same
/// service is refused by the unique indexes `care_consent_in_force_*`.
pub async fn insert(conn: &mut AnyConnection, new: &NewRow<'_>) -> Result<i64, sqlx::Error> {
    let (consultation, reading_request, referral) = match new.subject {
        Subject::Consultation(id) => (Some(id), None, None),
        Subject::ReadingRequest(id) => (None, Some(id), None),
        Subject::Referral(id) => (None, None, Some(id)),
    };
    sqlx::query_scalar(
        "INSERT INTO care_consent (kind, consultation_id, reading_request_id, referral_id, \
         given_by, guardian_name, form_reference, recorded_by, recorded_at_facility_id, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(new.kind.as_str())
    .bind(consultation)
    .bind(reading_request)
    .bind(referral)
    .bind(new.given_by.as_str())
    .bind(new.guardian_name)
    .bind(new.form_reference)
    .bind(new.recorded_by)
    .bind(new.recorded_at_facility_id)
    .bind(new.now)
    .fetch_one(conn)
    .await
}

impl CareConsentRow {
    /// The service it covers (a CHECK makes it name exactly one).
    pub fn subject(&self) -> Option<Subject> {
        match (
            self.consultation_id,
            self.reading_request_id,
            self.referral_id,
        ) {
            (Some(id), None, None) => Some(Subject::Consultation(id)),
            (None, Some(id), None) => Some(Subject::ReadingRequest(id)),
            (None, None, Some(id)) => Some(Subject::Referral(id)),
            _ => None,
        }
    }

    pub fn view(self) -> CareConsentView {
        CareConsentView {
            id: self.id,
            // The CHECK constraint admits only the kinds there are.
            kind: ConsentKind::parse(&self.kind).unwrap_or(ConsentKind::Teleconsultation),
            patient_id: self.patient_id,
            consultation_id: self.consultation_id,
            reading_request_id: self.reading_request_id,
            referral_id: self.referral_id,
            record: self.record.view(),
        }
    }
}
