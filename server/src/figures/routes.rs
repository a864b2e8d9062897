//! `GET /figures`: the operating figures.

use std::collections::BTreeMap;

use axum::extract::{FromRef, State};
use axum::Json;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ConsultationCount, Figures, ReferralCount};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::facility::caller_zone;
use crate::policy;
use crate::state::AppState;
use crate::time::Waits;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(operating_figures))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FiguresQuery {
    /// First month, `YYYY-MM` (default: eleven months before `to`).
    pub from: Option<String>,
    /// Last month, `YYYY-MM`, inclusive (default: this month).
    pub to: Option<String>,
    /// IANA zone the months are cut in; default the caller's facility's.
    pub tz: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ConsultationRow {
    created_at: i64,
    specialty: String,
    status: String,
    urgency: String,
    started_at: Option<i64>,
    accepted_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ReferralRow {
    created_at: i64,
    direction: String,
    status: String,
    from_facility_id: i64,
    from_name: String,
    to_facility_id: i64,
    to_name: String,
    to_tier: String,
}

fn month_start(field: &str, text: &str) -> ApiResult<Date> {
    let invalid = || {
        ApiError::invalid(
            ErrorCode::InvalidMonth,
            field,
            format!("{field} must be YYYY-MM"),
        )
    };
    let (year, month) = text.trim().split_once('-').ok_or_else(invalid)?;
    let (year, month): (i16, i8) = (
        year.parse().map_err(|_| invalid())?,
        month.parse().map_err(|_| invalid())?,
    );
    Date::new(year, month, 1).map_err(|_| invalid())
}

fn month_of(ms: i64, tz: &TimeZone) -> String {
    let date = Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
        .date();
    format!("{:04}-{:02}", date.year(), date.month())
}

fn instant(date: Date, tz: &TimeZone) -> ApiResult<i64> {
    date.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| ApiError::invalid(ErrorCode::InvalidMonth, "from", "month out of range"))
}

/// Consultations by status, specialty and month; referrals up and down per
/// facility per month; waits for a consultation and for an on-call expert
/// (median and 90th percentile); the share of referrals that stay in the
/// region; reading turnaround by priority. Administrators only.
#[utoipa::path(get, path = "/figures", tag = "figures", params(FiguresQuery),
    responses((status = 200, body = Figures), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn operating_figures(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<FiguresQuery>,
) -> ApiResult<Json<Figures>> {
    policy::require_admin(&caller)?;
    let mut conn = state.db.pool().acquire().await?;
    let tz = caller_zone(&mut conn, &caller, query.tz.as_deref()).await?;
    let this_month = {
        let today = Timestamp::now().to_zoned(tz.clone()).date();
        Date::new(today.year(), today.month(), 1).map_err(|e| ApiError::Internal(e.into()))?
    };
    let to = match &query.to {
        Some(text) => month_start("to", text)?,
        None => this_month,
    };
    let from = match &query.from {
        Some(text) => month_start("from", text)?,
        None => to
            .checked_sub(jiff::Span::new().months(11))
            .map_err(|e| ApiError::Internal(e.into()))?,
    };
    if from > to {
        return Err(ApiError::invalid(
            ErrorCode::InvalidRange,
            "from",
            "from must not be after to",
        ));
    }
    let end = to
        .checked_add(jiff::Span::new().months(1))
        .map_err(|e| ApiError::Internal(e.into()))?;
    let (start_ms, end_ms) = (instant(from, &tz)?, instant(end, &tz)?);

    let rows: Vec<ConsultationRow> = sqlx::query_as(
        "SELECT created_at, specialty, status, urgency, started_at, accepted_at FROM consultation \
         WHERE created_at >= $1 AND created_at < $2",
    )
    .bind(start_ms)
    .bind(end_ms)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_status: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    let mut to_consultation = Vec::new();
    let mut acceptance = Vec::new();
    for ConsultationRow {
        created_at: created,
        specialty,
        status,
        urgency,
        started_at: started,
        accepted_at: accepted,
    } in &rows
    {
        *by_status
            .entry((month_of(*created, &tz), specialty.clone(), status.clone()))
            .or_default() += 1;
        if let Some(started) = started {
            to_consultation.push(started - created);
        }
        if let (Some(accepted), true) = (accepted, urgency != "routine") {
            acceptance.push(accepted - created);
        }
    }

    let referrals: Vec<ReferralRow> = sqlx::query_as(
        "SELECT r.created_at, r.direction, r.status, r.from_facility_id, ff.name AS from_name, \
         r.to_facility_id, tf.name AS to_name, tf.tier AS to_tier \
         FROM referral r JOIN facility ff ON ff.id = r.from_facility_id JOIN facility tf ON tf.id = r.to_facility_id \
         WHERE r.created_at >= $1 AND r.created_at < $2",
    )
    .bind(start_ms)
    .bind(end_ms)
    .fetch_all(&mut *conn)
    .await?;
    let mut per_facility: BTreeMap<(String, i64), ReferralCount> = BTreeMap::new();
    let (mut in_region, mut total) = (0, 0);
    for ReferralRow {
        created_at: created,
        direction,
        status,
        from_facility_id: from_id,
        from_name,
        to_facility_id: to_id,
        to_name,
        to_tier,
    } in &referrals
    {
        let month = month_of(*created, &tz);
        let up = direction == "up";
        let mut bump = |id: i64, name: &str, sent: bool| {
            let entry = per_facility
                .entry((month.clone(), id))
                .or_insert_with(|| ReferralCount {
                    month: month.clone(),
                    facility_id: id,
                    facility_name: name.to_owned(),
                    up_sent: 0,
                    down_sent: 0,
                    up_received: 0,
                    down_received: 0,
                });
            match (sent, up) {
                (true, true) => entry.up_sent += 1,
                (true, false) => entry.down_sent += 1,
                (false, true) => entry.up_received += 1,
                (false, false) => entry.down_received += 1,
            }
        };
        bump(*from_id, from_name, true);
        bump(*to_id, to_name, false);
        if status != "rejected" && status != "cancelled" {
            total += 1;
            if to_tier != "tertiary" {
                in_region += 1;
            }
        }
    }

    let reading_turnaround = crate::reading::turnaround::figures(
        &mut conn,
        &state.settings,
        start_ms,
        end_ms,
        crate::time::now_ms(),
    )
    .await?;
    Ok(Json(Figures {
        time_zone: tz.iana_name().unwrap_or("UTC").to_owned(),
        from_month: format!("{:04}-{:02}", from.year(), from.month()),
        to_month: format!("{:04}-{:02}", to.year(), to.month()),
        consultations: by_status
            .into_iter()
            .map(|((month, specialty, status), count)| ConsultationCount {
                month,
                specialty,
                status,
                count,
            })
            .collect(),
        referrals: per_facility.into_values().collect(),
        request_to_consultation: Waits::of(to_consultation),
        on_call_acceptance: Waits::of(acceptance),
        referrals_in_region: in_region,
        referrals_total: total,
        in_region_share: (total > 0).then(|| in_region as f64 / total as f64),
        reading_turnaround,
    }))
}
