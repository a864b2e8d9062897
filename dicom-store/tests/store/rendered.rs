//! Rendered frames and thumbnails through the router.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use dicom_dictionary_std::tags;
use ferry_dicom_store::router;
use tower::ServiceExt;

use crate::helpers::*;

pub(crate) async fn stow_bytes(t: &TestStore, bytes: Vec<u8>) {
    let boundary = "render-test";
    let mut body = format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = Request::post("/studies")
        .header(header::AUTHORIZATION, "Bearer island")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("a request");
    let response = router(t.state()).oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
}

/// The path of an instance, from its file.
pub(crate) fn instance_path(bytes: &[u8]) -> String {
    let object = dicom_object::from_reader(&bytes[128..]).expect("parses");
    let text = |tag| {
        object
            .element(tag)
            .expect("present")
            .to_str()
            .expect("text")
            .trim_end_matches('\0')
            .to_owned()
    };
    format!(
        "/studies/{}/series/{}/instances/{}",
        text(tags::STUDY_INSTANCE_UID),
        text(tags::SERIES_INSTANCE_UID),
        text(tags::SOP_INSTANCE_UID)
    )
}

pub(crate) async fn get(t: &TestStore, path: &str, accept: &str) -> (StatusCode, String, Vec<u8>) {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, "Bearer island")
        .header(header::ACCEPT, accept)
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

#[tokio::test]
async fn a_ct_frame_renders_as_png_and_jpeg_with_the_window_asked_for() {
    let t = TestStore::new().await;
    let ct = fixture_bytes("CT_small.dcm");
    stow_bytes(&t, ct.clone()).await;
    let path = instance_path(&ct);

    let (status, content_type, png) = get(&t, &format!("{path}/rendered"), "image/png").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&png));
    assert_eq!(content_type, "image/png");
    let image = image::load_from_memory(&png).expect("a PNG").to_luma8();
    assert_eq!(image.dimensions(), (128, 128));
    let (min, max) = image
        .pixels()
        .fold((255, 0), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
    assert!(
        max > min + 100,
        "a picture, not a flat field ({min}..{max})"
    );

    // A narrow window saturates more of the picture than a wide one.
    let white = |bytes: &[u8]| {
        let image = image::load_from_memory(bytes).expect("a PNG").to_luma8();
        image.pixels().filter(|p| p[0] == 255).count()
    };
    let (_, _, narrow) = get(&t, &format!("{path}/rendered?window=100,50"), "image/png").await;
    let (_, _, wide) = get(&t, &format!("{path}/rendered?window=100,4000"), "image/png").await;
    assert!(
        white(&narrow) > white(&wide),
        "{} vs {}",
        white(&narrow),
        white(&wide)
    );

    let (status, content_type, jpeg) = get(
        &t,
        &format!("{path}/frames/1/rendered?quality=70"),
        "image/jpeg",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/jpeg");
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);

    let (status, _, thumb) = get(&t, &format!("{path}/thumbnail?viewport=64,64"), "*/*").await;
    assert_eq!(status, StatusCode::OK);
    let thumb = image::load_from_memory(&thumb).expect("a JPEG");
    assert_eq!((thumb.width(), thumb.height()), (64, 64));

    for bad in ["window=1", "window=10,-5", "viewport=0,10", "quality=0"] {
        let (status, _, _) = get(&t, &format!("{path}/rendered?{bad}"), "image/png").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _, _) = get(&t, &format!("{path}/frames/2/rendered"), "image/png").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&t, &format!("{path}/rendered"), "application/pdf").await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn jpeg_and_rle_render_and_jpeg_2000_is_refused_with_the_reason() {
    let t = TestStore::new().await;
    let jpeg = fixture_bytes("SC_rgb_jpeg_dcmtk.dcm");
    let rle = fixture_bytes("MR_small_RLE.dcm");
    stow_bytes(&t, jpeg.clone()).await;
    stow_bytes(&t, rle.clone()).await;

    let (status, _, body) = get(
        &t,
        &format!("{}/rendered", instance_path(&jpeg)),
        "image/png",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let colour = image::load_from_memory(&body).expect("a PNG").to_rgb8();
    let distinct: std::collections::HashSet<[u8; 3]> = colour.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 3, "a colour picture");

    let (status, _, body) = get(
        &t,
        &format!("{}/rendered", instance_path(&rle)),
        "image/png",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(image::load_from_memory(&body).expect("a PNG").width(), 64);

    let j2k = std::fs::read(pydicom_test_file("JPEG2000.dcm")).expect("pydicom's JPEG 2000 sample");
    stow_bytes(&t, j2k.clone()).await;
    let (status, _, body) = get(
        &t,
        &format!("{}/rendered", instance_path(&j2k)),
        "image/png",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    let reason: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert!(
        reason["error"]["message"]
            .as_str()
            .expect("a reason")
            .contains("1.2.840.10008.1.2.4.9"),
        "names the transfer syntax: {reason}"
    );
}

/// A sample file shipped inside pydicom (installed by `.ci/run`).
fn pydicom_test_file(name: &str) -> std::path::PathBuf {
    let out = ferry_test_tools::command("python3")
        .args([
            "-c",
            "import pydicom, os; print(os.path.dirname(pydicom.__file__))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pydicom is installed: pip install pydicom"
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        .join("data/test_files")
        .join(name)
}

#[tokio::test]
async fn a_windowed_ct_frame_matches_the_standard_linear_function_computed_by_pydicom() {
    let t = TestStore::new().await;
    let ct = fixture_bytes("CT_small.dcm");
    stow_bytes(&t, ct.clone()).await;
    let path = instance_path(&ct);
    let (status, _, png) = get(&t, &format!("{path}/rendered?window=100,400"), "image/png").await;
    assert_eq!(status, StatusCode::OK);
    let ours = image::load_from_memory(&png)
        .expect("a PNG")
        .to_luma8()
        .into_raw();

    // PS3.3 C.11.2.1.2.1, after the modality LUT, computed independently.
    let script = r#"
import sys, numpy as np, pydicom
from pydicom.pixels import apply_modality_lut
d = pydicom.dcmread(sys.argv[1])
a = apply_modality_lut(d.pixel_array, d).astype(float)
c, w = 100.0, 400.0
lo, hi = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
y = np.where(a <= lo, 0, np.where(a > hi, 255, ((a - (c - 0.5)) / (w - 1) + 0.5) * 255))
sys.stdout.buffer.write(np.clip(y, 0, 255).astype(np.uint8).tobytes())
"#;
    let out = ferry_test_tools::command("python3")
        .args(["-c", script])
        .arg(fixture("CT_small.dcm"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = out.stdout;
    assert_eq!(ours.len(), expected.len());
    let worst = ours
        .iter()
        .zip(&expected)
        .map(|(a, b)| (i16::from(*a) - i16::from(*b)).abs())
        .max()
        .unwrap_or(0);
    assert!(
        worst <= 2,
        "rendered pixels differ from the standard by up to {worst}"
    );
}

#[tokio::test]
async fn legacy_wado_uri_serves_the_object_and_a_rendered_picture() {
    let t = TestStore::new().await;
    let ct = fixture_bytes("CT_small.dcm");
    stow_bytes(&t, ct.clone()).await;
    let path = instance_path(&ct);
    let uids: Vec<&str> = path.split('/').filter(|s| s.contains('.')).collect();
    let query = format!(
        "/wado?requestType=WADO&studyUID={}&seriesUID={}&objectUID={}",
        uids[0], uids[1], uids[2]
    );

    let (status, content_type, body) =
        get(&t, &format!("{query}&contentType=application/dicom"), "*/*").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/dicom");
    assert_eq!(body, ct);

    let (status, content_type, body) = get(
        &t,
        &format!("{query}&windowCenter=100&windowWidth=400&rows=64"),
        "*/*",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/jpeg");
    assert_eq!(image::load_from_memory(&body).expect("a JPEG").height(), 64);

    for bad in [
        "&windowCenter=100",
        "&contentType=text/html",
        "&frameNumber=0",
    ] {
        let (status, _, _) = get(&t, &format!("{query}{bad}"), "*/*").await;
        assert!(status.is_client_error(), "{bad}: {status}");
    }
    let (status, _, _) = get(&t, "/wado?requestType=WADO&studyUID=1.2", "*/*").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_ecg_renders_as_a_12_lead_plot_in_svg_png_or_jpeg() {
    let t = TestStore::new().await;
    let ecg = fixture_bytes("waveform_ecg_rhythm.dcm");
    stow_bytes(&t, ecg.clone()).await;
    let path = format!("{}/rendered", instance_path(&ecg));

    let (status, content_type, svg) = get(&t, &path, "image/svg+xml").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&svg));
    assert_eq!(content_type, "image/svg+xml");
    let svg = String::from_utf8(svg).expect("UTF-8");
    assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_eq!(svg.matches("<polyline data-lead=").count(), 13);
    assert_eq!(svg.matches("class=\"lead-label\"").count(), 13);

    // PNG when asked for, and by default.
    for accept in [
        "image/png",
        "*/*",
        "image/*",
        "image/png, image/svg+xml;q=0.5",
    ] {
        let (status, content_type, png) = get(&t, &path, accept).await;
        assert_eq!(status, StatusCode::OK, "{accept}");
        assert_eq!(content_type, "image/png", "{accept}");
        let image = image::load_from_memory(&png).expect("a PNG");
        assert!(image.width() > image.height(), "a landscape page");
    }
    let (status, content_type, jpeg) = get(&t, &path, "image/jpeg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/jpeg");
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);

    let (status, _, _) = get(&t, &path, "application/pdf").await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);

    // A thumbnail is the plot shrunk to the viewport.
    let thumbnail = path.replace("/rendered", "/thumbnail");
    let (status, content_type, png) = get(&t, &thumbnail, "*/*").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/png");
    assert_eq!(image::load_from_memory(&png).expect("a PNG").width(), 128);

    // A waveform has no frames.
    let frame = path.replace("/rendered", "/frames/1/rendered");
    let (status, _, _) = get(&t, &frame, "image/png").await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn an_ecg_without_twelve_channels_answers_422_naming_the_count() {
    let t = TestStore::new().await;
    let three = crate::ecg::edited_fixture(3, false);
    stow_bytes(&t, three.clone()).await;
    let path = format!("{}/rendered", instance_path(&three));
    for accept in ["image/svg+xml", "image/png"] {
        let (status, _, body) = get(&t, &path, accept).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{accept}");
        let error: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(error["error"]["code"], "cannot_plot_ecg");
        assert_eq!(
            error["error"]["message"],
            "a 12-lead plot needs 12 channels; this waveform has 3"
        );
    }
}

#[tokio::test]
async fn a_study_and_a_series_render_as_one_part_per_instance() {
    let t = TestStore::new().await;
    let ct = fixture_bytes("CT_small.dcm");
    stow_bytes(&t, ct.clone()).await;
    let instance = instance_path(&ct);
    let series = instance.split("/instances/").next().expect("a series path");
    let study = series.split("/series/").next().expect("a study path");
    let (status, _, one) = get(&t, &format!("{instance}/rendered"), "image/png").await;
    assert_eq!(status, StatusCode::OK);

    for path in [study, series] {
        let (status, content_type, body) = get(
            &t,
            &format!("{path}/rendered"),
            "multipart/related; type=\"image/png\"",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            content_type.starts_with("multipart/related"),
            "{content_type}"
        );
        assert!(content_type.contains("image/png"), "{content_type}");
        let found = body
            .windows(one.len())
            .filter(|w| *w == one.as_slice())
            .count();
        assert_eq!(found, 1, "the instance's picture, once, in {path}");
    }
    let (status, _, _) = get(&t, &format!("{study}/rendered"), "application/pdf").await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}
