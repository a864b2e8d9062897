//! `/patients`: register, search, read and correct patients. Every read and
//! change is audited in the same transaction, including refused reads.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::authorize;
use super::{store, NewPatient, PatientPatch, PatientView, Registration};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ResultExt};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::policy;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(search_patients, register_patient))
        .routes(routes!(get_patient, update_patient))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PatientQuery {
    /// Part of a name, or a whole national identifier or record number.
    pub q: String,
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
}

/// Searches the patients in the caller's scope.
#[utoipa::path(get, path = "/patients", tag = "patients", params(PatientQuery),
    responses((status = 200, body = Vec<PatientView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn search_patients(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PatientQuery>,
) -> ApiResult<Json<Vec<PatientView>>> {
    policy::patients::require_carer(&caller)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) || query.q.trim().is_empty() {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: "q must not be empty and limit must be between 1 and 100".to_owned(),
        });
    }
    let now = now_ms();
    let mut tx = state.db.begin_read().await?;
    let rows = store::search(
        &mut tx,
        policy::scope_facility(&caller),
        caller.user_id,
        now,
        &query.q,
        limit,
    )
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let views = store::views(&mut tx, rows).await?;
    tx.commit().await?;
    // One event for the answer, naming every patient it showed.
    if !ids.is_empty() {
        state
            .journal
            .record_one(
                &caller.actor(),
                AuditEntry::list_read("patient.search", caller.facility_id, "patients", &ids, &ids),
            )
            .await?;
    }
    Ok(Json(views))
}

/// Registers a patient at the caller's facility, linking to the consortium's
/// existing patient when the national identifier is already known under the
/// same name and birth date. When other patients may be this person (same
/// birth date, and name in hanzi or pinyin or phone), nothing is written
/// and the answer is 409 `possible_same_person` with `details.candidates`
/// (a list of `Candidate`); send again with `same_person_as` and `evidence`,
/// or with `new_person: true`.
#[utoipa::path(post, path = "/patients", tag = "patients", request_body = NewPatient,
    responses(
        (status = 201, body = PatientView),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`record_number_taken`, `already_registered`, or `possible_same_person` with `details.candidates`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn register_patient(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewPatient>,
) -> ApiResult<(StatusCode, Json<PatientView>)> {
    policy::patients::require_registrar(&caller)?;
    let mut tx = state.db.begin_write().await?;
    let id = match super::register(&mut tx, &caller.actor(), caller.facility_id, body, true).await?
    {
        Registration::Registered { patient_id, .. } => patient_id,
        Registration::Candidates(found) => {
            let candidates = super::identity::offer(&mut tx, &caller, None, found).await?;
            tx.commit().await?;
            return Err(ApiError::Conflict {
                code: ErrorCode::PossibleSamePerson,
                message: "the consortium may already know this person; choose one of the \
                          candidates (same_person_as) or confirm a new person (new_person)"
                    .to_owned(),
                details: serde_json::json!({ "candidates": candidates }),
            });
        }
    };
    let row = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "patient" })?;
    let view = store::view(&mut tx, row).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Opens a patient. Outside the caller's scope this is refused (and the
/// refusal audited) unless the caller has broken the glass.
#[utoipa::path(get, path = "/patients/{id}", tag = "patients", params(("id" = i64, Path)),
    responses((status = 200, body = PatientView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_patient(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PatientView>> {
    let tx = state.db.begin_read().await?;
    let (mut tx, access, row) = authorize(tx, &state.journal, &caller, id, "patient.read").await?;
    let view = store::view(&mut tx, row).await?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "patient.read")
                .entity("patient", id)
                .patient(id)
                .facility(caller.facility_id)
                .detail(access.describe()),
        )
        .await?;
    Ok(Json(view))
}

/// Corrects a patient's demographics. Only clinicians whose facility holds a
/// record for the patient.
#[utoipa::path(patch, path = "/patients/{id}", tag = "patients", params(("id" = i64, Path)),
    request_body = PatientPatch,
    responses(
        (status = 200, body = PatientView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn update_patient(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<PatientPatch>,
) -> ApiResult<Json<PatientView>> {
    let tx = state.db.begin_write().await?;
    let (mut tx, access, current) =
        authorize(tx, &state.journal, &caller, id, "patient.update").await?;
    policy::patients::check_record_update(&caller, access)?;
    let national_id = match &patch.national_id {
        Some(value) => super::check_national_id(value.as_deref())?,
        None => current.national_id.clone(),
    };
    let family_name = match &patch.family_name {
        Some(value) => super::check_required("family_name", value, 100)?,
        None => current.family_name.clone(),
    };
    let given_name = match &patch.given_name {
        Some(value) => super::check_optional("given_name", value, 100)?,
        None => current.given_name.clone(),
    };
    let birth_date = match &patch.birth_date {
        Some(value) => super::check_birth_date(value)?,
        None => current.birth_date.clone(),
    };
    let phone = match &patch.phone {
        Some(value) => super::check_optional("phone", value, 40)?,
        None => current.phone.clone(),
    };
    let values = store::PatientValues {
        national_id: national_id.as_deref(),
        unverified_national_id: None,
        family_name: &family_name,
        given_name: &given_name,
        sex: patch.sex.unwrap_or(super::Sex::parse(&current.sex)),
        birth_date: &birth_date,
        phone: &phone,
    };
    store::update(&mut tx, id, &values, patch.national_id.is_some(), now_ms())
        .await
        .on_unique_violation(|| {
            ApiError::conflict(
                ErrorCode::NationalIdTaken,
                "another patient has this national identifier",
            )
        })?;
    let changed = audit::changed_fields([
        ("national_id", patch.national_id.is_some()),
        ("family_name", patch.family_name.is_some()),
        ("given_name", patch.given_name.is_some()),
        ("sex", patch.sex.is_some()),
        ("birth_date", patch.birth_date.is_some()),
        ("phone", patch.phone.is_some()),
    ]);
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "patient.update")
            .entity("patient", id)
            .patient(id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "changed": changed })),
    )
    .await?;
    let row = store::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "patient" })?;
    let view = store::view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(Json(view))
}
