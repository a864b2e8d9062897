//! `POST /patients/lookup-records`: the patients that the Patient IDs of
//! files about to be uploaded name ([`super::lookup`]).

use axum::extract::{FromRef, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::lookup::{self, RecordLookup, RecordMatch};
use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::policy;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(lookup_records))
}

/// The patients in the caller's scope holding a record numbered as one of
/// these DICOM Patient IDs, with each record's facility and whether it is
/// the caller's own (`filed_here`: a study uploaded from there with that
/// Patient ID is filed under that patient). A Patient ID of no patient in
/// scope has no row, whether or not someone else holds it. Audited as a
/// read of every patient answered.
#[utoipa::path(post, path = "/patients/lookup-records", tag = "patients",
    request_body = RecordLookup,
    responses(
        (status = 200, body = Vec<RecordMatch>),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn lookup_records(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RecordLookup>,
) -> ApiResult<Json<Vec<RecordMatch>>> {
    policy::patients::check_record_lookup(&caller)?;
    let numbers = lookup::numbers(&body)?;
    let mut tx = state.db.begin_read().await?;
    let found = lookup::matches(
        &mut tx,
        policy::scope_facility(&caller),
        caller.user_id,
        caller.facility_id,
        now_ms(),
        &numbers,
    )
    .await?;
    tx.commit().await?;
    if !found.is_empty() {
        let mut ids: Vec<i64> = found.iter().map(|m| m.patient_id).collect();
        ids.sort_unstable();
        ids.dedup();
        state
            .journal
            .record_one(
                &caller.actor(),
                AuditEntry::list_read("patient.lookup", caller.facility_id, "patients", &ids, &ids),
            )
            .await?;
    }
    Ok(Json(found))
}
