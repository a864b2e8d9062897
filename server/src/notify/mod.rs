//! Notifications: new bookings, acceptances, moved bookings, signed opinions,
//! referral decisions, escalations. Each is a row written in the same
//! transaction as the change it announces, then pushed to the user's open
//! event streams (server-sent events) once that transaction has committed.
//!
//! The in-process [`Notifier`] only wakes streams; the rows are the truth.
//! With PostgreSQL, every wake is also told to the other nodes sharing it
//! ([`cluster`]), so a user whose stream is open on another node hears at
//! once. A stream also re-reads on a timer, as a fallback.

pub mod cluster;
pub mod routes;
pub mod store;

use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

use tokio::sync::{broadcast, mpsc, watch};
use utoipa::ToSchema;

use crate::auth::Role;
use crate::db::Tx;

/// Wakes the event streams of users who have something new.
#[derive(Debug, Clone)]
pub struct Notifier {
    wake: broadcast::Sender<i64>,
    closed: watch::Sender<bool>,
    /// The users to wake on the other nodes, once [`cluster::share`] has
    /// connected this node to them.
    others: Arc<OnceLock<mpsc::UnboundedSender<i64>>>,
}

impl Default for Notifier {
    fn default() -> Self {
        let (wake, _) = broadcast::channel(1024);
        let (closed, _) = watch::channel(false);
        Self {
            wake,
            closed,
            others: Arc::default(),
        }
    }
}

impl Notifier {
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.wake.subscribe()
    }

    /// Resolves once the server is shutting down, so open streams end and
    /// graceful shutdown does not wait for them forever.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closed = self.closed.subscribe();
        async move {
            let _ = closed.wait_for(|closed| *closed).await;
        }
    }

    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Notification streams open on this node, for the metrics: each
    /// holds one subscription.
    pub fn streams(&self) -> usize {
        self.wake.receiver_count()
    }

    fn wake(&self, user_id: i64) {
        self.wake_here(user_id);
        if let Some(others) = self.others.get() {
            let _ = others.send(user_id);
        }
    }

    /// Wakes the user's streams on this node only.
    fn wake_here(&self, user_id: i64) {
        // No receiver means no open stream: nothing to wake.
        let _ = self.wake.send(user_id);
    }
}

/// Notifications written in a transaction, to announce once it commits.
#[derive(Debug, Default)]
#[must_use = "call deliver() after the transaction commits"]
pub struct Outbox {
    users: Vec<i64>,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    pub async fn push(
        &mut self,
        tx: &mut Tx,
        user_id: i64,
        kind: &str,
        mut payload: Value,
    ) -> Result<(), sqlx::Error> {
        // Every notification about a patient leads with whom it is about:
        // the name and the record number the recipient's facility knows.
        if let Some(patient) = store::patient_of(tx, user_id, &payload).await? {
            if let Value::Object(fields) = &mut payload {
                fields.insert("patient_id".to_owned(), Value::from(patient.id));
                fields.insert("patient_name".to_owned(), Value::from(patient.name));
                fields.insert(
                    "patient_record_number".to_owned(),
                    patient.record_number.map_or(Value::Null, Value::from),
                );
            }
        }
        store::insert(tx, user_id, kind, &payload, crate::time::now_ms()).await?;
        if !self.users.contains(&user_id) {
            self.users.push(user_id);
        }
        Ok(())
    }

    /// Notifies every active user with `role` (e.g. all schedulers).
    pub async fn push_role(
        &mut self,
        tx: &mut Tx,
        role: Role,
        kind: &str,
        payload: Value,
    ) -> Result<(), sqlx::Error> {
        for user_id in store::users_with_role(tx, role).await? {
            self.push(tx, user_id, kind, payload.clone()).await?;
        }
        Ok(())
    }

    /// Wakes the recipients' streams. Call only after the commit.
    pub fn deliver(self, notifier: &Notifier) {
        for user_id in self.users {
            notifier.wake(user_id);
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    /// e.g. `booking.created`, `booking.moved`, `consultation.accepted`,
    /// `opinion.signed`, `referral.decided`, `consultation.escalated`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: String,
    pub read_at: Option<String>,
}
