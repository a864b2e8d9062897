//! The kernel's state: what every area's handlers share. Cheap to clone, one
//! `Arc` inside.
//!
//! Areas that run a long-lived service of their own (the imaging store, the
//! call rooms and their recordings) do not add it here: the router's state
//! ([`crate::server_state::ServerState`]) holds them beside this one, and a
//! handler asks for one with its own `State<…>` extractor (axum's `FromRef`).
//! So the kernel names no feature area.

use std::ops::Deref;
use std::sync::Arc;

use crate::audit::journal::Journal;
use crate::auth::live::LiveSessions;
use crate::auth::password;
use crate::config::Settings;
use crate::db::Db;
use crate::notify::Notifier;
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
    pub db: Db,
    pub settings: Settings,
    pub metrics: Metrics,
    /// Where reads record their audit events (group commit).
    pub journal: Journal,
    pub notifier: Notifier,
    /// The open streams and call sockets of each session, ended with it.
    pub sessions: LiveSessions,
    /// Bounds the password checks that sign-ins run at once.
    pub password_checks: password::Checks,
}

impl AppState {
    pub fn new(db: Db, settings: Settings, metrics: Metrics) -> Self {
        let sessions = LiveSessions::new(db.clone());
        let journal = if settings.unaudited_reads {
            Journal::discarding()
        } else {
            Journal::start(db.clone())
        };
        Self(Arc::new(App {
            journal,
            db,
            settings,
            metrics,
            notifier: Notifier::default(),
            sessions,
            password_checks: password::Checks::for_this_machine(),
        }))
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
