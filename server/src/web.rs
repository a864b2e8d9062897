//! The browser client in `web-client/`, compiled into the binary so a fresh
//! install serves it with no build step and no path to configure. Every file
//! of the directory is served under its path there (`/app.js`,
//! `/lib/ferry.js`); `build.rs` lists them. With `web_dir` set, the same
//! names are read from that directory on each request instead, so work on
//! the client needs no rebuild.
//!
//! What an island clinic's 1 Mbit/s, 400 ms link needs (`client.rs` says
//! how): `index.html` names the files under `/v/{version}/`, answered as
//! `immutable`, and preloads every module; each file is sent in brotli or
//! gzip when the browser takes it, and carries an ETag, so a revalidation
//! (`index.html` on every load, and the unversioned paths) costs a 304.
//! From `web_dir`, nothing is `immutable` (an edit shows on reload) and the
//! router's compression layer compresses on the fly.

mod client;

use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;
use client::{Client, Encoding, File};

/// Every file of the client, by the path it is served under (no leading `/`).
const ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Scripts only from this origin, no framing: the app holds clinical data.
/// `blob:` images are the viewer's rendered frames and thumbnails; `blob:`
/// media, a call recording's sound played on the consultation's page
/// (fetched once through the audited download).
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A versioned file never changes under its URL.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Anything else is asked about on each use (a 304 when unchanged).
const REVALIDATE: &str = "no-cache";

/// The embedded client, prepared on first use.
fn embedded() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::new(
            ASSETS
                .iter()
                .map(|(name, bytes)| ((*name).to_owned(), Bytes::from_static(bytes))),
        )
    })
}

/// The client is the shell at the top and one level of folders by role
/// (`lib/`, `screens/`, `viewer/`, `call/`, `i18n/`); deeper paths are not
/// its. The same files again under `/v/{version}/`.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    Router::new()
        .route(
            "/",
            get(|state, headers| asset(state, headers, None, "index.html".to_owned())),
        )
        .route(
            "/{name}",
            get(|state, headers, Path(name): Path<String>| asset(state, headers, None, name)),
        )
        .route(
            "/{folder}/{name}",
            get(
                |state, headers, Path((folder, name)): Path<(String, String)>| {
                    asset(state, headers, None, format!("{folder}/{name}"))
                },
            ),
        )
        .route(
            "/v/{version}/{name}",
            get(
                |state, headers, Path((version, name)): Path<(String, String)>| {
                    asset(state, headers, Some(version), name)
                },
            ),
        )
        .route(
            "/v/{version}/{folder}/{name}",
            get(
                |state, headers, Path((version, folder, name)): Path<(String, String, String)>| {
                    asset(state, headers, Some(version), format!("{folder}/{name}"))
                },
            ),
        )
        // Browsers ask for it unprompted; an empty answer beats a 404 in every console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

async fn asset(
    State(state): State<AppState>,
    headers: HeaderMap,
    version: Option<String>,
    name: String,
) -> Response {
    let Some(content_type) = content_type(&name) else {
        return ApiError::NoRoute.into_response();
    };
    match &state.settings.web_dir {
        // Only plain names reach here (see `content_type`), so the path
        // stays inside the directory.
        Some(dir) => {
            let client = if name == "index.html" {
                from_disk(dir).await
            } else {
                match tokio::fs::read(dir.join(&name)).await {
                    Ok(bytes) => Client::new([(name.clone(), Bytes::from(bytes))]),
                    Err(_) => return ApiError::NoRoute.into_response(),
                }
            };
            let Some(file) = client.get(&name) else {
                return ApiError::NoRoute.into_response();
            };
            // Sent as it is: the router's compression layer compresses it.
            answer(
                file,
                &headers,
                content_type,
                REVALIDATE,
                Encoding::Identity,
                file.encoded(Encoding::Identity),
            )
        }
        None => {
            let client = embedded();
            let Some(file) = client.get(&name) else {
                return ApiError::NoRoute.into_response();
            };
            // Immutable only under the current version: a page of an
            // older build asking for its files gets today's, to revalidate.
            let cache = match version {
                Some(v) if v == client.version() && name != "index.html" => IMMUTABLE,
                _ => REVALIDATE,
            };
            let encoding = Encoding::negotiate(
                headers
                    .get(header::ACCEPT_ENCODING)
                    .and_then(|v| v.to_str().ok()),
            );
            if not_modified(file, &headers) {
                return answer(file, &headers, content_type, cache, encoding, Bytes::new());
            }
            // Compressing takes a while the first time; not on the async threads.
            let (encoding, bytes) =
                match tokio::task::spawn_blocking(move || file.encoded(encoding)).await {
                    Ok(bytes) => (encoding, bytes),
                    // A compressor that panicked: the file as it is.
                    Err(_) => (Encoding::Identity, file.encoded(Encoding::Identity)),
                };
            answer(file, &headers, content_type, cache, encoding, bytes)
        }
    }
}

fn not_modified(file: &File, headers: &HeaderMap) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| file.matches(v))
}

/// The file's answer, or a 304 when the request already holds it.
fn answer(
    file: &File,
    headers: &HeaderMap,
    content_type: &'static str,
    cache: &'static str,
    encoding: Encoding,
    bytes: Bytes,
) -> Response {
    let mut response = if not_modified(file, headers) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Body::from(bytes).into_response();
        if let Some(coding) = encoding.header() {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        response
    };
    let out = response.headers_mut();
    // `text/javascript` is what browsers require of a module script.
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(etag) = HeaderValue::from_str(file.etag()) {
        out.insert(header::ETAG, etag);
    }
    response
}

/// The client in `dir` as the embedded one is prepared: `index.html` needs
/// every module to list its preloads. Unreadable files are left out.
async fn from_disk(dir: &std::path::Path) -> Client {
    let mut files = Vec::new();
    let mut folders = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = folders.pop() {
        let Ok(mut entries) = tokio::fs::read_dir(&folder).await else {
            continue;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let path = format!("{prefix}{name}");
            if entry.file_type().await.is_ok_and(|t| t.is_dir()) {
                // The router serves one level of folders.
                if prefix.is_empty() && content_type(&format!("{path}/x.js")).is_some() {
                    folders.push((entry.path(), format!("{path}/")));
                }
            } else if content_type(&path).is_some() {
                if let Ok(bytes) = tokio::fs::read(entry.path()).await {
                    files.push((path, Bytes::from(bytes)));
                }
            }
        }
    }
    Client::new(files)
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
