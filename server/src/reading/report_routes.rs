//! `/reading-requests/{id}/reports` and `/reading-reports/{id}`: draft, edit,
//! sign and amend the report of a reading request.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::report::{
    check_reason, check_text, check_version, content_digest, NewReport, ReportKind, ReportPatch,
    ReportView,
};
use super::report_store::{self as reports, latest_signed, Content, ReportRow};
use super::requests::{audit_entry, load_visible, same_patient, ShownPatient, Side};
use super::store::{self as requests, RequestRow};
use super::{template, TaskStatus};
use crate::audit::{self, Action};
use crate::auth::Caller;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::imaging::Imaging;
use crate::notify::Outbox;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
    Imaging: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_reports, draft_report))
        .routes(routes!(edit_report))
        .routes(routes!(sign_report))
}

fn views(versions: &[ReportRow], signed_only: bool) -> Vec<ReportView> {
    let latest = latest_signed(versions);
    versions
        .iter()
        .filter(|v| !signed_only || v.signed_at.is_some())
        .map(|v| v.view(latest))
        .collect()
}

/// The versions of a request's report, oldest first. The requester sees
/// signed versions only; the reading facility sees drafts too.
#[utoipa::path(get, path = "/reading-requests/{id}/reports", tag = "reading", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ReportView>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_reports(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<ReportView>>> {
    let mut tx = state.db.begin_read().await?;
    let (request, side) = load_visible(&mut tx, &caller, id).await?;
    let versions = reports::of_request(&mut tx, id).await?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            audit_entry(Action::Read, "reading.report_read", &request, &caller),
        )
        .await?;
    Ok(Json(views(&versions, side == Side::Requester)))
}

fn must_hold(caller: &Caller, request: &RequestRow, side: Side) -> ApiResult<()> {
    if side == Side::Reader && request.reader_id == Some(caller.user_id) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only the reader who claimed the request writes its report; claim it first",
        ))
    }
}

/// Starts a draft: the first report once the request is claimed, the final
/// after a preliminary, or an amendment (with its reason) after a final.
#[utoipa::path(post, path = "/reading-requests/{id}/reports", tag = "reading", params(("id" = i64, Path)),
    request_body = NewReport,
    responses((status = 201, body = ReportView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A draft exists, the request is not open for a report, or `patient_id` is not its patient (`patient_mismatch`)"),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn draft_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewReport>,
) -> ApiResult<(StatusCode, Json<ReportView>)> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (request, side) = load_visible(&mut tx, &caller, id).await?;
    must_hold(&caller, &request, side)?;
    same_patient(request.patient_id, body.patient_id)?;
    let template = match body.template.as_deref() {
        Some(name) => template::by_name(name).ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::UnknownTemplate,
                "template",
                format!("no template is called {name:?}; see GET /api/v1/report-templates"),
            )
        })?,
        None => {
            template::for_modality_in(&request.modality, body.language.as_deref().unwrap_or("en"))
        }
    };
    let findings = check_text(
        "findings",
        body.findings.as_deref().unwrap_or(template.findings),
    )?;
    let impression = check_text(
        "impression",
        body.impression.as_deref().unwrap_or(template.impression),
    )?;
    let reason = check_reason(body.amendment_reason.as_deref())?;
    let kind = body.kind.unwrap_or(ReportKind::Final);
    let versions = reports::of_request(&mut tx, id).await?;
    if let Some(draft) = versions.iter().find(|v| v.signed_at.is_none()) {
        return Err(ApiError::Conflict {
            code: ErrorCode::DraftExists,
            message: "this request already has an unsigned draft; edit it".to_owned(),
            details: serde_json::json!({ "report_id": draft.id }),
        });
    }
    let after_final = versions
        .iter()
        .any(|v| v.signed_at.is_some() && v.kind == ReportKind::Final);
    let open = matches!(
        request.status,
        TaskStatus::Accepted | TaskStatus::InProgress
    ) || (after_final && request.status == TaskStatus::Completed);
    if !open {
        return Err(ApiError::Conflict {
            code: ErrorCode::NotOpenForReport,
            message: format!(
                "a report is written on a claimed request; this one is {}",
                request.status.as_str()
            ),
            details: serde_json::json!({ "status": request.status }),
        });
    }
    check_version(after_final, kind, &findings, &impression, reason.as_deref())?;
    let version = versions.len() as i64 + 1;
    let report_id = reports::insert(
        &mut tx,
        id,
        version,
        caller.user_id,
        &Content {
            template: template.name,
            kind,
            findings: &findings,
            impression: &impression,
            critical: body.critical,
            amendment_reason: reason.as_deref(),
        },
        now,
    )
    .await?;
    if request.status == TaskStatus::Accepted {
        requests::transition(
            &mut tx,
            id,
            &[TaskStatus::Accepted],
            TaskStatus::InProgress,
            None,
            now,
        )
        .await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        audit_entry(Action::Create, "reading.report_drafted", &request, &caller)
            .detail(serde_json::json!({ "report_id": report_id, "version": version })),
    )
    .await?;
    let row = reports::get(&mut tx, report_id)
        .await?
        .ok_or(ApiError::NotFound { what: "report" })?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(row.view(latest_signed(&versions))),
    ))
}

/// The caller's own unsigned draft, with its request and earlier versions.
async fn load_draft(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
) -> ApiResult<(ReportRow, RequestRow, Vec<ReportRow>)> {
    let report = reports::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "report" })?;
    let (request, side) = load_visible(tx, caller, report.reading_request_id)
        .await
        .map_err(|_| ApiError::NotFound { what: "report" })?;
    if side == Side::Requester && report.signed_at.is_none() {
        return Err(ApiError::NotFound { what: "report" });
    }
    if report.signed_at.is_some() {
        return Err(ApiError::Conflict {
            code: ErrorCode::ReportSigned,
            message: "a signed report cannot be changed; write an amendment".to_owned(),
            details: serde_json::json!({ "report_id": id, "version": report.version }),
        });
    }
    must_hold(caller, &request, side)?;
    if report.author_id != caller.user_id {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only the author of a draft edits or signs it",
        ));
    }
    let versions = reports::of_request(tx, request.id).await?;
    Ok((report, request, versions))
}

/// Edits an unsigned draft. A signed version is 409 `report_signed`.
#[utoipa::path(patch, path = "/reading-reports/{id}", tag = "reading", params(("id" = i64, Path)),
    request_body = ReportPatch,
    responses((status = 200, body = ReportView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already signed, or `patient_id` is not the request's patient (`patient_mismatch`)"),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn edit_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<ReportPatch>,
) -> ApiResult<Json<ReportView>> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (current, request, versions) = load_draft(&mut tx, &caller, id).await?;
    same_patient(request.patient_id, patch.patient_id)?;
    let findings = match &patch.findings {
        Some(text) => check_text("findings", text)?,
        None => current.findings.clone(),
    };
    let impression = match &patch.impression {
        Some(text) => check_text("impression", text)?,
        None => current.impression.clone(),
    };
    let reason = match &patch.amendment_reason {
        Some(text) => check_reason(Some(text))?,
        None => current.amendment_reason.clone(),
    };
    let kind = patch.kind.unwrap_or(current.kind);
    let after_final = versions
        .iter()
        .any(|v| v.signed_at.is_some() && v.kind == ReportKind::Final);
    check_version(after_final, kind, &findings, &impression, reason.as_deref())?;
    let updated = reports::update_draft(
        &mut tx,
        id,
        &Content {
            template: &current.template,
            kind,
            findings: &findings,
            impression: &impression,
            critical: patch.critical.unwrap_or(current.critical),
            amendment_reason: reason.as_deref(),
        },
        now,
    )
    .await?;
    if !updated {
        return Err(ApiError::conflict(
            ErrorCode::ReportSigned,
            "the report was signed meanwhile",
        ));
    }
    let changed = audit::changed_fields([
        ("kind", patch.kind.is_some()),
        ("findings", patch.findings.is_some()),
        ("impression", patch.impression.is_some()),
        ("critical", patch.critical.is_some()),
        ("amendment_reason", patch.amendment_reason.is_some()),
    ]);
    audit::append(
        &mut tx,
        &caller.actor(),
        audit_entry(Action::Update, "reading.report_edited", &request, &caller)
            .detail(serde_json::json!({ "report_id": id, "changed": changed })),
    )
    .await?;
    let row = reports::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "report" })?;
    tx.commit().await?;
    Ok(Json(row.view(latest_signed(&versions))))
}

/// Signs the draft. A final version completes the request; a version after
/// a final is an amendment. The requester is told either way, a critical
/// finding raises a critical result, and the version is filed into the study
/// as a DICOM SR. The body is optional; a client that sends none names no
/// patient.
#[utoipa::path(post, path = "/reading-reports/{id}/sign", tag = "reading", params(("id" = i64, Path)),
    request_body(content = Option<ShownPatient>, description = "Optional: the patient the screen showed"),
    responses((status = 200, body = ReportView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already signed, the request changed meanwhile, or `patient_id` is not its patient (`patient_mismatch`)")),
    security(("bearer" = [])))]
async fn sign_report(
    State(state): State<AppState>,
    State(imaging): State<Imaging>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    body: Option<ApiJson<Option<ShownPatient>>>,
) -> ApiResult<Json<ReportView>> {
    let body = ShownPatient::or_none(body);
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (report, request, versions) = load_draft(&mut tx, &caller, id).await?;
    same_patient(request.patient_id, body.patient_id)?;
    let amends = versions
        .iter()
        .any(|v| v.signed_at.is_some() && v.kind == ReportKind::Final);
    let open = request.status == TaskStatus::InProgress
        || (amends && request.status == TaskStatus::Completed);
    if !open {
        return Err(ApiError::Conflict {
            code: ErrorCode::NotOpenForReport,
            message: format!(
                "this request is {}; its draft can no longer be signed",
                request.status.as_str()
            ),
            details: serde_json::json!({ "status": request.status }),
        });
    }
    if report.kind == ReportKind::Final && !amends {
        let done = requests::transition(
            &mut tx,
            request.id,
            &[TaskStatus::InProgress],
            TaskStatus::Completed,
            None,
            now,
        )
        .await?;
        if !done {
            return Err(ApiError::conflict(
                ErrorCode::ConcurrentChange,
                "the request changed meanwhile; reload it",
            ));
        }
    }
    let digest = content_digest(&report, now);
    if !reports::sign(&mut tx, id, &digest, now).await? {
        return Err(ApiError::conflict(
            ErrorCode::ReportSigned,
            "the report was signed meanwhile",
        ));
    }
    reports::insert_sr(
        &mut tx,
        id,
        &ferry_dicom_store::uid::generate(),
        &ferry_dicom_store::uid::generate(),
    )
    .await?;
    let kind = if amends {
        "reading.report_amended"
    } else {
        "reading.report_signed"
    };
    let mut outbox = Outbox::new();
    outbox
        .push(
            &mut tx,
            request.requested_by,
            kind,
            serde_json::json!({
                "reading_request_id": request.id, "report_id": id, "version": report.version,
                "kind": report.kind, "critical": report.critical,
            }),
        )
        .await?;
    if report.critical {
        super::critical::raise(&mut tx, &mut outbox, &caller, &request, id, now).await?;
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        audit_entry(Action::Update, kind, &request, &caller).detail(serde_json::json!({
            "report_id": id, "version": report.version, "kind": report.kind,
            "critical": report.critical, "content_sha256": digest,
        })),
    )
    .await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    // The signature stands once committed; filing the SR follows, and the
    // sweeper files it later if the store cannot take it now.
    super::sr::file_logged(&state, &imaging, id).await;
    let mut conn = state.db.pool().acquire().await?;
    let versions = reports::of_request(&mut conn, request.id).await?;
    let row = reports::get(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound { what: "report" })?;
    Ok(Json(row.view(latest_signed(&versions))))
}
