//! WADO-RS through the router: instances byte for byte or converted to the
//! transfer syntax asked for, metadata with bulk data URIs, frames as stored
//! or decoded, and 406 with the reason for what Ferry cannot produce.

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

/// The Content-Type of each part of a multipart/related body.
fn part_types(content_type: &str, body: &[u8]) -> Vec<String> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a boundary")
        .trim_matches('"');
    String::from_utf8_lossy(body)
        .split(&format!("--{boundary}"))
        .filter_map(|part| {
            part.lines()
                .find_map(|line| line.strip_prefix("Content-Type: "))
                .map(str::to_owned)
        })
        .collect()
}

/// The message of an error answer.
fn reason(body: &[u8]) -> String {
    let error: Value = serde_json::from_slice(body).expect("JSON");
    error["error"]["message"]
        .as_str()
        .expect("a reason")
        .to_owned()
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
    // Ferry compresses nothing.
    let asked =
        "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.50";
    let (status, _, body) = get(&t, &path, "island", asked).await;
    assert_eq!(
        status,
        StatusCode::NOT_ACCEPTABLE,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        reason(&body).contains("1.2.840.10008.1.2.4.50"),
        "{}",
        reason(&body)
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
    let (status, _, body) = get(
        &t,
        &frame(&jpeg, "1"),
        "island",
        "multipart/related; type=\"image/jp2\"",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert!(reason(&body).contains("image/jpeg"), "{}", reason(&body));
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

const EXPLICIT: &str = "1.2.840.10008.1.2.1";
const IMPLICIT: &str = "1.2.840.10008.1.2";

fn asking(transfer_syntax: &str) -> String {
    format!("multipart/related; type=\"application/dicom\"; transfer-syntax={transfer_syntax}")
}

/// A Part 10 file's transfer syntax and pixel data.
fn syntax_and_pixels(file: &[u8]) -> (String, Vec<u8>) {
    let object = dicom_object::from_reader(&file[128..]).expect("a Part 10 file");
    let pixels = object
        .element(tags::PIXEL_DATA)
        .expect("pixel data")
        .to_bytes()
        .expect("native pixel data")
        .into_owned();
    (
        object
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_owned(),
        pixels,
    )
}

async fn stow_bytes(t: &TestStore, bytes: Vec<u8>) -> String {
    crate::rendered::stow_bytes(t, bytes.clone()).await;
    crate::rendered::instance_path(&bytes)
}

#[tokio::test]
async fn instances_convert_between_the_native_syntaxes_and_big_endian_turns_little_endian() {
    let t = TestStore::new().await;
    let expected = pixel_data("MR_small.dcm");
    let big = stow_bytes(&t, fixture_bytes("MR_small_bigendian.dcm")).await;
    let implicit = stow_bytes(&t, fresh_instance("MR_small_implicit.dcm")).await;
    let explicit = stow_bytes(&t, fresh_instance("MR_small.dcm")).await;

    for (path, stored, wanted) in [
        (&big, "1.2.840.10008.1.2.2", EXPLICIT),
        (&big, "1.2.840.10008.1.2.2", IMPLICIT),
        (&implicit, IMPLICIT, EXPLICIT),
        (&explicit, EXPLICIT, IMPLICIT),
    ] {
        let (status, content_type, body) = get(&t, path, "island", &asking(wanted)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{stored} as {wanted}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            part_types(&content_type, &body),
            vec![format!("application/dicom; transfer-syntax={wanted}")]
        );
        let part = parts(&content_type, &body).remove(0);
        let (syntax, pixels) = syntax_and_pixels(&part);
        assert_eq!(syntax, wanted, "the file meta group names the syntax sent");
        assert_eq!(pixels, expected, "{stored} as {wanted}: the same picture");
        let object = dicom_object::from_reader(&part[128..]).expect("parses");
        assert_eq!(
            object
                .element(tags::ROWS)
                .expect("rows")
                .to_int::<u16>()
                .expect("a number"),
            64
        );
    }

    // `*`, or the stored syntax, is the stored file itself, streamed.
    for accept in [asking("*"), asking("1.2.840.10008.1.2.2")] {
        let (status, content_type, body) = get(&t, &big, "island", &accept).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            parts(&content_type, &body),
            vec![fixture_bytes("MR_small_bigendian.dcm")]
        );
        assert_eq!(
            part_types(&content_type, &body),
            vec!["application/dicom; transfer-syntax=1.2.840.10008.1.2.2".to_owned()]
        );
    }

    // A study: each instance converted, each part saying so.
    let study = big.split("/series/").next().expect("a study path");
    let (status, content_type, body) = get(&t, study, "island", &asking(EXPLICIT)).await;
    assert_eq!(status, StatusCode::OK);
    let all = parts(&content_type, &body);
    assert_eq!(all.len(), 3);
    for part in &all {
        assert_eq!(
            syntax_and_pixels(part),
            (EXPLICIT.to_owned(), expected.clone())
        );
    }
    assert!(part_types(&content_type, &body)
        .iter()
        .all(|t| t == &format!("application/dicom; transfer-syntax={EXPLICIT}")));
}

#[tokio::test]
async fn compressed_instances_asked_as_explicit_little_endian_come_decoded() {
    let t = TestStore::new().await;
    let expected = pixel_data("MR_small.dcm");
    // The same MR image, compressed losslessly three ways.
    let mut paths = vec![(
        "RLE",
        stow_bytes(&t, fresh_instance("MR_small_RLE.dcm")).await,
    )];
    for (name, sample) in [
        ("JPEG 2000", "MR_small_jp2klossless.dcm"),
        ("JPEG-LS", "MR_small_jpeg_ls_lossless.dcm"),
    ] {
        let bytes = crate::rendered::fresh_sample(sample, false);
        paths.push((name, stow_bytes(&t, bytes).await));
    }
    for (name, path) in &paths {
        let (status, content_type, body) = get(&t, path, "island", &asking(EXPLICIT)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{name}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            part_types(&content_type, &body),
            vec![format!("application/dicom; transfer-syntax={EXPLICIT}")]
        );
        let part = parts(&content_type, &body).remove(0);
        assert_eq!(
            syntax_and_pixels(&part),
            (EXPLICIT.to_owned(), expected.clone()),
            "{name} decodes to the original's pixels"
        );
    }

    // Colour, lossless: JPEG 2000 (reversible colour transform) decoded to
    // the RGB pydicom decodes, and said to be RGB, interleaved.
    let sample = crate::rendered::pydicom_test_file("US1_J2KR.dcm");
    let path = stow_bytes(&t, crate::rendered::fresh_sample("US1_J2KR.dcm", true)).await;
    let (status, content_type, body) = get(&t, &path, "island", &asking(EXPLICIT)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let part = parts(&content_type, &body).remove(0);
    let (_, pixels) = syntax_and_pixels(&part);
    let pydicom = crate::rendered::pydicom_pixels(&sample).expect("pydicom decodes JPEG 2000");
    assert_eq!(pixels.len(), 480 * 640 * 3);
    assert_eq!(pixels, pydicom, "the decoded colour picture is pydicom's");
    let object = dicom_object::from_reader(&part[128..]).expect("parses");
    let text = |tag| {
        object
            .element(tag)
            .expect("present")
            .to_str()
            .expect("text")
            .trim()
            .to_owned()
    };
    assert_eq!(text(tags::PHOTOMETRIC_INTERPRETATION), "RGB");
    assert_eq!(text(tags::PLANAR_CONFIGURATION), "0");

    // What Ferry cannot decode is refused, naming the syntax, and is still
    // to be had as stored.
    let video = crate::rendered::as_video(fresh_instance("MR_small_RLE.dcm"));
    let path = stow_bytes(&t, video.clone()).await;
    let (status, _, body) = get(&t, &path, "island", &asking(EXPLICIT)).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert!(
        reason(&body).contains("1.2.840.10008.1.2.4.100"),
        "{}",
        reason(&body)
    );
    let fallback = format!("{}, {};q=0.5", asking(EXPLICIT), asking("*"));
    let (status, content_type, body) = get(&t, &path, "island", &fallback).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(parts(&content_type, &body), vec![video]);
}

#[tokio::test]
async fn compressed_frames_asked_as_octets_come_decoded_little_endian() {
    let t = TestStore::new().await;
    let expected = pixel_data("MR_small.dcm");
    let explicit =
        format!("multipart/related; type=\"application/octet-stream\"; transfer-syntax={EXPLICIT}");
    for (name, bytes) in [
        ("RLE", fresh_instance("MR_small_RLE.dcm")),
        (
            "JPEG 2000",
            crate::rendered::fresh_sample("MR_small_jp2klossless.dcm", false),
        ),
        (
            "JPEG-LS",
            crate::rendered::fresh_sample("MR_small_jpeg_ls_lossless.dcm", false),
        ),
    ] {
        let path = stow_bytes(&t, bytes).await;
        for accept in [
            explicit.as_str(),
            "multipart/related; type=\"application/octet-stream\"",
        ] {
            let (status, content_type, body) =
                get(&t, &format!("{path}/frames/1"), "island", accept).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{name}: {}",
                String::from_utf8_lossy(&body)
            );
            assert_eq!(
                part_types(&content_type, &body),
                vec![format!(
                    "application/octet-stream; transfer-syntax={EXPLICIT}"
                )]
            );
            assert_eq!(
                parts(&content_type, &body),
                vec![expected.clone()],
                "{name}"
            );
        }
        let (status, _, _) = get(&t, &format!("{path}/frames/2"), "island", &explicit).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name} has one frame");
    }

    // Asked for its own media type too, a JPEG frame goes as stored.
    let path = stow_bytes(&t, fixture_bytes("SC_rgb_jpeg_dcmtk.dcm")).await;
    let both = "multipart/related; type=\"application/octet-stream\", multipart/related; type=\"image/jpeg\"";
    let (status, content_type, body) = get(&t, &format!("{path}/frames/1"), "island", both).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&parts(&content_type, &body)[0][..2], &[0xFF, 0xD8]);
    // Alone, octets are the picture decoded: rows × columns × RGB.
    let (status, content_type, body) =
        get(&t, &format!("{path}/frames/1"), "island", &explicit).await;
    assert_eq!(status, StatusCode::OK);
    let decoded = parts(&content_type, &body).remove(0);
    let object = dicom_object::open_file(fixture("SC_rgb_jpeg_dcmtk.dcm")).expect("parses");
    let int = |tag| {
        object
            .element(tag)
            .expect("present")
            .to_int::<usize>()
            .expect("a number")
    };
    assert_eq!(decoded.len(), int(tags::ROWS) * int(tags::COLUMNS) * 3);
    let pydicom = crate::rendered::pydicom_pixels(&fixture("SC_rgb_jpeg_dcmtk.dcm"))
        .expect("pydicom decodes JPEG baseline");
    let worst = decoded
        .iter()
        .zip(&pydicom)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(u8::MAX);
    assert!(worst <= 8, "lossy decoders agree within rounding: {worst}");
}

#[tokio::test]
async fn twelve_bit_jpeg_asked_as_explicit_little_endian_comes_decoded_close_to_the_original() {
    let t = TestStore::new().await;
    let mut decoded = Vec::new();
    let mut paths = Vec::new();
    // The same NM image as 12-bit JPEG Extended (lossy) and as JPEG Lossless.
    for sample in ["JPGExtended.dcm", "JPEG-LL.dcm"] {
        let path = stow_bytes(&t, crate::rendered::fresh_sample(sample, true)).await;
        paths.push(path.clone());
        let (status, content_type, body) = get(&t, &path, "island", &asking(EXPLICIT)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{sample}: {}",
            String::from_utf8_lossy(&body)
        );
        let (syntax, pixels) = syntax_and_pixels(&parts(&content_type, &body)[0]);
        assert_eq!(syntax, EXPLICIT);
        assert_eq!(pixels.len(), 1024 * 256 * 2, "{sample}");
        let samples: Vec<i32> = pixels
            .chunks_exact(2)
            .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
            .collect();
        decoded.push(samples);
    }
    // Its one frame, decoded alone, is the instance's pixel data.
    let (status, content_type, body) = get(
        &t,
        &format!("{}/frames/1", paths[0]),
        "island",
        "multipart/related; type=\"application/octet-stream\"",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let frame: Vec<i32> = parts(&content_type, &body)[0]
        .chunks_exact(2)
        .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    assert_eq!(frame, decoded[0]);
    let (lossy, original) = (&decoded[0], &decoded[1]);
    let errors: Vec<u32> = lossy
        .iter()
        .zip(original)
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let mean = errors.iter().map(|&e| f64::from(e)).sum::<f64>() / errors.len() as f64;
    let range =
        original.iter().max().copied().unwrap_or(0) - original.iter().min().copied().unwrap_or(0);
    assert!(range > 200, "a picture, not a flat field");
    // JPEG's own loss here is a mean error of 2.3 (the decoder agrees with
    // libjpeg's to within 1, in 1.4 % of the samples); a decoder that got
    // the transform or the tables wrong is off by tens.
    assert!(
        mean < 3.0,
        "within JPEG's loss of the original: mean error {mean}"
    );
}
