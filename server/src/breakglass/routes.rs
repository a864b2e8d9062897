//! `/break-glass`: open a patient in an emergency; review the openings.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{store, BreakGlassRequest, GrantActivity, GrantView, OutsideScopeMatch, ReviewRequest};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::patient;
use crate::patient::store::OutsideMatch;
use crate::policy::{self, PatientAccess};
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(break_glass, list_grants))
        .routes(routes!(review_grant))
        .routes(routes!(outside_scope_matches))
        .routes(routes!(grant_activity))
}

/// Opens a patient outside the caller's scope for a limited time. The reason
/// is recorded in the audit trail and shown to administrators for review.
#[utoipa::path(post, path = "/break-glass", tag = "break-glass", request_body = BreakGlassRequest,
    responses(
        (status = 201, body = GrantView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The patient is already in scope"),
        (status = 422, body = ErrorBody, description = "Missing reason or patient"),
    ),
    security(("bearer" = [])))]
async fn break_glass(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<BreakGlassRequest>,
) -> ApiResult<(StatusCode, Json<GrantView>)> {
    policy::patients::require_carer(&caller)?;
    let reason = body.reason.trim();
    if reason.chars().count() < 10 || reason.chars().count() > 2000 {
        return Err(ApiError::invalid(
            ErrorCode::ReasonRequired,
            "reason",
            "state the emergency in 10 to 2000 characters",
        ));
    }
    let mut tx = state.db.begin_write().await?;
    let now = now_ms();
    let record_number = body.record_number.as_deref().map(str::trim);
    let patient = match (
        body.patient_id,
        body.national_id.as_deref().map(str::trim),
        record_number,
    ) {
        (Some(id), None, None) => patient::store::get(&mut tx, id).await?,
        (None, Some(national_id), None) if !national_id.is_empty() => {
            // Normalised and refused as at registration, so `…002x` finds
            // `…002X` and a malformed number gets the same 422.
            let national_id = patient::check_resident_id(national_id)?;
            patient::store::find_by_national_id(&mut tx, &national_id).await?
        }
        (None, None, Some(number)) if !number.is_empty() => {
            // Record numbers are each facility's own: only one held by a
            // single patient outside the caller's scope names someone.
            let found: Vec<i64> = patient::store::outside_scope_by_identifier(
                &mut tx,
                policy::scope_facility(&caller),
                caller.user_id,
                now,
                number,
            )
            .await?
            .into_iter()
            .filter(|(_, how)| *how == OutsideMatch::RecordNumber)
            .map(|(id, _)| id)
            .collect();
            match found[..] {
                [only] => patient::store::get(&mut tx, only).await?,
                [] => None,
                _ => {
                    return Err(ApiError::InvalidWith {
                        code: ErrorCode::PatientRequired,
                        message: "several patients outside your scope hold this record number; \
                                  name the patient by national identifier"
                            .to_owned(),
                        details: serde_json::json!({
                            "field": "record_number", "reason": "ambiguous"
                        }),
                    })
                }
            }
        }
        _ => {
            return Err(ApiError::invalid(
                ErrorCode::PatientRequired,
                "patient_id",
                "name the patient by exactly one of patient_id, national_id and record_number",
            ))
        }
    }
    .ok_or(ApiError::NotFound { what: "patient" })?;
    // Any access but an earlier grant makes breaking the glass needless.
    if policy::patient_access(&mut tx, &caller, patient.id, now)
        .await?
        .is_some_and(|access| !matches!(access, PatientAccess::BreakGlass { .. }))
    {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyInScope,
            "this patient is already in your scope",
        ));
    }
    let minutes = i64::try_from(state.settings.break_glass_minutes)
        .unwrap_or(60)
        .max(1);
    let expires_at = now + minutes * 60_000;
    let id = store::insert(&mut tx, caller.user_id, patient.id, reason, now, expires_at).await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Execute, "break_glass.open")
            .entity("break_glass_grant", id)
            .patient(patient.id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "reason": reason, "minutes": minutes })),
    )
    .await?;
    let grant = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "grant" })?;
    tx.commit().await?;
    tracing::warn!(
        grant_id = id,
        user_id = caller.user_id,
        patient_id = patient.id,
        "break-the-glass access opened"
    );
    Ok((StatusCode::CREATED, Json(grant)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    /// Only grants not yet reviewed (default true).
    pub pending: Option<bool>,
}

/// Break-the-glass grants for review. Administrators only.
#[utoipa::path(get, path = "/break-glass", tag = "break-glass", params(GrantQuery),
    responses((status = 200, body = Vec<GrantView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<GrantQuery>,
) -> ApiResult<Json<Vec<GrantView>>> {
    policy::require_admin(&caller)?;
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(
        store::list(&mut conn, query.pending.unwrap_or(true)).await?,
    ))
}

/// Records an administrator's review of a grant.
#[utoipa::path(post, path = "/break-glass/{id}/review", tag = "break-glass", params(("id" = i64, Path)),
    request_body = ReviewRequest,
    responses(
        (status = 200, body = GrantView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already reviewed"),
    ),
    security(("bearer" = [])))]
async fn review_grant(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> ApiResult<Json<GrantView>> {
    policy::require_admin(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let grant = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "grant" })?;
    if !store::review(&mut tx, id, caller.user_id, body.note.trim(), now_ms()).await? {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyReviewed,
            "this grant has already been reviewed",
        ));
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "break_glass.review")
            .entity("break_glass_grant", id)
            .patient(grant.patient_id),
    )
    .await?;
    let grant = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "grant" })?;
    tx.commit().await?;
    Ok(Json(grant))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MatchQuery {
    /// What was typed into the patient search.
    pub q: String,
}

/// The identifiers in a search query that patients outside the caller's
/// scope hold: a national identifier, or a record number at any facility
/// in any case; never a name. Each says how it matched and how many hold
/// it, nothing of who they are: what breaking the glass by it would tell.
/// Audited (`break_glass.match`) with the patients matched.
#[utoipa::path(get, path = "/break-glass/matches", tag = "break-glass", params(MatchQuery),
    responses(
        (status = 200, body = Vec<OutsideScopeMatch>),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn outside_scope_matches(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<MatchQuery>,
) -> ApiResult<Json<Vec<OutsideScopeMatch>>> {
    policy::patients::require_carer(&caller)?;
    let typed = query.q.trim();
    if typed.is_empty() || typed.chars().count() > 64 {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: "q must have 1 to 64 characters".to_owned(),
        });
    }
    let mut tx = state.db.begin_read().await?;
    let found = patient::store::outside_scope_by_identifier(
        &mut tx,
        policy::scope_facility(&caller),
        caller.user_id,
        now_ms(),
        typed,
    )
    .await?;
    if found.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let count = |how: OutsideMatch| found.iter().filter(|(_, h)| *h == how).count() as i64;
    let mut matches = Vec::new();
    let national = count(OutsideMatch::NationalId);
    if national > 0 {
        matches.push(OutsideScopeMatch {
            by: "national_id".to_owned(),
            value: patient::check_resident_id(typed).unwrap_or_else(|_| typed.to_owned()),
            patients: national,
        });
    }
    let records = count(OutsideMatch::RecordNumber);
    if records > 0 {
        matches.push(OutsideScopeMatch {
            by: "record_number".to_owned(),
            value: typed.to_owned(),
            patients: records,
        });
    }
    let ids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::list_read(
                "break_glass.match",
                caller.facility_id,
                "patients",
                &ids,
                &ids,
            ),
        )
        .await?;
    Ok(Json(matches))
}

/// What the grant's holder did to its patient while it lasted, oldest
/// first, from the audit trail. Administrators only.
#[utoipa::path(get, path = "/break-glass/{id}/activity", tag = "break-glass",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = Vec<GrantActivity>),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn grant_activity(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<GrantActivity>>> {
    policy::require_admin(&caller)?;
    let (user_id, patient_id, granted_at, expires_at) = {
        let mut conn = state.db.pool().acquire().await?;
        store::window(&mut conn, id)
            .await?
            .ok_or(ApiError::NotFound { what: "grant" })?
    };
    let filter = audit::store::EventFilter {
        actor_user_id: Some(user_id),
        patient_id: Some(patient_id),
        since_ms: Some(granted_at),
        until_ms: Some(expires_at),
        limit: 500,
        ..Default::default()
    };
    let mut events = audit::store::list(state.db.pool(), &filter).await?;
    events.reverse();
    Ok(Json(
        events
            .into_iter()
            .map(|event| GrantActivity {
                seq: event.seq,
                recorded_at: crate::time::rfc3339(event.recorded_at),
                subtype: event.subtype,
                action: event.action,
                outcome: event.outcome,
                entity_type: event.entity_type,
                entity_id: event.entity_id,
            })
            .collect(),
    ))
}
