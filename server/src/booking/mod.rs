//! Bookings: find → hold → book, as IHE's scheduling profile has it. A
//! clinician finds a free slot ([`availability`]), may hold it for
//! `hold_minutes` while filling in the consultation, then books it;
//! availability is checked again at both steps.
//!
//! What a booking takes is a claim on the expert's time ([`claim`]). Two claims
//! of one expert never overlap: PostgreSQL enforces it with an exclusion
//! constraint, SQLite with a trigger under its single-writer lock. So however
//! the roster's rules overlap or change, an expert cannot be double-booked; a
//! slot with capacity above one is shared by bookings of exactly that slot.

pub mod availability;
mod changes;
pub mod claim;
pub mod priority;
pub mod reconcile;
pub mod routes;
pub mod search;
mod steps;
pub mod store;
mod take;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::roster::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Held,
    Booked,
    Cancelled,
    Declined,
    NoShow,
    Expired,
    Completed,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Held => "held",
            BookingStatus::Booked => "booked",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Declined => "declined",
            BookingStatus::NoShow => "no_show",
            BookingStatus::Expired => "expired",
            BookingStatus::Completed => "completed",
        }
    }

    pub fn parse(text: &str) -> Option<BookingStatus> {
        [
            BookingStatus::Held,
            BookingStatus::Booked,
            BookingStatus::Cancelled,
            BookingStatus::Declined,
            BookingStatus::NoShow,
            BookingStatus::Expired,
            BookingStatus::Completed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_active(self) -> bool {
        matches!(self, BookingStatus::Held | BookingStatus::Booked)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BookingView {
    pub id: i64,
    pub expert_id: i64,
    pub expert_name: String,
    /// RFC 3339 in the caller's time zone.
    pub start: String,
    pub end: String,
    pub service: Service,
    pub status: BookingStatus,
    /// While held: when the hold lapses.
    pub hold_expires_at: Option<String>,
    pub consultation_id: Option<i64>,
    pub facility_id: i64,
    pub created_by: i64,
    pub status_reason: Option<String>,
    /// Whose booking it is: set for those who see the booking (the booking
    /// facility, the expert, the expert's schedulers) when it is for a
    /// consultation.
    pub patient: Option<BookingPatientView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BookingPatientView {
    pub patient_id: i64,
    pub name: String,
    /// The record number at the requesting facility.
    pub record_number: Option<String>,
    pub requesting_facility_id: i64,
    pub requesting_facility_name: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBooking {
    pub expert_id: i64,
    /// The slot's start, RFC 3339 with offset, as the slot search gave it.
    pub start: String,
    /// The consultation this booking is for; required unless `hold` is set.
    pub consultation_id: Option<i64>,
    /// Only hold the slot for `hold_minutes`; confirm it later.
    #[serde(default)]
    pub hold: bool,
    /// An accepted up-referral: lets the booking take slots held back for
    /// referred patients.
    pub referral_id: Option<i64>,
    /// The patient the booking screen showed. When given, it must be the
    /// consultation's patient, else 409 `patient_mismatch` and nothing is
    /// booked: a screen left showing another patient cannot book for them.
    pub patient_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBooking {
    pub consultation_id: i64,
    pub referral_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reschedule {
    /// The new slot's start; same expert.
    pub start: String,
}
