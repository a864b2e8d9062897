//! hostile: image requests that would make the server hold whole instances.
//!
//! A thumbnail of a large multi-frame instance must read and decode one
//! frame, an image whose frame is larger than Ferry renders is refused from
//! its header with the reason, and concurrent whole-study WADO-RS retrievals
//! stream each instance from its blob instead of holding it. The server runs
//! as a child process; its peak resident size is reset before each request
//! under test and read after it.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use reqwest::{header, StatusCode};
use serde_json::Value;

use crate::support::child_server::{child_with_clinician, ChildWithClinician};
use crate::support::dicom_files::{fixture, fresh_uid};
use crate::support::memory::{assert_under_ceiling, peak_rss};

const MIB: u64 = 1024 * 1024;

/// An uncompressed grey instance of `frames` frames of `rows` × `columns`
/// at `bits` (8 or 16) bits, made from CT_small, in `study`.
fn big_instance(
    study: &str,
    rows: u16,
    columns: u16,
    frames: u32,
    bits: u16,
) -> (String, String, Vec<u8>) {
    let mut object = dicom_object::open_file(fixture("CT_small.dcm")).expect("the fixture parses");
    let (series, sop) = (fresh_uid(), fresh_uid());
    for (tag, vr, value) in [
        (tags::STUDY_INSTANCE_UID, VR::UI, study),
        (tags::SERIES_INSTANCE_UID, VR::UI, series.as_str()),
        (tags::SOP_INSTANCE_UID, VR::UI, sop.as_str()),
        (tags::PATIENT_ID, VR::LO, "MRN-BIG"),
        (tags::NUMBER_OF_FRAMES, VR::IS, &frames.to_string()),
        (tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
    ] {
        object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    for (tag, value) in [
        (tags::ROWS, rows),
        (tags::COLUMNS, columns),
        (tags::SAMPLES_PER_PIXEL, 1),
        (tags::BITS_ALLOCATED, bits),
        (tags::BITS_STORED, bits),
        (tags::HIGH_BIT, bits - 1),
        (tags::PIXEL_REPRESENTATION, 0),
    ] {
        object.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    let length = usize::from(rows) * usize::from(columns) * frames as usize * usize::from(bits / 8);
    // A ramp, so a frame is not a blank picture.
    let pixels: Vec<u8> = (0..length).map(|n| (n / 4096) as u8).collect();
    let vr = if bits > 8 { VR::OW } else { VR::OB };
    object.put(DataElement::new(
        tags::PIXEL_DATA,
        vr,
        PrimitiveValue::from(pixels),
    ));
    object.update_meta(|meta| meta.media_storage_sop_instance_uid = sop.clone());
    let mut bytes = Vec::new();
    object
        .write_all(&mut bytes)
        .expect("the instance is written");
    (series, sop, bytes)
}

async fn stow(child: &ChildWithClinician, instance: Vec<u8>) {
    let boundary = "big-boundary";
    let mut body = format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
    body.extend(instance);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    let response = child
        .client
        .post(format!("{}/dicomweb/studies", child.server.base))
        .bearer_auth(&child.token)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{:?}",
        response.text().await
    );
}

async fn get(child: &ChildWithClinician, path: &str) -> reqwest::Response {
    child
        .client
        .get(format!("{}/dicomweb{path}", child.server.base))
        .bearer_auth(&child.token)
        .send()
        .await
        .expect("an answer")
}

#[tokio::test]
async fn a_thumbnail_of_a_large_multiframe_image_reads_one_frame_and_a_huge_frame_is_refused() {
    let child = child_with_clinician(&[]).await;
    let study = fresh_uid();
    // 64 frames of 1024 × 1024 at 16 bits: 128 MiB.
    let (series, sop, bytes) = big_instance(&study, 1024, 1024, 64, 16);
    stow(&child, bytes).await;
    // One frame of 6000 × 6000 (36 M samples), over the frame limit.
    let (huge_series, huge_sop, bytes) = big_instance(&study, 6000, 6000, 1, 8);
    stow(&child, bytes).await;

    child.reset_peak();
    let before = peak_rss(child.pid());
    let response = get(
        &child,
        &format!("/studies/{study}/series/{series}/instances/{sop}/thumbnail"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let picture = response.bytes().await.expect("the thumbnail");
    assert_eq!(picture[..2], [0xFF, 0xD8], "a JPEG");
    let frame = get(
        &child,
        &format!(
            "/studies/{study}/series/{series}/instances/{sop}/frames/40/rendered?viewport=256,256"
        ),
    )
    .await;
    assert_eq!(frame.status(), StatusCode::OK);
    let grew = peak_rss(child.pid()).saturating_sub(before);
    assert!(
        grew < 40 * MIB,
        "rendering grew the server by {} MiB",
        grew / MIB
    );

    child.reset_peak();
    let before = peak_rss(child.pid());
    let refused = get(
        &child,
        &format!("/studies/{study}/series/{huge_series}/instances/{huge_sop}/rendered"),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let answer: Value = refused.json().await.expect("a JSON answer");
    assert_eq!(answer["error"]["code"], "too_large_to_render", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("6000 rows × 6000 columns") && message.contains("at most"),
        "{message}"
    );
    let grew = peak_rss(child.pid()).saturating_sub(before);
    assert!(
        grew < 8 * MIB,
        "a refusal grew the server by {} MiB",
        grew / MIB
    );
    assert_under_ceiling(child.pid(), "rendering a large image");
}

#[tokio::test]
async fn three_concurrent_retrievals_of_a_large_study_stream_from_the_blobs() {
    let child = child_with_clinician(&[]).await;
    let study = fresh_uid();
    let mut sizes = Vec::new();
    // Two instances of 48 frames of 1024 × 1024 at 8 bits: 96 MiB.
    for _ in 0..2 {
        let (_, _, bytes) = big_instance(&study, 1024, 1024, 48, 8);
        sizes.push(bytes.len() as u64);
        stow(&child, bytes).await;
    }
    let study_bytes: u64 = sizes.iter().sum();

    child.reset_peak();
    let before = peak_rss(child.pid());
    let retrievals = (0..3).map(|_| {
        let client = child.client.clone();
        let url = format!("{}/dicomweb/studies/{study}", child.server.base);
        let token = child.token.clone();
        tokio::spawn(async move {
            let mut response = client
                .get(url)
                .bearer_auth(token)
                .header(
                    header::ACCEPT,
                    "multipart/related; type=\"application/dicom\"",
                )
                .send()
                .await
                .expect("an answer");
            assert_eq!(response.status(), StatusCode::OK);
            let mut received = 0u64;
            while let Some(chunk) = response.chunk().await.expect("the body") {
                received += chunk.len() as u64;
            }
            received
        })
    });
    for retrieval in futures_util::future::join_all(retrievals).await {
        let received = retrieval.expect("the retrieval");
        // Each part: its headers, the instance, CRLF; then the close.
        assert!(
            received > study_bytes && received < study_bytes + 1024,
            "{received} bytes for a study of {study_bytes}"
        );
    }
    let grew = peak_rss(child.pid()).saturating_sub(before);
    assert!(
        grew < study_bytes / 3,
        "three retrievals of a {} MiB study grew the server by {} MiB",
        study_bytes / MIB,
        grew / MIB
    );
    assert_under_ceiling(child.pid(), "three concurrent retrievals of a large study");
}
