//! `/consultations/{id}/consents` and `/care-consents/{id}/withdraw`:
//! record, list and withdraw a patient's consents to a consultation. Every
//! read and change is audited; a change in its own transaction.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{store, CareConsentView, NewCareConsent};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::consultation::visible::load_visible;
use crate::consultation::Status;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ResultExt};
use crate::extract::{ApiJson, ApiPath};
use crate::patient::check_required;
use crate::policy::consent::{check_consultation_reader, check_consultation_recorder};
use crate::sharing::record::{withdraw, ConsentTable};
use crate::sharing::{checked_guardian, Withdrawal};
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

/// A consultation's consents, those in force first.
#[utoipa::path(get, path = "/consultations/{id}/consents", tag = "consents",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<CareConsentView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_consents(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<CareConsentView>>> {
    let mut tx = state.db.begin_read().await?;
    let consultation = load_visible(&mut tx, &caller, id, now_ms()).await?;
    check_consultation_reader(&caller)?;
    let rows = store::of_consultation(&mut tx, id).await?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "care_consent.list")
                .entity("consultation", id)
                .patient(consultation.patient_id)
                .facility(caller.facility_id),
        )
        .await?;
    Ok(Json(
        rows.into_iter().map(store::CareConsentRow::view).collect(),
    ))
}

/// Records the patient's consent to a consultation (`teleconsultation`) or
/// to the recording of its call (`recording`). One of each kind is in
/// force at a time: another must be withdrawn first (409
/// `consent_in_force`), so the record shows when each held.
#[utoipa::path(post, path = "/consultations/{id}/consents", tag = "consents",
    params(("id" = i64, Path)), request_body = NewCareConsent,
    responses(
        (status = 201, body = CareConsentView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`consent_in_force`, `consultation_closed`, `patient_mismatch`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn record_consent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewCareConsent>,
) -> ApiResult<(StatusCode, Json<CareConsentView>)> {
    if !body.kind.of_consultation() {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "kind",
            "a consultation's consent is to the teleconsultation or to the recording of its call",
        ));
    }
    let form_reference = check_required("form_reference", &body.form_reference, 500)?;
    let guardian_name = checked_guardian(body.given_by, body.guardian_name.as_deref())?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let consultation = load_visible(&mut tx, &caller, id, now).await?;
    check_consultation_recorder(&caller, consultation.requesting_facility_id)?;
    crate::shown_patient::check(
        Some(consultation.patient_id),
        body.patient_id,
        "consultation",
    )?;
    if matches!(
        consultation.status,
        Status::Completed | Status::Cancelled | Status::Declined
    ) {
        return Err(ApiError::conflict(
            ErrorCode::ConsultationClosed,
            format!(
                "this consultation is {}; a consent to it no longer changes anything",
                consultation.status.as_str()
            ),
        ));
    }
    let consent_id = store::insert(
        &mut tx,
        &store::NewRow {
            kind: body.kind,
            consultation_id: id,
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
            "the patient's consent of this kind to this consultation is already on record; \
             withdraw it before recording another",
        )
    })?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "care_consent.record")
            .entity("care_consent", consent_id)
            .patient(consultation.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({
                "kind": body.kind.as_str(),
                "consultation_id": id,
                "given_by": body.given_by.as_str(),
            })),
    )
    .await?;
    let row = store::get(&mut tx, consent_id)
        .await?
        .ok_or(ApiError::NotFound { what: "consent" })?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row.view())))
}

/// Withdraws a consent, with effect at once: a teleconsultation that needs
/// its consent (`teleconsultation_consent_required`) admits no one more to
/// its call and does not start.
#[utoipa::path(post, path = "/care-consents/{id}/withdraw", tag = "consents",
    params(("id" = i64, Path)), request_body = Withdrawal,
    responses(
        (status = 200, body = CareConsentView),
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
) -> ApiResult<Json<CareConsentView>> {
    let reason = check_required("reason", &body.reason, 500)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let consent = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "consent" })?;
    // A consent of a consultation the caller cannot see is not
    // acknowledged to exist.
    let Some(consultation_id) = consent.consultation_id else {
        return Err(ApiError::NotFound { what: "consent" });
    };
    let consultation = load_visible(&mut tx, &caller, consultation_id, now)
        .await
        .map_err(|e| match e {
            ApiError::NotFound { .. } => ApiError::NotFound { what: "consent" },
            other => other,
        })?;
    check_consultation_recorder(&caller, consultation.requesting_facility_id)?;
    if !withdraw(
        &mut tx,
        ConsentTable::Care,
        id,
        caller.user_id,
        &reason,
        now,
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
        AuditEntry::new(Action::Update, "care_consent.withdraw")
            .entity("care_consent", id)
            .patient(consultation.patient_id)
            .facility(caller.facility_id)
            .detail(
                serde_json::json!({ "kind": consent.kind, "consultation_id": consultation_id }),
            ),
    )
    .await?;
    let row = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "consent" })?;
    tx.commit().await?;
    Ok(Json(row.view()))
}
