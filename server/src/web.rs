//! The browser client in `web-client/`, compiled into the binary so a fresh
//! install serves it with no build step and no path to configure.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../../web-client/index.html");
const APP_JS: &str = include_str!("../../web-client/app.js");
const CALL_JS: &str = include_str!("../../web-client/call.js");
const CALL_SCREEN_JS: &str = include_str!("../../web-client/call-screen.js");
const I18N_JS: &str = include_str!("../../web-client/i18n.js");
const STYLE_CSS: &str = include_str!("../../web-client/style.css");

/// Scripts only from this origin, no framing: the app holds clinical data.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/call.js",
            get(|| async { asset("text/javascript; charset=utf-8", CALL_JS) }),
        )
        .route(
            "/call-screen.js",
            get(|| async { asset("text/javascript; charset=utf-8", CALL_SCREEN_JS) }),
        )
        .route(
            "/i18n.js",
            get(|| async { asset("text/javascript; charset=utf-8", I18N_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        // Browsers ask for it unprompted; an empty answer beats a 404 in every console.
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
