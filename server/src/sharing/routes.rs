//! `/patients/{id}/sharing-consents` and `/sharing-consents/{id}/withdraw`:
//! record, list and withdraw a patient's consent to sharing. Every read and
//! change is audited in the same transaction.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::record::{withdraw, ConsentTable};
use super::{store, ConsentScope, ConsentView, NewConsent, Withdrawal};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ResultExt};
use crate::extract::{ApiJson, ApiPath};
use crate::patient::access::authorize;
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
        .routes(routes!(list_consents, record_consent))
        .routes(routes!(withdraw_consent))
}

/// The most facilities one consent names.
const MAX_NAMED: usize = 50;

/// A patient's sharing consents, the one in force first.
#[utoipa::path(get, path = "/patients/{id}/sharing-consents", tag = "sharing",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ConsentView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_consents(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(patient_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<ConsentView>>> {
    let tx = state.db.begin_read().await?;
    let (mut tx, access, _) = authorize(
        tx,
        &state.journal,
        &caller,
        patient_id,
        "sharing_consent.list",
    )
    .await?;
    let rows = store::of_patient(&mut tx, patient_id).await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(store::view(&mut tx, row).await?);
    }
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "sharing_consent.list")
                .entity("patient", patient_id)
                .patient(patient_id)
                .facility(caller.facility_id)
                .detail(access.describe()),
        )
        .await?;
    Ok(Json(views))
}

/// Records a patient's consent to sharing within the consortium. A consent
/// already in force must be withdrawn first (409 `consent_in_force`), so
/// the record shows when each scope held.
#[utoipa::path(post, path = "/patients/{id}/sharing-consents", tag = "sharing",
    params(("id" = i64, Path)), request_body = NewConsent,
    responses(
        (status = 201, body = ConsentView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`consent_in_force`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn record_consent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(patient_id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewConsent>,
) -> ApiResult<(StatusCode, Json<ConsentView>)> {
    let form_reference = check_required("form_reference", &body.form_reference, 500)?;
    let guardian_name = super::checked_guardian(body.given_by, body.guardian_name.as_deref())?;
    let mut named = body.facility_ids.clone();
    named.sort_unstable();
    named.dedup();
    match body.scope {
        ConsentScope::Consortium if !named.is_empty() => {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "facility_ids",
                "a consent for the whole consortium names no facilities; use scope \"facilities\" to name them",
            ))
        }
        ConsentScope::Facilities if named.is_empty() || named.len() > MAX_NAMED => {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "facility_ids",
                format!("a consent for named facilities names 1 to {MAX_NAMED} of them"),
            ))
        }
        _ => {}
    }
    let tx = state.db.begin_write().await?;
    let (mut tx, access, _) = authorize(
        tx,
        &state.journal,
        &caller,
        patient_id,
        "sharing_consent.record",
    )
    .await?;
    policy::sharing::check_consent_recorder(&caller, access)?;
    for facility in &named {
        let known: Option<i64> = sqlx::query_scalar("SELECT id FROM facility WHERE id = $1")
            .bind(facility)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(ApiError::invalid(
                ErrorCode::UnknownFacility,
                "facility_ids",
                format!("no facility has id {facility}"),
            ));
        }
    }
    let now = now_ms();
    let id = store::insert(
        &mut tx,
        &store::NewConsentRow {
            patient_id,
            scope: body.scope,
            given_by: body.given_by,
            guardian_name: guardian_name.as_deref(),
            form_reference: &form_reference,
            recorded_by: caller.user_id,
            recorded_at_facility_id: caller.facility_id,
            now,
        },
    )
    .await
    .on_unique_violation(|| {
        ApiError::conflict(
            ErrorCode::ConsentInForce,
            "this patient's consent to sharing is already on record; withdraw it before recording another",
        )
    })?;
    for facility in &named {
        store::name_facility(&mut tx, id, *facility).await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "sharing_consent.record")
            .entity("sharing_consent", id)
            .patient(patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({
                "scope": body.scope.as_str(),
                "facility_ids": named,
                "given_by": body.given_by.as_str(),
            })),
    )
    .await?;
    let row = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "consent" })?;
    let view = store::view(&mut tx, row).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Withdraws a consent, with effect at once: from the commit on, no other
/// facility reads the patient's records on its strength.
#[utoipa::path(post, path = "/sharing-consents/{id}/withdraw", tag = "sharing",
    params(("id" = i64, Path)), request_body = Withdrawal,
    responses(
        (status = 200, body = ConsentView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`consent_already_withdrawn`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn withdraw_consent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Withdrawal>,
) -> ApiResult<Json<ConsentView>> {
    let reason = check_required("reason", &body.reason, 500)?;
    let mut tx = state.db.begin_write().await?;
    let consent = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "consent" })?;
    let patient_id = consent.patient_id;
    let (mut tx, access, _) = authorize(
        tx,
        &state.journal,
        &caller,
        patient_id,
        "sharing_consent.withdraw",
    )
    .await?;
    policy::sharing::check_consent_recorder(&caller, access)?;
    if !withdraw(
        &mut tx,
        ConsentTable::Sharing,
        id,
        caller.user_id,
        &reason,
        now_ms(),
    )
    .await?
    {
        return Err(ApiError::conflict(
            ErrorCode::ConsentAlreadyWithdrawn,
            "this consent was already withdrawn",
        ));
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "sharing_consent.withdraw")
            .entity("sharing_consent", id)
            .patient(patient_id)
            .facility(caller.facility_id),
    )
    .await?;
    let row = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "consent" })?;
    let view = store::view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(Json(view))
}
