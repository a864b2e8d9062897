//! WADO-RS through the router: instances byte for byte, metadata with bulk
//! data URIs, frames as stored, and 406 rather than a transcoded picture.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dicom_dictionary_std::tags;
use ferry_dicom_store::{router, AccessEvent};
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::*;

const BOUNDARY: &str = "wado-test-boundary";

struct Uids {
    study: String,
    series: String,
    sop: String,
}

fn uids(name: &str) -> Uids {
    let object = dicom_object::open_file(fixture(name)).expect("the fixture parses");
    let text = |tag| {
        object
            .element(tag)
            .expect("the attribute")
            .to_str()
            .expect("text")
            .trim_end_matches('\0')
            .to_owned()
    };
    Uids {
        study: text(tags::STUDY_INSTANCE_UID),
        series: text(tags::SERIES_INSTANCE_UID),
        sop: text(tags::SOP_INSTANCE_UID),
    }
}

fn pixel_data(name: &str) -> Vec<u8> {
    let object = dicom_object::open_file(fixture(name)).expect("the fixture parses");
    object
        .element(tags::PIXEL_DATA)
        .expect("pixel data")
        .to_bytes()
        .expect("bytes")
        .into_owned()
}

async fn stow(t: &TestStore, name: &str) {
    let mut body = format!("--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
    body.extend_from_slice(&fixture_bytes(name));
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let request = Request::post("/studies")
        .header(header::AUTHORIZATION, "Bearer island")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"application/dicom\"; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .expect("a request");
    let response = router(t.state()).oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK, "{name} is stored");
}

/// Status, content type and body of a GET.
async fn get(
    t: &TestStore,
    path: &str,
    token: &str,
    accept: &str,
) -> (StatusCode, String, Vec<u8>) {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT, accept)
        .header(header::HOST, "ferry.test")
        .body(Body::empty())
        .expect("a request");
    let response = router(t.state()).oneshot(request).await.expect("an answer");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body")
        .to_vec();
    (status, content_type, body)
}

/// The parts of a multipart/related body, by the boundary its type names.
fn parts(content_type: &str, body: &[u8]) -> Vec<Vec<u8>> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, &delimiter) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let start = find(rest, b"\r\n\r\n").expect("part headers end") + 4;
        let end =
            find(&rest[start..], &[b"\r\n".as_slice(), &delimiter].concat()).expect("part end");
        out.push(rest[start..start + end].to_vec());
        rest = &rest[start + end..];
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn an_instance_comes_back_byte_for_byte_and_only_to_those_who_may_see_it() {
    let t = TestStore::new().await;
    stow(&t, "CT_small.dcm").await;
    let u = uids("CT_small.dcm");
    let path = format!(
        "/studies/{}/series/{}/instances/{}",
        u.study, u.series, u.sop
    );
    let accept = "multipart/related; type=\"application/dicom\"";

    let (status, content_type, body) = get(&t, &path, "island", accept).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("multipart/related"),
        "{content_type}"
    );
    assert_eq!(
        parts(&content_type, &body),
        vec![fixture_bytes("CT_small.dcm")]
    );

    let (status, content_type, body) =
        get(&t, &format!("/studies/{}", u.study), "island", accept).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(parts(&content_type, &body).len(), 1);

    // Another facility's clinician cannot tell the study exists.
    let (status, _, _) = get(&t, &path, "county", accept).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&t, &path, "nobody", accept).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Transcoding is not offered.
    let asked =
        "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.50";
    let (status, _, body) = get(&t, &path, "island", asked).await;
    assert_eq!(
        status,
        StatusCode::NOT_ACCEPTABLE,
        "{}",
        String::from_utf8_lossy(&body)
    );

    let events = t.access.events.lock().expect("not poisoned");
    let retrieved = events
        .iter()
        .filter(|(who, e)| who == "user:1" && matches!(e, AccessEvent::Retrieved { .. }))
        .count();
    assert_eq!(retrieved, 2, "both retrievals are audited: {events:?}");
}

#[tokio::test]
async fn metadata_names_where_the_pixel_data_is_and_that_uri_serves_it() {
    let t = TestStore::new().await;
    stow(&t, "CT_small.dcm").await;
    let u = uids("CT_small.dcm");
    let (status, content_type, body) = get(
        &t,
        &format!("/studies/{}/series/{}/metadata", u.study, u.series),
        "island",
        "application/dicom+json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/dicom+json");
    let metadata: Value = serde_json::from_slice(&body).expect("JSON");
    let instance = &metadata[0];
    assert_eq!(instance["00080018"]["Value"][0], u.sop.as_str());
    let uri = instance["7FE00010"]["BulkDataURI"]
        .as_str()
        .expect("a bulk data URI");
    let root = format!("http://ferry.test{}", t.state().base_url);
    assert!(uri.starts_with(&root), "{uri} is absolute under {root}");
    assert!(instance["7FE00010"].get("InlineBinary").is_none());

    let (status, content_type, body) = get(
        &t,
        &uri[root.len()..],
        "island",
        "multipart/related; type=\"application/octet-stream\"",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        parts(&content_type, &body),
        vec![pixel_data("CT_small.dcm")]
    );

    // Study and instance levels agree with the series level.
    for path in [
        format!("/studies/{}/metadata", u.study),
        format!(
            "/studies/{}/series/{}/instances/{}/metadata",
            u.study, u.series, u.sop
        ),
    ] {
        let (status, _, body) = get(&t, &path, "island", "application/dicom+json").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).expect("JSON"),
            metadata,
            "{path}"
        );
    }
}

#[tokio::test]
async fn frames_go_as_stored_and_a_client_that_cannot_take_them_gets_406() {
    let t = TestStore::new().await;
    for name in ["CT_small.dcm", "SC_rgb_jpeg_dcmtk.dcm", "MR_small_RLE.dcm"] {
        stow(&t, name).await;
    }
    let frame = |u: &Uids, n: &str| {
        format!(
            "/studies/{}/series/{}/instances/{}/frames/{n}",
            u.study, u.series, u.sop
        )
    };
    let octets = "multipart/related; type=\"application/octet-stream\"";

    let ct = uids("CT_small.dcm");
    let (status, content_type, body) = get(&t, &frame(&ct, "1"), "island", octets).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        parts(&content_type, &body),
        vec![pixel_data("CT_small.dcm")]
    );
    let (status, _, _) = get(&t, &frame(&ct, "2"), "island", octets).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&t, &frame(&ct, "0"), "island", octets).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let jpeg = uids("SC_rgb_jpeg_dcmtk.dcm");
    let (status, _, body) = get(&t, &frame(&jpeg, "1"), "island", octets).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    let reason: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(
        reason["error"]["message"]
            .as_str()
            .expect("a reason")
            .contains("image/jpeg"),
        "{reason}"
    );
    let (status, content_type, body) = get(
        &t,
        &frame(&jpeg, "1"),
        "island",
        "multipart/related; type=\"image/jpeg\"",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.contains("image/jpeg"), "{content_type}");
    let jpeg_frame = &parts(&content_type, &body)[0];
    assert_eq!(&jpeg_frame[..2], &[0xFF, 0xD8], "a JPEG stream");

    let rle = uids("MR_small_RLE.dcm");
    let (status, content_type, body) = get(&t, &frame(&rle, "1"), "island", "*/*").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.contains("image/dicom-rle"), "{content_type}");
    // The one fragment of the one frame, and nothing of what follows the
    // pixel data in the file (its trailing padding).
    let object = dicom_object::open_file(fixture("MR_small_RLE.dcm")).expect("parses");
    let pixels = object.element(tags::PIXEL_DATA).expect("pixel data");
    let fragment = pixels.fragments().expect("encapsulated")[0].clone();
    assert_eq!(parts(&content_type, &body), vec![fragment]);
}

#[tokio::test]
async fn frames_of_a_big_endian_instance_go_out_little_endian() {
    let t = TestStore::new().await;
    stow(&t, "MR_small_bigendian.dcm").await;
    let u = uids("MR_small_bigendian.dcm");
    let path = format!(
        "/studies/{}/series/{}/instances/{}/frames/1",
        u.study, u.series, u.sop
    );
    let (status, content_type, body) = get(
        &t,
        &path,
        "island",
        "multipart/related; type=\"application/octet-stream\"",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The same picture stored little endian (the fixture's twin) is what a
    // viewer must get.
    let little = fixture_bytes("MR_small.dcm");
    let twin = dicom_object::from_reader(&little[128..]).expect("parses");
    let expected = twin
        .element(tags::PIXEL_DATA)
        .expect("pixel data")
        .to_bytes()
        .expect("bytes")
        .into_owned();
    assert_eq!(parts(&content_type, &body), vec![expected]);
}

#[tokio::test]
async fn waveform_samples_inside_their_sequence_have_a_bulk_data_uri_that_answers() {
    let t = TestStore::new().await;
    let name = "waveform_ecg_rhythm.dcm";
    stow(&t, name).await;
    let u = uids(name);
    let (status, _, body) = get(
        &t,
        &format!(
            "/studies/{}/series/{}/instances/{}/metadata",
            u.study, u.series, u.sop
        ),
        "island",
        "application/dicom+json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let metadata: Value = serde_json::from_slice(&body).expect("JSON");
    let samples = &metadata[0]["54000100"]["Value"][0]["54001010"];
    let uri = samples["BulkDataURI"]
        .as_str()
        .unwrap_or_else(|| panic!("no BulkDataURI: {samples}"));
    let root = format!("http://ferry.test{}", t.state().base_url);
    let path = uri
        .strip_prefix(&root)
        .unwrap_or_else(|| panic!("absolute under {root}: {uri}"));
    assert!(path.ends_with("/bulk/54000100.0.54001010"), "{path}");

    let (status, content_type, body) = get(&t, path, "island", "*/*").await;
    assert_eq!(status, StatusCode::OK);
    let object = dicom_object::open_file(fixture(name)).expect("parses");
    let expected = object
        .element(tags::WAVEFORM_SEQUENCE)
        .expect("a waveform")
        .items()
        .expect("items")[0]
        .element(tags::WAVEFORM_DATA)
        .expect("samples")
        .to_bytes()
        .expect("bytes")
        .into_owned();
    assert!(expected.len() > 1024);
    assert_eq!(parts(&content_type, &body), vec![expected]);

    for wrong in ["54000100.9.54001010", "54000100.0", "54000100.x.54001010"] {
        let (status, _, _) = get(
            &t,
            &format!(
                "/studies/{}/series/{}/instances/{}/bulk/{wrong}",
                u.study, u.series, u.sop
            ),
            "island",
            "*/*",
        )
        .await;
        assert!(status.is_client_error(), "{wrong}: {status}");
    }
}
