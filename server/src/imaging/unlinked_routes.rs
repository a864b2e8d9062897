//! `GET /unlinked-studies` and `POST /unlinked-studies/{study}/file`: the
//! images waiting for a patient at the caller's facility, and filing one
//! under a patient or an order ([`super::unlinked`]).

use axum::extract::{FromRef, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::unlinked::{self, FileStudy, FiledStudy, UnlinkedStudy};
use crate::audit::{Action, AuditEntry};
use crate::auth::{Caller, Role};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::policy;
use crate::state::AppState;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_unlinked))
        .routes(routes!(file_study))
}

/// Studies the caller's facility sent that match no patient and no order,
/// oldest first. Clinicians. Listing them is audited, since they carry
/// patient names.
#[utoipa::path(get, path = "/unlinked-studies", tag = "imaging",
    responses((status = 200, body = Vec<UnlinkedStudy>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_unlinked(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<UnlinkedStudy>>> {
    policy::require_any(&caller, &[Role::Clinician], "clinicians")?;
    let mut tx = state.db.begin_read().await?;
    let studies = unlinked::waiting(&mut tx, caller.facility_id).await?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "dicom.unlinked")
                .facility(caller.facility_id)
                .detail(serde_json::json!({ "studies": studies.len() })),
        )
        .await?;
    Ok(Json(studies))
}

/// Files a waiting study under a patient registered at the caller's
/// facility, or under an examination ordered there (which is then
/// performed with it). Clinicians of the facility that sent the study.
#[utoipa::path(post, path = "/unlinked-studies/{study}/file", tag = "imaging",
    params(("study" = String, Path, description = "Study Instance UID")), request_body = FileStudy,
    responses(
        (status = 200, body = FiledStudy),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_linked`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn file_study(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(study): ApiPath<String>,
    ApiJson(body): ApiJson<FileStudy>,
) -> ApiResult<Json<FiledStudy>> {
    policy::require_any(&caller, &[Role::Clinician], "clinicians")?;
    let tx = state.db.begin_write().await?;
    let (tx, patient_id) = unlinked::file(tx, &state.journal, &caller, &study, &body).await?;
    tx.commit().await?;
    Ok(Json(FiledStudy {
        study_instance_uid: study,
        patient_id,
    }))
}
