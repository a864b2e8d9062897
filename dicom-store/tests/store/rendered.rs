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
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
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
async fn jpeg_and_rle_render_and_a_syntax_without_a_decoder_is_refused_with_the_reason() {
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

    let video = as_video(fresh_instance("MR_small_RLE.dcm"));
    stow_bytes(&t, video.clone()).await;
    let (status, _, body) = get(
        &t,
        &format!("{}/rendered", instance_path(&video)),
        "image/png",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    let reason: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert!(
        reason["error"]["message"]
            .as_str()
            .expect("a reason")
            .contains("1.2.840.10008.1.2.4.100"),
        "names the transfer syntax: {reason}"
    );
}

/// A file relabelled MPEG-2 video (a syntax with no decoder here), its
/// pixel data left as it was.
pub(crate) fn as_video(file: Vec<u8>) -> Vec<u8> {
    let mut object = dicom_object::from_reader(&file[128..]).expect("parses");
    object.update_meta(|meta| meta.transfer_syntax = "1.2.840.10008.1.2.4.100".to_owned());
    let mut out = Vec::new();
    object.write_all(&mut out).expect("writes");
    out
}

/// A stored instance rendered as PNG, its luminance.
async fn rendered_grey(t: &TestStore, bytes: &[u8], query: &str) -> image::GrayImage {
    let (status, content_type, png) = get(
        t,
        &format!("{}/rendered{query}", instance_path(bytes)),
        "image/png",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&png));
    assert_eq!(content_type, "image/png");
    image::load_from_memory(&png).expect("a PNG").to_luma8()
}

/// The 8-bit picture of a file's first frame through the window `(c, w)`
/// (PS3.3 C.11.2.1.2.1, after the modality LUT), computed by pydicom.
fn pydicom_windowed(path: &std::path::Path, center: f64, width: f64) -> Vec<u8> {
    let script = r#"
import sys, numpy as np, pydicom
from pydicom.pixels import apply_modality_lut
d = pydicom.dcmread(sys.argv[1])
a = apply_modality_lut(d.pixel_array, d).astype(float)
c, w = float(sys.argv[2]), float(sys.argv[3])
lo, hi = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
y = np.where(a <= lo, 0, np.where(a > hi, 255, ((a - (c - 0.5)) / (w - 1) + 0.5) * 255))
sys.stdout.buffer.write(np.clip(y, 0, 255).astype(np.uint8).tobytes())
"#;
    let out = ferry_test_tools::command("python3")
        .args(["-c", script])
        .arg(path)
        .args([center.to_string(), width.to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn worst_difference(ours: &[u8], theirs: &[u8]) -> u8 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn jpeg_2000_and_jpeg_ls_render_the_picture_pydicom_windows() {
    let t = TestStore::new().await;
    // Lossless: the uncompressed MR_small is the same image, and pydicom
    // windows it with no decoder in the way.
    let original = fixture("MR_small.dcm");
    let expected = pydicom_windowed(&original, 600.0, 1600.0);
    for sample in ["MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"] {
        let bytes = fresh_sample(sample, false);
        stow_bytes(&t, bytes.clone()).await;
        let ours = rendered_grey(&t, &bytes, "?window=600,1600").await;
        assert_eq!(ours.dimensions(), (64, 64), "{sample}");
        let worst = worst_difference(ours.as_raw(), &expected);
        assert!(
            worst <= 2,
            "{sample} differs from the original by up to {worst}"
        );
    }

    // Lossy JPEG 2000, which pydicom decodes here (through Pillow's OpenJPEG).
    let sample = pydicom_test_file("JPEG2000.dcm");
    let bytes = fresh_sample("JPEG2000.dcm", true);
    stow_bytes(&t, bytes.clone()).await;
    let ours = rendered_grey(&t, &bytes, "?window=110,300").await;
    assert_eq!(ours.dimensions(), (256, 1024));
    let worst = worst_difference(ours.as_raw(), &pydicom_windowed(&sample, 110.0, 300.0));
    assert!(
        worst <= 2,
        "JPEG 2000 differs from pydicom's decode by up to {worst}"
    );
}

/// A sample file of pydicom's or pydicom-data's (both installed by
/// `tools/install-test-tools`), found the way pydicom finds it.
pub(crate) fn pydicom_test_file(name: &str) -> std::path::PathBuf {
    let out = ferry_test_tools::command("python3")
        .args([
            "-c",
            "import sys; from pydicom.data import get_testdata_file; print(get_testdata_file(sys.argv[1]) or '')",
            name,
        ])
        .output()
        .expect("python3 runs");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && !path.is_empty(),
        "pydicom and pydicom-data are installed (pip install pydicom pydicom-data) and have {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(path)
}

/// A pydicom sample with a new SOP Instance UID and, when asked, a new study
/// and series, so that samples of one image (pydicom keeps MR_small in every
/// syntax under the same UIDs) can be stored side by side.
pub(crate) fn fresh_sample(name: &str, new_study: bool) -> Vec<u8> {
    let mut object = dicom_object::open_file(pydicom_test_file(name)).expect("the sample parses");
    let mut put = |tag, vr, value: String| {
        object.put(dicom_core::DataElement::new(
            tag,
            vr,
            dicom_core::PrimitiveValue::from(value),
        ));
    };
    let sop = fresh_uid();
    put(tags::SOP_INSTANCE_UID, dicom_core::VR::UI, sop.clone());
    if new_study {
        put(tags::STUDY_INSTANCE_UID, dicom_core::VR::UI, fresh_uid());
        put(tags::SERIES_INSTANCE_UID, dicom_core::VR::UI, fresh_uid());
        // Some samples are bare images; the store files none without a patient.
        put(tags::PATIENT_ID, dicom_core::VR::LO, "SAMPLE-1".to_owned());
        put(tags::MODALITY, dicom_core::VR::CS, "OT".to_owned());
    }
    object.update_meta(|meta| meta.media_storage_sop_instance_uid = sop);
    let mut out = Vec::new();
    object.write_all(&mut out).expect("the sample writes");
    out
}

/// What pydicom decodes a file's first frame to (`pixel_array`), as the
/// little-endian bytes of its samples; `None` when no pydicom plugin here
/// decodes it.
pub(crate) fn pydicom_pixels(path: &std::path::Path) -> Option<Vec<u8>> {
    let script = r#"
import sys, numpy as np, pydicom
d = pydicom.dcmread(sys.argv[1])
try:
    a = d.pixel_array
except Exception as e:
    print(e, file=sys.stderr)
    sys.exit(3)
sys.stdout.buffer.write(a.astype(a.dtype.newbyteorder("<")).tobytes())
"#;
    let out = ferry_test_tools::command("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 runs");
    match out.status.code() {
        Some(0) => Some(out.stdout),
        Some(3) => None,
        _ => panic!("pydicom failed: {}", String::from_utf8_lossy(&out.stderr)),
    }
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

#[tokio::test]
async fn twelve_bit_jpeg_renders_close_to_the_lossless_original() {
    let t = TestStore::new().await;
    // pydicom's NM sample, JPEG Extended at 12 bits (lossy), and the same
    // image JPEG Lossless, which no pydicom plugin here decodes either; the
    // lossless one is decoded by jpeg-decoder, the lossy one by Ferry's own
    // 12-bit decoder.
    let lossy = fresh_sample("JPEG-lossy.dcm", true);
    let lossless = fresh_sample("JPEG-LL.dcm", true);
    stow_bytes(&t, lossy.clone()).await;
    stow_bytes(&t, lossless.clone()).await;
    let ours = rendered_grey(&t, &lossy, "?window=110,300").await;
    let original = rendered_grey(&t, &lossless, "?window=110,300").await;
    assert_eq!(ours.dimensions(), (256, 1024));
    assert_eq!(original.dimensions(), (256, 1024));
    let differences: Vec<u8> = ours
        .as_raw()
        .iter()
        .zip(original.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let mean = differences.iter().map(|&d| f64::from(d)).sum::<f64>() / differences.len() as f64;
    let distinct: std::collections::HashSet<u8> = ours.pixels().map(|p| p[0]).collect();
    assert!(distinct.len() > 32, "a picture, not a flat field");
    // JPEG's own loss, through this window, is 2 grey levels on average.
    assert!(
        mean < 3.0,
        "the 12-bit picture is the original's within JPEG's loss: mean difference {mean}"
    );
}
