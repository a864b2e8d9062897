//! Creating a referral: shared by the API and the demo seed.

use super::rules::{self, Direction};
use super::{store, NewReferral, Warning};
use crate::audit::{self, Action, Actor, AuditEntry};
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, ResultExt};
use crate::notify::Outbox;
use crate::patient::{check_optional, check_required};
use crate::{catalogue, facility};

/// More codes than this is a mistake, not a patient.
const MAX_CODES: usize = 20;

/// Validates and records a referral from `from_facility_id` by
/// `requested_by`, audits it and tells the receiving facility's clinicians.
/// The caller has already checked that the patient exists and is in the
/// requester's scope. Returns the id and the catalogue's warnings.
pub async fn create(
    tx: &mut Tx,
    actor: &Actor,
    outbox: &mut Outbox,
    requested_by: i64,
    from_facility_id: i64,
    new: NewReferral,
) -> Result<(i64, Vec<Warning>), ApiError> {
    let reason = check_required("reason", &new.reason, 2000)?;
    let codes = diagnosis_codes(&new.diagnosis_codes)?;
    let justification = optional_text("justification", new.justification.as_deref())?;
    let plan = optional_text("rehabilitation_plan", new.rehabilitation_plan.as_deref())?;

    let from = facility::store::get(tx, from_facility_id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })?;
    let to = facility::store::get(tx, new.to_facility_id)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::UnknownFacility,
                "to_facility_id",
                format!("there is no facility {}", new.to_facility_id),
            )
        })?;
    if from.id == to.id {
        return Err(ApiError::invalid(
            ErrorCode::SameFacility,
            "to_facility_id",
            "a referral goes to another facility",
        ));
    }
    if Direction::between(from.tier(), to.tier()) != Some(new.direction) {
        return Err(ApiError::invalid(
            ErrorCode::DirectionMismatch,
            "direction",
            format!(
                "{} is {}, {} is {}: a referral {} goes to a {} tier",
                from.name,
                from.tier().as_str(),
                to.name,
                to.tier().as_str(),
                new.direction.as_str(),
                match new.direction {
                    Direction::Up => "higher",
                    Direction::Down => "lower",
                }
            ),
        ));
    }
    if new.direction == Direction::Down && plan.is_none() {
        return Err(ApiError::invalid(
            ErrorCode::RehabilitationPlanRequired,
            "rehabilitation_plan",
            "a patient referred down needs a rehabilitation plan",
        ));
    }
    let catalogue = catalogue::store::load(tx).await?;
    let warnings = rules::judge(
        &catalogue,
        new.direction,
        from.tier(),
        to.tier(),
        &codes,
        justification.is_some(),
    )?;

    let now = crate::time::now_ms();
    let values = store::ReferralValues {
        patient_id: new.patient_id,
        direction: new.direction,
        from_facility_id: from.id,
        to_facility_id: to.id,
        requested_by,
        reason: &reason,
        diagnosis_codes: &codes,
        justification: justification.as_deref(),
        rehabilitation_plan: plan.as_deref(),
    };
    let id = store::insert(tx, &values, now)
        .await
        .on_foreign_key_violation(|| ApiError::NotFound { what: "patient" })?;
    audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Create, "referral.create")
            .entity("referral", id)
            .patient(new.patient_id)
            .facility(from.id)
            .detail(serde_json::json!({
                "direction": new.direction.as_str(),
                "to_facility_id": to.id,
                "warnings": warnings.iter().map(|w| w.code.as_str()).collect::<Vec<_>>(),
            })),
    )
    .await?;
    let payload = serde_json::json!({
        "referral_id": id,
        "patient_id": new.patient_id,
        "direction": new.direction.as_str(),
        "from_facility_id": from.id,
        "from_facility_name": from.name,
    });
    for user_id in store::clinicians_at(tx, to.id).await? {
        outbox
            .push(tx, user_id, "referral.created", payload.clone())
            .await?;
    }
    Ok((id, warnings))
}

/// Normalised, without repeats, in the order given; a bad one is named by
/// its index (`diagnosis_codes[1]`).
fn diagnosis_codes(codes: &[String]) -> Result<Vec<String>, ApiError> {
    if codes.is_empty() || codes.len() > MAX_CODES {
        return Err(ApiError::invalid(
            ErrorCode::InvalidDiagnosisCodes,
            "diagnosis_codes",
            format!("give 1 to {MAX_CODES} ICD-10 codes"),
        ));
    }
    let mut normalised: Vec<String> = Vec::with_capacity(codes.len());
    for (index, text) in codes.iter().enumerate() {
        let code = crate::icd10::normalize(text).ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidIcd10,
                &format!("diagnosis_codes[{index}]"),
                format!(
                    "{:?} is not an ICD-10 code such as I21 or E11.9",
                    text.trim()
                ),
            )
        })?;
        if !normalised.contains(&code) {
            normalised.push(code);
        }
    }
    Ok(normalised)
}

/// Absent or blank means none.
fn optional_text(field: &str, text: Option<&str>) -> Result<Option<String>, ApiError> {
    let text = check_optional(field, text.unwrap_or_default(), 4000)?;
    Ok((!text.is_empty()).then_some(text))
}
