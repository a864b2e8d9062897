//! The router's state: the kernel's [`AppState`] and the long-lived services
//! of the areas that run one. Each part is extracted on its own
//! (`State<AppState>`, `State<Imaging>`, ...), so an area's routes work on
//! any state that holds what they ask for and never name this one.

use std::ops::Deref;

use axum::extract::FromRef;
use ferry_signaling::room::Rooms;

use crate::call::consented_recording::Recordings;
use crate::imaging::Imaging;
use crate::state::AppState;

#[derive(Clone, FromRef)]
pub struct ServerState {
    pub app: AppState,
    /// The imaging store and the server's side of its traits.
    pub imaging: Imaging,
    /// The video-call rooms connected to this node.
    pub rooms: Rooms,
    /// The call recordings this node runs.
    pub recordings: Recordings,
}

impl ServerState {
    pub fn new(
        app: AppState,
        imaging: Imaging,
        rooms: Rooms,
        node: String,
    ) -> anyhow::Result<Self> {
        let recordings = Recordings::new(app.db.clone(), rooms.clone(), &app.settings, node)?;
        Ok(Self {
            app,
            imaging,
            rooms,
            recordings,
        })
    }
}

/// The kernel's parts read as `state.db`, `state.settings`, ... in the wiring.
impl Deref for ServerState {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.app
    }
}
