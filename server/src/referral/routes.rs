//! `/referrals`: send a patient up or down, and the receiving facility's
//! decisions. Clinicians only: a referral is between two facilities' clinical
//! teams. Every read and change is audited in the same transaction.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, ReferralRow};
use super::{CreatedReferral, Direction, NewReferral, ReferralView, Rejection, Status};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::notify::Outbox;
use crate::patient::check_required;
use crate::policy;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_referrals, create_referral))
        .routes(routes!(get_referral))
        .routes(routes!(accept_referral))
        .routes(routes!(reject_referral))
        .routes(routes!(record_arrival))
        .routes(routes!(record_discharge))
        .routes(routes!(cancel_referral))
}

/// Refers a patient in the caller's scope from the caller's facility. The
/// response lists the catalogue's warnings (a down-referral to a tier the
/// catalogue does not list for the condition).
#[utoipa::path(post, path = "/referrals", tag = "referrals", request_body = NewReferral,
    responses(
        (status = 201, body = CreatedReferral),
        (status = 403, body = ErrorBody, description = "Not a clinician, or the patient is out of scope"),
        (status = 404, body = ErrorBody, description = "No such patient"),
        (status = 422, body = ErrorBody,
            description = "Bad code, direction not matching the tiers, no plan for a down-referral, \
                           or `justification_required`"),
    ),
    security(("bearer" = [])))]
async fn create_referral(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewReferral>,
) -> ApiResult<(StatusCode, Json<CreatedReferral>)> {
    policy::referral::require_clinician(&caller)?;
    let tx = state.db.begin_write().await?;
    let (mut tx, access, _) = crate::patient::access::authorize(
        tx,
        &state.journal,
        &caller,
        body.patient_id,
        "referral.create",
    )
    .await?;
    if !access.is_facility_scope() {
        return Err(ApiError::forbidden(
            ErrorCode::PatientOutOfScope,
            "only a facility that holds the patient's record or received them may refer them on",
        ));
    }
    let mut outbox = Outbox::new();
    let (id, warnings) = super::create(
        &mut tx,
        &caller.actor(),
        &mut outbox,
        caller.user_id,
        caller.facility_id,
        body,
    )
    .await?;
    let referral = load(&mut tx, id).await?.view();
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok((
        StatusCode::CREATED,
        Json(CreatedReferral { referral, warnings }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    pub direction: Option<Direction>,
    pub status: Option<Status>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
}

/// Referrals the caller's facility sent or received, newest first.
#[utoipa::path(get, path = "/referrals", tag = "referrals", params(ReferralQuery),
    responses((status = 200, body = Vec<ReferralView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_referrals(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ReferralQuery>,
) -> ApiResult<Json<Vec<ReferralView>>> {
    policy::referral::require_clinician(&caller)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: "limit must be between 1 and 500".to_owned(),
        });
    }
    let mut tx = state.db.begin_read().await?;
    let rows = store::list(
        &mut tx,
        caller.facility_id,
        query.direction,
        query.status,
        limit,
    )
    .await?;
    tx.commit().await?;
    let entries = rows
        .iter()
        .map(|row| {
            AuditEntry::new(Action::Read, "referral.list")
                .entity("referral", row.id)
                .patient(row.patient_id)
                .facility(caller.facility_id)
        })
        .collect();
    state.journal.record(&caller.actor(), entries).await?;
    Ok(Json(rows.into_iter().map(ReferralRow::view).collect()))
}

/// One referral, for the clinicians of the facility that sent or received it.
#[utoipa::path(get, path = "/referrals/{id}", tag = "referrals", params(("id" = i64, Path)),
    responses((status = 200, body = ReferralView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_referral(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ReferralView>> {
    policy::referral::require_clinician(&caller)?;
    let mut tx = state.db.begin_read().await?;
    let row = load(&mut tx, id).await?;
    if caller.facility_id != row.from_facility_id && caller.facility_id != row.to_facility_id {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only the sending and receiving facilities see a referral",
        ));
    }
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "referral.read")
                .entity("referral", id)
                .patient(row.patient_id)
                .facility(caller.facility_id),
        )
        .await?;
    Ok(Json(row.view()))
}

/// The receiving facility takes the patient.
#[utoipa::path(post, path = "/referrals/{id}/accept", tag = "referrals", params(("id" = i64, Path)),
    responses(
        (status = 200, body = ReferralView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`invalid_transition`; `details.allowed` lists the next states"),
    ),
    security(("bearer" = [])))]
async fn accept_referral(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ReferralView>> {
    move_to(&state, &caller, id, Status::Accepted, None).await
}

/// The receiving facility cannot take the patient, and says why.
#[utoipa::path(post, path = "/referrals/{id}/reject", tag = "referrals", params(("id" = i64, Path)),
    request_body = Rejection,
    responses(
        (status = 200, body = ReferralView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`invalid_transition`; `details.allowed` lists the next states"),
        (status = 422, body = ErrorBody, description = "No reason"),
    ),
    security(("bearer" = [])))]
async fn reject_referral(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Rejection>,
) -> ApiResult<Json<ReferralView>> {
    let reason = check_required("reason", &body.reason, 2000)?;
    move_to(&state, &caller, id, Status::Rejected, Some(&reason)).await
}

/// The patient has arrived at the receiving facility.
#[utoipa::path(post, path = "/referrals/{id}/arrive", tag = "referrals", params(("id" = i64, Path)),
    responses(
        (status = 200, body = ReferralView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`invalid_transition`; `details.allowed` lists the next states"),
    ),
    security(("bearer" = [])))]
async fn record_arrival(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ReferralView>> {
    move_to(&state, &caller, id, Status::Arrived, None).await
}

/// The receiving facility has discharged the patient.
#[utoipa::path(post, path = "/referrals/{id}/discharge", tag = "referrals", params(("id" = i64, Path)),
    responses(
        (status = 200, body = ReferralView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`invalid_transition`; `details.allowed` lists the next states"),
    ),
    security(("bearer" = [])))]
async fn record_discharge(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ReferralView>> {
    move_to(&state, &caller, id, Status::Discharged, None).await
}

/// The sending facility withdraws the referral before the patient arrives.
#[utoipa::path(post, path = "/referrals/{id}/cancel", tag = "referrals", params(("id" = i64, Path)),
    responses(
        (status = 200, body = ReferralView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`invalid_transition`; `details.allowed` lists the next states"),
    ),
    security(("bearer" = [])))]
async fn cancel_referral(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ReferralView>> {
    move_to(&state, &caller, id, Status::Cancelled, None).await
}

/// One transition: who may make it, whether the state machine allows it, the
/// update, its audit event and, for a decision, the requester's notification.
async fn move_to(
    state: &AppState,
    caller: &Caller,
    id: i64,
    to: Status,
    note: Option<&str>,
) -> ApiResult<Json<ReferralView>> {
    policy::referral::require_clinician(caller)?;
    let mut tx = state.db.begin_write().await?;
    let row = load(&mut tx, id).await?;
    let (facility, side) = match to {
        Status::Cancelled => (row.from_facility_id, "sending"),
        _ => (row.to_facility_id, "receiving"),
    };
    if caller.facility_id != facility {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            format!("only clinicians of the {side} facility may do this"),
        ));
    }
    let now = now_ms();
    let mut from = row.status();
    loop {
        from.check_transition(to)?;
        if store::transition(&mut tx, id, from, to, caller.user_id, note, now).await? {
            break;
        }
        // Another request moved it after we read it: judge again from where
        // it is now. States only move forward, so this ends.
        from = load(&mut tx, id).await?.status();
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, &format!("referral.{}", verb(to)))
            .entity("referral", id)
            .patient(row.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "from": from.as_str(), "to": to.as_str() })),
    )
    .await?;
    let mut outbox = Outbox::new();
    if matches!(to, Status::Accepted | Status::Rejected) {
        outbox
            .push(
                &mut tx,
                row.requested_by,
                "referral.decided",
                serde_json::json!({
                    "referral_id": id,
                    "patient_id": row.patient_id,
                    "status": to.as_str(),
                    "to_facility_id": row.to_facility_id,
                    "to_facility_name": row.to_facility_name,
                    "note": note,
                }),
            )
            .await?;
    }
    let view = load(&mut tx, id).await?.view();
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(view))
}

fn verb(to: Status) -> &'static str {
    match to {
        Status::Requested => "request",
        Status::Accepted => "accept",
        Status::Rejected => "reject",
        Status::Arrived => "arrive",
        Status::Discharged => "discharge",
        Status::Cancelled => "cancel",
    }
}

async fn load(tx: &mut Tx, id: i64) -> ApiResult<ReferralRow> {
    store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "referral" })
}
