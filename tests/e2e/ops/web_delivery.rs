//! What an island clinic's 1 Mbit/s link gets: the client's files and the
//! API's JSON compressed for whoever accepts it, the files under a version
//! that is cached for good, a 304 for what the browser already holds, and
//! every module asked for at once. `ferry-bench island` measures what
//! this is worth in page-load times.

use std::io::Read;

use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;

use crate::support::{spawn_app_with, TestApp};

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &bytes[..], &mut out).expect("brotli");
    out
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The answer's status, headers and raw (still encoded) body.
async fn fetch(
    app: &TestApp,
    path: &str,
    extra: &[(header::HeaderName, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = app.client.get(app.url(path));
    for (name, value) in extra {
        request = request.header(name.clone(), *value);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("a body").to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn the_client_goes_compressed_versioned_preloaded_and_answers_304_to_what_is_held() {
    // The embedded client, whatever FERRY_TEST_WEB_DIR says.
    let app = spawn_app_with(|settings| settings.web_dir = None).await;

    let (status, headers, plain_html) = fetch(&app, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), "");
    assert_eq!(header(&headers, header::CACHE_CONTROL), "no-cache");
    let (status, headers, br_html) =
        fetch(&app, "/", &[(header::ACCEPT_ENCODING, "gzip, deflate, br")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), "br");
    assert!(header(&headers, header::VARY).contains("accept-encoding"));
    assert_eq!(unbrotli(&br_html), plain_html);
    let html = String::from_utf8(plain_html).expect("UTF-8 HTML");

    // The entry, the style sheet and every module under one version.
    let at = html
        .find("<script type=\"module\" src=\"/v/")
        .expect("the module entry, versioned");
    let src = &html[at + "<script type=\"module\" src=\"".len()..];
    let src = &src[..src.find('"').expect("closing quote")];
    let version = src
        .strip_prefix("/v/")
        .and_then(|rest| rest.strip_suffix("/app.js"))
        .expect("/v/{version}/app.js");
    assert!(html.contains(&format!("href=\"/v/{version}/style.css\"")));
    // What the sign-in page needs comes with the page; the home, the call
    // and each screen when first opened, each with its own imports listed
    // in the page's module graph so they are asked for at once.
    let preloaded = |module: &str| {
        html.contains(&format!(
            "<link rel=\"modulepreload\" href=\"/v/{version}/{module}\">"
        ))
    };
    for module in [
        "lib/ferry.js",
        "lib/i18n.js",
        "lib/lazy.js",
        "screens/index.js",
    ] {
        assert!(preloaded(module), "{module} is preloaded");
    }
    let open = "<script type=\"application/json\" id=\"module-graph\">";
    let graph = &html[html.find(open).expect("the module graph") + open.len()..];
    let graph: serde_json::Value =
        serde_json::from_str(&graph[..graph.find("</script>").expect("its end")]).expect("JSON");
    for (module, needs) in [
        ("screens/home.js", "screens/consultation-times.js"),
        ("call/call-screen.js", "call/call.js"),
        ("screens/patient.js", "lib/patient-banner.js"),
        ("viewer/viewer.js", "viewer/viewer-image.js"),
    ] {
        assert!(!preloaded(module), "{module} waits until it is needed");
        let list = graph[module].as_array().expect("listed in the graph");
        assert_eq!(list[0], module, "{graph}");
        assert!(
            list.iter().any(|m| m == needs),
            "{module} needs {needs}: {graph}"
        );
        if module == "screens/home.js" {
            // The home shows times, not the case page, the viewer or the call.
            for heavy in [
                "screens/consultation.js",
                "viewer/viewer.js",
                "call/call.js",
            ] {
                assert!(!list.iter().any(|m| m == heavy), "{heavy}: {graph}");
            }
        }
        assert!(
            !list.iter().any(|m| m == "lib/ferry.js"),
            "the page has it: {graph}"
        );
    }

    // A versioned file is cached for good; gzip for a client without brotli.
    let (status, headers, gz) = fetch(
        &app,
        &format!("/v/{version}/lib/ferry.js"),
        &[(header::ACCEPT_ENCODING, "gzip")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), "gzip");
    assert!(header(&headers, header::CONTENT_TYPE).starts_with("text/javascript"));
    assert!(header(&headers, header::CACHE_CONTROL).contains("immutable"));
    let (_, plain_headers, plain) = fetch(&app, "/lib/ferry.js", &[]).await;
    assert_eq!(gunzip(&gz), plain);
    assert!(
        gz.len() * 2 < plain.len(),
        "{} of {}",
        gz.len(),
        plain.len()
    );
    // The same file under its plain path is asked about on each use.
    assert_eq!(header(&plain_headers, header::CACHE_CONTROL), "no-cache");
    // Under a version that is not this build's, never cached for good.
    let (status, headers, _) = fetch(&app, "/v/0123456789abcdef/lib/ferry.js", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CACHE_CONTROL), "no-cache");

    // What the browser holds: a 304 with no body, for every coding.
    let etag = header(&plain_headers, header::ETAG).to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(
        header(&headers, header::ETAG),
        etag,
        "one validator per file"
    );
    for accept in ["br", "gzip", "identity"] {
        let (status, headers, body) = fetch(
            &app,
            "/lib/ferry.js",
            &[
                (header::IF_NONE_MATCH, etag.as_str()),
                (header::ACCEPT_ENCODING, accept),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{accept}");
        assert!(body.is_empty());
        assert_eq!(header(&headers, header::ETAG), etag);
    }
    let (_, headers, _) = fetch(&app, "/", &[]).await;
    let page_tag = header(&headers, header::ETAG).to_owned();
    let (status, _, _) = fetch(&app, "/", &[(header::IF_NONE_MATCH, page_tag.as_str())]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    // An older validator gets the file.
    let (status, _, body) = fetch(
        &app,
        "/lib/ferry.js",
        &[(header::IF_NONE_MATCH, "W/\"an-older-build\"")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, plain);
}

#[tokio::test]
async fn json_answers_are_compressed_and_event_streams_are_not() {
    let app = spawn_app_with(|_| {}).await;
    app.with_demo().await;
    let login = app.login("demo-clinician", crate::support::PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let token = login.json::<serde_json::Value>().await.expect("JSON")["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let bearer = format!("Bearer {token}");

    let (status, headers, plain) = fetch(
        &app,
        "/api/v1/consultations",
        &[(header::AUTHORIZATION, bearer.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), "");
    serde_json::from_slice::<serde_json::Value>(&plain).expect("plain JSON");
    for (accept, decode) in [
        ("br", unbrotli as fn(&[u8]) -> Vec<u8>),
        ("gzip", gunzip as fn(&[u8]) -> Vec<u8>),
    ] {
        let (status, headers, encoded) = fetch(
            &app,
            "/api/v1/consultations",
            &[
                (header::AUTHORIZATION, bearer.as_str()),
                (header::ACCEPT_ENCODING, accept),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, header::CONTENT_ENCODING), accept);
        assert!(encoded.len() < plain.len(), "{accept}");
        assert_eq!(decode(&encoded), plain, "{accept}");
    }

    // DICOM JSON too.
    let (status, headers, encoded) = fetch(
        &app,
        "/dicomweb/studies",
        &[
            (header::AUTHORIZATION, bearer.as_str()),
            (header::ACCEPT_ENCODING, "gzip"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), "gzip");
    serde_json::from_slice::<serde_json::Value>(&gunzip(&encoded)).expect("DICOM JSON");

    // Notifications must not wait in an encoder's buffer.
    let stream = app
        .client
        .get(app.url("/api/v1/notifications/stream"))
        .header(header::AUTHORIZATION, bearer.as_str())
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(header(stream.headers(), header::CONTENT_TYPE).starts_with("text/event-stream"));
    assert_eq!(header(stream.headers(), header::CONTENT_ENCODING), "");
}

#[tokio::test]
async fn a_client_read_from_disk_is_preloaded_compressed_and_never_cached_for_good() {
    let dir = tempfile::tempdir().expect("temp dir");
    let web = dir.path();
    std::fs::create_dir_all(web.join("lib")).expect("mkdir");
    std::fs::write(
        web.join("index.html"),
        "<head><script type=\"module\" src=\"/app.js\"></script></head>",
    )
    .expect("write");
    std::fs::write(
        web.join("app.js"),
        "import { words } from './lib/words.js';\n",
    )
    .expect("write");
    let words = format!("export const words = '{}';\n", "岛 island ".repeat(400));
    std::fs::write(web.join("lib/words.js"), &words).expect("write");
    let app = spawn_app_with(|settings| settings.web_dir = Some(web.to_path_buf())).await;

    let (_, _, html) = fetch(&app, "/", &[]).await;
    let html = String::from_utf8(html).expect("UTF-8");
    let at = html.find("src=\"/v/").expect("versioned entry") + "src=\"/v/".len();
    let version = &html[at..at + html[at..].find('/').expect("a version")];
    assert!(html.contains(&format!(
        "<link rel=\"modulepreload\" href=\"/v/{version}/lib/words.js\">"
    )));

    let (status, headers, gz) = fetch(
        &app,
        &format!("/v/{version}/lib/words.js"),
        &[(header::ACCEPT_ENCODING, "gzip")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_ENCODING), "gzip");
    assert_eq!(header(&headers, header::CACHE_CONTROL), "no-cache");
    assert_eq!(gunzip(&gz), words.as_bytes());
    let etag = header(&headers, header::ETAG).to_owned();
    let (status, _, _) = fetch(
        &app,
        "/lib/words.js",
        &[(header::IF_NONE_MATCH, etag.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
}
