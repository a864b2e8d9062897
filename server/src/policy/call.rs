//! A consultation's call and what is kept of it: who may read and write its
//! text chat. Those who may join the call (its clinician, its expert and the
//! people they invite) may; nobody else, whatever else they may read, since
//! the chat is the call's conversation and not a record for the facility.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

/// How the caller takes part in the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Participation {
    /// The requesting clinician or the assigned expert.
    Party,
    /// Invited to the call by a party.
    Invitee,
}

/// The people a consultation's call is between, as its row names them.
#[derive(Debug, Clone, Copy)]
pub struct CallParties {
    /// The clinician who asked for the consultation.
    pub requested_by: i64,
    /// The expert assigned to it, once there is one.
    pub expert_id: Option<i64>,
    /// Whether the caller is on its invitee list.
    pub caller_invited: bool,
}

/// Whether the caller is a participant of the consultation's call.
pub fn call_participant(caller: &Caller, parties: CallParties) -> Result<Participation, ApiError> {
    if parties.requested_by == caller.user_id || parties.expert_id == Some(caller.user_id) {
        Ok(Participation::Party)
    } else if parties.caller_invited {
        Ok(Participation::Invitee)
    } else {
        Err(ApiError::forbidden(
            ErrorCode::NotAParticipant,
            "only the call's participants read and write its chat",
        ))
    }
}

/// Whether a participant may still write in the chat: until the
/// consultation is closed (`status` is then its status); afterwards the
/// chat is kept as it was.
pub fn may_post_chat(closed: Option<&str>) -> Result<(), ApiError> {
    match closed {
        Some(status) => Err(ApiError::Conflict {
            code: ErrorCode::ConsultationClosed,
            message: format!("this consultation is {status}; its chat is closed"),
            details: serde_json::json!({ "status": status }),
        }),
        None => Ok(()),
    }
}
