//! `GET /slots`: free slots by specialty, expert, facility and date range,
//! answered in the caller's time zone. An expert with nothing free in the range
//! is listed with the earliest free slot after it.

use axum::extract::{FromRef, State};
use axum::Json;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::availability;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::facility::caller_zone;
use crate::roster::store as roster_store;
use crate::roster::Service;
use crate::state::AppState;
use crate::time::{now_ms, parse_rfc3339, rfc3339_in};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(search_slots))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    pub specialty: Option<String>,
    pub expert_id: Option<i64>,
    /// The experts' facility.
    pub facility_id: Option<i64>,
    pub service: Option<Service>,
    /// RFC 3339 instant, or a date `YYYY-MM-DD` (from its start in `tz`). Default: now.
    pub from: Option<String>,
    /// RFC 3339 instant (exclusive), or a date (inclusive, to its end in `tz`). Default: seven days after `from`.
    pub to: Option<String>,
    /// IANA zone for dates and answers; default the caller's facility's.
    pub tz: Option<String>,
    /// Include slots held back for referred patients (default false).
    #[serde(default)]
    pub include_reserved: bool,
    /// At most this many slots, 1 to 2000, default 500.
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlotView {
    pub expert_id: i64,
    pub expert_name: String,
    pub facility_id: i64,
    pub facility_name: String,
    pub specialties: Vec<String>,
    /// RFC 3339 in the answer's time zone.
    pub start: String,
    pub end: String,
    pub service: Service,
    pub capacity: i64,
    /// Places still free.
    pub remaining: i64,
    /// Held back for patients referred up.
    pub referral_priority: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NextFree {
    pub expert_id: i64,
    pub expert_name: String,
    /// The earliest free slot after the range, or none within the horizon.
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlotSearch {
    pub time_zone: String,
    pub from: String,
    pub to: String,
    pub slots: Vec<SlotView>,
    /// Experts matching the search with no free slot in the range.
    pub next_free: Vec<NextFree>,
}

fn bound(field: &str, text: &str, tz: &TimeZone, end_of_day: bool) -> ApiResult<i64> {
    let text = text.trim();
    if let Some(ms) = parse_rfc3339(text) {
        return Ok(ms);
    }
    let date: Date = text.parse().map_err(|_| {
        ApiError::invalid(
            ErrorCode::InvalidInstant,
            field,
            format!("{field} must be an RFC 3339 instant or a date YYYY-MM-DD"),
        )
    })?;
    let date = if end_of_day {
        date.tomorrow()
            .map_err(|_| ApiError::invalid(ErrorCode::InvalidInstant, field, "date out of range"))?
    } else {
        date
    };
    date.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| ApiError::invalid(ErrorCode::InvalidInstant, field, "date out of range"))
}

/// Free slots, soonest first.
#[utoipa::path(get, path = "/slots", tag = "bookings", params(SlotQuery),
    responses((status = 200, body = SlotSearch), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn search_slots(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SlotQuery>,
) -> ApiResult<Json<SlotSearch>> {
    let limit = query.limit.unwrap_or(500);
    if !(1..=2000).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: "limit must be between 1 and 2000".to_owned(),
        });
    }
    let now = now_ms();
    let horizon = now + i64::from(state.settings.slot_horizon_days) * 86_400_000;
    let mut conn = state.db.pool().acquire().await?;
    let tz = caller_zone(&mut conn, &caller, query.tz.as_deref()).await?;
    let from = match &query.from {
        Some(text) => bound("from", text, &tz, false)?,
        None => now,
    };
    let to = match &query.to {
        Some(text) => bound("to", text, &tz, true)?,
        None => from + 7 * 86_400_000,
    };
    if to <= from {
        return Err(ApiError::invalid(
            ErrorCode::InvalidRange,
            "to",
            "to must be after from",
        ));
    }
    let (from, to) = (from.max(now), to.min(horizon));
    let specialty = query
        .specialty
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let experts =
        roster_store::experts(&mut conn, query.expert_id, specialty, query.facility_id).await?;
    let earliest = if to > from {
        availability::earliest_free(
            &mut conn,
            &experts,
            from,
            to,
            query.service,
            now,
            query.include_reserved,
            limit,
        )
        .await?
    } else {
        availability::Earliest {
            none: experts.iter().map(|e| e.id).collect(),
            ..Default::default()
        }
    };
    let mut next_free = Vec::new();
    for expert in experts.iter().filter(|e| earliest.none.contains(&e.id)) {
        let next = availability::next_free(
            &mut conn,
            expert,
            to.max(from),
            horizon,
            query.service,
            now,
            query.include_reserved,
        )
        .await?;
        next_free.push(NextFree {
            expert_id: expert.id,
            expert_name: expert.display_name.clone(),
            start: next.map(|f| rfc3339_in(f.slot.start_at, &tz)),
            end: next.map(|f| rfc3339_in(f.slot.end_at, &tz)),
        });
    }
    let by_id: std::collections::HashMap<i64, &roster_store::Expert> =
        experts.iter().map(|e| (e.id, e)).collect();
    let slots: Vec<SlotView> = earliest
        .slots
        .into_iter()
        .filter_map(|(expert_id, f)| {
            let expert = by_id.get(&expert_id)?;
            Some(SlotView {
                expert_id,
                expert_name: expert.display_name.clone(),
                facility_id: expert.facility_id,
                facility_name: expert.facility_name.clone(),
                specialties: expert.specialties.clone(),
                start: rfc3339_in(f.slot.start_at, &tz),
                end: rfc3339_in(f.slot.end_at, &tz),
                service: f.slot.service,
                capacity: f.slot.capacity,
                remaining: f.remaining,
                referral_priority: f.slot.referral_priority,
            })
        })
        .collect();
    Ok(Json(SlotSearch {
        time_zone: tz.iana_name().unwrap_or("UTC").to_owned(),
        from: rfc3339_in(from, &tz),
        to: rfc3339_in(to.max(from), &tz),
        slots,
        next_free,
    }))
}
