//! `/consultations/{id}/consents`, `/reading-requests/{id}/consents`,
//! `/referrals/{id}/consents` and `/care-consents/{id}/withdraw`: record,
//! list and withdraw a patient's consents to a service. Every read and
//! change is audited; a change in its own transaction.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::reach::{reach, Intent, Reached};
use super::{store, CareConsentView, NewCareConsent, Subject};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ResultExt};
use crate::extract::{ApiJson, ApiPath};
use crate::patient::check_required;
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
        .routes(routes!(consultation_consents, record_consultation_consent))
        .routes(routes!(reading_consents, record_reading_consent))
        .routes(routes!(referral_consents, record_referral_consent))
        .routes(routes!(withdraw_consent))
}

/// A consultation's consents (to the teleconsultation, to recording its
/// call), those in force first.
#[utoipa::path(get, path = "/consultations/{id}/consents", tag = "consents",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<CareConsentView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn consultation_consents(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<CareConsentView>>> {
    list(&state, &caller, Subject::Consultation(id)).await
}

/// Records the patient's consent to a consultation (`teleconsultation`) or
/// to the recording of its call (`recording`), from the signed form. One of
/// each kind is in force at a time: another must be withdrawn first (409
/// `consent_in_force`), so the record shows when each held.
#[utoipa::path(post, path = "/consultations/{id}/consents", tag = "consents",
    params(("id" = i64, Path)), request_body = NewCareConsent,
    responses(
        (status = 201, body = CareConsentView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`consent_in_force`, `service_closed`, `patient_mismatch`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn record_consultation_consent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewCareConsent>,
) -> ApiResult<(StatusCode, Json<CareConsentView>)> {
    record(&state, &caller, Subject::Consultation(id), body).await
}

/// A reading request's consents (to the remote reading), those in force
/// first.
#[utoipa::path(get, path = "/reading-requests/{id}/consents", tag = "consents",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<CareConsentView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reading_consents(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<CareConsentView>>> {
    list(&state, &caller, Subject::ReadingRequest(id)).await
}

/// Records the patient's consent to a remote reading (`remote_reading`),
/// by a clinician of the requesting facility.
#[utoipa::path(post, path = "/reading-requests/{id}/consents", tag = "consents",
    params(("id" = i64, Path)), request_body = NewCareConsent,
    responses(
        (status = 201, body = CareConsentView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`consent_in_force`, `service_closed`, `patient_mismatch`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn record_reading_consent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewCareConsent>,
) -> ApiResult<(StatusCode, Json<CareConsentView>)> {
    record(&state, &caller, Subject::ReadingRequest(id), body).await
}

/// A referral's consents (to being referred), those in force first.
#[utoipa::path(get, path = "/referrals/{id}/consents", tag = "consents",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<CareConsentView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn referral_consents(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<CareConsentView>>> {
    list(&state, &caller, Subject::Referral(id)).await
}

/// Records the patient's consent to a referral (`referral`), by a
/// clinician of the sending facility.
#[utoipa::path(post, path = "/referrals/{id}/consents", tag = "consents",
    params(("id" = i64, Path)), request_body = NewCareConsent,
    responses(
        (status = 201, body = CareConsentView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`consent_in_force`, `service_closed`, `patient_mismatch`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn record_referral_consent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewCareConsent>,
) -> ApiResult<(StatusCode, Json<CareConsentView>)> {
    record(&state, &caller, Subject::Referral(id), body).await
}

/// Withdraws a consent, with effect at once: where the consortium requires
/// the patient's consents (`teleconsultation_consent_required`), a
/// teleconsultation admits no one more to its call and does not start, and
/// a recording of its call stops.
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
    let mut tx = state.db.begin_write().await?;
    let consent = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "consent" })?;
    let subject = consent
        .subject()
        .ok_or(ApiError::NotFound { what: "consent" })?;
    // A consent to a service the caller cannot see is not acknowledged to
    // exist.
    let reached = reach(&mut tx, &caller, subject, Intent::Change)
        .await
        .map_err(|e| match e {
            ApiError::NotFound { .. } => ApiError::NotFound { what: "consent" },
            other => other,
        })?;
    if !withdraw(
        &mut tx,
        ConsentTable::Care,
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
        audited(Action::Update, "care_consent.withdraw", &caller, reached)
            .entity("care_consent", id)
            .detail(serde_json::json!({
                "kind": consent.kind,
                subject.entity(): subject.id(),
            })),
    )
    .await?;
    let row = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "consent" })?;
    tx.commit().await?;
    Ok(Json(row.view()))
}

/// The consents of `subject`, read by a caller who sees it.
async fn list(
    state: &AppState,
    caller: &Caller,
    subject: Subject,
) -> ApiResult<Json<Vec<CareConsentView>>> {
    let mut tx = state.db.begin_read().await?;
    let reached = reach(&mut tx, caller, subject, Intent::Read).await?;
    let rows = store::of_subject(&mut tx, subject).await?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            audited(Action::Read, "care_consent.list", caller, reached)
                .entity(subject.entity(), subject.id()),
        )
        .await?;
    Ok(Json(
        rows.into_iter().map(store::CareConsentRow::view).collect(),
    ))
}

/// Records a consent to `subject` from `body`.
async fn record(
    state: &AppState,
    caller: &Caller,
    subject: Subject,
    body: NewCareConsent,
) -> ApiResult<(StatusCode, Json<CareConsentView>)> {
    if !subject.kinds().contains(&body.kind) {
        let kinds: Vec<&str> = subject.kinds().iter().map(|k| k.as_str()).collect();
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "kind",
            format!(
                "a {}'s consent is of kind {}",
                subject.entity().replace('_', " "),
                kinds.join(" or ")
            ),
        ));
    }
    let form_reference = check_required("form_reference", &body.form_reference, 500)?;
    let guardian_name = checked_guardian(body.given_by, body.guardian_name.as_deref())?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let reached = reach(&mut tx, caller, subject, Intent::Change).await?;
    crate::shown_patient::check(reached.patient_id, body.patient_id, subject.entity())?;
    if !reached.open {
        return Err(ApiError::conflict(
            ErrorCode::ServiceClosed,
            format!(
                "this {} is over or was called off; a consent to it no longer changes anything",
                subject.entity().replace('_', " ")
            ),
        ));
    }
    let consent_id = store::insert(
        &mut tx,
        &store::NewRow {
            kind: body.kind,
            subject,
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
            "the patient's consent of this kind is already on record; withdraw it before \
             recording another",
        )
    })?;
    audit::append(
        &mut tx,
        &caller.actor(),
        audited(Action::Create, "care_consent.record", caller, reached)
            .entity("care_consent", consent_id)
            .detail(serde_json::json!({
                "kind": body.kind.as_str(),
                subject.entity(): subject.id(),
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

/// An audit event about a service's consents, naming its patient.
fn audited(action: Action, subtype: &str, caller: &Caller, reached: Reached) -> AuditEntry {
    let mut entry = AuditEntry::new(action, subtype).facility(caller.facility_id);
    entry.patient_id = reached.patient_id;
    entry
}
