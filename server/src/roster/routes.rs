//! The expert directory and roster management (schedulers of the expert's
//! facility). Every change is checked against live bookings before it commits
//! (`crate::booking::reconcile`).

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::slots::{ExceptionKind, ExceptionSpec};
use super::store::{self, Expert};
use super::{
    parse_instant, ExceptionKindName, ExceptionView, NewException, NewRule, RosterView, RulePatch,
    RuleValues, RuleView,
};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::booking::reconcile;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::notify::Outbox;
use crate::policy;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_experts))
        .routes(routes!(get_roster))
        .routes(routes!(add_rule))
        .routes(routes!(update_rule, delete_rule))
        .routes(routes!(add_exception))
        .routes(routes!(delete_exception))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpertView {
    pub id: i64,
    pub display_name: String,
    pub facility_id: i64,
    pub facility_name: String,
    pub time_zone: String,
    pub specialties: Vec<String>,
}

impl From<Expert> for ExpertView {
    fn from(e: Expert) -> Self {
        ExpertView {
            id: e.id,
            display_name: e.display_name,
            facility_id: e.facility_id,
            facility_name: e.facility_name,
            time_zone: e.time_zone,
            specialties: e.specialties,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExpertQuery {
    pub specialty: Option<String>,
    pub facility_id: Option<i64>,
}

/// The consortium's experts, by specialty or facility.
#[utoipa::path(get, path = "/experts", tag = "rosters", params(ExpertQuery),
    responses((status = 200, body = Vec<ExpertView>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_experts(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<ExpertQuery>,
) -> ApiResult<Json<Vec<ExpertView>>> {
    let mut conn = state.db.pool().acquire().await?;
    let specialty = query
        .specialty
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let experts = store::experts(&mut conn, None, specialty, query.facility_id).await?;
    Ok(Json(experts.into_iter().map(ExpertView::from).collect()))
}

async fn expert_or_404(conn: &mut sqlx::AnyConnection, id: i64) -> ApiResult<Expert> {
    store::expert(conn, id)
        .await?
        .ok_or(ApiError::NotFound { what: "expert" })
}

/// An expert's weekly rules and exceptions.
#[utoipa::path(get, path = "/experts/{id}/roster", tag = "rosters", params(("id" = i64, Path)),
    responses((status = 200, body = RosterView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_roster(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RosterView>> {
    let mut conn = state.db.pool().acquire().await?;
    let expert = expert_or_404(&mut conn, id).await?;
    let rules = store::rules_of(&mut conn, &[id]).await?;
    let now = now_ms();
    let exceptions = store::exceptions_of(&mut conn, &[id], now, i64::MAX).await?;
    Ok(Json(RosterView {
        expert_id: id,
        time_zone: expert.time_zone,
        rules,
        exceptions: exceptions.into_iter().map(|e| e.view).collect(),
    }))
}

/// Schedulers manage the rosters of their own facility's experts.
fn may_manage(caller: &Caller, expert: &Expert) -> ApiResult<()> {
    if caller.facility_id != expert.facility_id {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "schedulers manage the rosters of their own facility's experts",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RosterChange {
    pub rule: Option<RuleView>,
    pub exception: Option<ExceptionView>,
    /// Bookings moved to other slots because the change removed theirs.
    pub moved_bookings: Vec<i64>,
}

/// Checks the change against live bookings, audits it and commits.
async fn finish(
    state: &AppState,
    mut tx: Tx,
    caller: &Caller,
    expert: &Expert,
    move_bookings: bool,
    (subtype, entity_type, entity_id): (&str, &str, i64),
    now: i64,
) -> ApiResult<(Tx, Outbox, Vec<i64>)> {
    let mut outbox = Outbox::new();
    let moved = reconcile::settle(
        &mut tx,
        &mut outbox,
        expert,
        move_bookings,
        now,
        state.settings.slot_horizon_days,
    )
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, subtype)
            .entity(entity_type, entity_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "expert_id": expert.id, "moved_bookings": moved })),
    )
    .await?;
    Ok((tx, outbox, moved))
}

/// Adds a weekly availability rule.
#[utoipa::path(post, path = "/experts/{id}/roster/rules", tag = "rosters", params(("id" = i64, Path)),
    request_body = NewRule,
    responses((status = 201, body = RosterChange), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewRule>,
) -> ApiResult<(StatusCode, Json<RosterChange>)> {
    policy::roster::require_scheduler(&caller)?;
    let values = RuleValues::check(&body)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let expert = expert_or_404(&mut tx, id).await?;
    may_manage(&caller, &expert)?;
    let rule_id = store::insert_rule(&mut tx, id, &values, now).await?;
    let (mut tx, outbox, moved) = finish(
        &state,
        tx,
        &caller,
        &expert,
        false,
        ("roster.rule.create", "roster_rule", rule_id),
        now,
    )
    .await?;
    let rule = store::get_rule(&mut tx, rule_id).await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok((
        StatusCode::CREATED,
        Json(RosterChange {
            rule,
            exception: None,
            moved_bookings: moved,
        }),
    ))
}

/// Changes a rule. A change that removes booked slots is refused (409
/// `bookings_affected`, listing them) unless `move_bookings` is set.
#[utoipa::path(patch, path = "/roster-rules/{id}", tag = "rosters", params(("id" = i64, Path)),
    request_body = RulePatch,
    responses((status = 200, body = RosterChange), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Booked slots would be removed"), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<RulePatch>,
) -> ApiResult<Json<RosterChange>> {
    policy::roster::require_scheduler(&caller)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let current = store::get_rule(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "roster rule",
        })?;
    let expert = expert_or_404(&mut tx, current.expert_id).await?;
    may_manage(&caller, &expert)?;
    let values = RuleValues::check(&NewRule {
        weekday: current.weekday,
        start_time: current.start_time.clone(),
        end_time: current.end_time.clone(),
        slot_minutes: current.slot_minutes,
        buffer_minutes: current.buffer_minutes,
        capacity: current.capacity,
        service: current.service,
        valid_from: current.valid_from.clone(),
        valid_to: current.valid_to.clone(),
        referral_priority: current.referral_priority,
    })?
    .patched(&patch)?;
    store::update_rule(&mut tx, id, &values, now).await?;
    let (mut tx, outbox, moved) = finish(
        &state,
        tx,
        &caller,
        &expert,
        patch.move_bookings,
        ("roster.rule.update", "roster_rule", id),
        now,
    )
    .await?;
    let rule = store::get_rule(&mut tx, id).await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(RosterChange {
        rule,
        exception: None,
        moved_bookings: moved,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MoveQuery {
    /// Move bookings on removed slots instead of refusing.
    #[serde(default)]
    pub move_bookings: bool,
}

/// Removes a rule; refused while it carries live bookings unless they are moved.
#[utoipa::path(delete, path = "/roster-rules/{id}", tag = "rosters", params(("id" = i64, Path), MoveQuery),
    responses((status = 200, body = RosterChange), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Booked slots would be removed")),
    security(("bearer" = [])))]
async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<MoveQuery>,
) -> ApiResult<Json<RosterChange>> {
    policy::roster::require_scheduler(&caller)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let current = store::get_rule(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "roster rule",
        })?;
    let expert = expert_or_404(&mut tx, current.expert_id).await?;
    may_manage(&caller, &expert)?;
    store::delete_rule(&mut tx, id).await?;
    let (tx, outbox, moved) = finish(
        &state,
        tx,
        &caller,
        &expert,
        query.move_bookings,
        ("roster.rule.delete", "roster_rule", id),
        now,
    )
    .await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(RosterChange {
        rule: None,
        exception: None,
        moved_bookings: moved,
    }))
}

fn check_exception(body: &NewException) -> ApiResult<ExceptionSpec> {
    let starts_at = parse_instant("starts_at", &body.starts_at)?;
    let ends_at = parse_instant("ends_at", &body.ends_at)?;
    if ends_at <= starts_at {
        return Err(ApiError::invalid(
            ErrorCode::InvalidPeriod,
            "ends_at",
            "ends_at must be after starts_at",
        ));
    }
    if ends_at - starts_at > 366 * 86_400_000 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidPeriod,
            "ends_at",
            "an exception lasts at most a year",
        ));
    }
    let kind = match body.kind {
        ExceptionKindName::Leave => {
            if body.slot_minutes.is_some() || body.capacity.is_some() || body.service.is_some() {
                return Err(ApiError::invalid(
                    ErrorCode::LeaveHasNoSlots,
                    "slot_minutes",
                    "leave takes no slot length, capacity or service",
                ));
            }
            ExceptionKind::Leave
        }
        ExceptionKindName::Extra => {
            let values = RuleValues::check(&NewRule {
                weekday: 1,
                start_time: "00:00".to_owned(),
                end_time: "00:00".to_owned(),
                slot_minutes: body.slot_minutes.ok_or_else(|| {
                    ApiError::invalid(
                        ErrorCode::SlotMinutesRequired,
                        "slot_minutes",
                        "an extra session needs slot_minutes",
                    )
                })?,
                buffer_minutes: body.buffer_minutes.unwrap_or(0),
                capacity: body.capacity.unwrap_or(1),
                service: body.service.ok_or_else(|| {
                    ApiError::invalid(
                        ErrorCode::ServiceRequired,
                        "service",
                        "an extra session needs a service",
                    )
                })?,
                valid_from: "2000-01-01".to_owned(),
                valid_to: None,
                referral_priority: false,
            })?;
            ExceptionKind::Extra {
                slot_minutes: values.slot_minutes,
                buffer_minutes: values.buffer_minutes,
                capacity: values.capacity,
                service: values.service,
            }
        }
    };
    Ok(ExceptionSpec {
        kind,
        starts_at,
        ends_at,
    })
}

/// Adds leave or an extra session. Leave over booked slots is refused with
/// the bookings listed, unless `move_bookings` is set.
#[utoipa::path(post, path = "/experts/{id}/roster/exceptions", tag = "rosters", params(("id" = i64, Path)),
    request_body = NewException,
    responses((status = 201, body = RosterChange), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Booked slots would be removed"), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_exception(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewException>,
) -> ApiResult<(StatusCode, Json<RosterChange>)> {
    policy::roster::require_scheduler(&caller)?;
    let spec = check_exception(&body)?;
    let reason = body.reason.trim();
    if reason.chars().count() > 500 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "reason",
            "reason may have at most 500 characters",
        ));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let expert = expert_or_404(&mut tx, id).await?;
    may_manage(&caller, &expert)?;
    let exception_id = store::insert_exception(&mut tx, id, &spec, reason, now).await?;
    let (mut tx, outbox, moved) = finish(
        &state,
        tx,
        &caller,
        &expert,
        body.move_bookings,
        ("roster.exception.create", "roster_exception", exception_id),
        now,
    )
    .await?;
    let exception = store::get_exception(&mut tx, exception_id)
        .await?
        .map(|e| e.view);
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok((
        StatusCode::CREATED,
        Json(RosterChange {
            rule: None,
            exception,
            moved_bookings: moved,
        }),
    ))
}

/// Removes an exception: ending leave early, or calling off an extra session
/// (refused while it carries live bookings unless they are moved).
#[utoipa::path(delete, path = "/roster-exceptions/{id}", tag = "rosters", params(("id" = i64, Path), MoveQuery),
    responses((status = 200, body = RosterChange), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Booked slots would be removed")),
    security(("bearer" = [])))]
async fn delete_exception(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<MoveQuery>,
) -> ApiResult<Json<RosterChange>> {
    policy::roster::require_scheduler(&caller)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let current = store::get_exception(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "roster exception",
        })?;
    let expert = expert_or_404(&mut tx, current.view.expert_id).await?;
    may_manage(&caller, &expert)?;
    store::delete_exception(&mut tx, id).await?;
    let (tx, outbox, moved) = finish(
        &state,
        tx,
        &caller,
        &expert,
        query.move_bookings,
        ("roster.exception.delete", "roster_exception", id),
        now,
    )
    .await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(RosterChange {
        rule: None,
        exception: None,
        moved_bookings: moved,
    }))
}
