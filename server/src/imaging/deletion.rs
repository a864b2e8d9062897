//! `POST /study-deletions`: an administrator deletes a study, with a reason,
//! when the retention rule allows it ([`crate::policy::imaging::retention_keeps`]).
//! Refusals and deletions are both audited.

use axum::extract::{FromRef, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Imaging;
use crate::audit::{self, Action, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiJson;
use crate::policy::{self, imaging::Kept};
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
    Imaging: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(delete_study))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyDeletion {
    pub study_instance_uid: String,
    /// Why, for the audit trail.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletedStudy {
    pub study_instance_uid: String,
    pub instances: usize,
    pub bytes: i64,
}

/// Deletes a study and all its instances. Administrators. Refused with 409
/// `retention_required` while the retention rule keeps it: `details.reason`
/// is `in_record` (a reading request, consultation or examination names it)
/// or `retention_period` (`details.kept_until` says until when).
#[utoipa::path(post, path = "/study-deletions", tag = "imaging", request_body = StudyDeletion,
    responses(
        (status = 200, body = DeletedStudy),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`retention_required`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn delete_study(
    State(state): State<AppState>,
    State(imaging): State<Imaging>,
    caller: Caller,
    ApiJson(body): ApiJson<StudyDeletion>,
) -> ApiResult<Json<DeletedStudy>> {
    policy::require_admin(&caller)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "reason",
            "give a reason of at most 1000 characters",
        ));
    }
    let uid = ferry_dicom_store::uid::validate(body.study_instance_uid.trim())
        .map_err(|e| ApiError::invalid(ErrorCode::InvalidUid, "study_instance_uid", e.to_string()))?
        .to_owned();
    let mut tx = state.db.begin_write().await?;
    let found: Option<(i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT facility_id, patient_id, created_at FROM dicom_study WHERE study_uid = $1",
    )
    .bind(&uid)
    .fetch_optional(&mut *tx)
    .await?;
    let (facility_id, patient_id, received_at) =
        found.ok_or(ApiError::NotFound { what: "study" })?;
    let in_record: bool = sqlx::query_scalar::<_, i64>(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM reading_request WHERE study_instance_uid = $1) \
           OR EXISTS (SELECT 1 FROM consultation_study WHERE study_instance_uid = $1) \
           OR EXISTS (SELECT 1 FROM examination WHERE study_instance_uid = $1) \
         THEN 1 ELSE 0 END",
    )
    .bind(&uid)
    .fetch_one(&mut *tx)
    .await?
        == 1;
    let settings = &state.settings;
    let window_ms = i64::try_from(settings.study_deletion_window_hours)
        .unwrap_or(i64::MAX / 3_600_000)
        .saturating_mul(3_600_000);
    let retention_ms = i64::try_from(settings.imaging_retention_years)
        .unwrap_or(i64::MAX / 31_557_600_000)
        .saturating_mul(31_557_600_000);
    let entry = || {
        let mut entry = AuditEntry::new(Action::Delete, "dicom.delete")
            .entity("study", &uid)
            .facility(facility_id);
        if let Some(patient) = patient_id {
            entry = entry.patient(patient);
        }
        entry
    };
    if let Some(kept) =
        policy::imaging::retention_keeps(in_record, received_at, now_ms(), window_ms, retention_ms)
    {
        let (why, until) = match kept {
            Kept::InRecord => ("in_record", None),
            Kept::RetentionPeriod { until } => ("retention_period", Some(rfc3339(until))),
        };
        audit::append(
            &mut tx,
            &caller.actor(),
            entry()
                .outcome(Outcome::Failure)
                .detail(serde_json::json!({ "reason": reason, "kept": why })),
        )
        .await?;
        tx.commit().await?;
        let message = match kept {
            Kept::InRecord => "the study is part of a patient's record (a reading, consultation or examination names it) and is kept".to_owned(),
            Kept::RetentionPeriod { .. } => format!(
                "the study is kept for {} years after it was received; only studies received in the last {} hours may be deleted before then",
                settings.imaging_retention_years, settings.study_deletion_window_hours
            ),
        };
        return Err(ApiError::Conflict {
            code: ErrorCode::RetentionRequired,
            message,
            details: serde_json::json!({ "reason": why, "kept_until": until }),
        });
    }
    // Audited before anything goes: the event survives whatever follows.
    audit::append(
        &mut tx,
        &caller.actor(),
        entry().detail(serde_json::json!({ "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    let deleted = imaging
        .store
        .delete_study(&uid)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or(ApiError::NotFound { what: "study" })?;
    Ok(Json(DeletedStudy {
        study_instance_uid: uid,
        instances: deleted.instances,
        bytes: deleted.bytes,
    }))
}
