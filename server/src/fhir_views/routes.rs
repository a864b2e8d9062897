//! `/fhir/Schedule`, `/fhir/Slot`, `/fhir/Appointment`, `/fhir/ServiceRequest`.

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderName};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::booking::{availability, store as booking_store};
use crate::consultation::store as consultation_store;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::ApiQuery;
use crate::policy;
use crate::policy::consultation::{sees_clinical, viewer};
use crate::referral::store as referral_store;
use crate::roster::parse_instant;
use crate::roster::store as roster_store;
use crate::state::AppState;
use crate::time::now_ms;

type Fhir = ([(HeaderName, &'static str); 1], Json<Value>);

fn fhir(resources: Vec<Value>) -> Fhir {
    (
        [(header::CONTENT_TYPE, "application/fhir+json")],
        Json(super::bundle(resources)),
    )
}

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(fhir_schedules))
        .routes(routes!(fhir_slots))
        .routes(routes!(fhir_appointments))
        .routes(routes!(fhir_service_requests))
}

/// `expert-12` or `Schedule/expert-12` → 12.
fn expert_of_schedule(text: &str) -> ApiResult<i64> {
    text.trim_start_matches("Schedule/")
        .trim_start_matches("expert-")
        .parse()
        .map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidReference,
                "schedule",
                "schedule must look like Schedule/expert-12",
            )
        })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScheduleQuery {
    pub specialty: Option<String>,
}

/// One Schedule per active expert.
#[utoipa::path(get, path = "/fhir/Schedule", tag = "fhir", params(ScheduleQuery),
    responses((status = 200, description = "FHIR Bundle of Schedule", content_type = "application/fhir+json"), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_schedules(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<ScheduleQuery>,
) -> ApiResult<Fhir> {
    let mut conn = state.db.pool().acquire().await?;
    let specialty = query
        .specialty
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let experts = roster_store::experts(&mut conn, None, specialty, None).await?;
    let now = now_ms();
    let horizon = (
        now,
        now + i64::from(state.settings.slot_horizon_days) * 86_400_000,
    );
    Ok(fhir(
        experts
            .iter()
            .map(|e| super::schedule(e, horizon))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    /// `Schedule/expert-{id}`.
    pub schedule: String,
    /// RFC 3339; default now.
    pub start: Option<String>,
    /// RFC 3339; default seven days after `start`, at most 31 days after it.
    pub end: Option<String>,
}

/// The roster's slots of one schedule, `free` or `busy`.
#[utoipa::path(get, path = "/fhir/Slot", tag = "fhir", params(SlotQuery),
    responses((status = 200, description = "FHIR Bundle of Slot", content_type = "application/fhir+json"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_slots(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<SlotQuery>,
) -> ApiResult<Fhir> {
    let expert_id = expert_of_schedule(&query.schedule)?;
    let now = now_ms();
    let start = query
        .start
        .as_deref()
        .map(|t| parse_instant("start", t))
        .transpose()?
        .unwrap_or(now);
    let end = query
        .end
        .as_deref()
        .map(|t| parse_instant("end", t))
        .transpose()?
        .unwrap_or(start + 7 * 86_400_000);
    if end <= start || end - start > 31 * 86_400_000 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidRange,
            "end",
            "end must be after start, by at most 31 days",
        ));
    }
    let mut conn = state.db.pool().acquire().await?;
    let expert = roster_store::expert(&mut conn, expert_id)
        .await?
        .ok_or(ApiError::NotFound { what: "schedule" })?;
    let experts = std::slice::from_ref(&expert);
    let generated = availability::generated(&mut conn, experts, start, end).await?;
    let free = availability::free_slots(&mut conn, experts, start, end, None, now).await?;
    let free_starts: Vec<i64> = free
        .get(&expert.id)
        .into_iter()
        .flatten()
        .map(|f| f.slot.start_at)
        .collect();
    Ok(fhir(
        generated
            .get(&expert.id)
            .into_iter()
            .flatten()
            .map(|slot| super::slot(expert.id, slot, free_starts.contains(&slot.start_at)))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppointmentQuery {
    /// `Practitioner/{id}` of the expert.
    pub practitioner: Option<String>,
    /// RFC 3339 bounds on the appointment's time.
    pub start: Option<String>,
    pub end: Option<String>,
}

/// Bookings the caller may see, as Appointments.
#[utoipa::path(get, path = "/fhir/Appointment", tag = "fhir", params(AppointmentQuery),
    responses((status = 200, description = "FHIR Bundle of Appointment", content_type = "application/fhir+json"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_appointments(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AppointmentQuery>,
) -> ApiResult<Fhir> {
    policy::booking::require_viewer(&caller)?;
    let expert_id = query
        .practitioner
        .as_deref()
        .map(|p| {
            p.trim_start_matches("Practitioner/")
                .parse::<i64>()
                .map_err(|_| {
                    ApiError::invalid(
                        ErrorCode::InvalidReference,
                        "practitioner",
                        "practitioner must look like Practitioner/12",
                    )
                })
        })
        .transpose()?;
    let from = query
        .start
        .as_deref()
        .map(|t| parse_instant("start", t))
        .transpose()?;
    let to = query
        .end
        .as_deref()
        .map(|t| parse_instant("end", t))
        .transpose()?;
    let mut conn = state.db.begin_read().await?;
    let rows = booking_store::list(
        &mut conn,
        policy::booking::visibility(&caller),
        &booking_store::ListFilter {
            expert_id,
            consultation_id: None,
            status: None,
            from: from.unwrap_or(i64::MIN),
            to: to.unwrap_or(i64::MAX),
            limit: 1000,
        },
    )
    .await?;
    let clinical = sees_clinical(&caller);
    let mut resources = Vec::with_capacity(rows.len());
    let mut patients = Vec::new();
    for booking in &rows {
        let patient = match (clinical, booking.consultation_id) {
            (true, Some(id)) => consultation_store::get(&mut conn, id)
                .await?
                .map(|c| c.patient_id),
            _ => None,
        };
        resources.push(super::appointment(booking, patient));
        patients.extend(patient);
    }
    conn.commit().await?;
    if !patients.is_empty() {
        let ids: Vec<i64> = rows.iter().map(|b| b.id).collect();
        state
            .journal
            .record_one(
                &caller.actor(),
                AuditEntry::list_read(
                    "fhir.appointment",
                    caller.facility_id,
                    "bookings",
                    &ids,
                    &patients,
                ),
            )
            .await?;
    }
    Ok(fhir(resources))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceRequestQuery {
    /// `Patient/{id}`.
    pub patient: Option<String>,
}

/// Consultations and referrals the caller may see, as ServiceRequests.
#[utoipa::path(get, path = "/fhir/ServiceRequest", tag = "fhir", params(ServiceRequestQuery),
    responses((status = 200, description = "FHIR Bundle of ServiceRequest", content_type = "application/fhir+json"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_service_requests(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ServiceRequestQuery>,
) -> ApiResult<Fhir> {
    policy::consultation::require_viewer(&caller)?;
    let patient_id = query
        .patient
        .as_deref()
        .map(|p| {
            p.trim_start_matches("Patient/")
                .parse::<i64>()
                .map_err(|_| {
                    ApiError::invalid(
                        ErrorCode::InvalidReference,
                        "patient",
                        "patient must look like Patient/12",
                    )
                })
        })
        .transpose()?;
    let now = now_ms();
    let mut conn = state.db.begin_read().await?;
    let clinical = sees_clinical(&caller);
    let consultations = consultation_store::list(
        &mut conn,
        viewer(&caller, now),
        &consultation_store::ListFilter {
            status: None,
            patient_id,
            limit: 500,
        },
    )
    .await?;
    let mut resources: Vec<Value> = consultations
        .iter()
        .map(|c| super::consultation_request(c, clinical))
        .collect();
    let mut patients: Vec<i64> = if clinical {
        consultations.iter().map(|c| c.patient_id).collect()
    } else {
        Vec::new()
    };
    let mut referral_ids = Vec::new();
    if let Some(facility_id) = policy::referral::scope(&caller).id() {
        let referrals = referral_store::list(&mut conn, facility_id, None, None, 500).await?;
        for referral in referrals
            .iter()
            .filter(|r| patient_id.is_none_or(|p| r.patient_id == p))
        {
            resources.push(super::referral_request(referral));
            patients.push(referral.patient_id);
            referral_ids.push(referral.id);
        }
    }
    conn.commit().await?;
    if !patients.is_empty() {
        let consultation_ids: Vec<i64> = consultations.iter().map(|c| c.id).collect();
        let mut entry = AuditEntry::list_read(
            "fhir.service_request",
            caller.facility_id,
            "consultations",
            &consultation_ids,
            &patients,
        );
        entry.detail["referrals"] = serde_json::json!(referral_ids);
        state.journal.record_one(&caller.actor(), entry).await?;
    }
    Ok(fhir(resources))
}
