//! The consortium's patient index at work: the patients who may be the same
//! person as one on screen, joining two records as one person, and the
//! administrators' review and undo of a wrong merge. Every step is audited.

use axum::extract::{FromRef, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::authorize;
use super::identity::{self, Candidate, Probe};
use super::merge::{self, MergeRequest, MergeView};
use super::{check_national_id, check_optional, store};
use crate::audit::{self, Action, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
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
        .routes(routes!(patient_candidates))
        .routes(routes!(merge_patient))
        .routes(routes!(list_merges))
        .routes(routes!(undo_merge))
}

/// Patients who may be the same person as this one: the same birth date
/// and the same name (in hanzi or pinyin) or phone, nothing setting them
/// apart. Candidates outside the caller's scope come without their
/// details.
#[utoipa::path(get, path = "/patients/{id}/candidates", tag = "patients",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Candidate>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn patient_candidates(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<Candidate>>> {
    let tx = state.db.begin_write().await?;
    let (mut tx, access, row) =
        authorize(tx, &state.journal, &caller, id, "patient.candidates").await?;
    policy::patients::check_merge(&caller, access)?;
    let probe = probe_of(&row);
    let found = identity::candidates(&mut tx, &probe, Some(id)).await?;
    let offered = identity::offer(&mut tx, &caller, Some(id), found).await?;
    tx.commit().await?;
    Ok(Json(offered))
}

fn probe_of(row: &store::PatientRow) -> Probe {
    Probe {
        name_key: identity::name_key(&row.family_name, &row.given_name),
        sex: row.sex.clone(),
        birth_date: row.birth_date.clone(),
        phone: row.phone.clone(),
        national_id: row.national_id.clone(),
    }
}

/// Joins another patient with this one as one person. The patient holding
/// a resident identity number is kept (else the one registered first), and
/// everything of the other moves to it; the answer is the merge. The other
/// patient must agree with this one (name, birth date, nothing setting them
/// apart); when the caller cannot open the other patient, the identity
/// number and phone on its record must be given too (`national_id`,
/// `phone`), as the patient would tell them. Otherwise 422
/// `not_same_person`, audited as a failed merge.
#[utoipa::path(post, path = "/patients/{id}/merge", tag = "patients",
    params(("id" = i64, Path)), request_body = MergeRequest,
    responses(
        (status = 200, body = MergeView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_merged` or `merge_same_facility`"),
        (status = 422, body = ErrorBody, description = "`not_same_person`"),
    ),
    security(("bearer" = [])))]
async fn merge_patient(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MergeRequest>,
) -> ApiResult<Json<MergeView>> {
    let note = check_optional("note", &body.note, 500)?;
    let given_national_id = check_national_id(body.national_id.as_deref())?;
    let given_phone = check_optional("phone", body.phone.as_deref().unwrap_or_default(), 40)?;
    let tx = state.db.begin_write().await?;
    let (mut tx, access, row) = authorize(tx, &state.journal, &caller, id, "patient.merge").await?;
    policy::patients::check_merge(&caller, access)?;
    let other_id = body.other_patient_id;
    if other_id == id {
        return Err(ApiError::invalid(
            ErrorCode::NotSamePerson,
            "other_patient_id",
            "a patient cannot be merged with itself",
        ));
    }
    let other = identity::index_row(&mut tx, other_id)
        .await?
        .ok_or(ApiError::NotFound { what: "patient" })?;
    // `authorize` has refused this patient if it was merged away.
    if other.merged_into.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyMerged,
            "one of these patients has already been merged into another",
        ));
    }
    let now = now_ms();
    let sees_other = policy::patient_access(&mut tx, &caller, other_id, now)
        .await?
        .is_some();
    let mut probe = probe_of(&row);
    let agrees = if sees_other {
        identity::compatible(&other, &probe)
    } else {
        // The record on screen may lack the number the other holds; the
        // number the patient gives must not contradict its own.
        let contradicts = row.national_id.is_some()
            && given_national_id.is_some()
            && row.national_id != given_national_id;
        if given_national_id.is_some() {
            probe.national_id = given_national_id;
        }
        if !given_phone.is_empty() {
            probe.phone = given_phone;
        }
        !contradicts && identity::proves(&other, &probe)
    };
    if !agrees {
        audit::append(
            &mut tx,
            &caller.actor(),
            AuditEntry::new(Action::Update, "patient.merge")
                .outcome(Outcome::Failure)
                .entity("patient", id)
                .patient(id)
                .facility(caller.facility_id)
                .detail(serde_json::json!({ "other_patient_id": other_id, "reason": "not_same_person" })),
        )
        .await?;
        tx.commit().await?;
        return Err(ApiError::invalid(
            ErrorCode::NotSamePerson,
            "other_patient_id",
            "the two records do not agree closely enough to be one person; \
             check the name, birth date, identity number and phone",
        ));
    }
    let shared = merge::shared_facilities(&mut tx, id, other_id).await?;
    if !shared.is_empty() {
        return Err(ApiError::Conflict {
            code: ErrorCode::MergeSameFacility,
            message: format!(
                "{} holds a record of each; a facility keeps one record per person, \
                 so merge them in its own system first",
                shared.join(", ")
            ),
            details: serde_json::json!({ "facilities": shared }),
        });
    }
    let (kept, merged) = merge::choose_kept(
        (id, row.national_id.as_deref()),
        (other_id, other.national_id.as_deref()),
    );
    let (merge_id, moved) = merge::merge(
        &mut tx,
        kept,
        merged,
        (caller.user_id, caller.facility_id),
        body.evidence,
        &note,
        now,
    )
    .await?;
    let detail = serde_json::json!({
        "merge_id": merge_id, "kept_patient_id": kept, "merged_patient_id": merged,
        "evidence": body.evidence.as_str(), "moved": moved, "other_in_scope": sees_other,
    });
    let events = [kept, merged].map(|patient| {
        AuditEntry::new(Action::Update, "patient.merge")
            .entity("patient", patient)
            .patient(patient)
            .facility(caller.facility_id)
            .detail(detail.clone())
    });
    audit::append_all(&mut tx, &caller.actor(), events.to_vec()).await?;
    let view = merge::get(&mut tx, merge_id)
        .await?
        .ok_or(ApiError::NotFound { what: "merge" })?;
    tx.commit().await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MergeQuery {
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
}

/// The merges an administrator reviews, newest first: those made at their
/// facility or touching a patient it holds a record of. No patient details.
#[utoipa::path(get, path = "/patient-merges", tag = "patients", params(MergeQuery),
    responses((status = 200, body = Vec<MergeView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_merges(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<MergeQuery>,
) -> ApiResult<Json<Vec<MergeView>>> {
    policy::require_admin(&caller)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: "limit must be between 1 and 500".to_owned(),
        });
    }
    let mut tx = state.db.begin_read().await?;
    let merges = merge::list_for_admin(&mut tx, caller.facility_id, limit).await?;
    tx.commit().await?;
    if !merges.is_empty() {
        let ids: Vec<i64> = merges.iter().map(|m| m.id).collect();
        let patients: Vec<i64> = merges
            .iter()
            .flat_map(|m| [m.kept_patient_id, m.merged_patient_id])
            .collect();
        state
            .journal
            .record_one(
                &caller.actor(),
                AuditEntry::list_read(
                    "patient.merges",
                    caller.facility_id,
                    "merges",
                    &ids,
                    &patients,
                ),
            )
            .await?;
    }
    Ok(Json(merges))
}

/// Why a merge is undone.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoMerge {
    /// 5 to 500 characters.
    pub reason: String,
}

/// What an undo did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UndoneMerge {
    pub merge: MergeView,
    /// Rows moved back to the merged patient.
    pub moved_back: u64,
}

/// Undoes a wrong merge: every row it moved goes back to the merged
/// patient, which is active again. Administrators of the facility that
/// merged, or of one holding a record of either patient.
#[utoipa::path(post, path = "/patient-merges/{id}/undo", tag = "patients",
    params(("id" = i64, Path)), request_body = UndoMerge,
    responses(
        (status = 200, body = UndoneMerge),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`merge_already_undone` or `already_merged`"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn undo_merge(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UndoMerge>,
) -> ApiResult<Json<UndoneMerge>> {
    policy::require_admin(&caller)?;
    let reason = body.reason.trim();
    if !(5..=500).contains(&reason.chars().count()) {
        return Err(ApiError::invalid(
            ErrorCode::ReasonRequired,
            "reason",
            "say why the merge is wrong, in 5 to 500 characters",
        ));
    }
    let mut tx = state.db.begin_write().await?;
    if !policy::patients::may_review_merge(&mut tx, &caller, id).await? {
        return Err(ApiError::NotFound { what: "merge" });
    }
    let found = merge::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "merge" })?;
    let now = now_ms();
    let moved_back = merge::undo(&mut tx, &found, caller.user_id, reason, now).await?;
    let detail = serde_json::json!({
        "merge_id": id, "kept_patient_id": found.kept_patient_id,
        "merged_patient_id": found.merged_patient_id, "moved_back": moved_back, "reason": reason,
    });
    let events = [found.kept_patient_id, found.merged_patient_id].map(|patient| {
        AuditEntry::new(Action::Update, "patient.merge_undo")
            .entity("patient", patient)
            .patient(patient)
            .facility(caller.facility_id)
            .detail(detail.clone())
    });
    audit::append_all(&mut tx, &caller.actor(), events.to_vec()).await?;
    let merge = merge::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "merge" })?;
    tx.commit().await?;
    Ok(Json(UndoneMerge { merge, moved_back }))
}
