//! Priority booking: slots a tertiary expert's roster holds back for patients
//! referred up. Only a booking made for an accepted up-referral to the
//! expert's facility may take them.

use crate::auth::Caller;
use crate::consultation::store::ConsultationRow;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::roster::store::Expert;

/// The referral must be up, accepted (or the patient already arrived), to the
/// expert's facility, from the caller's facility, and for the consultation's
/// patient.
pub async fn check_referral(
    tx: &mut Tx,
    caller: &Caller,
    referral_id: i64,
    expert: &Expert,
    consultation: Option<&ConsultationRow>,
) -> ApiResult<()> {
    let found: Option<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT direction, status, from_facility_id, to_facility_id, patient_id FROM referral WHERE id = $1",
    )
    .bind(referral_id)
    .fetch_optional(&mut **tx)
    .await?;
    let invalid =
        |message: &str| ApiError::invalid(ErrorCode::InvalidReferral, "referral_id", message);
    // Another facility's referral gets the answer a missing one gets, so
    // that ids cannot be probed for other facilities' referrals.
    let Some((direction, status, _, to, patient)) =
        found.filter(|(_, _, from, _, _)| *from == caller.facility_id)
    else {
        return Err(invalid("your facility made no referral with this id"));
    };
    if direction != "up" || to != expert.facility_id {
        return Err(invalid(
            "priority slots are for up-referrals to the expert's facility",
        ));
    }
    if !matches!(status.as_str(), "accepted" | "arrived") {
        return Err(invalid(
            "the receiving facility has not accepted this referral",
        ));
    }
    if consultation.is_some_and(|c| c.patient_id != patient) {
        return Err(invalid("the referral is for another patient"));
    }
    Ok(())
}

pub async fn record(tx: &mut Tx, booking_id: i64, referral_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO booking_referral (booking_id, referral_id) VALUES ($1, $2) \
         ON CONFLICT (booking_id) DO UPDATE SET referral_id = excluded.referral_id",
    )
    .bind(booking_id)
    .bind(referral_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The referral a booking was made for, if any.
pub async fn recorded(tx: &mut Tx, booking_id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT referral_id FROM booking_referral WHERE booking_id = $1")
        .bind(booking_id)
        .fetch_optional(&mut **tx)
        .await
}

pub async fn has_referral(tx: &mut Tx, booking_id: i64) -> Result<bool, sqlx::Error> {
    Ok(recorded(tx, booking_id).await?.is_some())
}
