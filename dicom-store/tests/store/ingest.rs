//! Ingest: real files of every encoding, refusals, duplicates and conflicts.

use dicom_core::VR;
use dicom_dictionary_std::tags;
use ferry_dicom_store::validate::ValidationError;
use ferry_dicom_store::{IngestContext, IngestError, Outcome};

use crate::helpers::*;

#[tokio::test]
async fn every_sample_encoding_is_stored_and_indexed() {
    let t = TestStore::new().await;
    let samples = [
        ("CT_small.dcm", "1.2.840.10008.1.2.1"),
        ("MR_small.dcm", "1.2.840.10008.1.2.1"),
        ("MR_small_implicit.dcm", "1.2.840.10008.1.2"),
        ("MR_small_bigendian.dcm", "1.2.840.10008.1.2.2"),
        ("MR_small_RLE.dcm", "1.2.840.10008.1.2.5"),
        ("SC_rgb_jpeg_dcmtk.dcm", "1.2.840.10008.1.2.4.50"),
        ("waveform_ecg_rhythm.dcm", "1.2.840.10008.1.2.1"),
    ];
    for (name, transfer_syntax) in samples {
        // The MR variants share one SOP Instance UID: give each its own.
        let bytes = fresh_instance(name);
        let stored = t
            .store
            .ingest(bytes.as_slice(), &ctx(t.facility_a))
            .await
            .unwrap_or_else(|e| panic!("{name} is stored: {e}"));
        assert_eq!(stored.outcome, Outcome::Created, "{name}");
        assert_eq!(stored.header.transfer_syntax, transfer_syntax, "{name}");
        let row = t
            .store
            .instance(&stored.header.sop_instance_uid)
            .await
            .expect("the index answers")
            .expect("the instance is indexed");
        assert_eq!(row.size, bytes.len() as i64, "{name}");
        let path = t.store.blobs().local_path(&row.blob_key).expect("a file");
        assert_eq!(
            std::fs::read(path).expect("the blob"),
            bytes,
            "{name}: bytes kept as sent"
        );
    }
    assert_eq!(t.count("dicom_instance").await, samples.len() as i64);
    assert_eq!(t.journal_blobs().await, 0, "no journal row names a blob");
    assert_eq!(t.staged_files(), 0);

    let ct = t
        .store
        .study("1.3.6.1.4.1.5962.1.2.1.20040119072730.12322")
        .await
        .expect("index");
    let ct = ct.expect("the CT study is indexed");
    assert_eq!((ct.num_series, ct.num_instances), (1, 1));
    assert_eq!(ct.modalities, "CT");
    let mr = t
        .store
        .study("1.3.6.1.4.1.5962.1.2.4.20040826185059.5457")
        .await
        .expect("index")
        .expect("the MR study is indexed");
    assert_eq!((mr.num_series, mr.num_instances), (1, 4));
}

#[tokio::test]
async fn series_metadata_is_one_call_and_leaves_out_bulk_data() {
    let t = TestStore::new().await;
    for _ in 0..3 {
        t.store
            .ingest(
                fresh_instance("CT_small.dcm").as_slice(),
                &ctx(t.facility_a),
            )
            .await
            .expect("stored");
    }
    let (study, series) = (
        "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322",
        "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322",
    );
    let text = t
        .store
        .series_metadata(study, series)
        .await
        .expect("index")
        .expect("the series exists");
    let metadata: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let instances = metadata.as_array().expect("an array");
    assert_eq!(instances.len(), 3);
    for instance in instances {
        assert_eq!(instance["00080060"]["Value"][0], "CT");
        assert_eq!(instance["00280010"]["Value"][0], 128);
        assert_eq!(
            instance["00100010"]["Value"][0]["Alphabetic"],
            "CompressedSamples^CT1"
        );
        let pixels = &instance["7FE00010"];
        assert!(
            pixels.get("InlineBinary").is_none() && pixels.get("Value").is_none(),
            "no pixel data in metadata, only where to fetch it: {pixels}"
        );
        assert!(pixels["BulkDataURI"].is_string(), "{pixels}");
    }
    assert!(t
        .store
        .series_metadata(study, "1.2.3")
        .await
        .expect("index")
        .is_none());
}

async fn assert_refused(t: &TestStore, bytes: &[u8], check: impl Fn(&IngestError) -> bool) {
    let before = t.count("dicom_instance").await;
    let error = t
        .store
        .ingest(bytes, &ctx(t.facility_a))
        .await
        .expect_err("refused");
    assert!(check(&error), "unexpected error: {error:?}");
    assert_eq!(t.count("dicom_instance").await, before, "nothing indexed");
    assert_eq!(t.blob_files(), before as usize, "no blob left");
    assert_eq!(t.staged_files(), 0, "no staged file left");
    assert_eq!(t.journal_blobs().await, 0, "no journal row names a blob");
}

#[tokio::test]
async fn an_instance_missing_a_required_attribute_is_refused_naming_it() {
    let t = TestStore::new().await;
    let required = [
        (tags::SOP_CLASS_UID, "SOPClassUID"),
        (tags::STUDY_INSTANCE_UID, "StudyInstanceUID"),
        (tags::SERIES_INSTANCE_UID, "SeriesInstanceUID"),
        (tags::PATIENT_ID, "PatientID"),
    ];
    for (tag, keyword) in required {
        let bytes = rewrite("CT_small.dcm", |o| {
            put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
            o.remove_element(tag);
        });
        assert_refused(&t, &bytes, |e| {
            matches!(e, IngestError::Invalid(ValidationError::Missing(k)) if *k == keyword)
                && e.failure_reason() == 0xA900
        })
        .await;
    }
    // An empty Patient ID is as good as none.
    let bytes = rewrite("CT_small.dcm", |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
        put(o, tags::PATIENT_ID, VR::LO, "");
    });
    assert_refused(&t, &bytes, |e| {
        matches!(
            e,
            IngestError::Invalid(ValidationError::Missing("PatientID"))
        )
    })
    .await;
    // Without its SOP Instance UID.
    let bytes = rewrite("CT_small.dcm", |o| {
        o.remove_element(tags::SOP_INSTANCE_UID);
    });
    assert_refused(&t, &bytes, |e| {
        matches!(
            e,
            IngestError::Invalid(ValidationError::Missing("SOPInstanceUID"))
        )
    })
    .await;
    // A malformed UID.
    let bytes = rewrite("CT_small.dcm", |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
        put(o, tags::STUDY_INSTANCE_UID, VR::UI, "1.2.03");
    });
    assert_refused(&t, &bytes, |e| {
        matches!(
            e,
            IngestError::Invalid(ValidationError::InvalidUid {
                attribute: "StudyInstanceUID",
                ..
            })
        )
    })
    .await;
}

#[tokio::test]
async fn non_dicom_and_truncated_files_cannot_be_understood() {
    let t = TestStore::new().await;
    assert_refused(
        &t,
        b"this is not a DICOM file at all, just some text",
        |e| e.failure_reason() == 0xC000,
    )
    .await;
    let whole = fixture_bytes("CT_small.dcm");
    for cut in [100, 1000, whole.len() / 2, whole.len() - 10] {
        assert_refused(&t, &whole[..cut], |e| e.failure_reason() == 0xC000).await;
    }
    let rle = fixture_bytes("MR_small_RLE.dcm");
    assert_refused(&t, &rle[..rle.len() - 100], |e| {
        e.failure_reason() == 0xC000
    })
    .await;
    // Declared lengths of gigabytes in a few kilobytes: refused, and (as the
    // fuzz target checks under a memory limit) without allocating them.
    let hostile = fixture_bytes("hostile_length.dcm");
    assert_refused(&t, &hostile, |e| {
        e.failure_reason() == 0xC000 && e.to_string().contains("more than the file holds")
    })
    .await;
    let trips_the_parser = fixture_bytes("parser_assertion.dcm");
    assert_refused(&t, &trips_the_parser, |e| e.failure_reason() == 0xC000).await;
}

#[tokio::test]
async fn the_same_instance_twice_is_kept_once() {
    let t = TestStore::new().await;
    let bytes = fresh_instance("CT_small.dcm");
    let first = t
        .store
        .ingest(bytes.as_slice(), &ctx(t.facility_a))
        .await
        .expect("stored");
    let second = t
        .store
        .ingest(bytes.as_slice(), &ctx(t.facility_a))
        .await
        .expect("acknowledged");
    assert_eq!(first.outcome, Outcome::Created);
    assert_eq!(second.outcome, Outcome::AlreadyStored);
    assert_eq!(t.count("dicom_instance").await, 1);
    assert_eq!(t.blob_files(), 1);
    assert_eq!(t.staged_files(), 0);

    // Concurrent senders of the same bytes race into the same group commit.
    let other = fresh_instance("CT_small.dcm");
    let context = ctx(t.facility_a);
    let results =
        futures_util::future::join_all((0..6).map(|_| t.store.ingest(other.as_slice(), &context)))
            .await;
    let created = results
        .iter()
        .filter(|r| matches!(r, Ok(s) if s.outcome == Outcome::Created))
        .count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(t.count("dicom_instance").await, 2);
    assert_eq!(t.blob_files(), 2, "the racing copies were discarded");
    assert_eq!(t.journal_blobs().await, 0);
}

#[tokio::test]
async fn different_bytes_under_a_stored_sop_instance_uid_are_refused() {
    let t = TestStore::new().await;
    t.store
        .ingest(fixture_bytes("MR_small.dcm").as_slice(), &ctx(t.facility_a))
        .await
        .expect("stored");
    // The implicit-VR file is the same instance encoded differently.
    assert_refused(&t, &fixture_bytes("MR_small_implicit.dcm"), |e| {
        matches!(e, IngestError::DuplicateConflict { .. }) && e.failure_reason() == 0x0111
    })
    .await;
}

#[tokio::test]
async fn a_known_study_from_another_patient_or_facility_is_refused() {
    let t = TestStore::new().await;
    t.store
        .ingest(
            fresh_instance("CT_small.dcm").as_slice(),
            &ctx(t.facility_a),
        )
        .await
        .expect("stored");
    let other_patient = rewrite("CT_small.dcm", |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
        put(o, tags::PATIENT_ID, VR::LO, "SOMEONE-ELSE");
    });
    assert_refused(&t, &other_patient, |e| {
        matches!(e, IngestError::StudyConflict { .. }) && e.failure_reason() == 0x0111
    })
    .await;
    let error = t
        .store
        .ingest(
            fresh_instance("CT_small.dcm").as_slice(),
            &ctx(t.facility_b),
        )
        .await
        .expect_err("another facility may not add to the study");
    assert!(
        matches!(error, IngestError::StudyConflict { .. }),
        "{error:?}"
    );
    assert_eq!(t.count("dicom_instance").await, 1);
}

#[tokio::test]
async fn an_instance_of_another_study_than_requested_is_refused() {
    let t = TestStore::new().await;
    let error = t
        .store
        .ingest(
            fresh_instance("CT_small.dcm").as_slice(),
            &IngestContext {
                facility_id: t.facility_a,
                patient_id: None,
                expected_study: Some("1.2.3.4".to_owned()),
                audit_owed_by: None,
            },
        )
        .await
        .expect_err("wrong study");
    assert!(matches!(error, IngestError::WrongStudy { .. }));
    assert_eq!(error.failure_reason(), 0xA900);
    assert_eq!(t.count("dicom_instance").await, 0);
}

#[tokio::test]
async fn an_instance_over_the_size_limit_is_refused_while_streaming() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let t = TestStore::new().await;
    let mut config = t.store.config().clone();
    config.max_instance_bytes = 10_000;
    config.staging_dir = dir.path().join("staging");
    let small = ferry_dicom_store::Store::open(t.db.pool.clone(), t.store.blobs().clone(), config)
        .await
        .expect("a store");
    let error = small
        .ingest(fixture_bytes("CT_small.dcm").as_slice(), &ctx(t.facility_a))
        .await
        .expect_err("too large");
    assert_eq!(error.failure_reason(), 0xA700);
    assert_eq!(
        std::fs::read_dir(dir.path().join("staging"))
            .expect("dir")
            .count(),
        0
    );
}

#[tokio::test]
async fn an_instance_from_memory_is_stored_into_a_reserved_key_and_reads_back() {
    let t = TestStore::new().await;
    let bytes = fresh_instance("CT_small.dcm");
    let stored = t
        .store
        .ingest_bytes(bytes.clone(), &ctx(t.facility_a))
        .await
        .expect("stored");
    assert_eq!(stored.outcome, Outcome::Created);
    let row = t
        .store
        .instance(&stored.header.sop_instance_uid)
        .await
        .expect("index")
        .expect("the row");
    assert_eq!(
        std::fs::read(t.blob_root().join(&row.blob_key)).expect("the blob"),
        bytes,
        "the blob is the instance, byte for byte"
    );
    assert_eq!(t.blob_files(), 1, "the other reserved keys hold nothing");
    // The same bytes again are already stored; other bytes under the same
    // SOP Instance UID are a conflict. Neither leaves a blob.
    let again = t
        .store
        .ingest_bytes(bytes.clone(), &ctx(t.facility_a))
        .await
        .expect("already stored");
    assert_eq!(again.outcome, Outcome::AlreadyStored);
    let mut other = bytes.clone();
    let last = other.len() - 1;
    other[last] ^= 0xFF;
    let conflict = t
        .store
        .ingest_bytes(other, &ctx(t.facility_a))
        .await
        .expect_err("a conflict");
    assert_eq!(conflict.failure_reason(), 0x0111);
    // Bytes that are not DICOM are refused, and their blob goes.
    let refused = t
        .store
        .ingest_bytes(b"not a DICOM file at all".repeat(20), &ctx(t.facility_a))
        .await
        .expect_err("refused");
    assert_eq!(refused.failure_reason(), 0xC000);
    assert_eq!(t.blob_files(), 1);
    assert_eq!(t.count("dicom_instance").await, 1);
}
