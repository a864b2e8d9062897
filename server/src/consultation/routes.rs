//! `/consultations`: request, list, open, and move along the state machine.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, ConsultationRow};
use super::visible::{load_visible, sees_clinical, view, viewer, views};
use super::{ConsultationView, NewConsultation, Status, StatusChange, Urgency};
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::booking::{store as booking_store, BookingStatus};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::imaging::Imaging;
use crate::notify::Outbox;
use crate::policy::{self, FacilityScope};
use crate::roster::store as roster_store;
use crate::state::AppState;
use crate::time::now_ms;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
    Imaging: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(request_consultation, list_consultations))
        .routes(routes!(get_consultation))
        .routes(routes!(change_status))
}

fn check_text(field: &str, value: &str, min: usize, max: usize) -> ApiResult<String> {
    let value = value.trim();
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!("{field} must have {min} to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// More studies than this on one consultation is a mistake, not a case.
const MAX_STUDIES: usize = 50;

/// Asks for a consultation about a patient in the caller's scope, with
/// studies the caller may read of that patient only. Routine
/// requests are then booked into a slot; urgent and emergency ones go to the
/// on-call queue of the specialty, whose on-call experts are notified.
#[utoipa::path(post, path = "/consultations", tag = "consultations", request_body = NewConsultation,
    responses(
        (status = 201, body = ConsultationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn request_consultation(
    State(state): State<AppState>,
    State(imaging): State<Imaging>,
    caller: Caller,
    ApiJson(body): ApiJson<NewConsultation>,
) -> ApiResult<(StatusCode, Json<ConsultationView>)> {
    policy::consultation::require_requester(&caller)?;
    let reason = check_text("reason", &body.reason, 1, 2000)?;
    let summary = check_text("clinical_summary", &body.clinical_summary, 0, 20_000)?;
    let mut studies = Vec::with_capacity(body.studies.len());
    for uid in &body.studies {
        let uid = ferry_dicom_store::uid::validate(uid.trim()).map_err(|e| {
            ApiError::invalid(
                ErrorCode::InvalidStudyUid,
                "studies",
                format!("{uid:?}: {e}"),
            )
        })?;
        if !studies.iter().any(|s| s == uid) {
            studies.push(uid.to_owned());
        }
    }
    if studies.len() > MAX_STUDIES {
        return Err(ApiError::invalid(
            ErrorCode::TooManyStudies,
            "studies",
            format!("attach at most {MAX_STUDIES} studies"),
        ));
    }
    // Read through the store's pool before the write transaction opens.
    let mut found = Vec::with_capacity(studies.len());
    for uid in &studies {
        let study = imaging.named_study(uid).await?;
        found.push((uid.clone(), study));
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if crate::patient::store::get(&mut tx, body.patient_id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound { what: "patient" });
    }
    if policy::patient_access(&mut tx, &caller, body.patient_id, now)
        .await?
        .is_none()
    {
        return Err(policy::out_of_scope());
    }
    policy::check_named_studies(
        &mut tx,
        &caller,
        &found,
        Some(body.patient_id),
        "studies",
        policy::ConsentRule::of(&state.settings),
    )
    .await?;
    let specialty = match (body.expert_id, body.specialty.as_deref().map(str::trim)) {
        (Some(_), _) if body.urgency != Urgency::Routine => {
            return Err(ApiError::invalid(
                ErrorCode::OnCallBySpecialty,
                "expert_id",
                "urgent and emergency requests go to a specialty's on-call queue; give specialty, not expert_id",
            ))
        }
        (Some(expert_id), wanted) => {
            let expert = crate::roster::expert_or_422(&mut tx, expert_id).await?;
            match wanted {
                Some(s) if !s.is_empty() => expert
                    .specialties
                    .iter()
                    .find(|e| e.eq_ignore_ascii_case(s))
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::invalid(
                            ErrorCode::SpecialtyMismatch,
                            "specialty",
                            "the expert does not practise this specialty",
                        )
                    })?,
                _ => expert.specialties.first().cloned().unwrap_or_default(),
            }
        }
        (None, Some(s)) if !s.is_empty() => {
            let experts = roster_store::experts(&mut tx, None, Some(s), None).await?;
            let Some(canonical) = experts
                .iter()
                .flat_map(|e| e.specialties.iter())
                .find(|e| e.eq_ignore_ascii_case(s))
                .cloned()
            else {
                return Err(ApiError::invalid(
                    ErrorCode::UnknownSpecialty,
                    "specialty",
                    "no expert of the consortium practises this specialty",
                ));
            };
            canonical
        }
        _ => {
            return Err(ApiError::invalid(
                ErrorCode::TargetRequired,
                "specialty",
                "name an expert or a specialty",
            ))
        }
    };
    let id = store::insert(
        &mut tx,
        &store::NewRow {
            patient_id: body.patient_id,
            requested_by: caller.user_id,
            requesting_facility_id: caller.facility_id,
            expert_id: body.expert_id,
            specialty: &specialty,
            urgency: body.urgency,
            service: body.service,
            reason: &reason,
            clinical_summary: &summary,
            studies: &studies,
        },
        now,
    )
    .await?;
    let mut outbox = Outbox::new();
    let payload = serde_json::json!({
        "consultation_id": id, "urgency": body.urgency, "specialty": specialty,
    });
    if body.urgency == Urgency::Routine {
        if let Some(expert_id) = body.expert_id {
            outbox
                .push(&mut tx, expert_id, "consultation.requested", payload)
                .await?;
        }
    } else {
        for expert_id in super::oncall::on_call_now(&mut tx, &specialty, now).await? {
            outbox
                .push(&mut tx, expert_id, "consultation.on_call", payload.clone())
                .await?;
        }
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "consultation.create")
            .entity("consultation", id)
            .patient(body.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "urgency": body.urgency, "specialty": specialty })),
    )
    .await?;
    let row = store::get(&mut tx, id).await?.ok_or(ApiError::NotFound {
        what: "consultation",
    })?;
    let view = view(&mut tx, &caller, &row, state.settings.call_open_before_ms()).await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsultationQuery {
    pub status: Option<Status>,
    pub patient_id: Option<i64>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
}

/// The consultations the caller may see, newest first.
#[utoipa::path(get, path = "/consultations", tag = "consultations", params(ConsultationQuery),
    responses((status = 200, body = Vec<ConsultationView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_consultations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ConsultationQuery>,
) -> ApiResult<Json<Vec<ConsultationView>>> {
    policy::consultation::require_viewer(&caller)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            message: "limit must be between 1 and 500".to_owned(),
        });
    }
    let now = now_ms();
    let mut tx = state.db.begin_read().await?;
    state.db.plan_generically(&mut tx).await?;
    let rows = store::list(
        &mut tx,
        viewer(&caller, now),
        &store::ListFilter {
            status: query.status,
            patient_id: query.patient_id,
            limit,
        },
    )
    .await?;
    let views = views(
        &mut tx,
        &caller,
        &rows,
        state.settings.call_open_before_ms(),
    )
    .await?;
    tx.commit().await?;
    if sees_clinical(&caller) && !rows.is_empty() {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let patients: Vec<i64> = rows.iter().map(|r| r.patient_id).collect();
        state
            .journal
            .record_one(
                &caller.actor(),
                AuditEntry::list_read(
                    "consultation.list",
                    caller.facility_id,
                    "consultations",
                    &ids,
                    &patients,
                ),
            )
            .await?;
    }
    Ok(Json(views))
}

/// Opens one consultation.
#[utoipa::path(get, path = "/consultations/{id}", tag = "consultations", params(("id" = i64, Path)),
    responses((status = 200, body = ConsultationView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_consultation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ConsultationView>> {
    let now = now_ms();
    let mut tx = state.db.begin_read().await?;
    let row = load_visible(&mut tx, &caller, id, now).await?;
    let view = view(&mut tx, &caller, &row, state.settings.call_open_before_ms()).await?;
    tx.commit().await?;
    if sees_clinical(&caller) {
        state
            .journal
            .record_one(
                &caller.actor(),
                AuditEntry::new(Action::Read, "consultation.read")
                    .entity("consultation", id)
                    .patient(row.patient_id)
                    .facility(caller.facility_id),
            )
            .await?;
    }
    Ok(Json(view))
}

/// Who may make which move: the assigned expert starts, ends and declines;
/// the requesting facility's clinicians start and cancel. `scheduled` comes
/// from a booking or an on-call acceptance, `completed` from signing the
/// opinion, `requested` from cancelling the booking.
fn may_move(caller: &Caller, row: &ConsultationRow, to: Status) -> bool {
    let is_expert = row.expert_id == Some(caller.user_id);
    let is_requester = policy::consultation::is_requester(caller, row.requesting_facility_id);
    match to {
        Status::InProgress => is_expert || is_requester,
        Status::AwaitingOpinion => is_expert,
        Status::Declined => is_expert,
        Status::Cancelled => is_requester,
        Status::Requested | Status::Scheduled | Status::Completed => false,
    }
}

/// Moves a consultation along its state machine. A move the machine does not
/// allow is 409 `invalid_transition` naming the allowed ones.
#[utoipa::path(post, path = "/consultations/{id}/status", tag = "consultations", params(("id" = i64, Path)),
    request_body = StatusChange,
    responses(
        (status = 200, body = ConsultationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not allowed from the current state"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn change_status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<StatusChange>,
) -> ApiResult<Json<ConsultationView>> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let row = load_visible(&mut tx, &caller, id, now).await?;
    crate::shown_patient::check(Some(row.patient_id), body.patient_id, "consultation")?;
    row.status.check(body.status)?;
    match body.status {
        Status::Scheduled => return Err(ApiError::conflict(
            ErrorCode::UseBooking,
            "a consultation is scheduled by booking a slot or accepting it from the on-call queue",
        )),
        Status::Completed => {
            return Err(ApiError::conflict(
                ErrorCode::OpinionNotSigned,
                "a consultation is completed by signing its opinion",
            ))
        }
        Status::Requested => {
            return Err(ApiError::conflict(
                ErrorCode::UseBooking,
                "cancel the booking to send the consultation back to requested",
            ))
        }
        _ => {}
    }
    if !may_move(&caller, &row, body.status) {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "you may not make this change to this consultation",
        ));
    }
    if body.status == Status::InProgress {
        let rule = policy::consent::StartRule::of(&state.settings);
        policy::consent::check_start(&mut tx, rule, id).await?;
    }
    let reason = match body.status {
        Status::Declined | Status::Cancelled => Some(check_text(
            "reason",
            body.reason.as_deref().unwrap_or(""),
            3,
            2000,
        )?),
        _ => None,
    };
    if !store::transition(&mut tx, id, row.status, body.status, reason.as_deref(), now).await? {
        return Err(ApiError::conflict(
            ErrorCode::ConcurrentChange,
            "the consultation changed meanwhile; reload it",
        ));
    }
    let mut outbox = Outbox::new();
    if matches!(body.status, Status::Declined | Status::Cancelled) {
        let finished = if body.status == Status::Declined {
            BookingStatus::Declined
        } else {
            BookingStatus::Cancelled
        };
        for booking in booking_store::list(
            &mut tx,
            booking_store::Visibility {
                facility: FacilityScope::Facility(row.requesting_facility_id),
                expert_id: None,
                scheduler_facility: FacilityScope::NoFacility,
            },
            &booking_store::ListFilter {
                expert_id: None,
                consultation_id: Some(id),
                status: None,
                from: i64::MIN,
                to: i64::MAX,
                limit: 10,
            },
        )
        .await?
        .iter()
        .filter(|b| b.status.is_active())
        {
            booking_store::finish(&mut tx, booking, finished, reason.as_deref(), now).await?;
        }
        let payload = serde_json::json!({
            "consultation_id": id, "status": body.status, "reason": reason,
        });
        let kind = format!("consultation.{}", body.status.as_str());
        outbox
            .push(&mut tx, row.requested_by, &kind, payload.clone())
            .await?;
        if let Some(expert_id) = row.expert_id.filter(|e| *e != caller.user_id) {
            outbox.push(&mut tx, expert_id, &kind, payload).await?;
        }
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "consultation.status")
            .entity("consultation", id)
            .patient(row.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "from": row.status, "to": body.status })),
    )
    .await?;
    let row = store::get(&mut tx, id).await?.ok_or(ApiError::NotFound {
        what: "consultation",
    })?;
    let view = view(&mut tx, &caller, &row, state.settings.call_open_before_ms()).await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(view))
}
