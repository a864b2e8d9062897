//! `GET /patients/{id}/studies`: a patient's studies from every member
//! facility the caller may read, each with the facility that holds it, its
//! tier and the basis of access; the patient page's list.
//!
//! By patient, not by DICOM Patient ID: a record number is a facility's
//! own, and two facilities may give the same one to different people, so
//! a search by Patient ID across facilities could put another person's
//! study on this patient's page. A study not linked yet (sent before the
//! patient was registered) counts when its Patient ID is the patient's
//! record number at the facility that sent it, the rule that links it.

use axum::extract::{FromRef, State};
use axum::Json;
use ferry_dicom_store::{ScopeBinds, ScopeValue};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::read_entries;
use crate::audit::{Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::patient::access::authorize;
use crate::policy::{self, ConsentRule};
use crate::state::AppState;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(patient_studies))
}

/// One study on a patient's page.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct PatientStudy {
    pub study_instance_uid: String,
    /// `YYYYMMDD`, as DICOM gives it.
    pub study_date: Option<String>,
    /// Modalities in Study, `\`-separated as DICOM gives them.
    pub modalities: String,
    pub description: Option<String>,
    pub instances: i64,
    /// The facility that sent the study.
    pub facility_id: i64,
    pub facility_name: String,
    /// Its tier: `tertiary`, `secondary`, `primary` or `village`.
    pub facility_tier: String,
    /// Why the caller may read it: `facility`, `consultation`, `reading`,
    /// `shared` or `break_glass`.
    pub access: String,
}

/// The most studies one page lists, newest first.
const PAGE: i64 = 200;

/// A patient's studies across the consortium, as far as the caller may
/// read them. Each listed study is audited with its basis.
#[utoipa::path(get, path = "/patients/{id}/studies", tag = "patients",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PatientStudy>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn patient_studies(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(patient_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<PatientStudy>>> {
    let tx = state.db.begin_read().await?;
    let (mut tx, access, _) =
        authorize(tx, &state.journal, &caller, patient_id, "patient.studies").await?;
    let reach = policy::caller_reach(&caller, ConsentRule::of(&state.settings));
    let mut binds = ScopeBinds::default();
    let patient = binds.push(ScopeValue::Int(patient_id));
    let in_scope = binds
        .condition(&reach.scope())
        .unwrap_or_else(|| "1 = 1".to_owned());
    let basis = binds
        .condition(&reach.basis())
        .unwrap_or_else(|| "NULL".to_owned());
    let sql = format!(
        "SELECT s.study_uid AS study_instance_uid, s.study_date, s.modalities, \
         s.study_description AS description, s.num_instances AS instances, \
         s.facility_id, f.name AS facility_name, f.tier AS facility_tier, {basis} AS access \
         FROM dicom_study s JOIN facility f ON f.id = s.facility_id \
         WHERE (s.patient_id = {patient} OR (s.patient_id IS NULL AND EXISTS (\
           SELECT 1 FROM patient_record r WHERE r.patient_id = {patient} \
           AND r.facility_id = s.facility_id AND r.record_number = s.dicom_patient_id))) \
         AND {in_scope} \
         ORDER BY COALESCE(s.study_date, '') DESC, s.id DESC LIMIT {PAGE}"
    );
    let studies: Vec<PatientStudy> = sqlx::query_as_with(&sql, binds.into_arguments()?)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let reads: Vec<_> = studies
        .iter()
        .map(|s| {
            (
                s.study_instance_uid.clone(),
                s.facility_id,
                Some(patient_id),
                Some(s.access.clone()),
            )
        })
        .collect();
    let mut entries = vec![AuditEntry::new(Action::Read, "patient.studies")
        .entity("patient", patient_id)
        .patient(patient_id)
        .facility(caller.facility_id)
        .detail(access.describe())];
    entries.extend(read_entries("dicom.search", &reads, None));
    state.journal.record(&caller.actor(), entries).await?;
    Ok(Json(studies))
}
