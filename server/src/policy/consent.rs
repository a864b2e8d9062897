//! Patients' consents to the services given them at a distance
//! (teleconsultation, its recording, remote reading, referral): who records
//! them, who reads them, and what may not go ahead without one.
//!
//! A consent is taken where the patient is: by a clinician of the facility
//! that asked for the service, who holds the signed form. Those who see the
//! case's clinical content read it, so the expert on the call knows the
//! patient agreed and who for them.

use sqlx::AnyConnection;

use crate::auth::Caller;
#[cfg(test)]
use crate::auth::Role;
use crate::error::{ApiError, ErrorCode};

use super::consultation::{is_requester, sees_clinical};
use super::reading::Side;

/// Whether a teleconsultation needs the patient's consents on record
/// (`teleconsultation_consent_required`): to start, and to record its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartRule {
    /// The call admits no one, and the case does not move to
    /// `in_progress`, until the patient's consent is in force; and the
    /// call is recorded only while the patient's consent to recording is,
    /// besides every participant's.
    ConsentFirst,
    /// The consent is recorded as the consortium's paperwork asks; nothing
    /// waits for it.
    ConsentRecorded,
}

impl StartRule {
    /// The rule a node's settings set.
    pub fn of(settings: &crate::config::Settings) -> Self {
        if settings.teleconsultation_consent_required {
            Self::ConsentFirst
        } else {
            Self::ConsentRecorded
        }
    }
}

/// Records and withdraws the consents of a consultation: a clinician of
/// the facility that asked for it.
pub fn check_consultation_recorder(
    caller: &Caller,
    requesting_facility: i64,
) -> Result<(), ApiError> {
    if is_requester(caller, requesting_facility) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only clinicians of the facility that asked for the consultation may record or \
             withdraw the patient's consent to it",
        ))
    }
}

/// Reads the consents of a consultation the caller sees: those who see
/// its clinical content.
pub fn check_consultation_reader(caller: &Caller) -> Result<(), ApiError> {
    if sees_clinical(caller) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only those who treat the patient may read their consents",
        ))
    }
}

/// Records and withdraws the consent to a remote reading: a clinician of
/// the facility that asked for it (the requester's side of the request).
pub fn check_reading_recorder(side: Side) -> Result<(), ApiError> {
    match side {
        Side::Requester => Ok(()),
        Side::Reader => Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only clinicians of the facility that asked for the reading may record or withdraw \
             the patient's consent to it",
        )),
    }
}

/// Reads the consents of a referral: the clinicians of the facilities at
/// its two ends, who are those who see it.
pub fn sees_referral(caller: &Caller, from_facility: i64, to_facility: i64) -> bool {
    is_requester(caller, from_facility) || is_requester(caller, to_facility)
}

/// Records and withdraws the consent to a referral: a clinician of the
/// facility that sends the patient, where the patient signs.
pub fn check_referral_recorder(caller: &Caller, from_facility: i64) -> Result<(), ApiError> {
    if is_requester(caller, from_facility) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "only clinicians of the facility that sends the patient may record or withdraw \
             the patient's consent to the referral",
        ))
    }
}

/// Whether consultation `consultation_id` may start (its call admit
/// anyone, its case move to `in_progress`) under `rule`. The consent is
/// looked up only when the rule asks for it.
pub async fn check_start(
    conn: &mut AnyConnection,
    rule: StartRule,
    consultation_id: i64,
) -> Result<(), ApiError> {
    if rule == StartRule::ConsentRecorded {
        return Ok(());
    }
    let given = in_force(conn, consultation_id, "teleconsultation").await?;
    check_may_start(rule, given)
}

/// Whether consultation `consultation_id`'s call may be recorded now under
/// `rule`, as far as the patient is concerned (the participants consent in
/// the call). Asked before a recording starts and again while it runs, so
/// that a withdrawal stops it on whichever node records.
pub async fn may_record(
    conn: &mut AnyConnection,
    rule: StartRule,
    consultation_id: i64,
) -> Result<bool, sqlx::Error> {
    if rule == StartRule::ConsentRecorded {
        return Ok(true);
    }
    in_force(conn, consultation_id, "recording").await
}

/// Whether the patient's consent of `kind` to the consultation is in force.
async fn in_force(
    conn: &mut AnyConnection,
    consultation_id: i64,
    kind: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM care_consent WHERE consultation_id = $1 AND kind = $2 \
         AND withdrawn_at IS NULL",
    )
    .bind(consultation_id)
    .bind(kind)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Whether a teleconsultation may start, given whether the patient's
/// consent to it is in force.
fn check_may_start(rule: StartRule, consent_in_force: bool) -> Result<(), ApiError> {
    match (rule, consent_in_force) {
        (StartRule::ConsentFirst, false) => Err(ApiError::conflict(
            ErrorCode::ConsentRequired,
            "the patient's consent to this teleconsultation is not on record; the clinician \
             who asked for it records it first",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Roles that never record a consent, whatever their facility.
    const NEVER_RECORDS: [Role; 3] = [Role::Admin, Role::Scheduler, Role::Radiologist];

    fn caller(roles: &[Role], facility_id: i64) -> Caller {
        Caller {
            user_id: 7,
            username: "someone".into(),
            facility_id,
            roles: roles.to_vec(),
            session_id: 1,
            ctx: Default::default(),
        }
    }

    #[test]
    fn only_the_requesting_facility_s_clinicians_record() {
        assert!(check_consultation_recorder(&caller(&[Role::Clinician], 3), 3).is_ok());
        assert!(check_consultation_recorder(&caller(&[Role::Clinician], 4), 3).is_err());
        assert!(check_consultation_recorder(&caller(&[Role::Expert], 3), 3).is_err());
        for role in NEVER_RECORDS {
            assert!(check_consultation_recorder(&caller(&[role], 3), 3).is_err());
        }
    }

    #[test]
    fn a_start_waits_for_consent_only_when_the_rule_says_so() {
        assert!(check_may_start(StartRule::ConsentFirst, true).is_ok());
        assert!(check_may_start(StartRule::ConsentRecorded, false).is_ok());
        match check_may_start(StartRule::ConsentFirst, false) {
            Err(ApiError::Conflict { code, .. }) => assert_eq!(code, ErrorCode::ConsentRequired),
            other => panic!("{other:?}"),
        }
    }
}
