//! STOW-RS and QIDO-RS through the router.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dicom_core::VR;
use dicom_dictionary_std::tags;
use ferry_dicom_store::{router, AccessEvent};
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::*;

const BOUNDARY: &str = "ferry-test-boundary";
const CT_STUDY: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";

fn multipart(parts: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(part);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn send(t: &TestStore, request: Request<Body>) -> (StatusCode, Value, String) {
    let response = router(t.state())
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json, content_type)
}

async fn stow(t: &TestStore, path: &str, token: &str, parts: &[&[u8]]) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"application/dicom\"; boundary={BOUNDARY}"),
        )
        .body(Body::from(multipart(parts)))
        .expect("a request");
    let (status, json, _) = send(t, request).await;
    (status, json)
}

async fn qido(t: &TestStore, path: &str, token: &str) -> (StatusCode, Value) {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("a request");
    let (status, json, content_type) = send(t, request).await;
    if status == StatusCode::OK {
        assert_eq!(content_type, "application/dicom+json");
    }
    (status, json)
}

fn items<'a>(body: &'a Value, tag: &str) -> &'a [Value] {
    body[tag]["Value"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

#[tokio::test]
async fn stow_stores_every_part_and_references_them_with_retrieve_urls() {
    let t = TestStore::new().await;
    let a = fresh_instance("CT_small.dcm");
    let b = fresh_instance("CT_small.dcm");

    let (status, body) = stow(&t, "/studies", "island", &[&a, &b]).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let referenced = items(&body, "00081199");
    assert_eq!(referenced.len(), 2);
    let url = referenced[0]["00081190"]["Value"][0]
        .as_str()
        .expect("a retrieve URL");
    assert!(
        url.starts_with(&format!(
            "http://localhost/dicomweb/studies/{CT_STUDY}/series/"
        )),
        "{url}"
    );
    assert_eq!(
        referenced[0]["00081150"]["Value"][0],
        "1.2.840.10008.5.1.4.1.1.2"
    );
    assert_eq!(
        body["00081190"]["Value"][0],
        format!("http://localhost/dicomweb/studies/{CT_STUDY}")
    );
    assert!(body.get("00081198").is_none());
    assert_eq!(t.count("dicom_instance").await, 2);
    let events = t.access.events.lock().expect("not poisoned").clone();
    assert_eq!(
        events,
        vec![(
            "user:1".to_owned(),
            AccessEvent::Stored {
                study_uid: CT_STUDY.to_owned(),
                instances: 2
            }
        )]
    );
}

#[tokio::test]
async fn stow_answers_202_when_some_fail_and_409_when_all_fail() {
    let t = TestStore::new().await;
    let good = fresh_instance("CT_small.dcm");
    let no_patient = rewrite("CT_small.dcm", |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
        o.remove_element(tags::PATIENT_ID);
    });

    let (status, body) = stow(
        &t,
        "/studies",
        "island",
        &[&good, &no_patient, b"not dicom"],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(items(&body, "00081199").len(), 1);
    let failed = items(&body, "00081198");
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["00081197"]["Value"][0], 0xA900);
    assert_eq!(failed[1]["00081197"]["Value"][0], 0xC000);

    // The same SOP instance with other bytes: a conflict, and nothing stored.
    let conflicting = rewrite("CT_small.dcm", |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &referenced_uid(&body));
        put(o, tags::STUDY_DESCRIPTION, VR::LO, "changed");
    });
    let (status, body) = stow(&t, "/studies", "island", &[&conflicting]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(items(&body, "00081198")[0]["00081197"]["Value"][0], 0x0111);
    assert!(items(&body, "00081198")[0]["00081155"]["Value"][0].is_string());

    // Into a named study: an instance of another study fails.
    let mr = fresh_instance("MR_small.dcm");
    let (status, body) = stow(&t, &format!("/studies/{CT_STUDY}"), "island", &[&mr]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(items(&body, "00081198")[0]["00081197"]["Value"][0], 0xA900);
    assert_eq!(t.count("dicom_instance").await, 1);
}

fn referenced_uid(body: &Value) -> String {
    items(body, "00081199")[0]["00081155"]["Value"][0]
        .as_str()
        .expect("a SOP Instance UID")
        .to_owned()
}

#[tokio::test]
async fn stow_refuses_bad_requests_with_the_json_envelope() {
    let t = TestStore::new().await;
    let part = fresh_instance("CT_small.dcm");

    let no_token = Request::post("/studies")
        .body(Body::from(multipart(&[&part])))
        .expect("a request");
    let (status, body, _) = send(&t, no_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    // The API's envelope: code, message and details, as on every other route.
    assert!(body["error"]["message"].is_string(), "{body}");
    assert_eq!(body["error"]["details"], serde_json::json!({}), "{body}");

    let wrong_type = Request::post("/studies")
        .header(header::AUTHORIZATION, "Bearer island")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .expect("a request");
    let (status, body, _) = send(&t, wrong_type).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["error"]["code"], "unsupported_media_type");

    let not_dicom_parts = Request::post("/studies")
        .header(header::AUTHORIZATION, "Bearer island")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"application/json\"; boundary={BOUNDARY}"),
        )
        .body(Body::from(multipart(&[&part])))
        .expect("a request");
    assert_eq!(
        send(&t, not_dicom_parts).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let mut cut = multipart(&[&part]);
    cut.truncate(cut.len() / 2);
    let truncated = Request::post("/studies")
        .header(header::AUTHORIZATION, "Bearer island")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"application/dicom\"; boundary={BOUNDARY}"),
        )
        .body(Body::from(cut))
        .expect("a request");
    let (status, body, _) = send(&t, truncated).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");

    let (status, _) = stow(&t, "/studies", "admin", &[&part]).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a reader without a facility may not store"
    );
    assert_eq!(t.count("dicom_instance").await, 0);
    assert_eq!(t.staged_files(), 0);
}

/// Three studies: the CT (patient CompressedSamples^CT1, 2004-01-19) and the
/// MR (CompressedSamples^MR1, 2004-08-26) from the island clinic, and a
/// renamed CT copy from the county hospital.
async fn three_studies(t: &TestStore) -> String {
    for name in ["CT_small.dcm", "MR_small.dcm"] {
        let (status, body) = stow(t, "/studies", "island", &[&fresh_instance(name)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let county_study = fresh_uid();
    let county = rewrite("CT_small.dcm", |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
        put(o, tags::STUDY_INSTANCE_UID, VR::UI, &county_study);
        put(o, tags::SERIES_INSTANCE_UID, VR::UI, &fresh_uid());
        put(o, tags::PATIENT_NAME, VR::PN, "Smith^Anna");
        put(o, tags::PATIENT_ID, VR::LO, "C-42");
        put(o, tags::STUDY_DATE, VR::DA, "20210315");
    });
    let (status, body) = stow(t, "/studies", "county", &[&county]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    county_study
}

fn study_uids(body: &Value) -> Vec<String> {
    let mut uids: Vec<String> = body
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| {
            s["0020000D"]["Value"][0]
                .as_str()
                .expect("a UID")
                .to_owned()
        })
        .collect();
    uids.sort();
    uids
}

#[tokio::test]
async fn qido_matches_exactly_by_wildcard_range_and_uid_list() {
    let t = TestStore::new().await;
    let county = three_studies(&t).await;
    let mr = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457";

    let (status, all) = qido(&t, "/studies", "admin").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().expect("an array").len(), 3);
    let ct = all
        .as_array()
        .expect("an array")
        .iter()
        .find(|s| s["0020000D"]["Value"][0] == CT_STUDY)
        .expect("the CT study");
    for tag in [
        "00080020", "00080030", "00080050", "00080056", "00080061", "00080090", "00081190",
        "00100010", "00100020", "00100030", "00100040", "0020000D", "00200010", "00201206",
        "00201208",
    ] {
        assert!(ct.get(tag).is_some(), "required return attribute {tag}");
    }
    assert_eq!(ct["00080061"]["Value"][0], "CT");
    assert_eq!(ct["00201208"]["Value"][0], 1);
    assert_eq!(
        ct["00081190"]["Value"][0],
        format!("http://localhost/dicomweb/studies/{CT_STUDY}"),
        "an absolute Retrieve URL"
    );

    let cases: Vec<(String, Vec<&str>)> = vec![
        ("PatientID=4MR1".to_owned(), vec![mr]),
        ("00100020=C-42".to_owned(), vec![&county]),
        ("PatientName=compressed*".to_owned(), vec![CT_STUDY, mr]),
        ("PatientName=SMITH%5EANNA".to_owned(), vec![&county]),
        ("PatientName=*samples%5Ec?1".to_owned(), vec![CT_STUDY]),
        ("StudyDate=20040101-20041231".to_owned(), vec![CT_STUDY, mr]),
        ("StudyDate=20210101-".to_owned(), vec![&county]),
        ("StudyDate=-20040601".to_owned(), vec![CT_STUDY]),
        ("ModalitiesInStudy=MR".to_owned(), vec![mr]),
        (
            format!("StudyInstanceUID={CT_STUDY},{mr}"),
            vec![CT_STUDY, mr],
        ),
        (
            format!("StudyInstanceUID={mr}%5C{county}"),
            vec![mr, &county],
        ),
        ("PatientID=nobody".to_owned(), vec![]),
    ];
    for (query, expected) in cases {
        let (status, body) = qido(&t, &format!("/studies?{query}"), "admin").await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let mut expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
        expected.sort();
        assert_eq!(study_uids(&body), expected, "{query}");
    }
}

#[tokio::test]
async fn qido_pages_includes_fields_and_respects_scope() {
    let t = TestStore::new().await;
    three_studies(&t).await;

    let (_, first) = qido(&t, "/studies?limit=2", "admin").await;
    let (_, rest) = qido(&t, "/studies?limit=2&offset=2", "admin").await;
    assert_eq!(first.as_array().expect("an array").len(), 2);
    assert_eq!(rest.as_array().expect("an array").len(), 1);

    // The island clinic sees its own two studies only; the county its one.
    let (_, island) = qido(&t, "/studies", "island").await;
    assert_eq!(island.as_array().expect("an array").len(), 2);
    let (_, county) = qido(&t, "/studies?PatientName=compressed*", "county").await;
    assert_eq!(county, Value::Array(vec![]));

    let (status, series) = qido(
        &t,
        &format!("/studies/{CT_STUDY}/series?includefield=00180050"),
        "admin",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let series = series.as_array().expect("an array");
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["00080060"]["Value"][0], "CT");
    assert_eq!(series[0]["00201209"]["Value"][0], 1);
    assert!(
        series[0].get("00180050").is_some(),
        "Slice Thickness included from the instance"
    );

    let (_, instances) = qido(
        &t,
        "/instances?Modality=MR&includefield=BitsAllocated",
        "admin",
    )
    .await;
    let instances = instances.as_array().expect("an array");
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0]["00280010"]["Value"][0], 64);
    assert_eq!(instances[0]["00280100"]["Value"][0], 16);
    assert_eq!(
        instances[0]["00100020"]["Value"][0], "4MR1",
        "study attributes included"
    );

    let (_, all) = qido(
        &t,
        "/instances?includefield=all&SOPClassUID=1.2.840.10008.5.1.4.1.1.2",
        "admin",
    )
    .await;
    assert_eq!(all.as_array().expect("an array").len(), 2);
    assert!(all[0].get("00180050").is_some());

    // `all` at study and series level: the level's attributes, not an
    // instance's.
    let (_, studies) = qido(
        &t,
        &format!("/studies?includefield=all&StudyInstanceUID={CT_STUDY}"),
        "admin",
    )
    .await;
    assert_eq!(studies[0]["00101010"]["Value"][0], "000Y", "Patient's Age");
    assert!(
        studies[0].get("00080070").is_none(),
        "Manufacturer is the series'"
    );
    assert!(
        studies[0].get("00180050").is_none(),
        "Slice Thickness is the image's"
    );
    let (_, series) = qido(
        &t,
        &format!("/studies/{CT_STUDY}/series?includefield=all"),
        "admin",
    )
    .await;
    assert_eq!(series[0]["00080070"]["Value"][0], "GE MEDICAL SYSTEMS");
    assert_eq!(series[0]["00081010"]["Value"][0], "CT01_OC0");
    assert_eq!(series[0]["00101010"]["Value"][0], "000Y");
    assert!(
        series[0].get("00180050").is_none(),
        "Slice Thickness is the image's"
    );

    let (status, body) = qido(&t, "/studies?StudyDate=2004", "admin").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"]
        .as_str()
        .expect("a message")
        .contains("StudyDate"));
    let (status, _) = qido(&t, "/studies", "nobody").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_part_over_the_instance_limit_ends_the_request_and_the_answer_says_what_was_kept() {
    use ferry_dicom_store::blob::FsBlobStore;
    use ferry_dicom_store::{Store, StoreConfig};
    use futures_util::{stream, StreamExt};

    let mut t = TestStore::new().await;
    t.store = Store::open(
        t.db.pool.clone(),
        std::sync::Arc::new(FsBlobStore::new(t.blob_root()).expect("blobs")),
        StoreConfig {
            max_instance_bytes: 100_000,
            ..StoreConfig::new(t.staging_dir())
        },
    )
    .await
    .expect("the store opens");
    let kept = fresh_instance("CT_small.dcm");
    let head = [
        format!("--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes(),
        kept.clone(),
        format!("\r\n--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes(),
    ]
    .concat();
    // The second part never ends: only a refusal at the instance limit
    // answers before the request limit (8 MiB here) is reached.
    let endless = stream::iter(std::iter::once(head).chain(std::iter::repeat(vec![b'x'; 4096])))
        .map(|chunk| Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)));
    let request = Request::post("/studies")
        .header(header::AUTHORIZATION, "Bearer island")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"application/dicom\"; boundary={BOUNDARY}"),
        )
        .body(Body::from_stream(endless))
        .expect("a request");
    let response = router(t.state()).oneshot(request).await.expect("an answer");

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let warning = response
        .headers()
        .get(header::WARNING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(warning.contains("at most 100000 bytes"), "{warning}");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    let body: Value = serde_json::from_slice(&body).expect("DICOM JSON");
    assert_eq!(
        body["00081199"]["Value"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    assert_eq!(t.count("dicom_instance_metadata").await, 1);
}

/// `file` with its data set deflated (Deflated Explicit VR Little Endian).
fn deflated(file: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut cursor = std::io::Cursor::new(&file[128..]);
    let mut meta =
        dicom_object::meta::FileMetaTable::from_reader(&mut cursor).expect("a meta group");
    let data_set = &file[128 + cursor.position() as usize..];
    meta.transfer_syntax = "1.2.840.10008.1.2.1.99".to_owned();
    meta.update_information_group_length();
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    meta.write(&mut out).expect("written");
    let mut encoder = flate2::write::DeflateEncoder::new(out, flate2::Compression::default());
    encoder.write_all(data_set).expect("deflated");
    encoder.finish().expect("deflated")
}

#[tokio::test]
async fn a_long_boundary_a_deflated_instance_and_a_broken_one_are_each_answered_as_they_should_be()
{
    let t = TestStore::new().await;
    // Orthanc's boundaries are 73 characters, past RFC 2046's 70.
    let boundary = "x".repeat(73);
    let ct = fixture_bytes("CT_small.dcm");
    let mut broken = ct[..600].to_vec();
    broken.extend_from_slice(&[0xFF; 64]);
    let mut body = Vec::new();
    for part in [deflated(&ct), broken] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&part);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let request = Request::post("/studies")
        .header(header::AUTHORIZATION, "Bearer island")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"application/dicom\"; boundary=\"{boundary}\""),
        )
        .body(Body::from(body))
        .expect("a request");
    let (status, body, _) = send(&t, request).await;

    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let sop = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
    let stored = items(&body, "00081199");
    assert_eq!(stored.len(), 1, "{body}");
    assert_eq!(stored[0]["00081155"]["Value"][0], sop);
    // The broken part names the instance its meta group names.
    let failed = items(&body, "00081198");
    assert_eq!(failed.len(), 1, "{body}");
    assert_eq!(failed[0]["00081155"]["Value"][0], sop);
    assert_eq!(
        failed[0]["00081150"]["Value"][0],
        "1.2.840.10008.5.1.4.1.1.2"
    );
    assert_eq!(failed[0]["00081197"]["Value"][0], 0xC000);

    // Kept inflated: the same data set as the original, in Explicit VR LE.
    let row = t.store.instance(sop).await.expect("read").expect("stored");
    assert_eq!(row.transfer_syntax, "1.2.840.10008.1.2.1");
    let (status, instances) = qido(&t, &format!("/instances?SOPInstanceUID={sop}"), "island").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        instances[0]["00280010"]["Value"][0], 128,
        "Rows, read from the inflated data set"
    );

    let request = Request::post("/studies")
        .header(header::AUTHORIZATION, "Bearer island")
        .header(
            header::CONTENT_TYPE,
            format!(
                "multipart/related; type=\"application/dicom\"; boundary={}",
                "y".repeat(201)
            ),
        )
        .body(Body::empty())
        .expect("a request");
    let (status, body, _) = send(&t, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("a reason")
            .contains("201 characters"),
        "{body}"
    );
}
