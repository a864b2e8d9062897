//! Liveness, readiness and metrics, for load balancers and Prometheus.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferry_dicom_store::ingest::tally::REASONS;
use ferry_signaling::room::Rooms;
use prometheus::{Encoder, TextEncoder};
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Compares digests, so the time taken says nothing about how much of the
/// token was right.
fn same_secret(expected: &str, presented: &str) -> bool {
    Sha256::digest(expected.as_bytes()) == Sha256::digest(presented.as_bytes())
}

/// The process is up and serving.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The node can do useful work: its database answers.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(state.db.pool())
        .await
    {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database" })),
            )
        }
    }
}

/// Prometheus figures, for the bearer of `metrics_token` only: they tell
/// how busy each facility's doors are, which is no business of the
/// internet. With no token configured, nobody gets them.
pub async fn metrics(
    State(state): State<AppState>,
    State(rooms): State<Rooms>,
    State(imaging): State<crate::imaging::Imaging>,
    headers: HeaderMap,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let allowed = match (&state.settings.metrics_token, presented) {
        (Some(token), Some(presented)) => same_secret(token.expose_secret(), presented.trim()),
        _ => false,
    };
    if !allowed {
        return if state.settings.metrics_token.is_none() {
            ApiError::Forbidden {
                code: ErrorCode::MetricsDisabled,
                message: "set metrics_token to publish metrics".to_owned(),
            }
            .into_response()
        } else {
            ApiError::Unauthenticated.into_response()
        };
    }
    let now = &state.metrics.now;
    let pool = state.db.pool();
    let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
    let size = i64::from(pool.size());
    now.db_connections.with_label_values(&["idle"]).set(idle);
    now.db_connections
        .with_label_values(&["busy"])
        .set(size.saturating_sub(idle));
    now.call_participants
        .set(i64::try_from(rooms.connections()).unwrap_or(i64::MAX));
    now.call_rooms
        .set(i64::try_from(rooms.rooms()).unwrap_or(i64::MAX));
    now.notification_streams
        .set(i64::try_from(state.notifier.streams()).unwrap_or(i64::MAX));
    match crate::imaging::forward::pending(pool).await {
        Ok(pending) => now.forwarding_pending.set(pending),
        Err(error) => tracing::warn!(%error, "could not count the forwarding outbox"),
    }
    let tallies = &state.metrics.tallies;
    for figures in imaging.store().tally().figures() {
        let refused: Vec<(&str, u64)> = REASONS.iter().copied().zip(figures.refused).collect();
        tallies.ingest(
            figures.via.as_str(),
            figures.created,
            figures.already_stored,
            figures.bytes,
            &refused,
        );
    }
    let associations = imaging.associations();
    tallies.associations(
        associations.open(),
        associations.accepted(),
        associations.busy(),
    );
    let mut buffer = Vec::new();
    let encoder = TextEncoder::new();
    if let Err(err) = encoder.encode(&state.metrics.registry.gather(), &mut buffer) {
        tracing::error!(error = %err, "could not encode metrics");
        return (StatusCode::INTERNAL_SERVER_ERROR, String::new()).into_response();
    }
    (
        [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
        String::from_utf8_lossy(&buffer).into_owned(),
    )
        .into_response()
}
