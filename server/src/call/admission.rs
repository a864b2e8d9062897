//! Who may join a consultation's call, and when: the requesting clinician,
//! the assigned expert and the people they invite, from `call_open_minutes_before` the booked slot
//! (at once for an on-call case, which has no slot) until the consultation
//! is completed. Everyone else is refused before the WebSocket upgrade, with
//! the API's usual error body.

use ferry_signaling::protocol::PeerInfo;
use serde_json::json;

use crate::auth::Caller;
use crate::consultation::store as consultation_store;
use crate::consultation::Status;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::policy::consent::StartRule;
use crate::time::rfc3339;

/// Admits the caller to consultation `id`'s room at `now`. Under
/// [`StartRule::ConsentFirst`] the room admits no one while the patient's
/// consent to the teleconsultation is not in force, a withdrawal included.
pub async fn admit(
    conn: &mut sqlx::AnyConnection,
    caller: &Caller,
    id: i64,
    open_before_ms: i64,
    start_rule: StartRule,
    now: i64,
) -> ApiResult<PeerInfo> {
    let consultation = consultation_store::get(conn, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "consultation",
        })?;
    let parties = crate::policy::call::CallParties {
        requested_by: consultation.requested_by,
        expert_id: consultation.expert_id,
        caller_invited: super::invitees::is_invited(conn, id, caller.user_id).await?,
    };
    crate::policy::call::call_participant(caller, parties).map_err(|_| {
        ApiError::forbidden(
            ErrorCode::NotAParticipant,
            "only the consultation's clinician, its expert and the people they invite may join its call",
        )
    })?;
    // Everyone is shown to the others by their display name, never by the
    // account's user name.
    let name = crate::user::store::display_name(conn, caller.user_id)
        .await?
        .unwrap_or_else(|| caller.username.clone());
    match consultation.status {
        Status::Scheduled | Status::InProgress | Status::AwaitingOpinion => {}
        Status::Completed | Status::Cancelled | Status::Declined => {
            return Err(ApiError::Conflict {
                code: ErrorCode::ConsultationClosed,
                message: format!(
                    "this consultation is {}; its call is over",
                    consultation.status.as_str()
                ),
                details: json!({ "status": consultation.status }),
            })
        }
        Status::Requested => {
            return Err(ApiError::Conflict {
                code: ErrorCode::NotScheduled,
                message: "this consultation has no booking or on-call expert yet".to_owned(),
                details: json!({ "status": consultation.status }),
            })
        }
    }
    if let Some(opens_at) = crate::consultation::call_opens_at(
        consultation.status,
        consultation.booking_start,
        open_before_ms,
    ) {
        if now < opens_at {
            let starts_at = consultation.booking_start.map(rfc3339);
            return Err(ApiError::Conflict {
                code: ErrorCode::TooEarly,
                message: format!("the call opens at {}", rfc3339(opens_at)),
                details: json!({ "opens_at": rfc3339(opens_at), "starts_at": starts_at }),
            });
        }
    }
    crate::policy::consent::check_start(conn, start_rule, id).await?;
    Ok(PeerInfo {
        id: caller.user_id.to_string(),
        name,
    })
}
