//! hostile: STOW-RS bodies built to cost the server more than they carry.
//!
//! A signed-in clinician may send a multipart body of hundreds of thousands
//! of tiny parts, or a body that never names its boundary. The server must
//! refuse at its part cap (413, a bounded answer, what was stored reported),
//! refuse a boundary-less body after a bounded read, and stay within a small
//! memory budget while doing so: these run the server as a child process and
//! read its peak resident size.

use std::time::{Duration, Instant};

use ferry_server::auth::Role;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use crate::support::child_server::child_with_clinician;
use crate::support::dicom_files::study;
use crate::support::memory::{assert_under_ceiling, peak_rss};
use crate::support::{send, spawn_app_with};

const MIB: u64 = 1024 * 1024;

fn multipart_type(boundary: &str) -> String {
    format!("multipart/related; type=\"application/dicom\"; boundary={boundary}")
}

#[tokio::test]
async fn a_stow_of_466_033_tiny_parts_is_refused_at_the_part_cap_at_a_bounded_cost() {
    let child = child_with_clinician(&[]).await;
    // 36 bytes a part, 16.8 MB in all: the probe of issue 25.
    const PARTS: usize = 466_033;
    let part = b"\r\n--X\r\nContent-Type: t/p\r\n\r\nnotdicom";
    let mut body = Vec::with_capacity(PARTS * part.len() + 16);
    for _ in 0..PARTS {
        body.extend_from_slice(part);
    }
    body.extend_from_slice(b"\r\n--X--\r\n");
    assert!(body.len() >= 16_000_000);
    let before = peak_rss(child.pid());

    let started = Instant::now();
    let response = child
        .client
        .post(format!("{}/dicomweb/studies", child.server.base))
        .bearer_auth(&child.token)
        .header(header::CONTENT_TYPE, multipart_type("X"))
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status();
    let answer = response.bytes().await.expect("the answer's body");
    let took = started.elapsed();

    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&answer[..answer.len().min(300)])
    );
    assert!(answer.len() < 4096, "an answer of {} bytes", answer.len());
    let answer: Value = serde_json::from_slice(&answer).expect("a JSON answer");
    assert_eq!(answer["error"]["code"], "too_many_parts", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 1000 parts")),
        "{answer}"
    );
    assert!(took < Duration::from_secs(20), "answered after {took:?}");
    let grew = peak_rss(child.pid()).saturating_sub(before);
    assert!(grew < 64 * MIB, "the server grew by {} MiB", grew / MIB);
    assert_under_ceiling(child.pid(), "a STOW-RS of 466,033 parts");
}

#[tokio::test]
async fn a_256_mib_body_without_its_boundary_is_refused_quickly_at_a_bounded_cost() {
    let child = child_with_clinician(&[]).await;
    let body = vec![b'x'; 256 * MIB as usize];
    let before = peak_rss(child.pid());

    let started = Instant::now();
    let sent = child
        .client
        .post(format!("{}/dicomweb/studies", child.server.base))
        .bearer_auth(&child.token)
        .header(header::CONTENT_TYPE, multipart_type("never-sent"))
        .body(body)
        .send()
        .await;
    let took = started.elapsed();

    // The server answers after a bounded read and closes: a client still
    // writing may see the connection reset rather than the answer.
    if let Ok(response) = sent {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let answer: Value = response.json().await.expect("a JSON answer");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no boundary")),
            "{answer}"
        );
    }
    assert!(took < Duration::from_secs(5), "refused after {took:?}");
    let grew = peak_rss(child.pid()).saturating_sub(before);
    assert!(grew < 48 * MIB, "the server grew by {} MiB", grew / MIB);
    assert_under_ceiling(child.pid(), "a 256 MiB body without its boundary");
    // Still serving.
    let (status, _) = send(
        reqwest::Client::new()
            .get(format!("{}/dicomweb/studies", child.server.base))
            .bearer_auth(&child.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_stow_past_the_part_cap_reports_exactly_what_it_stored() {
    let app = spawn_app_with(|s| s.stow_max_parts = 2).await;
    let c = app.consortium().await;
    let clinician = app.user("clin-cap", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(
        files.path(),
        &["CT_small.dcm", "CT_small.dcm", "CT_small.dcm"],
        "MRN-CAP",
    );
    let boundary = "cap-boundary";
    let mut body = Vec::new();
    for file in &sent.files {
        body.extend(format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").bytes());
        body.extend(std::fs::read(file).expect("the file"));
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());

    let response = app
        .request(Method::POST, "/dicomweb/studies", Some(&clinician.token))
        .header(header::CONTENT_TYPE, multipart_type(boundary))
        .body(body)
        .send()
        .await
        .expect("an answer");

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let warning = response
        .headers()
        .get(header::WARNING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        warning.starts_with("299 ") && warning.contains("at most 2 parts"),
        "{warning}"
    );
    let answer: Value = response.json().await.expect("a DICOM JSON answer");
    let referenced = answer["00081199"]["Value"]
        .as_array()
        .expect("the stored instances");
    assert_eq!(referenced.len(), 2, "{answer}");
    // What the answer lists is what the store holds, and nothing more.
    let (status, instances) = app
        .get(
            &format!("/dicomweb/studies/{}/instances", sent.uid),
            &clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut stored: Vec<&str> = instances
        .as_array()
        .expect("instances")
        .iter()
        .filter_map(|i| i["00080018"]["Value"][0].as_str())
        .collect();
    let mut reported: Vec<&str> = referenced
        .iter()
        .filter_map(|i| i["00081155"]["Value"][0].as_str())
        .collect();
    stored.sort_unstable();
    reported.sort_unstable();
    assert_eq!(stored, reported);
}
