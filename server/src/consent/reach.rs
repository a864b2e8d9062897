//! Whether a caller reaches the service a consent covers, and what the
//! consent needs to know of it. A service the caller cannot see answers
//! 404, as one that does not exist, so a consent's id tells a stranger
//! nothing.

use super::Subject;
use crate::auth::Caller;
use crate::consultation::visible::load_visible;
use crate::consultation::Status as ConsultationStatus;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::policy::consent as rules;
use crate::reading::requests::load_visible as load_visible_request;
use crate::reading::TaskStatus;
use crate::referral::rules::Status as ReferralStatus;
use crate::time::now_ms;

/// What the caller means to do with the consents of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Read,
    /// Record or withdraw.
    Change,
}

/// The service, as a consent to it sees it.
#[derive(Debug, Clone, Copy)]
pub struct Reached {
    /// The patient, when the service has one (a reading request of a study
    /// not yet linked to a patient has none).
    pub patient_id: Option<i64>,
    /// Whether the service is still to come or under way: a consent to one
    /// that is over, or was called off, changes nothing.
    pub open: bool,
}

/// Loads `subject` for `caller`, or 404 when they cannot see it; then 403
/// when they see it but may not do what `intent` says.
pub async fn reach(
    tx: &mut Tx,
    caller: &Caller,
    subject: Subject,
    intent: Intent,
) -> ApiResult<Reached> {
    match subject {
        Subject::Consultation(id) => {
            let row = load_visible(tx, caller, id, now_ms()).await?;
            match intent {
                Intent::Read => rules::check_consultation_reader(caller)?,
                Intent::Change => {
                    rules::check_consultation_recorder(caller, row.requesting_facility_id)?
                }
            }
            Ok(Reached {
                patient_id: Some(row.patient_id),
                open: !matches!(
                    row.status,
                    ConsultationStatus::Completed
                        | ConsultationStatus::Cancelled
                        | ConsultationStatus::Declined
                ),
            })
        }
        Subject::ReadingRequest(id) => {
            let (row, side) = load_visible_request(tx, caller, id).await?;
            if intent == Intent::Change {
                rules::check_reading_recorder(side)?;
            }
            Ok(Reached {
                patient_id: row.patient_id,
                open: !matches!(row.status, TaskStatus::Completed | TaskStatus::Cancelled),
            })
        }
        Subject::Referral(id) => {
            let row = crate::referral::store::get(tx, id)
                .await?
                .filter(|row| {
                    rules::sees_referral(caller, row.from_facility_id, row.to_facility_id)
                })
                .ok_or(ApiError::NotFound { what: "referral" })?;
            if intent == Intent::Change {
                rules::check_referral_recorder(caller, row.from_facility_id)?;
            }
            Ok(Reached {
                patient_id: Some(row.patient_id),
                open: !matches!(
                    row.status(),
                    ReferralStatus::Discharged
                        | ReferralStatus::Rejected
                        | ReferralStatus::Cancelled
                ),
            })
        }
    }
}
