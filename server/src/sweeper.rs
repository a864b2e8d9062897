//! Housekeeping on a timer: lapsed holds give their slots back, emergencies
//! left too long in the on-call queue and critical results left
//! unacknowledged are escalated, and report SRs the store could not take at
//! signing are filed. All are safe to run on several nodes at once: each
//! change is one conditional UPDATE, and filing an SR twice stores it once.

use std::time::Duration;

use crate::booking::claim;
use crate::consultation::oncall;
use crate::reading;
use crate::server_state::ServerState;
use crate::time::now_ms;

pub async fn run(state: ServerState) {
    let limit_ms = (state.settings.emergency_escalation_seconds as i64).saturating_mul(1000);
    // Often enough that an escalation is late by a small fraction of its limit.
    let critical_ms = (state.settings.critical_escalation_seconds as i64).saturating_mul(1000);
    let period = Duration::from_millis((limit_ms.min(critical_ms) as u64 / 4).clamp(200, 5_000));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = now_ms();
        if let Err(error) =
            oncall::escalate_overdue(&state.db, &state.notifier, limit_ms, now).await
        {
            tracing::warn!(%error, "escalating overdue emergencies failed");
        }
        if let Err(error) =
            reading::critical::escalate_overdue(&state.db, &state.notifier, critical_ms, now).await
        {
            tracing::warn!(%error, "escalating unacknowledged critical results failed");
        }
        if let Err(error) = reading::sr::file_pending(&state.app, &state.imaging).await {
            tracing::warn!(%error, "filing pending report SRs failed");
        }
        match state.db.begin_write().await {
            Ok(mut tx) => {
                let released = claim::release_all_lapsed(&mut tx, now).await;
                match released {
                    Ok(_) => {
                        if let Err(error) = tx.commit().await {
                            tracing::warn!(%error, "releasing lapsed holds failed");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "releasing lapsed holds failed"),
                }
            }
            Err(error) => tracing::warn!(%error, "releasing lapsed holds failed"),
        }
    }
}
