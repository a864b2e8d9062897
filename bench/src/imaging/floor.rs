//! The floor under WADO-RS: the same bytes a whole-study retrieval answered
//! with, saved to a file and served by a bare axum route that streams it from
//! disk, over loopback, to the same client. No archive can send a study
//! faster than a file of its answer is sent; Ferry's retrieval is measured
//! against it.
//!
//! Written here rather than taken from a file server crate: the floor should
//! stream the way Ferry's answers do (tokio file reads in 256 KiB chunks
//! through hyper), so the ratio isolates what retrieval adds (the index
//! lookup, access check, audit and one file per instance).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

use super::workload::Peer;

/// The saved answer and its content type.
struct Saved {
    path: PathBuf,
    content_type: String,
}

/// A file server for one saved answer, as a [`Peer`] that answers WADO-RS
/// of any study with it.
pub struct StaticFloor {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Peer for StaticFloor {
    fn name(&self) -> &'static str {
        "static file"
    }
    fn dimse(&self) -> (u16, &str) {
        (0, "")
    }
    fn dicomweb(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn bearer(&self) -> Option<&str> {
        None
    }
}

impl StaticFloor {
    /// Retrieves `study` from `peer` once, saves the answer under `dir` and
    /// serves it.
    pub async fn of(peer: &dyn Peer, study: &str, dir: &std::path::Path) -> anyhow::Result<Self> {
        let (content_type, body) =
            super::workload::retrieve(&reqwest::Client::new(), peer, study).await?;
        let path = dir.join("study.multipart");
        tokio::fs::write(&path, &body).await?;
        let saved = Arc::new(Saved { path, content_type });
        let app = axum::Router::new()
            .route("/studies/{study}", axum::routing::get(send))
            .with_state(saved);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(StaticFloor { addr, server })
    }

    pub fn stop(self) {
        self.server.abort();
    }
}

async fn send(State(saved): State<Arc<Saved>>) -> Response {
    match tokio::fs::File::open(&saved.path).await {
        Ok(file) => (
            [(header::CONTENT_TYPE, saved.content_type.clone())],
            Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                file,
                256 * 1024,
            )),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
