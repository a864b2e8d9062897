//! SQL of the `booking` table.

use jiff::tz::TimeZone;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{BookingPatientView, BookingStatus, BookingView};
use crate::db::Tx;
pub use crate::policy::booking::Visibility;
use crate::roster::Service;
use crate::time::rfc3339_in;

#[derive(Debug, Clone)]
pub struct BookingRow {
    pub id: i64,
    pub expert_id: i64,
    pub expert_name: String,
    pub expert_facility_id: i64,
    pub claim_id: Option<i64>,
    pub start_at: i64,
    pub end_at: i64,
    pub service: Service,
    pub status: BookingStatus,
    pub hold_expires_at: Option<i64>,
    pub consultation_id: Option<i64>,
    pub created_by: i64,
    pub facility_id: i64,
    pub status_reason: Option<String>,
    /// Whose booking it is, through its consultation; none for a bare hold.
    pub patient: Option<BookingPatient>,
}

/// The patient a booking is for and the clinic that asked, as the
/// scheduler's board and the desk name them instead of a bare number.
#[derive(Debug, Clone)]
pub struct BookingPatient {
    pub patient_id: i64,
    pub name: String,
    /// At the requesting facility; none if it holds no record for them.
    pub record_number: Option<String>,
    pub requesting_facility_id: i64,
    pub requesting_facility_name: String,
}

impl crate::policy::booking::BookingParties for BookingRow {
    fn booking_facility(&self) -> i64 {
        self.facility_id
    }

    fn expert(&self) -> i64 {
        self.expert_id
    }

    fn expert_facility(&self) -> i64 {
        self.expert_facility_id
    }
}

impl BookingRow {
    /// Held or booked, and not a hold whose time is up.
    pub fn is_live(&self, now: i64) -> bool {
        match self.status {
            BookingStatus::Booked => true,
            BookingStatus::Held => self.hold_expires_at.is_some_and(|at| at > now),
            _ => false,
        }
    }

    pub fn view(&self, tz: &TimeZone) -> BookingView {
        BookingView {
            id: self.id,
            expert_id: self.expert_id,
            expert_name: self.expert_name.clone(),
            start: rfc3339_in(self.start_at, tz),
            end: rfc3339_in(self.end_at, tz),
            service: self.service,
            status: self.status,
            hold_expires_at: self.hold_expires_at.map(|at| rfc3339_in(at, tz)),
            consultation_id: self.consultation_id,
            facility_id: self.facility_id,
            created_by: self.created_by,
            status_reason: self.status_reason.clone(),
            patient: None,
        }
    }

    /// The view with whose booking it is, for a caller the policy lets see it.
    pub fn view_for(&self, caller: &crate::auth::Caller, tz: &TimeZone) -> BookingView {
        let mut view = self.view(tz);
        if crate::policy::booking::sees_patient(caller, self) {
            view.patient = self.patient.as_ref().map(|p| BookingPatientView {
                patient_id: p.patient_id,
                name: p.name.clone(),
                record_number: p.record_number.clone(),
                requesting_facility_id: p.requesting_facility_id,
                requesting_facility_name: p.requesting_facility_name.clone(),
            });
        }
        view
    }
}

const SELECT: &str = "SELECT b.id, b.expert_id, u.display_name AS expert_name, u.facility_id AS expert_facility_id, b.claim_id, b.start_at, \
     b.end_at, b.service, b.status, b.hold_expires_at, b.consultation_id, b.created_by, b.facility_id, \
     b.status_reason, bc.patient_id, bp.family_name AS patient_family, bp.given_name AS patient_given, \
     bpr.record_number AS patient_record_number, bc.requesting_facility_id, bf.name AS requesting_facility_name \
     FROM booking b JOIN app_user u ON u.id = b.expert_id \
     LEFT JOIN consultation bc ON bc.id = b.consultation_id \
     LEFT JOIN patient bp ON bp.id = bc.patient_id \
     LEFT JOIN patient_record bpr ON bpr.patient_id = bc.patient_id AND bpr.facility_id = bc.requesting_facility_id \
     LEFT JOIN facility bf ON bf.id = bc.requesting_facility_id";

fn row(row: &AnyRow) -> Result<BookingRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(BookingRow {
        id: row.try_get("id")?,
        expert_id: row.try_get("expert_id")?,
        expert_name: row.try_get("expert_name")?,
        expert_facility_id: row.try_get("expert_facility_id")?,
        claim_id: row.try_get("claim_id")?,
        start_at: row.try_get("start_at")?,
        end_at: row.try_get("end_at")?,
        service: Service::parse(row.try_get("service")?),
        status: BookingStatus::parse(&status).unwrap_or(BookingStatus::Cancelled),
        hold_expires_at: row.try_get("hold_expires_at")?,
        consultation_id: row.try_get("consultation_id")?,
        created_by: row.try_get("created_by")?,
        facility_id: row.try_get("facility_id")?,
        status_reason: row.try_get("status_reason")?,
        patient: patient(row)?,
    })
}

fn patient(row: &AnyRow) -> Result<Option<BookingPatient>, sqlx::Error> {
    let Some(patient_id) = row.try_get::<Option<i64>, _>("patient_id")? else {
        return Ok(None);
    };
    let family: String = row
        .try_get::<Option<String>, _>("patient_family")?
        .unwrap_or_default();
    let given: String = row
        .try_get::<Option<String>, _>("patient_given")?
        .unwrap_or_default();
    Ok(Some(BookingPatient {
        patient_id,
        // As the consultation names them (`consultation::store`).
        name: format!("{family} {given}").trim().to_owned(),
        record_number: row.try_get("patient_record_number")?,
        requesting_facility_id: row
            .try_get::<Option<i64>, _>("requesting_facility_id")?
            .unwrap_or_default(),
        requesting_facility_name: row
            .try_get::<Option<String>, _>("requesting_facility_name")?
            .unwrap_or_default(),
    }))
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<BookingRow>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE b.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

pub struct ListFilter {
    pub expert_id: Option<i64>,
    pub consultation_id: Option<i64>,
    pub status: Option<BookingStatus>,
    pub from: i64,
    pub to: i64,
    pub limit: i64,
}

pub async fn list(
    conn: &mut AnyConnection,
    who: Visibility,
    filter: &ListFilter,
) -> Result<Vec<BookingRow>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE (b.facility_id = $1 OR b.expert_id = $2 OR u.facility_id = $3) \
         AND ($4 = 0 OR b.expert_id = $5) AND ($6 = 0 OR b.consultation_id = $7) \
         AND ($8 = '' OR b.status = $8) AND b.end_at > $9 AND b.start_at < $10 \
         ORDER BY b.start_at, b.id LIMIT $11"
    ))
    .bind(who.facility.id())
    .bind(who.expert_id)
    .bind(who.scheduler_facility.id())
    .bind(i64::from(filter.expert_id.is_some()))
    .bind(filter.expert_id.unwrap_or(0))
    .bind(i64::from(filter.consultation_id.is_some()))
    .bind(filter.consultation_id.unwrap_or(0))
    .bind(filter.status.map(|s| s.as_str()).unwrap_or(""))
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(row)
    .collect()
}

/// The held or booked booking of a consultation, if any.
pub async fn active_of_consultation(
    conn: &mut AnyConnection,
    consultation_id: i64,
) -> Result<Option<BookingRow>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE b.consultation_id = $1 AND b.status IN ('held', 'booked')"
    ))
    .bind(consultation_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// Active bookings of an expert ending after `after`, for roster changes.
pub async fn active_of_expert(
    conn: &mut AnyConnection,
    expert_id: i64,
    after: i64,
) -> Result<Vec<BookingRow>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE b.expert_id = $1 AND b.status IN ('held', 'booked') AND b.end_at > $2 \
         ORDER BY b.start_at, b.id"
    ))
    .bind(expert_id)
    .bind(after)
    .fetch_all(conn)
    .await?
    .iter()
    .map(row)
    .collect()
}

pub struct NewRow {
    pub expert_id: i64,
    pub claim_id: i64,
    pub start_at: i64,
    pub end_at: i64,
    pub service: Service,
    pub status: BookingStatus,
    pub hold_expires_at: Option<i64>,
    pub consultation_id: Option<i64>,
    pub created_by: i64,
    pub facility_id: i64,
}

pub async fn insert(tx: &mut Tx, new: &NewRow, now: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO booking (expert_id, claim_id, start_at, end_at, service, status, hold_expires_at, \
         consultation_id, created_by, facility_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(new.expert_id)
    .bind(new.claim_id)
    .bind(new.start_at)
    .bind(new.end_at)
    .bind(new.service.as_str())
    .bind(new.status.as_str())
    .bind(new.hold_expires_at)
    .bind(new.consultation_id)
    .bind(new.created_by)
    .bind(new.facility_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// Ends an active booking and gives its time back.
pub async fn finish(
    tx: &mut Tx,
    booking: &BookingRow,
    status: BookingStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE booking SET status = $1, claim_id = NULL, hold_expires_at = NULL, status_reason = $2, \
         updated_at = $3 WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(reason)
    .bind(now)
    .bind(booking.id)
    .execute(&mut **tx)
    .await?;
    if let Some(claim_id) = booking.claim_id {
        super::claim::recount(tx, claim_id).await?;
    }
    Ok(())
}

/// Turns a hold into a booking for a consultation.
pub async fn confirm(
    tx: &mut Tx,
    id: i64,
    claim_id: i64,
    consultation_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE booking SET status = 'booked', claim_id = $1, hold_expires_at = NULL, consultation_id = $2, \
         updated_at = $3 WHERE id = $4",
    )
    .bind(claim_id)
    .bind(consultation_id)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an active booking onto another claim of the same expert.
pub async fn move_to(
    tx: &mut Tx,
    id: i64,
    claim_id: i64,
    start_at: i64,
    end_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE booking SET claim_id = $1, start_at = $2, end_at = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(claim_id)
    .bind(start_at)
    .bind(end_at)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
