//! The browser client in `web-client/`, compiled into the binary so a fresh
//! install serves it with no build step and no path to configure. With
//! `web_dir` set, the same names are read from that directory on each
//! request instead, so work on the client needs no rebuild.

use axum::extract::{FromRef, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Every file of the client, by the name it is served under (`/{name}`).
macro_rules! assets {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../web-client/", $name)))),*]
    };
}

const ASSETS: &[(&str, &str)] = assets![
    "index.html",
    "style.css",
    "i18n.js",
    "ferry.js",
    "call.js",
    "call-screen.js",
    "call-share.js",
    "desk.js",
    "charts.js",
    "roster.js",
    "bookings-board.js",
    "oncall.js",
    "figures.js",
    "admin.js",
    "admin-setup.js",
    "admin-audit.js",
    "notifications.js",
    "consultation.js",
    "opinion.js",
    "home.js",
    "dicom-header.js",
    "patient.js",
    "patient-care.js",
    "stow.js",
    "upload.js",
    "booking.js",
    "viewer-image.js",
    "viewer-ecg.js",
    "viewer-tools.js",
    "viewer-panes.js",
    "viewer.js",
    "worklist.js",
    "report.js",
    "app.js",
];

/// Scripts only from this origin, no framing: the app holds clinical data.
/// `blob:` images are the viewer's rendered frames and thumbnails.
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    Router::new()
        .route(
            "/",
            get(|state| asset(state, Path("index.html".to_owned()))),
        )
        .route("/{name}", get(asset))
        // Browsers ask for it unprompted; an empty answer beats a 404 in every console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

async fn asset(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(content_type) = content_type(&name) else {
        return ApiError::NoRoute.into_response();
    };
    let body = match &state.settings.web_dir {
        // Only plain names reach here (see `content_type`), so the path
        // stays inside the directory.
        Some(dir) => match tokio::fs::read(dir.join(&name)).await {
            Ok(bytes) => bytes,
            Err(_) => return ApiError::NoRoute.into_response(),
        },
        None => match ASSETS.iter().find(|(known, _)| *known == name) {
            Some((_, text)) => text.as_bytes().to_vec(),
            None => return ApiError::NoRoute.into_response(),
        },
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The type of a client file by its extension; `None` for any name that is
/// not a plain `name.ext` of a known kind.
fn content_type(name: &str) -> Option<&'static str> {
    let (stem, extension) = name.rsplit_once('.')?;
    let plain = !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain {
        return None;
    }
    match extension {
        "html" => Some("text/html; charset=utf-8"),
        "js" => Some("text/javascript; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        "svg" => Some("image/svg+xml"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_of_known_kinds_are_served() {
        assert_eq!(
            content_type("app.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            content_type("call-screen.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(content_type("../secret.js"), None);
        assert_eq!(content_type("a/b.js"), None);
        assert_eq!(content_type(".js"), None);
        assert_eq!(content_type("ferry.toml"), None);
        assert_eq!(content_type("app"), None);
    }
}
