//! `/patients/{id}/examinations` and `/examinations/{id}/performed`: ask for an
//! examination (warned off repeating one the consortium already holds), list a
//! patient's examinations across member facilities, record that one was done
//! or withdraw it.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{store, ExamStatus, ExaminationView, NewExamination, Performed, DAY_MS};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::imaging::Imaging;
use crate::patient::access::authorize;
use crate::patient::check_optional;
use crate::policy;
use crate::state::AppState;
use crate::time::now_ms;
use ferry_dicom_store::index::StudyRow;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
    Imaging: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_examinations, request_examination))
        .routes(routes!(record_performed))
        .routes(routes!(cancel_examination))
}

/// Asks for an examination of a patient in the caller's scope at the caller's
/// facility. If any member facility asked for or performed one of the same
/// modality and body part within `duplicate_exam_window_days`, or holds a
/// study of the patient with a series of that modality and body part dated
/// within the window, nothing is created and the answer is 409
/// `duplicate_examination`, unless `repeat_reason` says why it must be done
/// again. `details.existing` is the examination (an ExaminationView), or
/// null when a stored study was found, which `details.study` describes;
/// `details.prior` says whether the caller may open the images now.
#[utoipa::path(post, path = "/patients/{id}/examinations", tag = "examinations",
    params(("id" = i64, Path, description = "The patient")), request_body = NewExamination,
    responses(
        (status = 201, body = ExaminationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody,
            description = "`duplicate_examination`: `details.existing` is the recent examination (an ExaminationView) or null, `details.study` the stored study"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn request_examination(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(patient_id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewExamination>,
) -> ApiResult<(StatusCode, Json<ExaminationView>)> {
    policy::examination::require_orderer(&caller)?;
    let modality = super::check_modality(&body.modality)?;
    let body_part = super::check_body_part(&body.body_part)?;
    let repeat_reason = check_optional(
        "repeat_reason",
        body.repeat_reason.as_deref().unwrap_or_default(),
        2000,
    )?;
    let repeat_reason = (!repeat_reason.is_empty()).then_some(repeat_reason);
    let scheduled_at = match body.scheduled_at.as_deref() {
        None => None,
        Some(text) => Some(crate::time::parse_rfc3339(text.trim()).ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidInstant,
                "scheduled_at",
                "scheduled_at is an RFC 3339 instant such as 2026-12-07T09:30:00+08:00",
            )
        })?),
    };
    let station_ae = match body.station_ae.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(title) => Some(crate::modality::normalise_ae_title(title).map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidAeTitle,
                "station_ae",
                "station_ae is an AE title: 1 to 16 printable ASCII characters without a backslash",
            )
        })?),
    };
    let procedure_description = check_optional(
        "procedure_description",
        body.procedure_description.as_deref().unwrap_or_default(),
        64,
    )?;

    let tx = state.db.begin_write().await?;
    let (mut tx, _, _) = authorize(
        tx,
        &state.journal,
        &caller,
        patient_id,
        "examination.create",
    )
    .await?;
    let now = now_ms();
    if repeat_reason.is_none() {
        let window = i64::from(state.settings.duplicate_exam_window_days) * DAY_MS;
        let found =
            store::recent_duplicate(&mut tx, patient_id, &modality, &body_part, now - window)
                .await?;
        if let Some(existing) = found {
            // The answer shows another facility's examination: a read.
            audit::append(
                &mut tx,
                &caller.actor(),
                AuditEntry::new(Action::Read, "examination.duplicate")
                    .entity("examination", existing.id)
                    .patient(patient_id)
                    .facility(caller.facility_id),
            )
            .await?;
            let mut prior = prior_study(
                &mut tx,
                &state,
                &caller,
                existing.study_instance_uid.as_deref(),
            )
            .await?;
            prior["recognition"] = serde_json::json!(
                recognition_of(
                    &mut tx,
                    (&existing.modality, &existing.body_part),
                    &existing.facility_tier,
                    existing.performed_at,
                    now
                )
                .await?
            );
            tx.commit().await?;
            let mut existing = existing.view();
            if !prior["readable"].as_bool().unwrap_or(false) {
                existing.study_instance_uid = None;
            }
            return Err(ApiError::Conflict {
                code: ErrorCode::DuplicateExamination,
                message: format!(
                    "the consortium already holds a {} {} examination of this patient from {} ({}); \
                     give repeat_reason to ask again",
                    existing.modality, existing.body_part, existing.facility_name, existing.date
                ),
                details: serde_json::json!({ "existing": existing, "prior": prior }),
            });
        }
        // Images sent straight from a modality, with no examination asked
        // for in Ferry, count as well.
        let since = jiff::Timestamp::from_millisecond(now - window)
            .map_err(|error| ApiError::Internal(error.into()))?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .strftime("%Y%m%d")
            .to_string();
        let stored = crate::imaging::prior::latest_stored(
            &mut tx, patient_id, &modality, &body_part, &since,
        )
        .await?;
        if let Some(stored) = stored {
            audit::append(
                &mut tx,
                &caller.actor(),
                AuditEntry::new(Action::Read, "examination.duplicate")
                    .entity("study", &stored.study_instance_uid)
                    .patient(patient_id)
                    .facility(caller.facility_id),
            )
            .await?;
            let mut prior =
                prior_study(&mut tx, &state, &caller, Some(&stored.study_instance_uid)).await?;
            let date = jiff::civil::Date::strptime("%Y%m%d", &stored.study_date).ok();
            let done_at = date
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp().as_millisecond());
            prior["recognition"] = serde_json::json!(
                recognition_of(
                    &mut tx,
                    (&modality, &body_part),
                    &stored.facility_tier,
                    done_at,
                    now
                )
                .await?
            );
            tx.commit().await?;
            let readable = prior["readable"].as_bool().unwrap_or(false);
            let date = date.map(|d| d.to_string()).unwrap_or(stored.study_date);
            return Err(ApiError::Conflict {
                code: ErrorCode::DuplicateExamination,
                message: format!(
                    "the consortium already holds {modality} {body_part} images of this patient \
                     from {} ({date}); give repeat_reason to ask again",
                    stored.facility_name
                ),
                details: serde_json::json!({
                    "existing": null,
                    "study": {
                        "facility_id": stored.facility_id,
                        "facility_name": stored.facility_name,
                        "facility_tier": stored.facility_tier,
                        "modality": modality,
                        "body_part": body_part,
                        "date": date,
                        "study_instance_uid": readable.then_some(&stored.study_instance_uid),
                    },
                    "prior": prior,
                }),
            });
        }
    }
    let values = store::ExaminationValues {
        patient_id,
        facility_id: caller.facility_id,
        requested_by: caller.user_id,
        modality: &modality,
        body_part: &body_part,
        repeat_reason: repeat_reason.as_deref(),
        scheduled_at: scheduled_at.unwrap_or(now),
        station_ae: station_ae.as_deref(),
        procedure_description: &procedure_description,
    };
    let id = store::insert(&mut tx, &values, now).await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "examination.create")
            .entity("examination", id)
            .patient(patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "repeat": repeat_reason.is_some() })),
    )
    .await?;
    let view = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "examination",
        })?
        .view();
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Whether an earlier result of `kind` (modality, body part) done at a
/// facility of `tier` at instant `done_at` is recognised under the
/// consortium's rules ([`super::recognition`]); one not performed yet has no
/// result to recognise (`reason`: `not_done`).
async fn recognition_of(
    tx: &mut crate::db::Tx,
    kind: (&str, &str),
    tier: &str,
    done_at: Option<i64>,
    now: i64,
) -> ApiResult<super::recognition::Recognition> {
    let (Some(done_at), Some(tier)) = (done_at, crate::facility::Tier::parse(tier)) else {
        return Ok(super::recognition::Recognition {
            recognised: false,
            rule_id: None,
            valid_until: None,
            reason: Some("not_done".to_owned()),
        });
    };
    let rules = super::recognition::rules_for(tx, kind.0, kind.1).await?;
    Ok(super::recognition::judge(&rules, tier, done_at, now))
}

/// What the duplicate warning says of the earlier examination's images:
/// whether the caller may open them now and, when not, why (`reason`:
/// `no_images` when none were filed, `needs_consent` when the patient's
/// consent to sharing would open them, `out_of_reach` otherwise).
async fn prior_study(
    tx: &mut crate::db::Tx,
    state: &AppState,
    caller: &Caller,
    study_instance_uid: Option<&str>,
) -> ApiResult<serde_json::Value> {
    let Some(uid) = study_instance_uid else {
        return Ok(serde_json::json!({ "readable": false, "reason": "no_images" }));
    };
    let rule = policy::ConsentRule::of(&state.settings);
    let scope = policy::caller_reach(caller, rule).scope();
    if policy::imaging::study_readable(tx, &scope, uid).await? {
        return Ok(serde_json::json!({ "readable": true, "study_instance_uid": uid }));
    }
    let consent_would_open = rule == policy::ConsentRule::Required
        && policy::sharing::sharing_facility(caller).is_some()
        && policy::imaging::study_readable(
            tx,
            &policy::caller_reach(caller, policy::ConsentRule::NotRequired).scope(),
            uid,
        )
        .await?;
    let reason = if consent_would_open {
        "needs_consent"
    } else {
        "out_of_reach"
    };
    Ok(serde_json::json!({ "readable": false, "reason": reason }))
}

/// The patient's examinations, newest first: at every member facility when
/// the caller reads other facilities' records of this patient (the patient
/// is shared with the caller's facility, or the caller works on their case
/// or broke the glass), otherwise at the caller's facility only.
#[utoipa::path(get, path = "/patients/{id}/examinations", tag = "examinations",
    params(("id" = i64, Path, description = "The patient")),
    responses((status = 200, body = Vec<ExaminationView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_examinations(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(patient_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<ExaminationView>>> {
    let tx = state.db.begin_read().await?;
    let (mut tx, access, _) =
        authorize(tx, &state.journal, &caller, patient_id, "examination.list").await?;
    let all = policy::sharing::reads_other_facilities(
        &mut tx,
        &caller,
        access,
        patient_id,
        policy::ConsentRule::of(&state.settings),
    )
    .await?;
    let mut rows = store::for_patient(&mut tx, patient_id).await?;
    if !all {
        rows.retain(|row| row.facility_id == caller.facility_id);
    }
    let mut detail = access.describe();
    detail["other_facilities"] = serde_json::json!(all);
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "examination.list")
                .entity("patient", patient_id)
                .patient(patient_id)
                .facility(caller.facility_id)
                .detail(detail),
        )
        .await?;
    Ok(Json(
        rows.into_iter().map(store::ExaminationRow::view).collect(),
    ))
}

/// Records that an examination asked for at the caller's facility was done,
/// with the study that holds its images if there is one.
#[utoipa::path(post, path = "/examinations/{id}/performed", tag = "examinations",
    params(("id" = i64, Path)), request_body = Performed,
    responses(
        (status = 200, body = ExaminationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`invalid_transition`: not `requested`"),
        (status = 422, body = ErrorBody, description = "Not a DICOM UID"),
    ),
    security(("bearer" = [])))]
async fn record_performed(
    State(state): State<AppState>,
    State(imaging): State<Imaging>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Performed>,
) -> ApiResult<Json<ExaminationView>> {
    policy::examination::require_orderer(&caller)?;
    let uid = match body.study_instance_uid.as_deref() {
        None => None,
        Some(text) => Some(
            ferry_dicom_store::uid::validate(text.trim())
                .map_err(|err| {
                    ApiError::invalid(ErrorCode::InvalidUid, "study_instance_uid", err.to_string())
                })?
                .to_owned(),
        ),
    };
    // Read through the store's pool before the write transaction opens.
    let named = match uid {
        Some(uid) => {
            let study = imaging.named_study(&uid).await?;
            Some((uid, study))
        }
        None => None,
    };
    finish(&state, &caller, id, ExamStatus::Performed, named).await
}

/// Withdraws an examination the caller's facility asked for and that was not
/// done; it no longer counts as a duplicate.
#[utoipa::path(post, path = "/examinations/{id}/cancel", tag = "examinations",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = ExaminationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`invalid_transition`: not `requested`"),
    ),
    security(("bearer" = [])))]
async fn cancel_examination(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ExaminationView>> {
    policy::examination::require_orderer(&caller)?;
    finish(&state, &caller, id, ExamStatus::Cancelled, None).await
}

/// Moves a requested examination to `performed` or `cancelled`: only the
/// facility that asked for it, with the patient in scope, and only once. A
/// study named for its images must be one the caller may read, of the
/// examination's patient.
async fn finish(
    state: &AppState,
    caller: &Caller,
    id: i64,
    to: ExamStatus,
    study: Option<(String, Option<StudyRow>)>,
) -> ApiResult<Json<ExaminationView>> {
    let mut tx = state.db.begin_write().await?;
    let exam = store::get(&mut tx, id).await?.ok_or(ApiError::NotFound {
        what: "examination",
    })?;
    let (mut tx, _, _) = authorize(
        tx,
        &state.journal,
        caller,
        exam.patient_id,
        "examination.update",
    )
    .await?;
    if caller.facility_id != exam.facility_id {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only the facility that asked for an examination records what became of it",
        ));
    }
    let study_instance_uid = match study {
        Some(named) => {
            let found = [named];
            policy::check_named_studies(
                &mut tx,
                caller,
                &found,
                Some(exam.patient_id),
                "study_instance_uid",
                policy::ConsentRule::of(&state.settings),
            )
            .await?;
            let [(uid, _)] = found;
            Some(uid)
        }
        None => None,
    };
    if !store::finish(&mut tx, id, to, study_instance_uid.as_deref(), now_ms()).await? {
        // Not `requested` (any more): say what it is and what it may become.
        let status = store::get(&mut tx, id)
            .await?
            .map_or(exam.status(), |now| now.status());
        return Err(ApiError::Conflict {
            code: ErrorCode::InvalidTransition,
            message: format!(
                "a {} examination cannot become {}",
                status.as_str(),
                to.as_str()
            ),
            details: serde_json::json!({
                "status": status.as_str(),
                "requested": to.as_str(),
                "allowed": status.next().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            }),
        });
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, &format!("examination.{}", to.as_str()))
            .entity("examination", id)
            .patient(exam.patient_id)
            .facility(caller.facility_id),
    )
    .await?;
    let view = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "examination",
        })?
        .view();
    tx.commit().await?;
    Ok(Json(view))
}
