//! Read-only FHIR R4 views of remote reading: the worklist as Task
//! (`/fhir/Task`) and the reports as DiagnosticReport
//! (`/fhir/DiagnosticReport`), each the newest signed version of a request's
//! report, so another system always reads the report that stands.

use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::report::ReportKind;
use super::report_store::{self as reports, ReportRow};
use super::requests::audit_list;
use super::store::{self, Filter, RequestRow};
use super::TaskStatus;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::fhir_views::bundle;
use crate::policy::{self, reading::Side};
use crate::state::AppState;
use crate::time::rfc3339;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(fhir_tasks))
        .routes(routes!(fhir_diagnostic_reports))
}

const FHIR_JSON: &str = "application/fhir+json";

fn study_identifier(uid: &str) -> Value {
    json!({ "system": "urn:dicom:uid", "value": format!("urn:oid:{uid}") })
}

pub fn task(request: &RequestRow) -> Value {
    let mut task = json!({
        "resourceType": "Task",
        "id": request.id.to_string(),
        "status": request.status.as_str(),
        "intent": "order",
        "priority": request.priority.as_str(),
        "code": { "text": format!("Reading of a {} study", request.modality) },
        "description": request.clinical_question,
        "focus": { "type": "ImagingStudy", "identifier": study_identifier(&request.study_instance_uid) },
        "authoredOn": rfc3339(request.created_at),
        "requester": {
            "reference": format!("Practitioner/{}", request.requested_by),
            "display": request.requested_by_name,
        },
        "location": { "reference": format!("Location/{}", request.reading_facility_id),
                      "display": request.reading_facility_name },
        "restriction": { "period": { "end": rfc3339(request.due_at) } },
        "input": [
            { "type": { "text": "modality" }, "valueString": request.modality },
            { "type": { "text": "body part" }, "valueString": request.body_part },
        ],
    });
    if let Some(patient) = request.patient_id {
        task["for"] = json!({ "reference": format!("Patient/{patient}") });
    }
    if let (Some(reader), Some(name)) = (request.reader_id, &request.reader_name) {
        task["owner"] = json!({ "reference": format!("Practitioner/{reader}"), "display": name });
    }
    if let Some(reason) = &request.status_reason {
        task["statusReason"] = json!({ "text": reason });
    }
    task
}

/// The report that stands for a request: its newest signed version.
pub fn diagnostic_report(request: &RequestRow, report: &ReportRow, amended: bool) -> Value {
    let status = match (report.kind, amended) {
        (ReportKind::Preliminary, _) => "preliminary",
        (ReportKind::Final, false) => "final",
        (ReportKind::Final, true) => "amended",
    };
    // HL7 v2 table 0074: RAD radiology, EC electrocardiac.
    let section = if request.modality == "ECG" {
        "EC"
    } else {
        "RAD"
    };
    let text = format!(
        "Findings:\n{}\n\nImpression:\n{}\n",
        report.findings, report.impression
    );
    let mut resource = json!({
        "resourceType": "DiagnosticReport",
        "id": report.id.to_string(),
        "meta": { "versionId": report.version.to_string() },
        "basedOn": [{ "reference": format!("Task/{}", request.id) }],
        "status": status,
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": section }] }],
        "code": { "coding": [{ "system": "http://loinc.org", "code": "18748-4",
                               "display": "Diagnostic imaging study" }],
                  "text": format!("{} reading", request.modality) },
        "issued": report.signed_at.map(rfc3339),
        "resultsInterpreter": [{ "reference": format!("Practitioner/{}", report.author_id),
                                 "display": report.author_name }],
        "conclusion": report.impression,
        "presentedForm": [{
            "contentType": "text/plain; charset=utf-8",
            "language": "und",
            "data": base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
            "title": format!("Report version {}", report.version),
        }],
        "identifier": [{ "system": "urn:ferry:reading-report",
                         "value": format!("{}-v{}", request.id, report.version) }],
    });
    if let Some(patient) = request.patient_id {
        resource["subject"] = json!({ "reference": format!("Patient/{patient}") });
    }
    if let Some(uid) = &report.sr_sop_instance_uid {
        if let Some(ids) = resource["identifier"].as_array_mut() {
            ids.push(study_identifier(uid));
        }
    }
    if report.critical {
        resource["conclusionCode"] = json!([{ "text": "critical result" }]);
    }
    resource
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// A Task status, e.g. `requested` or `in-progress`.
    pub status: Option<TaskStatus>,
    /// One request (`Task/{id}` or its id), for DiagnosticReport.
    #[serde(rename = "based-on")]
    #[param(rename = "based-on")]
    pub based_on: Option<String>,
    /// 1 to 500, default 100.
    #[serde(rename = "_count")]
    #[param(rename = "_count")]
    pub count: Option<i64>,
}

fn visible_filter(caller: &Caller) -> Filter {
    let mut filter = Filter::default();
    match policy::reading::list_side(caller) {
        Side::Reader => filter.reading_facility_id = Some(caller.facility_id),
        Side::Requester => filter.requesting_facility_id = Some(caller.facility_id),
    }
    filter
}

fn count(query: &TaskQuery) -> ApiResult<i64> {
    let count = query.count.unwrap_or(100);
    if !(1..=500).contains(&count) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "_count",
            "_count is 1 to 500",
        ));
    }
    Ok(count)
}

fn fhir(value: Value) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, FHIR_JSON)], value.to_string())
}

/// Reading requests as FHIR Task: the caller's worklist (radiologists) or
/// the requests their facility sent (clinicians).
#[utoipa::path(get, path = "/fhir/Task", tag = "fhir", params(TaskQuery),
    responses((status = 200, description = "A searchset Bundle of Task", content_type = "application/fhir+json"),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_tasks(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<TaskQuery>,
) -> ApiResult<impl IntoResponse> {
    policy::reading::require_party(&caller)?;
    let mut filter = visible_filter(&caller);
    filter.statuses = query.status.into_iter().collect();
    let limit = count(&query)?;
    let mut tx = state.db.begin_read().await?;
    let rows = store::list(&mut tx, &filter, limit, 0).await?;
    tx.commit().await?;
    audit_list(&state.journal, &caller, "fhir.task", &rows).await?;
    Ok(fhir(bundle(rows.iter().map(task).collect())))
}

/// The standing report of each request the caller may see, as FHIR
/// DiagnosticReport; `based-on` narrows to one request.
#[utoipa::path(get, path = "/fhir/DiagnosticReport", tag = "fhir", params(TaskQuery),
    responses((status = 200, description = "A searchset Bundle of DiagnosticReport", content_type = "application/fhir+json"),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_diagnostic_reports(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<TaskQuery>,
) -> ApiResult<impl IntoResponse> {
    policy::reading::require_party(&caller)?;
    let limit = count(&query)?;
    let mut conn = state.db.begin_read().await?;
    let requests = match &query.based_on {
        Some(text) => {
            let id = text
                .trim_start_matches("Task/")
                .parse::<i64>()
                .map_err(|_| {
                    ApiError::invalid(
                        ErrorCode::InvalidField,
                        "based-on",
                        "based-on is Task/{id} or a request id",
                    )
                })?;
            match store::get(&mut conn, id).await? {
                Some(row) if policy::reading::side(&caller, row.parties()).is_some() => vec![row],
                _ => Vec::new(),
            }
        }
        None => store::list(&mut conn, &visible_filter(&caller), limit, 0).await?,
    };
    let mut resources = Vec::new();
    for request in &requests {
        let versions = reports::of_request(&mut conn, request.id).await?;
        let signed: Vec<&ReportRow> = versions.iter().filter(|v| v.signed_at.is_some()).collect();
        let Some(standing) = signed.last() else {
            continue;
        };
        let amended = signed
            .iter()
            .filter(|v| v.kind == ReportKind::Final)
            .count()
            > 1;
        resources.push(diagnostic_report(request, standing, amended));
    }
    conn.commit().await?;
    audit_list(&state.journal, &caller, "fhir.diagnostic_report", &requests).await?;
    Ok(fhir(bundle(resources)))
}
