//! A reading request as every reading handler loads, lists and audits it:
//! shared by the request routes, the worklist and the reports.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::store::{self, Filter, RequestRow};
use super::{body_part_text, code_text, Priority, TaskStatus};
use crate::audit::journal::Journal;
use crate::audit::{Action, AuditEntry};
use crate::auth::Caller;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::ApiJson;
use crate::policy;
pub use crate::policy::reading::Side;

/// The request if the caller may see it; otherwise 404, so its existence is
/// not confirmed.
pub async fn load_visible(tx: &mut Tx, caller: &Caller, id: i64) -> ApiResult<(RequestRow, Side)> {
    store::get(tx, id)
        .await?
        .and_then(|row| policy::reading::side(caller, row.parties()).map(|side| (row, side)))
        .ok_or(ApiError::NotFound {
            what: "reading request",
        })
}

/// A request just written in this transaction, read back for the answer.
pub async fn reload(tx: &mut Tx, id: i64) -> ApiResult<RequestRow> {
    store::get(tx, id).await?.ok_or(ApiError::NotFound {
        what: "reading request",
    })
}

/// The optional body of a step on one request (sign, claim, release,
/// acknowledge) that used to take none; a client may still send none.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShownPatient {
    /// The patient the screen showed. When given, it must be the request's
    /// patient, else 409 `patient_mismatch` and nothing is done.
    pub patient_id: Option<i64>,
}

impl ShownPatient {
    /// The body if one was sent, else the empty one. A JSON `null` counts
    /// as none, as the OpenAPI document (`Option<ShownPatient>`) allows it.
    pub fn or_none(body: Option<ApiJson<Option<ShownPatient>>>) -> ShownPatient {
        body.and_then(|ApiJson(body)| body).unwrap_or_default()
    }
}

/// Refuses a step on a request whose screen showed another patient.
pub fn same_patient(request_patient: Option<i64>, shown: Option<i64>) -> ApiResult<()> {
    crate::shown_patient::check(request_patient, shown, "reading request")
}

pub fn audit_entry(
    action: Action,
    subtype: &str,
    request: &RequestRow,
    caller: &Caller,
) -> AuditEntry {
    let mut entry = AuditEntry::new(action, subtype)
        .entity("reading_request", request.id)
        .facility(caller.facility_id);
    if let Some(patient) = request.patient_id {
        entry = entry.patient(patient);
    }
    entry
}

/// Audits a list of reading requests sent to the caller (nothing when it
/// is empty), once the list is read.
pub async fn audit_list(
    journal: &Journal,
    caller: &Caller,
    subtype: &str,
    rows: &[RequestRow],
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let patients: Vec<i64> = rows.iter().filter_map(|r| r.patient_id).collect();
    journal
        .record_one(
            &caller.actor(),
            AuditEntry::list_read(
                subtype,
                caller.facility_id,
                "reading_requests",
                &ids,
                &patients,
            ),
        )
        .await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// One status, as FHIR Task spells it (`in-progress`).
    pub status: Option<TaskStatus>,
    pub modality: Option<String>,
    pub body_part: Option<String>,
    pub priority: Option<Priority>,
    /// The facility that asked.
    pub sending_facility_id: Option<i64>,
    pub study_instance_uid: Option<String>,
    /// Only requests the caller has claimed.
    pub mine: Option<bool>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub fn filter_of(query: &ListQuery, caller: &Caller) -> ApiResult<Filter> {
    Ok(Filter {
        statuses: query.status.into_iter().collect(),
        modality: query
            .modality
            .as_deref()
            .map(|m| code_text("modality", m, 16))
            .transpose()?,
        body_part: query.body_part.as_deref().map(body_part_text).transpose()?,
        priority: query.priority,
        reader_id: query.mine.unwrap_or(false).then_some(caller.user_id),
        requesting_facility_id: query.sending_facility_id,
        study_instance_uid: query.study_instance_uid.clone(),
        reading_facility_id: None,
    })
}

pub fn page(query: &ListQuery) -> ApiResult<(i64, i64)> {
    let limit = query.limit.unwrap_or(100);
    let offset = query.offset.unwrap_or(0);
    if !(1..=500).contains(&limit) || offset < 0 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "limit",
            "limit is 1 to 500 and offset not negative",
        ));
    }
    Ok((limit, offset))
}
