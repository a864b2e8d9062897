//! The demo expert's week: the roster, the on-call shift and the
//! consultations waiting on it.

use super::{Cast, DemoError};
use crate::db::Tx;

/// The expert's roster, so the demo expert can be booked at once: weekday
/// mornings by video, afternoons for reviews without a call (two cases per
/// slot), Wednesday late afternoon held back for referred patients; a week on
/// call; one consultation from the island waiting to be booked; and an
/// urgent one the on-call expert has accepted, whose call the demo clinician
/// and expert can join at once.
pub(super) async fn seed(
    tx: &mut Tx,
    expert: i64,
    scheduler: i64,
    cast: &Cast,
) -> Result<(), DemoError> {
    use crate::consultation::{store as consultation_store, Urgency};
    use crate::roster::{store as roster_store, NewRule, RuleValues, Service};
    let now = crate::time::now_ms();
    let today = crate::time::rfc3339(now)[..10].to_owned();
    let rule = |weekday, start: &str, end: &str, minutes, capacity, service, priority| NewRule {
        weekday,
        start_time: start.to_owned(),
        end_time: end.to_owned(),
        slot_minutes: minutes,
        buffer_minutes: if minutes == 30 { 0 } else { 10 },
        capacity,
        service,
        valid_from: today.clone(),
        valid_to: None,
        referral_priority: priority,
    };
    for weekday in 1..=5 {
        for new in [
            rule(weekday, "09:00", "12:00", 30, 1, Service::Video, false),
            rule(
                weekday,
                "14:00",
                "16:00",
                50,
                2,
                Service::AsyncReview,
                false,
            ),
        ] {
            roster_store::insert_rule(tx, expert, &RuleValues::check(&new)?, now).await?;
        }
    }
    let priority = rule(3, "16:00", "17:00", 30, 1, Service::Video, true);
    roster_store::insert_rule(tx, expert, &RuleValues::check(&priority)?, now).await?;
    sqlx::query(
        "INSERT INTO on_call_shift (expert_id, specialty, starts_at, ends_at, created_by, created_at) \
         VALUES ($1, 'cardiology', $2, $3, $4, $2)",
    )
    .bind(expert)
    .bind(now)
    .bind(now + 7 * 86_400_000)
    .bind(scheduler)
    .execute(&mut **tx)
    .await?;
    consultation_store::insert(
        tx,
        &consultation_store::NewRow {
            patient_id: cast.li,
            requested_by: cast.island_clinician,
            requesting_facility_id: cast.island,
            expert_id: Some(expert),
            specialty: "cardiology",
            urgency: Urgency::Routine,
            service: Service::Video,
            reason: "活动后胸闷三周",
            clinical_summary: "58 岁，高血压病史。静息心电图：窦性心律，无 ST 段改变。",
            studies: &[],
        },
        now,
    )
    .await?;
    let urgent = consultation_store::insert(
        tx,
        &consultation_store::NewRow {
            patient_id: cast.wang,
            requested_by: cast.island_clinician,
            requesting_facility_id: cast.island,
            expert_id: None,
            specialty: "cardiology",
            urgency: Urgency::Urgent,
            service: Service::Video,
            reason: "今晨起心悸、头晕",
            clinical_summary: "66 岁。脉搏不齐 128 次/分，血压 102/64 mmHg。",
            studies: &[],
        },
        now,
    )
    .await?;
    consultation_store::schedule(tx, urgent, expert, true, now).await?;
    // The urgent case's patient signed the consent to it: the call screen
    // shows it. The routine one has none yet, for the clinician to record.
    crate::consent::store::insert(
        tx,
        &crate::consent::store::NewRow {
            kind: crate::consent::ConsentKind::Teleconsultation,
            subject: crate::consent::Subject::Consultation(urgent),
            given_by: crate::sharing::GivenBy::Patient,
            guardian_name: None,
            form_reference: "远程会诊知情同意书 2026-0001",
            recorded_by: cast.island_clinician,
            recorded_at_facility_id: cast.island,
            now,
        },
    )
    .await?;
    book_two(tx, expert, cast, now).await
}

/// Two routine video consultations booked on the expert's first free
/// mornings two days out or later: the scheduler has bookings to move when
/// putting the expert on leave, and the board something to show.
async fn book_two(tx: &mut Tx, expert_id: i64, cast: &Cast, now: i64) -> Result<(), DemoError> {
    use crate::booking::{availability, claim, store as booking_store, BookingStatus};
    use crate::consultation::{store as consultation_store, Urgency};
    use crate::roster::{store as roster_store, Service};
    let expert = roster_store::expert(tx, expert_id)
        .await?
        .ok_or(DemoError::NoFreeSlot)?;
    let cases = [
        (
            cast.zhang,
            "学校体检发现心脏杂音",
            "15 岁，无症状，平时踢足球。胸骨左缘闻及柔和收缩期杂音。",
        ),
        (
            cast.wang,
            "房颤控制心室率后复诊",
            "66 岁。上月起服用美托洛尔；脉搏 78 次/分，偶有心悸。",
        ),
    ];
    let from = now + 2 * 86_400_000;
    for (patient_id, reason, clinical_summary) in cases {
        let consultation = consultation_store::insert(
            tx,
            &consultation_store::NewRow {
                patient_id,
                requested_by: cast.island_clinician,
                requesting_facility_id: cast.island,
                expert_id: Some(expert_id),
                specialty: "cardiology",
                urgency: Urgency::Routine,
                service: Service::Video,
                reason,
                clinical_summary,
                studies: &[],
            },
            now,
        )
        .await?;
        let free = availability::next_free(
            tx,
            &expert,
            from,
            from + 28 * 86_400_000,
            Some(Service::Video),
            now,
            false,
        )
        .await?
        .ok_or(DemoError::NoFreeSlot)?;
        let claim_id = match claim::take(tx, expert_id, &free.slot, now).await {
            Ok(id) => id,
            Err(claim::ClaimError::Database(error)) => return Err(error.into()),
            // Nothing else books inside this transaction.
            Err(claim::ClaimError::Taken) => return Err(DemoError::NoFreeSlot),
        };
        booking_store::insert(
            tx,
            &booking_store::NewRow {
                expert_id,
                claim_id,
                start_at: free.slot.start_at,
                end_at: free.slot.end_at,
                service: free.slot.service,
                status: BookingStatus::Booked,
                hold_expires_at: None,
                consultation_id: Some(consultation),
                created_by: cast.island_clinician,
                facility_id: cast.island,
            },
            now,
        )
        .await?;
        consultation_store::schedule(tx, consultation, expert_id, false, now).await?;
    }
    Ok(())
}
