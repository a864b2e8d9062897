//! How long a request may take to be answered: [`deadline`] stops a handler
//! that has not produced its response in time and answers `503 timed_out`
//! instead, so a stuck query or a lock held elsewhere does not keep the
//! client (and a connection, and a database connection) waiting for ever.
//! Dropping the handler rolls back a transaction it had not committed.
//!
//! The long requests get their own: STOW-RS, the notification stream and
//! call WebSockets have none, their pauses being bounded instead (the body
//! and idle timeouts of [`crate::serve`]); WADO-RS of a whole study or
//! series gets `http_long_request_timeout_seconds`. The deadline counts
//! until the response starts; a body streamed after that is bounded by the
//! idle timeout.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Which deadline a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Bounded by its pauses, not in total.
    Streaming,
    /// Retrieval of a whole study or series.
    Long,
    Normal,
}

fn kind(method: &Method, path: &str) -> Kind {
    if path.starts_with("/signal/") || path == "/api/v1/notifications/stream" {
        return Kind::Streaming;
    }
    let Some(dicomweb) = path.strip_prefix("/dicomweb/") else {
        return Kind::Normal;
    };
    let segments: Vec<&str> = dicomweb.trim_end_matches('/').split('/').collect();
    if *method == Method::POST && segments.first() == Some(&"studies") {
        return Kind::Streaming;
    }
    // studies/{study} and studies/{study}/series/{series}: whole ones.
    let whole = matches!(
        segments.as_slice(),
        ["studies", _] | ["studies", _, "series", _]
    );
    if *method == Method::GET && whole {
        Kind::Long
    } else {
        Kind::Normal
    }
}

/// The middleware.
pub async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let seconds = match kind(request.method(), request.uri().path()) {
        Kind::Streaming => return next.run(request).await,
        Kind::Long => state.settings.http_long_request_timeout_seconds,
        Kind::Normal => state.settings.http_request_timeout_seconds,
    }
    .max(1);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(Duration::from_secs(seconds), next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%method, path, seconds, "request stopped at its deadline");
            ApiError::TimedOut {
                limit_secs: seconds,
            }
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_requests_are_told_apart() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(kind(&get, "/signal/12"), Kind::Streaming);
        assert_eq!(kind(&get, "/api/v1/notifications/stream"), Kind::Streaming);
        assert_eq!(kind(&post, "/dicomweb/studies"), Kind::Streaming);
        assert_eq!(kind(&post, "/dicomweb/studies/1.2.3"), Kind::Streaming);
        assert_eq!(kind(&get, "/dicomweb/studies/1.2.3"), Kind::Long);
        assert_eq!(kind(&get, "/dicomweb/studies/1.2/series/3.4"), Kind::Long);
        assert_eq!(
            kind(&get, "/dicomweb/studies/1.2/series/3.4/metadata"),
            Kind::Normal
        );
        assert_eq!(kind(&get, "/dicomweb/studies"), Kind::Normal);
        assert_eq!(kind(&get, "/api/v1/patients/1"), Kind::Normal);
        assert_eq!(kind(&post, "/api/v1/bookings"), Kind::Normal);
    }
}
