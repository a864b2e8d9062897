//! The browser client in `web-client/`, compiled into the binary so a fresh
//! install serves it with no build step and no path to configure. Every file
//! of the directory is served under its path there (`/app.js`,
//! `/lib/ferry.js`); `build.rs` lists them. With `web_dir` set, the same
//! names are read from that directory on each request instead, so work on
//! the client needs no rebuild.

use axum::extract::{FromRef, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Every file of the client, by the path it is served under (no leading `/`).
const ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Scripts only from this origin, no framing: the app holds clinical data.
/// `blob:` images are the viewer's rendered frames and thumbnails.
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

/// The client is the shell at the top and one level of folders by role
/// (`lib/`, `screens/`, `viewer/`, `call/`, `i18n/`); deeper paths are not
/// its.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    Router::new()
        .route("/", get(|state| asset(state, "index.html".to_owned())))
        .route(
            "/{name}",
            get(|state, Path(name): Path<String>| asset(state, name)),
        )
        .route(
            "/{folder}/{name}",
            get(|state, Path((folder, name)): Path<(String, String)>| {
                asset(state, format!("{folder}/{name}"))
            }),
        )
        // Browsers ask for it unprompted; an empty answer beats a 404 in every console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

async fn asset(State(state): State<AppState>, name: String) -> Response {
    let Some(content_type) = content_type(&name) else {
        return ApiError::NoRoute.into_response();
    };
    let body = match &state.settings.web_dir {
        // Only plain names reach here (see `content_type`), so the path
        // stays inside the directory.
        Some(dir) => match tokio::fs::read(dir.join(&name)).await {
            Ok(bytes) => bytes.into(),
            Err(_) => return ApiError::NoRoute.into_response(),
        },
        None => match ASSETS.iter().find(|(known, _)| *known == name) {
            Some((_, bytes)) => axum::body::Body::from(*bytes),
            None => return ApiError::NoRoute.into_response(),
        },
    };
    (
        [
            // `text/javascript` is what browsers require of a module script.
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The type of a client file by its extension; `None` for any path that is
/// not plain segments of `[A-Za-z0-9._-]` (none empty, none starting with a
/// dot, so never `..`) ending in a name of a known kind. The path comes
/// percent-decoded, so `%2e%2e` and `%2f` are refused here as `..` and `/`.
fn content_type(path: &str) -> Option<&'static str> {
    let plain = |segment: &str| {
        !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if !path.split('/').all(plain) {
        return None;
    }
    let (_, extension) = path.rsplit_once('.')?;
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

    const JS: Option<&str> = Some("text/javascript; charset=utf-8");

    #[test]
    fn only_plain_paths_of_known_kinds_are_served() {
        assert_eq!(content_type("app.js"), JS);
        assert_eq!(content_type("call-screen.js"), JS);
        assert_eq!(content_type("lib/ferry.js"), JS);
        assert_eq!(content_type("viewer/viewer.min.js"), JS);
        assert_eq!(content_type("../secret.js"), None);
        assert_eq!(content_type("lib/../secret.js"), None);
        assert_eq!(content_type("../lib/x.js"), None);
        assert_eq!(content_type("lib/..js"), None);
        assert_eq!(content_type("/etc/x.js"), None);
        assert_eq!(content_type("lib//x.js"), None);
        assert_eq!(content_type("lib\\x.js"), None);
        assert_eq!(content_type("lib/x.js%00"), None);
        assert_eq!(content_type(".js"), None);
        assert_eq!(content_type(".hidden/x.js"), None);
        assert_eq!(content_type("ferry.toml"), None);
        assert_eq!(content_type("jsconfig.json"), None);
        assert_eq!(content_type("lib/i18n.test.mjs"), None);
        assert_eq!(content_type("app"), None);
    }

    #[test]
    fn the_whole_client_is_embedded_and_servable() {
        for name in [
            "index.html",
            "style.css",
            "app.js",
            "lib/ferry.js",
            "lib/i18n.js",
        ] {
            assert!(ASSETS.iter().any(|(known, _)| *known == name), "{name}");
        }
        for (name, _) in ASSETS {
            assert!(
                content_type(name).is_some(),
                "{name} is embedded but not servable"
            );
            assert!(
                name.split('/').count() <= 2,
                "{name} is deeper than the router serves"
            );
        }
    }
}
