use std::path::{Path, PathBuf};

use dicom_core::value::{PixelFragmentSequence, PrimitiveValue};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::*;
use crate::render::{render, Format, RenderError, Rendering};
use crate::test_support::random;
use crate::transcode::{
    convert, decode_frames, TranscodeError, EXPLICIT_VR_LE, JPEG_LS_LOSSLESS, JPEG_LS_NEAR_LOSSLESS,
};

fn grey(rows: u64, columns: u64, bits_allocated: u64, signed: bool) -> Expected {
    Expected {
        rows,
        columns,
        samples: 1,
        bits_allocated,
        signed,
    }
}

/// A stream of the crate's own encoder, `precision` bits a sample.
fn encoded(samples: &[u16], width: u32, height: u32, precision: u8) -> Vec<u8> {
    let mut options = ::jpegls::EncodeOptions::default();
    options.precision = Some(precision);
    let mut out = Vec::new();
    ::jpegls::encode_with_options(samples, width, height, &options, &mut out).expect("encodes");
    out
}

fn words(decoded: Decoded) -> Vec<u16> {
    match decoded.samples {
        Samples::Words(words) => words,
        Samples::Bytes(bytes) => panic!("{} bytes, not words", bytes.len()),
    }
}

/// Where the first segment of `marker` starts.
fn segment_at(stream: &[u8], marker: u8) -> usize {
    stream
        .windows(2)
        .position(|w| w == [0xFF, marker])
        .expect("the marker")
}

#[test]
fn signed_samples_of_fewer_bits_than_allocated_are_sign_extended() {
    let values: Vec<i16> = (0..64).map(|i| (i * 67 % 4096) as i16 - 2048).collect();
    let masked: Vec<u16> = values.iter().map(|&v| v as u16 & 0x0FFF).collect();
    let stream = encoded(&masked, 8, 8, 12);
    let signed = words(decode(&stream, &grey(8, 8, 16, true)).expect("decodes"));
    assert_eq!(signed, values.iter().map(|&v| v as u16).collect::<Vec<_>>());
    let unsigned = words(decode(&stream, &grey(8, 8, 16, false)).expect("decodes"));
    assert_eq!(unsigned, masked);
}

#[test]
fn fill_bytes_before_eoi_and_padding_after_it_are_read_through() {
    let samples: Vec<u16> = (0..15 * 9).map(|i| (i * 7 % 256) as u16).collect();
    let stream = encoded(&samples, 15, 9, 8);
    let mut padded = stream[..stream.len() - 2].to_vec();
    padded.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xD9, 0x00]);
    for s in [&stream, &padded] {
        match decode(s, &grey(9, 15, 8, false)).expect("decodes").samples {
            Samples::Bytes(bytes) => {
                assert!(bytes
                    .iter()
                    .map(|&b| u16::from(b))
                    .eq(samples.iter().copied()))
            }
            Samples::Words(_) => panic!("8 bits allocated are bytes"),
        }
    }
}

#[test]
fn headers_the_crate_would_misread_are_refused_with_the_reason() {
    let samples: Vec<u16> = (0..64).map(|i| i * 40).collect();
    let stream = encoded(&samples, 8, 8, 12);
    let sos = segment_at(&stream, SOS);
    let sof = segment_at(&stream, SOF55);
    let changed = |at: usize, value: u8| {
        let mut s = stream.clone();
        s[at] = value;
        s
    };
    let expected = grey(8, 8, 16, false);
    let eight_bits = grey(8, 8, 8, false);
    let cases: Vec<(Vec<u8>, &Expected, &str)> = vec![
        (changed(sos + 9, 1), &expected, "point transform"),
        (changed(sos + 6, 1), &expected, "mapping table"),
        (changed(sos + 8, 1), &expected, "interleave"),
        (changed(sos + 5, 9), &expected, "component 9"),
        (changed(sos + 4, 2), &expected, "6 bytes"),
        (changed(sof + 9, 3), &expected, "3 components"),
        (changed(sof + 4, 17), &expected, "17 bits"),
        (changed(sof + 6, 9), &expected, "the stream is 8 × 9"),
        (stream.clone(), &eight_bits, "12 bits in 8"),
        (stream[sos..].to_vec(), &expected, "no SOI"),
        (stream[..sos + 6].to_vec(), &expected, "truncated"),
    ];
    for (stream, expected, reason) in cases {
        let why = decode(&stream, expected)
            .err()
            .unwrap_or_else(|| panic!("refused for {reason}"));
        assert!(why.contains(reason), "{reason}: {why}");
    }
    // NEAR is at most MAXVAL / 2.
    let mut near = encoded(&[7; 64], 8, 8, 8);
    let at = segment_at(&near, SOS) + 7;
    near[at] = 200;
    let why = decode(&near, &eight_bits).err().expect("refused");
    assert!(why.contains("NEAR 200 for MAXVAL 255"), "{why}");
    // Segments T.87 has that the crate does not read.
    let mut restart = stream[..sos].to_vec();
    restart.extend_from_slice(&[0xFF, DRI, 0, 4, 0, 1]);
    restart.extend_from_slice(&stream[sos..]);
    let why = decode(&restart, &expected).err().expect("refused");
    assert!(why.contains("restart"), "{why}");
    let mut palette = stream[..sos].to_vec();
    palette.extend_from_slice(&[0xFF, LSE, 0, 6, 2, 1, 1, 0]);
    palette.extend_from_slice(&stream[sos..]);
    let why = decode(&palette, &expected).err().expect("refused");
    assert!(why.contains("mapping tables"), "{why}");
}

#[test]
fn truncated_and_damaged_streams_are_errors_not_panics() {
    let mut next = random(0x15);
    let samples: Vec<u16> = (0..40 * 30)
        .map(|i| {
            if i % 97 < 40 {
                1000
            } else {
                (next() % 4096) as u16
            }
        })
        .collect();
    let stream = encoded(&samples, 40, 30, 12);
    let expected = grey(30, 40, 16, false);
    assert_eq!(words(decode(&stream, &expected).expect("whole")), samples);
    for end in 0..stream.len() - 1 {
        assert!(decode(&stream[..end], &expected).is_err(), "cut at {end}");
    }
    for round in 0..300 {
        let mut damaged = stream.clone();
        for _ in 0..1 + round % 4 {
            let at = (next() % damaged.len() as u64) as usize;
            damaged[at] = next() as u8;
        }
        // Damage in the scan may still decode (to other samples); what
        // matters is an answer, not a panic.
        let _ = decode(&damaged, &expected);
    }
}

// dcmtk's `dcmcjpls` (CharLS inside) encodes the instances below, so
// the streams are another codec's, not the crate's own.

/// An image to make: its geometry and samples.
struct Image {
    rows: u16,
    columns: u16,
    frames: u16,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    rgb: bool,
    samples: Vec<u16>,
}

impl Image {
    /// Gradients, noise, flat patches (JPEG-LS run mode) and the
    /// range's ends, in every frame a little differently.
    fn grey(rows: u16, columns: u16, frames: u16, allocated: u16, stored: u16) -> Self {
        let mut next = random(u64::from(rows) << 16 | u64::from(stored));
        let top = (1u64 << stored) - 1;
        let mut samples = Vec::new();
        for f in 0..u64::from(frames) {
            for y in 0..u64::from(rows) {
                for x in 0..u64::from(columns) {
                    let v = match (x + f) % 7 {
                        _ if y % 16 < 3 => top / 3,
                        0 => top,
                        1 => 0,
                        2 | 3 => next() & top,
                        _ => (x * 37 + y * 53 + f * 11 + next() % 9) & top,
                    };
                    samples.push(v as u16);
                }
            }
        }
        Image {
            rows,
            columns,
            frames,
            bits_allocated: allocated,
            bits_stored: stored,
            signed: false,
            rgb: false,
            samples,
        }
    }

    /// Two's complement samples of `bits_stored` bits, sign-extended
    /// in their 16 bits allocated, as modalities write them.
    fn signed(rows: u16, columns: u16, stored: u16) -> Self {
        let mut image = Image::grey(rows, columns, 1, 16, stored);
        let half = 1i32 << (stored - 1);
        for s in &mut image.samples {
            *s = (i32::from(*s) - half) as i16 as u16;
        }
        image.signed = true;
        image
    }

    fn rgb(rows: u16, columns: u16) -> Self {
        let mut image = Image::grey(rows, columns, 3, 8, 8);
        image.frames = 1;
        image.rgb = true;
        image
    }

    /// The native Part 10 file, Explicit VR Little Endian.
    fn native(&self) -> Vec<u8> {
        use dicom_object::meta::FileMetaTableBuilder;
        let uid = |n: u32| format!("1.2.826.0.1.3680043.10.1441.80.{}.{n}", self.rows);
        let mut object = InMemDicomObject::new_empty();
        let mut put = |tag, vr, value: PrimitiveValue| object.put(DataElement::new(tag, vr, value));
        let class = "1.2.840.10008.5.1.4.1.1.7";
        put(tags::SOP_CLASS_UID, VR::UI, class.into());
        put(tags::SOP_INSTANCE_UID, VR::UI, uid(1).into());
        put(tags::STUDY_INSTANCE_UID, VR::UI, uid(2).into());
        put(tags::SERIES_INSTANCE_UID, VR::UI, uid(3).into());
        put(tags::MODALITY, VR::CS, "OT".into());
        put(tags::PATIENT_ID, VR::LO, "JPEG-LS".into());
        let (samples, photometric) = if self.rgb {
            (3u16, "RGB")
        } else {
            (1, "MONOCHROME2")
        };
        put(tags::SAMPLES_PER_PIXEL, VR::US, samples.into());
        put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric.into());
        if self.rgb {
            put(tags::PLANAR_CONFIGURATION, VR::US, 0u16.into());
        }
        if self.frames > 1 {
            put(
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                self.frames.to_string().into(),
            );
        }
        put(tags::ROWS, VR::US, self.rows.into());
        put(tags::COLUMNS, VR::US, self.columns.into());
        put(tags::BITS_ALLOCATED, VR::US, self.bits_allocated.into());
        put(tags::BITS_STORED, VR::US, self.bits_stored.into());
        put(tags::HIGH_BIT, VR::US, (self.bits_stored - 1).into());
        put(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            u16::from(self.signed).into(),
        );
        if self.bits_allocated == 8 {
            let bytes = self.samples.iter().map(|&s| s as u8).collect::<Vec<_>>();
            put(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(bytes.into()));
        } else {
            put(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(self.samples.clone().into()),
            );
        }
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(class)
            .media_storage_sop_instance_uid(uid(1))
            .transfer_syntax(EXPLICIT_VR_LE);
        let mut out = Vec::new();
        object
            .with_meta(meta)
            .expect("a file meta group")
            .write_all(&mut out)
            .expect("written");
        out
    }

    /// The native pixel data's bytes, unpadded.
    fn pixel_bytes(&self) -> Vec<u8> {
        if self.bits_allocated == 8 {
            self.samples.iter().map(|&s| s as u8).collect()
        } else {
            self.samples.iter().flat_map(|s| s.to_le_bytes()).collect()
        }
    }
}

/// A dcmtk tool's path; a machine without dcmtk fails the test, naming
/// what to install.
fn dcmtk(tool: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(tool);
    assert!(
        path.exists(),
        "dcmtk's {tool} is missing at {}: install it with `apt-get install -y dcmtk`",
        path.display()
    );
    path
}

/// `file` through a dcmtk tool (`dcmcjpls`, `dcmdjpls`) with `options`.
fn through(tool: &str, options: &[&str], file: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (input, output) = (dir.path().join("in.dcm"), dir.path().join("out.dcm"));
    std::fs::write(&input, file).expect("written");
    let out = ferry_test_tools::command(dcmtk(tool))
        .args(options)
        .arg(&input)
        .arg(&output)
        .output()
        .expect("the tool runs");
    assert!(
        out.status.success(),
        "{tool} {options:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&output).expect("the tool's output")
}

fn parsed(file: &[u8]) -> dicom_object::DefaultDicomObject {
    dicom_object::OpenFileOptions::new()
        .from_reader(&file[128..])
        .expect("parses")
}

fn syntax_of(file: &[u8]) -> String {
    parsed(file)
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_owned()
}

/// The pixel data's bytes, less the padding to an even length.
fn pixel_data(file: &[u8], length: usize) -> Vec<u8> {
    let mut bytes = parsed(file)
        .element(tags::PIXEL_DATA)
        .expect("pixel data")
        .to_bytes()
        .expect("bytes")
        .into_owned();
    assert!(bytes.len() == length || bytes.len() == length + 1);
    bytes.truncate(length);
    bytes
}

fn rendered(file: &[u8], frame: u32, window: Option<(f64, f64)>) -> Result<Vec<u8>, RenderError> {
    render(
        file,
        &Rendering {
            frame,
            window,
            viewport: None,
            format: Format::Png,
            quality: 90,
        },
    )
}

fn frames(image: &Image) -> Vec<u32> {
    (1..=u32::from(image.frames)).collect()
}

#[test]
fn lossless_jpeg_ls_converts_and_renders_exactly_as_the_native_original() {
    // dcmcjpls's default ("raw") mode codes 16 bits allocated as 16-bit
    // samples, `+pc` ("cooked") as Bits Stored; both are met in archives.
    let cases: Vec<(&str, Image, &[&str])> = vec![
        (
            "12 of 16 bits, 3 frames",
            Image::grey(67, 45, 3, 16, 12),
            &[],
        ),
        (
            "12 of 16 bits, cooked",
            Image::grey(64, 33, 1, 16, 12),
            &["+pc"],
        ),
        ("16 bits signed", Image::signed(31, 50, 16), &[]),
        ("12 bits signed", Image::signed(40, 41, 12), &[]),
        ("8 bits, 2 frames", Image::grey(35, 29, 2, 8, 8), &[]),
        (
            "8 bits, zero-padded",
            Image::grey(21, 17, 1, 8, 8),
            &["+pz"],
        ),
    ];
    let mut filled = 0;
    for (name, image, options) in cases {
        let native = image.native();
        let jls = through("dcmcjpls", options, &native);
        assert_eq!(syntax_of(&jls), JPEG_LS_LOSSLESS, "{name}");
        filled += usize::from(first_stream(&jls).ends_with(&[0xFF, 0xFF, EOI]));
        let expected = image.pixel_bytes();

        let converted = convert(&jls, EXPLICIT_VR_LE).expect(name);
        assert_eq!(syntax_of(&converted), EXPLICIT_VR_LE, "{name}");
        assert!(
            pixel_data(&converted, expected.len()) == expected,
            "{name}: the converted pixel data is the original's"
        );

        let decoded = decode_frames(&jls, &frames(&image)).expect(name);
        assert_eq!(decoded.concat(), expected, "{name}: the frames decoded");

        for frame in [0, u32::from(image.frames) - 1] {
            for window in [None, Some((1000.0, 2500.0))] {
                let ours = rendered(&jls, frame, window).expect(name);
                let original = rendered(&native, frame, window).expect(name);
                assert!(
                    ours == original,
                    "{name}: frame {frame} {window:?} renders as the original"
                );
            }
        }
    }
    assert!(filled > 0, "CharLS's fill byte before EOI is met");
}

#[test]
fn near_lossless_jpeg_ls_decodes_as_dcmtk_does_within_near_of_the_original() {
    for (name, image) in [
        ("12 of 16 bits", Image::grey(67, 45, 2, 16, 12)),
        ("8 bits", Image::grey(35, 29, 1, 8, 8)),
    ] {
        let native = image.native();
        let jls = through("dcmcjpls", &["+en", "+md", "3"], &native);
        assert_eq!(syntax_of(&jls), JPEG_LS_NEAR_LOSSLESS, "{name}");
        let dcmtk = through("dcmdjpls", &[], &jls);
        let length = image.pixel_bytes().len();

        let converted = convert(&jls, EXPLICIT_VR_LE).expect(name);
        let ours = pixel_data(&converted, length);
        assert!(
            ours == pixel_data(&dcmtk, length),
            "{name}: dcmdjpls's samples"
        );
        let as_samples = |bytes: &[u8]| -> Vec<i32> {
            if image.bits_allocated == 8 {
                bytes.iter().map(|&b| i32::from(b)).collect()
            } else {
                bytes
                    .chunks_exact(2)
                    .map(|b| i32::from(u16::from_le_bytes([b[0], b[1]])))
                    .collect()
            }
        };
        let errors: Vec<u32> = as_samples(&ours)
            .iter()
            .zip(as_samples(&image.pixel_bytes()))
            .map(|(a, b)| a.abs_diff(b))
            .collect();
        assert!(errors.iter().all(|&e| e <= 3), "{name}: within NEAR");
        assert!(errors.iter().any(|&e| e > 0), "{name}: lossy after all");
        let lossy = parsed(&converted)
            .element(tags::LOSSY_IMAGE_COMPRESSION)
            .expect("present")
            .to_str()
            .expect("text")
            .trim()
            .to_owned();
        assert_eq!(lossy, "01", "{name}");

        let decoded = decode_frames(&jls, &frames(&image)).expect(name);
        assert!(decoded.concat() == ours, "{name}: the frames decoded");
        let ours = rendered(&jls, 0, None).expect(name);
        assert!(
            ours == rendered(&dcmtk, 0, None).expect(name),
            "{name}: rendered"
        );
    }
}

#[test]
fn colour_jpeg_ls_is_refused_with_the_reason_not_drawn() {
    let jls = through("dcmcjpls", &[], &Image::rgb(24, 30).native());
    assert_eq!(syntax_of(&jls), JPEG_LS_LOSSLESS);
    let Err(TranscodeError::Unsupported(why)) = convert(&jls, EXPLICIT_VR_LE) else {
        panic!("colour JPEG-LS is not converted");
    };
    assert!(why.contains("greyscale") && why.contains("4.80"), "{why}");
    assert!(matches!(
        decode_frames(&jls, &[1]),
        Err(TranscodeError::Unsupported(_))
    ));
    let Err(RenderError::Unsupported(why)) = rendered(&jls, 0, None) else {
        panic!("colour JPEG-LS is not rendered");
    };
    assert!(why.contains("greyscale"), "{why}");
}

/// The first fragment of encapsulated pixel data.
fn first_stream(file: &[u8]) -> Vec<u8> {
    parsed(file)
        .element(tags::PIXEL_DATA)
        .expect("pixel data")
        .fragments()
        .and_then(|f| f.first().cloned())
        .expect("a fragment")
}

#[test]
fn a_truncated_jpeg_ls_instance_is_an_error_not_a_panic() {
    let image = Image::grey(67, 45, 1, 16, 12);
    let jls = through("dcmcjpls", &[], &image.native());
    let stream = first_stream(&jls);
    let mut object = parsed(&jls);
    for keep in [stream.len() / 2, stream.len() - 2, 30, 4] {
        let mut cut = stream[..keep].to_vec();
        cut.resize(keep.next_multiple_of(2), 0);
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PixelFragmentSequence::new(Vec::<u32>::new(), vec![cut]),
        ));
        let mut file = Vec::new();
        object.write_all(&mut file).expect("written");
        assert!(
            matches!(
                convert(&file, EXPLICIT_VR_LE),
                Err(TranscodeError::Unsupported(_))
            ),
            "cut at {keep}"
        );
        assert!(decode_frames(&file, &[1]).is_err(), "cut at {keep}");
        assert!(
            matches!(rendered(&file, 0, None), Err(RenderError::Unsupported(_))),
            "cut at {keep}"
        );
    }
}
