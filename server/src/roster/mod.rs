//! Expert rosters: recurring weekly availability in the expert's facility time
//! zone, plus exceptions (leave, extra sessions). Slots are generated from
//! them on demand ([`slots`]) for a rolling horizon, never stored, so a roster
//! change can never leave stale slots behind. What is stored is what was given
//! away: claims and bookings (see `crate::booking`).

pub mod routes;
pub mod slots;
pub mod store;

use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::time::parse_rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// A live video consultation.
    Video,
    /// The expert reviews the case without a call.
    AsyncReview,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Video => "video",
            Service::AsyncReview => "async_review",
        }
    }

    pub fn parse(text: &str) -> Service {
        match text {
            "async_review" => Service::AsyncReview,
            _ => Service::Video,
        }
    }
}

/// A weekly availability rule as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleView {
    pub id: i64,
    pub expert_id: i64,
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    pub weekday: i8,
    /// Local `HH:MM` in the expert's facility time zone.
    pub start_time: String,
    /// Local `HH:MM`; not after `start_time` means the next day.
    pub end_time: String,
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub capacity: i64,
    pub service: Service,
    /// `YYYY-MM-DD`, inclusive.
    pub valid_from: String,
    pub valid_to: Option<String>,
    /// Slots held back for patients referred up (priority booking).
    pub referral_priority: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub weekday: i8,
    pub start_time: String,
    pub end_time: String,
    pub slot_minutes: i64,
    #[serde(default)]
    pub buffer_minutes: i64,
    #[serde(default = "one")]
    pub capacity: i64,
    pub service: Service,
    pub valid_from: String,
    pub valid_to: Option<String>,
    #[serde(default)]
    pub referral_priority: bool,
}

fn one() -> i64 {
    1
}

/// Changes to a rule. A change that would remove a booked slot is refused
/// with the bookings listed, unless `move_bookings` is set.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    pub weekday: Option<i8>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub slot_minutes: Option<i64>,
    pub buffer_minutes: Option<i64>,
    pub capacity: Option<i64>,
    pub service: Option<Service>,
    pub valid_from: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    pub valid_to: Option<Option<String>>,
    pub referral_priority: Option<bool>,
    /// Move bookings on slots the change removes to the expert's next free
    /// slots, notifying both sides, instead of refusing.
    #[serde(default)]
    pub move_bookings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionKindName {
    Leave,
    Extra,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExceptionView {
    pub id: i64,
    pub expert_id: i64,
    pub kind: ExceptionKindName,
    pub starts_at: String,
    pub ends_at: String,
    pub slot_minutes: Option<i64>,
    pub buffer_minutes: Option<i64>,
    pub capacity: Option<i64>,
    pub service: Option<Service>,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    pub kind: ExceptionKindName,
    /// RFC 3339 with offset.
    pub starts_at: String,
    pub ends_at: String,
    /// For extra sessions: slot length, buffer, capacity and service.
    pub slot_minutes: Option<i64>,
    pub buffer_minutes: Option<i64>,
    pub capacity: Option<i64>,
    pub service: Option<Service>,
    #[serde(default)]
    pub reason: String,
    /// For leave over booked slots: move those bookings instead of refusing.
    #[serde(default)]
    pub move_bookings: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RosterView {
    pub expert_id: i64,
    /// The IANA zone the rules are written in: the expert's facility's.
    pub time_zone: String,
    pub rules: Vec<RuleView>,
    pub exceptions: Vec<ExceptionView>,
}

/// Checked values of a rule, ready to store and to generate slots from.
#[derive(Debug, Clone)]
pub struct RuleValues {
    pub weekday: i8,
    pub start: Time,
    pub end: Time,
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub capacity: i64,
    pub service: Service,
    pub valid_from: Date,
    pub valid_to: Option<Date>,
    pub referral_priority: bool,
}

pub fn parse_time(field: &str, text: &str) -> Result<Time, ApiError> {
    let invalid = || {
        ApiError::invalid(
            ErrorCode::InvalidTime,
            field,
            format!("{field} must be HH:MM"),
        )
    };
    let (hour, minute) = text.trim().split_once(':').ok_or_else(invalid)?;
    if hour.len() != 2 || minute.len() != 2 {
        return Err(invalid());
    }
    let hour: i8 = hour.parse().map_err(|_| invalid())?;
    let minute: i8 = minute.parse().map_err(|_| invalid())?;
    Time::new(hour, minute, 0, 0).map_err(|_| invalid())
}

pub fn parse_date(field: &str, text: &str) -> Result<Date, ApiError> {
    let text = text.trim();
    let invalid = || {
        ApiError::invalid(
            ErrorCode::InvalidDate,
            field,
            format!("{field} must be YYYY-MM-DD"),
        )
    };
    if text.len() != 10 {
        return Err(invalid());
    }
    text.parse().map_err(|_| invalid())
}

pub fn parse_instant(field: &str, text: &str) -> Result<i64, ApiError> {
    parse_rfc3339(text.trim()).ok_or_else(|| {
        ApiError::invalid(
            ErrorCode::InvalidInstant,
            field,
            format!(
                "{field} must be an RFC 3339 instant with offset, e.g. 2026-11-23T09:00:00+08:00"
            ),
        )
    })
}

fn within(field: &str, value: i64, range: std::ops::RangeInclusive<i64>) -> Result<i64, ApiError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            ErrorCode::OutOfRange,
            field,
            format!(
                "{field} must be between {} and {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

impl RuleValues {
    pub fn check(new: &NewRule) -> Result<Self, ApiError> {
        let values = RuleValues {
            weekday: within("weekday", i64::from(new.weekday), 1..=7)? as i8,
            start: parse_time("start_time", &new.start_time)?,
            end: parse_time("end_time", &new.end_time)?,
            slot_minutes: within("slot_minutes", new.slot_minutes, 5..=480)?,
            buffer_minutes: within("buffer_minutes", new.buffer_minutes, 0..=240)?,
            capacity: within("capacity", new.capacity, 1..=50)?,
            service: new.service,
            valid_from: parse_date("valid_from", &new.valid_from)?,
            valid_to: new
                .valid_to
                .as_deref()
                .map(|text| parse_date("valid_to", text))
                .transpose()?,
            referral_priority: new.referral_priority,
        };
        if values.valid_to.is_some_and(|to| to < values.valid_from) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidValidity,
                "valid_to",
                "valid_to must not be before valid_from",
            ));
        }
        Ok(values)
    }

    pub fn to_new(&self) -> NewRule {
        NewRule {
            weekday: self.weekday,
            start_time: hhmm(self.start),
            end_time: hhmm(self.end),
            slot_minutes: self.slot_minutes,
            buffer_minutes: self.buffer_minutes,
            capacity: self.capacity,
            service: self.service,
            valid_from: self.valid_from.to_string(),
            valid_to: self.valid_to.map(|d| d.to_string()),
            referral_priority: self.referral_priority,
        }
    }

    /// The rule after a patch, checked as a whole.
    pub fn patched(&self, patch: &RulePatch) -> Result<Self, ApiError> {
        let mut new = self.to_new();
        if let Some(v) = patch.weekday {
            new.weekday = v;
        }
        if let Some(v) = &patch.start_time {
            new.start_time = v.clone();
        }
        if let Some(v) = &patch.end_time {
            new.end_time = v.clone();
        }
        if let Some(v) = patch.slot_minutes {
            new.slot_minutes = v;
        }
        if let Some(v) = patch.buffer_minutes {
            new.buffer_minutes = v;
        }
        if let Some(v) = patch.capacity {
            new.capacity = v;
        }
        if let Some(v) = patch.service {
            new.service = v;
        }
        if let Some(v) = &patch.valid_from {
            new.valid_from = v.clone();
        }
        if let Some(v) = &patch.valid_to {
            new.valid_to = v.clone();
        }
        if let Some(v) = patch.referral_priority {
            new.referral_priority = v;
        }
        Self::check(&new)
    }
}

pub fn hhmm(time: Time) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// The active expert `id` names, or 422 `unknown_expert` on `expert_id`:
/// for a request body that names the expert.
pub async fn expert_or_422(conn: &mut sqlx::AnyConnection, id: i64) -> ApiResult<store::Expert> {
    store::expert(conn, id).await?.ok_or_else(|| {
        ApiError::invalid(
            ErrorCode::UnknownExpert,
            "expert_id",
            "no active expert has this id",
        )
    })
}
