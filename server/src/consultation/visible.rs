//! Which consultations a caller sees, and how much of each: shared by the
//! consultation routes and by the areas that hang off a consultation
//! (bookings, opinions, calls, FHIR views).

use super::store::{self, ConsultationRow, Viewer};
use super::ConsultationView;
use crate::auth::{Caller, Role};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::policy::{self, CARE_ROLES};

pub fn viewer(caller: &Caller, now: i64) -> Viewer {
    Viewer {
        clinician_facility: policy::scope_facility(caller),
        expert_id: if caller.has(Role::Expert) {
            caller.user_id
        } else {
            -1
        },
        scheduler_facility: if caller.has(Role::Scheduler) {
            caller.facility_id
        } else {
            -1
        },
        now,
    }
}

/// Clinical content is for those who treat; schedulers see the logistics.
pub fn sees_clinical(caller: &Caller) -> bool {
    CARE_ROLES.iter().any(|role| caller.has(*role))
}

/// Loads a consultation the caller may see, or 404 (a consultation the caller
/// cannot see is not acknowledged to exist).
pub async fn load_visible(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    now: i64,
) -> ApiResult<ConsultationRow> {
    let visible = store::is_visible(tx, viewer(caller, now), id).await?;
    let row = store::get(tx, id).await?;
    match row {
        Some(row) if visible => Ok(row),
        _ => Err(ApiError::NotFound {
            what: "consultation",
        }),
    }
}

pub async fn view(
    tx: &mut Tx,
    caller: &Caller,
    row: &ConsultationRow,
) -> ApiResult<ConsultationView> {
    let studies = store::studies(tx, row.id).await?;
    Ok(row.view(studies, sees_clinical(caller)))
}
