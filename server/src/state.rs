//! The state every handler receives: cheap to clone, one `Arc` inside.

use std::ops::Deref;
use std::sync::Arc;

use ferry_signaling::room::Rooms;

use crate::auth::live::LiveSessions;
use crate::auth::password;
use crate::call::consented_recording::Recordings;
use crate::config::Settings;
use crate::db::Db;
use crate::imaging::Imaging;
use crate::notify::Notifier;
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
    pub db: Db,
    pub settings: Settings,
    pub metrics: Metrics,
    pub notifier: Notifier,
    /// The imaging store and the server's side of its traits.
    pub imaging: Imaging,
    /// The video-call rooms connected to this node.
    pub rooms: Rooms,
    /// The call recordings this node runs.
    pub recordings: Recordings,
    /// The open streams and call sockets of each session, ended with it.
    pub sessions: LiveSessions,
    /// Bounds the password checks that sign-ins run at once.
    pub password_checks: password::Checks,
}

impl AppState {
    pub fn new(
        db: Db,
        settings: Settings,
        metrics: Metrics,
        imaging: Imaging,
        rooms: Rooms,
    ) -> Self {
        let recordings = Recordings::new(db.clone(), rooms.clone(), &settings);
        let sessions = LiveSessions::new(db.clone());
        Self(Arc::new(App {
            db,
            settings,
            metrics,
            notifier: Notifier::default(),
            imaging,
            rooms,
            recordings,
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
