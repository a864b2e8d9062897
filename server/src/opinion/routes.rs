//! `/consultations/{id}/opinions` and `/opinions/{id}`: draft, edit, sign and
//! amend the expert's opinion.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, Content};
use super::{
    check_codes, check_findings, content_digest, same_patient, NewOpinion, OpinionPatch,
    OpinionView, SignOpinion,
};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::booking::{store as booking_store, BookingStatus};
use crate::consultation::store::{self as consultation_store, ConsultationRow};
use crate::consultation::visible::{load_visible, sees_clinical};
use crate::consultation::Status;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::notify::Outbox;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_opinions, draft_opinion))
        .routes(routes!(edit_opinion))
        .routes(routes!(sign_opinion))
}

fn must_be_author(caller: &Caller, consultation: &ConsultationRow) -> ApiResult<()> {
    if consultation.expert_id == Some(caller.user_id) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only the expert assigned to the consultation writes its opinion",
        ))
    }
}

fn amendment_reason(text: Option<&str>, version: i64) -> ApiResult<Option<String>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(reason) if reason.chars().count() <= 2000 => Ok(Some(reason.to_owned())),
        Some(_) => Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "amendment_reason",
            "amendment_reason may have at most 2000 characters",
        )),
        None if version > 1 => Err(ApiError::invalid(
            ErrorCode::AmendmentReasonRequired,
            "amendment_reason",
            "an amendment of a signed opinion states why",
        )),
        None => Ok(None),
    }
}

/// Every version of the consultation's opinion, oldest first.
#[utoipa::path(get, path = "/consultations/{id}/opinions", tag = "opinions", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<OpinionView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_opinions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<OpinionView>>> {
    let now = now_ms();
    let mut tx = state.db.begin_read().await?;
    let consultation = load_visible(&mut tx, &caller, id, now).await?;
    if !sees_clinical(&caller) {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "opinions are for those who treat the patient",
        ));
    }
    let opinions = store::of_consultation(&mut tx, id).await?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "opinion.read")
                .entity("consultation", id)
                .patient(consultation.patient_id)
                .facility(caller.facility_id),
        )
        .await?;
    Ok(Json(opinions))
}

/// Starts a draft: the first opinion once the consultation is under way, or
/// an amendment (with its reason) after the last version was signed.
#[utoipa::path(post, path = "/consultations/{id}/opinions", tag = "opinions", params(("id" = i64, Path)),
    request_body = NewOpinion,
    responses((status = 201, body = OpinionView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A draft exists, the consultation is not ready for an opinion, or `patient_id` is not its patient (`patient_mismatch`)"),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn draft_opinion(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewOpinion>,
) -> ApiResult<(StatusCode, Json<OpinionView>)> {
    let findings = check_findings(&body.findings)?;
    let codes = check_codes(&body.diagnosis_codes)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let consultation = load_visible(&mut tx, &caller, id, now).await?;
    must_be_author(&caller, &consultation)?;
    same_patient(consultation.patient_id, body.patient_id)?;
    let versions = store::of_consultation(&mut tx, id).await?;
    if let Some(draft) = versions.iter().find(|o| o.signed_at.is_none()) {
        return Err(ApiError::Conflict {
            code: ErrorCode::DraftExists,
            message: "this consultation already has an unsigned draft; edit it".to_owned(),
            details: serde_json::json!({ "opinion_id": draft.id }),
        });
    }
    let version = versions.len() as i64 + 1;
    let ready = if version == 1 {
        matches!(
            consultation.status,
            Status::InProgress | Status::AwaitingOpinion
        )
    } else {
        consultation.status == Status::Completed
    };
    if !ready {
        return Err(ApiError::Conflict {
            code: ErrorCode::NotReadyForOpinion,
            message: format!(
                "an opinion is written once the consultation is in progress; this one is {}",
                consultation.status.as_str()
            ),
            details: serde_json::json!({ "status": consultation.status }),
        });
    }
    let reason = amendment_reason(body.amendment_reason.as_deref(), version)?;
    let opinion_id = store::insert(
        &mut tx,
        id,
        version,
        caller.user_id,
        &Content {
            findings: &findings,
            diagnosis_codes: &codes,
            recommendation: body.recommendation,
            amendment_reason: reason.as_deref(),
        },
        now,
    )
    .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "opinion.draft")
            .entity("opinion", opinion_id)
            .patient(consultation.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "consultation_id": id, "version": version })),
    )
    .await?;
    let view = store::get(&mut tx, opinion_id)
        .await?
        .ok_or(ApiError::NotFound { what: "opinion" })?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn load_own(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
) -> ApiResult<(OpinionView, ConsultationRow)> {
    let now = now_ms();
    let opinion = store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "opinion" })?;
    let consultation = load_visible(tx, caller, opinion.consultation_id, now)
        .await
        .map_err(|_| ApiError::NotFound { what: "opinion" })?;
    must_be_author(caller, &consultation)?;
    if opinion.signed_at.is_some() {
        return Err(ApiError::Conflict {
            code: ErrorCode::OpinionSigned,
            message: "a signed opinion cannot be changed; write an amendment".to_owned(),
            details: serde_json::json!({ "opinion_id": id, "version": opinion.version }),
        });
    }
    Ok((opinion, consultation))
}

/// Edits an unsigned draft. A signed opinion is 409 `opinion_signed`.
#[utoipa::path(patch, path = "/opinions/{id}", tag = "opinions", params(("id" = i64, Path)),
    request_body = OpinionPatch,
    responses((status = 200, body = OpinionView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already signed, or `patient_id` is not the consultation's patient (`patient_mismatch`)"),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn edit_opinion(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<OpinionPatch>,
) -> ApiResult<Json<OpinionView>> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (current, consultation) = load_own(&mut tx, &caller, id).await?;
    same_patient(consultation.patient_id, patch.patient_id)?;
    let findings = match &patch.findings {
        Some(text) => check_findings(text)?,
        None => current.findings.clone(),
    };
    let codes = match &patch.diagnosis_codes {
        Some(codes) => check_codes(codes)?,
        None => current.diagnosis_codes.clone(),
    };
    let reason = match &patch.amendment_reason {
        Some(text) => amendment_reason(Some(text), current.version)?,
        None => current.amendment_reason.clone(),
    };
    let updated = store::update_draft(
        &mut tx,
        id,
        &Content {
            findings: &findings,
            diagnosis_codes: &codes,
            recommendation: patch.recommendation.unwrap_or(current.recommendation),
            amendment_reason: reason.as_deref(),
        },
        now,
    )
    .await?;
    if !updated {
        return Err(ApiError::conflict(
            ErrorCode::OpinionSigned,
            "the opinion was signed meanwhile",
        ));
    }
    let changed = audit::changed_fields([
        ("findings", patch.findings.is_some()),
        ("diagnosis_codes", patch.diagnosis_codes.is_some()),
        ("recommendation", patch.recommendation.is_some()),
        ("amendment_reason", patch.amendment_reason.is_some()),
    ]);
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "opinion.edit")
            .entity("opinion", id)
            .patient(consultation.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "changed": changed })),
    )
    .await?;
    let view = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "opinion" })?;
    tx.commit().await?;
    Ok(Json(view))
}

/// Signs the draft. The first signed version completes the consultation; a
/// later one is an amendment. Either way the requester is notified. The
/// body is optional; a client that sends none names no patient.
#[utoipa::path(post, path = "/opinions/{id}/sign", tag = "opinions", params(("id" = i64, Path)),
    request_body(content = Option<SignOpinion>, description = "Optional: the patient the screen showed"),
    responses((status = 200, body = OpinionView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already signed, the consultation is not awaiting an opinion, or `patient_id` is not its patient (`patient_mismatch`)")),
    security(("bearer" = [])))]
async fn sign_opinion(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    body: Option<ApiJson<Option<SignOpinion>>>,
) -> ApiResult<Json<OpinionView>> {
    // No body, or `null` (the OpenAPI document allows it), names no patient.
    let body = body.and_then(|ApiJson(body)| body).unwrap_or_default();
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (opinion, consultation) = load_own(&mut tx, &caller, id).await?;
    same_patient(consultation.patient_id, body.patient_id)?;
    if opinion.version == 1 {
        consultation.status.check(Status::Completed)?;
        if !consultation_store::transition(
            &mut tx,
            consultation.id,
            Status::AwaitingOpinion,
            Status::Completed,
            None,
            now,
        )
        .await?
        {
            return Err(ApiError::conflict(
                ErrorCode::ConcurrentChange,
                "the consultation changed meanwhile; reload it",
            ));
        }
        // The booking is fulfilled; its time, if still ahead, is free again.
        if let Some(booking) =
            booking_store::active_of_consultation(&mut tx, consultation.id).await?
        {
            booking_store::finish(&mut tx, &booking, BookingStatus::Completed, None, now).await?;
        }
    }
    let digest = content_digest(&opinion, now);
    if !store::sign(&mut tx, id, &digest, now).await? {
        return Err(ApiError::conflict(
            ErrorCode::OpinionSigned,
            "the opinion was signed meanwhile",
        ));
    }
    let kind = if opinion.version == 1 {
        "opinion.signed"
    } else {
        "opinion.amended"
    };
    let mut outbox = Outbox::new();
    outbox
        .push(
            &mut tx,
            consultation.requested_by,
            kind,
            serde_json::json!({
                "consultation_id": consultation.id, "opinion_id": id, "version": opinion.version,
                "recommendation": opinion.recommendation,
            }),
        )
        .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, kind)
            .entity("opinion", id)
            .patient(consultation.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "version": opinion.version, "content_sha256": digest })),
    )
    .await?;
    let view = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "opinion" })?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(view))
}
