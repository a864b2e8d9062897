//! Opening a patient's record on behalf of a caller, for the patient routes
//! and the areas that act on a patient (examinations, referrals).

use super::store;
use crate::audit::journal::Journal;
use crate::audit::{Action, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::policy::{self, PatientAccess};
use crate::time::now_ms;

/// What may still be done to a patient merged into another: read it, to
/// learn which patient to open.
const READS_OF_MERGED: [&str; 2] = ["patient.read", "fhir.patient"];

/// Loads a patient and resolves the caller's access to them. A refusal
/// rolls `tx` back and is recorded in the `journal` before the error is
/// returned, so failed attempts to open a record stay on the trail; `tx`
/// may be a reading one.
pub async fn authorize(
    mut tx: crate::db::Tx,
    journal: &Journal,
    caller: &Caller,
    patient_id: i64,
    subtype: &str,
) -> ApiResult<(crate::db::Tx, PatientAccess, store::PatientRow)> {
    let row = store::get(&mut tx, patient_id)
        .await?
        .ok_or(ApiError::NotFound { what: "patient" })?;
    // A patient merged into another is reached as that one is: everything
    // of it moved there. Only the patient itself can still be read (it
    // names the one to open); nothing else is done to it.
    let reached = row.merged_into.unwrap_or(patient_id);
    match policy::patient_access(&mut tx, caller, reached, now_ms()).await? {
        Some(_) if row.merged_into.is_some() && !READS_OF_MERGED.contains(&subtype) => {
            Err(ApiError::Conflict {
                code: ErrorCode::AlreadyMerged,
                message: "this patient was merged into another; open that patient".to_owned(),
                details: serde_json::json!({ "merged_into": reached }),
            })
        }
        Some(access) => Ok((tx, access, row)),
        None => {
            drop(tx);
            journal
                .record_one(
                    &caller.actor(),
                    AuditEntry::new(Action::Read, subtype)
                        .outcome(Outcome::Failure)
                        .entity("patient", patient_id)
                        .patient(patient_id)
                        .facility(caller.facility_id)
                        .detail(serde_json::json!({ "reason": "out_of_scope" })),
                )
                .await?;
            Err(policy::out_of_scope())
        }
    }
}
