//! Video calls of consultations: who may join the signalling room of a
//! consultation and when ([`admission`]), what the server records as the call
//! goes on ([`CallHooks`]: start, end, duration; the consultation moves to
//! `in_progress` the first time both sides are connected), and the ICE
//! servers clients use ([`routes`]); the text chat kept with the
//! consultation ([`chat_routes`], its SQL in [`chat_store`]). The rooms and
//! the relay are in `ferry-signaling`.
//!
//! With PostgreSQL, rooms span the nodes that share it ([`bus`]); who is
//! connected through which node is kept in the database ([`presence`]), so
//! the others can clear after a node that dies.

pub mod admission;
pub mod bus;
pub mod chat_routes;
pub mod chat_store;
pub mod consented_recording;
pub mod invitees;
pub mod presence;
pub mod recording_routes;
pub mod recording_shelf;
pub mod routes;

use futures_util::future::BoxFuture;
use serde_json::json;

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::consultation::store as consultation_store;
use crate::consultation::Status;
use crate::db::Db;
use crate::time::now_ms;

/// The patient a consultation is about, for the audit trail of its calls.
async fn patient_of(conn: &mut sqlx::AnyConnection, consultation_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT patient_id FROM consultation WHERE id = $1")
        .bind(consultation_id)
        .fetch_one(conn)
        .await
}

/// The consultation's two parties, as the room names them.
async fn parties(db: &Db, consultation_id: i64) -> anyhow::Result<Option<(i64, String, String)>> {
    let mut conn = db.pool().acquire().await?;
    let row = consultation_store::get(&mut conn, consultation_id).await?;
    Ok(row.and_then(|c| {
        c.expert_id
            .map(|expert| (c.patient_id, c.requested_by.to_string(), expert.to_string()))
    }))
}

/// The server's side of a signalling room: records calls as they start and
/// end, audits consent, and starts a recording when consent is whole.
/// Failures are logged; they never break the call.
pub struct CallHooks {
    pub db: Db,
    /// `signalling_messages_refused_total`, by reason.
    pub refused: prometheus::IntCounterVec,
    pub recordings: consented_recording::Recordings,
    /// The caller's session: the call connection ends when it does.
    pub session: crate::auth::live::Watch,
}

impl CallHooks {
    async fn on_join(&self, room: &str, present: &[String]) -> anyhow::Result<()> {
        let consultation_id: i64 = room.parse()?;
        let Some((patient_id, clinician, expert)) = parties(&self.db, consultation_id).await?
        else {
            return Ok(());
        };
        // The rows, besides this node's view: another node's participant may
        // be there before its announcement has reached this node.
        let mut present = present.to_vec();
        present.extend(presence::in_room(&self.db, room).await?);
        present.sort();
        present.dedup();
        if !(present.contains(&clinician) && present.contains(&expert)) {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        // One open call per consultation (a unique index): a reconnect during
        // a call finds it open and changes nothing.
        let started: Option<i64> = sqlx::query_scalar(
            "INSERT INTO consultation_call (consultation_id, started_at) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(consultation_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(call_id) = started else {
            return Ok(());
        };
        let first = consultation_store::transition(
            &mut tx,
            consultation_id,
            Status::Scheduled,
            Status::InProgress,
            None,
            now,
        )
        .await?;
        audit::append(
            &mut tx,
            &Actor::system("call"),
            AuditEntry::new(Action::Create, "call.started")
                .entity("consultation", consultation_id)
                .patient(patient_id)
                .detail(json!({ "call_id": call_id, "participants": present, "consultation_started": first })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl CallHooks {
    /// Consent, and its withdrawal, is the participant's own act: audited
    /// under their name.
    async fn on_consent(&self, room: &str, peer: &str, given: bool) -> anyhow::Result<()> {
        let consultation_id: i64 = room.parse()?;
        let user_id: i64 = peer.parse()?;
        let mut tx = self.db.begin_write().await?;
        let username: String = sqlx::query_scalar("SELECT username FROM app_user WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        let patient_id = patient_of(&mut tx, consultation_id).await?;
        let actor = Actor {
            user_id: Some(user_id),
            name: username,
            client_addr: None,
            request_id: None,
        };
        let subtype = if given {
            "recording.consented"
        } else {
            "recording.consent_withdrawn"
        };
        audit::append(
            &mut tx,
            &actor,
            AuditEntry::new(Action::Update, subtype)
                .entity("consultation", consultation_id)
                .patient(patient_id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl ferry_signaling::session::Hooks for CallHooks {
    fn joined<'a>(
        &'a self,
        room: &'a str,
        peer: &'a str,
        present: Vec<String>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(error) = presence::joined(&self.db, self.recordings.node(), room, peer).await
            {
                tracing::warn!(%error, room, "recording a participant's presence failed");
            }
            if let Err(error) = self.on_join(room, &present).await {
                tracing::warn!(%error, room, "recording a call's start failed");
            }
            self.recordings.consider(room).await;
        })
    }

    fn left<'a>(&'a self, room: &'a str, peer: &'a str, present: Vec<String>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let node = self.recordings.node();
            if let Err(error) = presence::left(&self.db, node, room, peer, &present).await {
                tracing::warn!(%error, room, "clearing a participant's presence failed");
            }
            if let Err(error) = end_unless_whole(&self.db, room, &present).await {
                tracing::warn!(%error, room, "recording a call's end failed");
            }
            // One who had not consented may have left the others all consenting.
            self.recordings.consider(room).await;
        })
    }

    fn consent<'a>(
        &'a self,
        room: &'a str,
        peer: &'a str,
        given: bool,
        wanted: bool,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(error) = self.on_consent(room, peer, given).await {
                tracing::warn!(%error, room, "auditing a consent failed");
            }
            if wanted {
                self.recordings.consider(room).await;
            }
        })
    }

    fn malformed(&self, _room: &str, code: &str) {
        self.refused.with_label_values(&[code]).inc();
    }

    fn ended(&self) -> BoxFuture<'static, ()> {
        Box::pin(self.session.ended_owned())
    }
}

/// Ends `room`'s open call unless both parties are among `present`.
pub(crate) async fn end_unless_whole(
    db: &Db,
    room: &str,
    present: &[String],
) -> anyhow::Result<()> {
    let consultation_id: i64 = room.parse()?;
    let Some((patient_id, clinician, expert)) = parties(db, consultation_id).await? else {
        return Ok(());
    };
    if present.contains(&clinician) && present.contains(&expert) {
        return Ok(());
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let open: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, started_at FROM consultation_call WHERE consultation_id = $1 AND ended_at IS NULL",
    )
    .bind(consultation_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((call_id, started_at)) = open else {
        return Ok(());
    };
    sqlx::query("UPDATE consultation_call SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
        .bind(now)
        .bind(call_id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &Actor::system("call"),
        AuditEntry::new(Action::Update, "call.ended")
            .entity("consultation", consultation_id)
            .patient(patient_id)
            .detail(json!({ "call_id": call_id, "duration_ms": now - started_at })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
