//! HTTPS on the web listener (`tls_certificate`): a browser's camera needs
//! a secure context, and on an island link HTTP/2's one connection saves a
//! round trip per request over HTTP/1.1's six. Clients that ask for HTTP/2
//! get it, the others HTTP/1.1; the session cookie is `Secure`; two browsers
//! meet in a call through it (signalling over `wss://`); plain HTTP sent to
//! the port is turned away and the listener goes on serving.

use std::time::Duration;

use reqwest::header;
use reqwest::{StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::browser::Browser;
use crate::support::calls::accepted;
use crate::support::scheduling::desk;
use ferry_server::auth::Role;

use crate::support::{spawn_app_https, PASSWORD};

#[tokio::test]
async fn with_a_certificate_the_listener_speaks_http2_and_http1_over_tls() {
    let app = spawn_app_https().await;
    let healthz = app.url("/healthz");
    assert!(healthz.starts_with("https://"), "{healthz}");

    let answer = app.client.get(&healthz).send().await.expect("an answer");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.version(), Version::HTTP_2, "ALPN chose HTTP/2");

    // The page and the files it names, on the same HTTP/2 connection.
    let page = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(page.version(), Version::HTTP_2);
    let html = page.text().await.expect("the page");
    let module = html
        .split("rel=\"modulepreload\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a preloaded module");
    let code = app
        .client
        .get(app.url(module))
        .send()
        .await
        .expect("an answer");
    assert_eq!(code.status(), StatusCode::OK, "{module}");
    assert_eq!(code.version(), Version::HTTP_2);

    // A client that speaks only HTTP/1.1 is served in it.
    let ca = std::fs::read(
        app.certificates
            .as_ref()
            .expect("the test's certificates")
            .path()
            .join("ca.crt"),
    )
    .expect("the CA certificate");
    let http1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("PEM"))
        .http1_only()
        .build()
        .expect("a client");
    let answer = http1.get(&healthz).send().await.expect("an answer");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.version(), Version::HTTP_11);

    // Signed in over HTTPS, the session cookie is for HTTPS only.
    let c = app.consortium().await;
    let user = app.user("clinician-https", Role::Clinician, c.county).await;
    let signed_in = app.login(&user.username, PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let cookie = signed_in
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    let (status, me) = app.get("/api/v1/me", &user.token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "clinician-https");

    // Plain HTTP to the HTTPS port: no HTTP answer, and nothing broken.
    let mut plain = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("a connection");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\n\r\n")
        .await
        .expect("written");
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server hangs up on plain HTTP");
    assert!(
        !got.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let answer = app.client.get(&healthz).send().await.expect("an answer");
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_meet_in_a_call_over_https() {
    let app = spawn_app_https().await;
    let d = desk(&app).await;
    let id = accepted(&app, &d).await;
    let mut browser = Browser::launch(&app).await;
    browser.open("clinician", &d.clinician, id).await;
    browser.open("expert", &d.expert, id).await;

    let expert = d.expert.id.to_string();
    browser.in_a_call("clinician", d.expert.id).await;
    let stats = browser.stats("clinician").await;
    assert_eq!(stats[expert.as_str()]["connection"], "connected", "{stats}");
    browser.leave("clinician").await;
    browser.leave("expert").await;
    browser.quit().await;
}
