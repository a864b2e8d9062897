//! Opening a patient's record on behalf of a caller, for the patient routes
//! and the areas that act on a patient (examinations, referrals).

use super::store;
use crate::audit::{self, Action, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::policy::{self, PatientAccess};
use crate::time::now_ms;

/// Loads a patient and resolves the caller's access to them. A refusal is
/// audited and committed on its own before the error is returned, so failed
/// attempts to open a record stay on the trail.
pub async fn authorize(
    mut tx: crate::db::Tx,
    caller: &Caller,
    patient_id: i64,
    subtype: &str,
) -> ApiResult<(crate::db::Tx, PatientAccess, store::PatientRow)> {
    let row = store::get(&mut tx, patient_id)
        .await?
        .ok_or(ApiError::NotFound { what: "patient" })?;
    match policy::patient_access(&mut tx, caller, patient_id, now_ms()).await? {
        Some(access) => Ok((tx, access, row)),
        None => {
            audit::append(
                &mut tx,
                &caller.actor(),
                AuditEntry::new(Action::Read, subtype)
                    .outcome(Outcome::Failure)
                    .entity("patient", patient_id)
                    .patient(patient_id)
                    .facility(caller.facility_id)
                    .detail(serde_json::json!({ "reason": "out_of_scope" })),
            )
            .await?;
            tx.commit().await?;
            Err(policy::out_of_scope())
        }
    }
}
