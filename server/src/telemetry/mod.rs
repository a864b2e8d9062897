//! Logging, request ids and request metrics; counters copied from the
//! imaging store and the DIMSE listener at each scrape ([`tallies`]).
//!
//! Spans record the request id, method, matched route and status. They never
//! record query strings or bodies: a patient search carries a name, and names
//! do not belong in logs.

pub mod tallies;

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};
use crate::state::AppState;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a client.
pub const REQUEST_ID_MAX: usize = 64;

/// Whether a client's `X-Request-Id` may be kept: 1 to [`REQUEST_ID_MAX`] of
/// `A-Z a-z 0-9 . _ -`, which every tracing system's ids fit. Anything else
/// (markup, a kilobyte of text) would be stored verbatim in the audit trail
/// and echoed into logs, so it is replaced by one of the server's own.
pub fn valid_request_id(id: &str) -> bool {
    (1..=REQUEST_ID_MAX).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Drops every `X-Request-Id` unless there is exactly one and it is valid,
/// so that [`SetRequestIdLayer`] puts a fresh one in its place.
async fn drop_bad_request_id(mut request: Request) -> Request {
    let headers = request.headers();
    let mut ids = headers.get_all(REQUEST_ID_HEADER).iter();
    let keep = match (ids.next(), ids.next()) {
        (Some(id), None) => id.to_str().is_ok_and(valid_request_id),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

/// Installs the global subscriber. Called once by the CLI; a second call (as in
/// tests that build several applications) is ignored.
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Prometheus figures for `/metrics`.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Signalling messages refused, by reason (malformed, rate_limited, …).
    pub signal_refused: IntCounterVec,
    /// What is open now, read at each scrape (`ops::metrics`).
    pub now: Gauges,
    /// Ingest and DIMSE counts, copied at each scrape.
    pub tallies: tallies::Tallies,
}

/// Figures of the moment, set when `/metrics` is read rather than kept up
/// to date by every change: each is one cheap look.
#[derive(Clone)]
pub struct Gauges {
    /// Database connections of this node's pool, `idle` or `busy`.
    pub db_connections: IntGaugeVec,
    /// Call participants connected to this node.
    pub call_participants: IntGauge,
    /// Calls with anyone in them.
    pub call_rooms: IntGauge,
    /// Notification streams (server-sent events) open on this node.
    pub notification_streams: IntGauge,
    /// Instances waiting in the forwarding outbox, for every node.
    pub forwarding_pending: IntGauge,
}

impl Gauges {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let gauges = Self {
            db_connections: IntGaugeVec::new(
                Opts::new(
                    "db_pool_connections",
                    "Database connections of the pool, by state",
                ),
                &["state"],
            )?,
            call_participants: IntGauge::new(
                "call_participants",
                "Call participants connected to this node",
            )?,
            call_rooms: IntGauge::new("call_rooms", "Calls with anyone in them")?,
            notification_streams: IntGauge::new(
                "notification_streams",
                "Notification streams open on this node",
            )?,
            forwarding_pending: IntGauge::new(
                "forwarding_pending",
                "Instances waiting in the forwarding outbox",
            )?,
        };
        registry.register(Box::new(gauges.db_connections.clone()))?;
        registry.register(Box::new(gauges.call_participants.clone()))?;
        registry.register(Box::new(gauges.call_rooms.clone()))?;
        registry.register(Box::new(gauges.notification_streams.clone()))?;
        registry.register(Box::new(gauges.forwarding_pending.clone()))?;
        Ok(gauges)
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("ferry".to_owned()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            ),
            &["method", "route"],
        )?;
        let signal_refused = IntCounterVec::new(
            Opts::new(
                "signalling_messages_refused_total",
                "Signalling messages refused, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(signal_refused.clone()))?;
        // CPU, memory, open files and threads of this process, from /proc.
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let now = Gauges::new(&registry)?;
        let tallies = tallies::Tallies::new(&registry)?;
        Ok(Self {
            registry,
            requests,
            latency,
            signal_refused,
            now,
            tallies,
        })
    }
}

/// Counts and times each request under its route template (`/patients/{id}`,
/// never the concrete path, which would make one series per patient).
pub async fn record_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .requests
        .with_label_values(&[&method, &route, response.status().as_str()])
        .inc();
    metrics
        .latency
        .with_label_values(&[&method, &route])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Request id outermost (after a client's bad one is dropped), so the trace
/// span and every log line inside it carry it, and the response echoes it back.
pub fn apply_layers(router: axum::Router) -> axum::Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-")
                .to_owned();
            tracing::info_span!(
                "request",
                request_id = %request_id,
                method = %request.method(),
                path = %request.uri().path(),
                // Filled in once the session is resolved; an id, never a name.
                user_id = tracing::field::Empty,
            )
        })
        .on_response(
            |response: &Response, latency: std::time::Duration, _span: &tracing::Span| {
                tracing::info!(
                    status = response.status().as_u16(),
                    latency_ms = latency.as_millis() as u64,
                    "response"
                );
            },
        );
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_bad_request_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(valid_request_id("3f2a9c1e-7b4d-4f0e-9a8b-1c2d3e4f5a6b"));
        assert!(valid_request_id("trace.01_A-b"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id(&"a".repeat(REQUEST_ID_MAX + 1)));
        assert!(!valid_request_id("<script>alert(1)</script>"));
        assert!(!valid_request_id("a b"));
        assert!(!valid_request_id("été"));
    }
}
