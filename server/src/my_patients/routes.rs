//! `GET /patients/recent`: the caller's "today / my patients" list.

use axum::extract::{FromRef, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{gather, RecentPatient};
use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::patient::store;
use crate::policy;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(recent_patients))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecentQuery {
    /// 1 to 100, default 30.
    pub limit: Option<i64>,
}

/// The patients the caller touched today (at their facility's midnight)
/// or has open work for (consultations and reading requests they asked
/// for), newest first; only those still in the caller's scope. Audited as
/// a read of every patient listed.
#[utoipa::path(get, path = "/patients/recent", tag = "patients", params(RecentQuery),
    responses(
        (status = 200, body = Vec<RecentPatient>),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn recent_patients(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RecentQuery>,
) -> ApiResult<Json<Vec<RecentPatient>>> {
    policy::patients::require_carer(&caller)?;
    let limit = query.limit.unwrap_or(30);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: "limit must be between 1 and 100".to_owned(),
        });
    }
    let now = now_ms();
    // Gathered through the pool before the transaction that checks the
    // scope, so this request holds one connection at a time.
    let gathered = gather(state.db.pool(), &caller, limit).await?;
    let mut tx = state.db.begin_read().await?;
    let mut kept = Vec::new();
    for (patient, at, reasons) in gathered {
        if kept.len() as i64 >= limit {
            break;
        }
        // Scope may have ended since (a consultation declined, a grant
        // run out): such a patient is not listed.
        if policy::patient_access(&mut tx, &caller, patient, now)
            .await?
            .is_some()
        {
            kept.push((patient, at, reasons));
        }
    }
    let ids: Vec<i64> = kept.iter().map(|(id, _, _)| *id).collect();
    let rows = store::get_many(&mut tx, &ids).await?;
    let mut views: std::collections::HashMap<i64, crate::patient::PatientView> = store::views(
        &mut tx,
        rows.into_iter()
            .filter(|r| r.merged_into.is_none())
            .collect(),
    )
    .await?
    .into_iter()
    .map(|view| (view.id, view))
    .collect();
    let listed: Vec<RecentPatient> = kept
        .into_iter()
        .filter_map(|(id, at, reasons)| {
            views.remove(&id).map(|patient| RecentPatient {
                patient,
                last_at: rfc3339(at),
                reasons: reasons.into_iter().map(str::to_owned).collect(),
            })
        })
        .collect();
    tx.commit().await?;
    if !listed.is_empty() {
        let shown: Vec<i64> = listed.iter().map(|r| r.patient.id).collect();
        state
            .journal
            .record_one(
                &caller.actor(),
                AuditEntry::list_read(
                    "patient.recent",
                    caller.facility_id,
                    "patients",
                    &shown,
                    &shown,
                ),
            )
            .await?;
    }
    Ok(Json(listed))
}
