//! The patient a screen showed when it sent a write.
//!
//! A form left showing one patient while another's record is open (a slow
//! answer, a second tab) must not put words, a signature or a booking into
//! the wrong record. Writes that act on one patient's record take the
//! `patient_id` of the patient their screen showed; one that is not the
//! record's is refused with 409 `patient_mismatch` before anything is
//! written, so the refusal leaves no trace but itself.

use crate::error::{ApiError, ApiResult, ErrorCode};

/// Refuses `shown` when it is given and is not `record`'s patient (`None`
/// for a record of no patient, such as an unlinked study: any patient
/// shown is then the wrong one). `what` names the record for the message.
pub fn check(record: Option<i64>, shown: Option<i64>, what: &str) -> ApiResult<()> {
    match shown {
        Some(shown) if Some(shown) != record => Err(ApiError::Conflict {
            code: ErrorCode::PatientMismatch,
            message: format!(
                "this {what} is for another patient than the one shown; nothing was done"
            ),
            details: serde_json::json!({
                "field": "patient_id",
                "shown_patient_id": shown,
                "record_patient_id": record,
            }),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_another_patient_shown_is_refused() {
        assert!(check(Some(7), None, "consultation").is_ok());
        assert!(check(Some(7), Some(7), "consultation").is_ok());
        assert!(check(None, None, "reading request").is_ok());
        for (record, shown) in [(Some(7), 8), (None, 7)] {
            match check(record, Some(shown), "reading request") {
                Err(ApiError::Conflict { code, details, .. }) => {
                    assert_eq!(code, ErrorCode::PatientMismatch);
                    assert_eq!(details["shown_patient_id"], shown);
                    assert_eq!(details["record_patient_id"], serde_json::json!(record));
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
