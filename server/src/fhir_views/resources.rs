//! `/fhir/Patient/{id}`, `/fhir/Organization/{id}`, `/fhir/Practitioner/{id}`:
//! the resources the other FHIR views refer to (`subject`, `requester`,
//! `performer`, `actor`), so that those references resolve.
//!
//! A Patient is one consortium person: its identifiers are the resident
//! identity number and each member facility's record number, each assigned
//! by its Organization; a merge shows as `link` (`replaces` on the kept
//! patient, `replaced-by` and `active: false` on the merged one). It is
//! read like `GET /patients/{id}`, in scope and audited. Organizations (facilities) and Practitioners (a user's name,
//! roles and specialties) are what every signed-in user may see of the
//! consortium already; they carry no patient data.

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderName};
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{Action, AuditEntry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::facility::store as facilities;
use crate::patient::access::authorize;
use crate::patient::store as patients;
use crate::state::AppState;
use crate::user::store as users;

type Resource = ([(HeaderName, &'static str); 1], Json<Value>);

fn resource(value: Value) -> Resource {
    (
        [(header::CONTENT_TYPE, "application/fhir+json")],
        Json(value),
    )
}

/// The identifier system of resident identity numbers (居民身份证号码,
/// GB 11643) in Ferry's resources. A local URI: the consortium's HIS may map
/// it to the one its region's interoperability profile names.
const RESIDENT_ID_SYSTEM: &str = "urn:ferry:identifier:resident-id";

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(fhir_patient))
        .routes(routes!(fhir_organization))
        .routes(routes!(fhir_practitioner))
}

/// A patient in the caller's scope, as a FHIR Patient. Outside the scope it
/// is refused and the refusal audited, as for `GET /patients/{id}`.
#[utoipa::path(get, path = "/fhir/Patient/{id}", tag = "fhir", params(("id" = i64, Path)),
    responses((status = 200, description = "A FHIR Patient", content_type = "application/fhir+json"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_patient(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Resource> {
    let tx = state.db.begin_read().await?;
    let (mut tx, access, row) = authorize(tx, &state.journal, &caller, id, "fhir.patient").await?;
    let view = patients::view(&mut tx, row).await?;
    let replaces = crate::patient::merge::merged_into(&mut tx, id).await?;
    tx.commit().await?;
    state
        .journal
        .record_one(
            &caller.actor(),
            AuditEntry::new(Action::Read, "fhir.patient")
                .entity("patient", id)
                .patient(id)
                .facility(caller.facility_id)
                .detail(access.describe()),
        )
        .await?;
    let mut identifier = Vec::new();
    if let Some(national_id) = &view.national_id {
        identifier.push(json!({
            "use": "official",
            "type": { "text": "居民身份证号码 Resident identity number" },
            "system": RESIDENT_ID_SYSTEM,
            "value": national_id,
        }));
    }
    for record in &view.records {
        identifier.push(json!({
            "use": "usual",
            "type": { "text": "病历号 Medical record number" },
            "system": format!("urn:ferry:facility:{}:record-number", record.facility_id),
            "value": record.record_number,
            "assigner": {
                "reference": format!("Organization/{}", record.facility_id),
                "display": record.facility_name,
            },
        }));
    }
    let mut name = json!({ "text": format!("{}{}", view.family_name, view.given_name), "family": view.family_name });
    if !view.given_name.is_empty() {
        name["given"] = json!([view.given_name]);
    }
    let mut patient = json!({
        "resourceType": "Patient",
        "id": view.id.to_string(),
        "identifier": identifier,
        "name": [name],
        "gender": view.sex,
        "birthDate": view.birth_date,
    });
    if !view.phone.is_empty() {
        patient["telecom"] = json!([{ "system": "phone", "value": view.phone }]);
    }
    // A merge in FHIR's terms: the merged patient is inactive and
    // replaced by the kept one, which replaces it.
    patient["active"] = json!(view.merged_into.is_none());
    let mut link: Vec<Value> = replaces
        .iter()
        .map(|other| json!({ "other": { "reference": format!("Patient/{other}") }, "type": "replaces" }))
        .collect();
    if let Some(kept) = view.merged_into {
        link.push(
            json!({ "other": { "reference": format!("Patient/{kept}") }, "type": "replaced-by" }),
        );
    }
    if !link.is_empty() {
        patient["link"] = json!(link);
    }
    Ok(resource(patient))
}

/// A member facility as a FHIR Organization, `partOf` its parent.
#[utoipa::path(get, path = "/fhir/Organization/{id}", tag = "fhir", params(("id" = i64, Path)),
    responses((status = 200, description = "A FHIR Organization", content_type = "application/fhir+json"),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_organization(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Resource> {
    let mut conn = state.db.pool().acquire().await?;
    let row = facilities::get(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })?;
    let mut organization = json!({
        "resourceType": "Organization",
        "id": row.id.to_string(),
        "active": true,
        "type": [{ "text": row.tier }],
        "name": row.name,
    });
    if let Some(parent) = row.parent_id {
        organization["partOf"] = json!({ "reference": format!("Organization/{parent}") });
    }
    if !row.contact.is_empty() {
        organization["telecom"] = json!([{ "system": "phone", "value": row.contact }]);
    }
    Ok(resource(organization))
}

/// A user as a FHIR Practitioner: their name, and their roles and
/// specialties as qualifications; never their account name.
#[utoipa::path(get, path = "/fhir/Practitioner/{id}", tag = "fhir", params(("id" = i64, Path)),
    responses((status = 200, description = "A FHIR Practitioner", content_type = "application/fhir+json"),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn fhir_practitioner(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Resource> {
    let mut conn = state.db.pool().acquire().await?;
    let user = users::view(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "practitioner",
        })?;
    let qualification: Vec<Value> = user
        .roles
        .iter()
        .map(|role| role.as_str().to_owned())
        .chain(user.specialties.iter().cloned())
        .map(|text| json!({ "code": { "text": text } }))
        .collect();
    Ok(resource(json!({
        "resourceType": "Practitioner",
        "id": user.id.to_string(),
        "active": user.active,
        "name": [{ "text": user.display_name }],
        "qualification": qualification,
        "extension": [{
            "url": "urn:ferry:practitioner:organization",
            "valueReference": {
                "reference": format!("Organization/{}", user.facility_id),
                "display": user.facility_name,
            },
        }],
    })))
}
