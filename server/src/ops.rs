//! Liveness, readiness and metrics, for load balancers and Prometheus.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use prometheus::{Encoder, TextEncoder};
use serde_json::json;

use crate::state::AppState;

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

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
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
