//! Instances sent at once through ingest: what the group commit makes of
//! them, rule by rule.

use dicom_core::VR;
use dicom_dictionary_std::tags;
use ferry_dicom_store::{IngestContext, IngestError, Outcome};

use crate::helpers::*;

/// Instances of one new study in two series of two modalities, sent at once:
/// they share group commits, so later ones meet the study and series that
/// earlier ones of the same batch created.
#[tokio::test]
async fn a_new_study_sent_all_at_once_is_filed_and_counted_whole() {
    let t = TestStore::new().await;
    let study = fresh_uid();
    let series = [fresh_uid(), fresh_uid()];
    let instances: Vec<Vec<u8>> = (0..12)
        .map(|n| {
            rewrite("CT_small.dcm", |o| {
                put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
                put(o, tags::STUDY_INSTANCE_UID, VR::UI, &study);
                put(o, tags::SERIES_INSTANCE_UID, VR::UI, &series[n % 2]);
                put(o, tags::MODALITY, VR::CS, ["CT", "MR"][n % 2]);
            })
        })
        .collect();
    let context = ctx(t.facility_a);
    let results = futures_util::future::join_all(
        instances
            .iter()
            .map(|bytes| t.store.ingest(bytes.as_slice(), &context)),
    )
    .await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(s) if s.outcome == Outcome::Created)),
        "{results:?}"
    );
    let row = t
        .store
        .study(&study)
        .await
        .expect("the index answers")
        .expect("the study is indexed");
    assert_eq!((row.num_series, row.num_instances), (2, 12));
    let mut modalities: Vec<&str> = row.modalities.split('\\').collect();
    modalities.sort_unstable();
    assert_eq!(modalities, ["CT", "MR"]);
    assert_eq!(t.count("dicom_study").await, 1);
    assert_eq!(t.count("dicom_series").await, 2);
    assert_eq!(t.count("dicom_instance_metadata").await, 12);
    assert_eq!(t.journal_blobs().await, 0);
}

/// Instances from memory skip the check before the group commit, so the
/// commit alone judges them: sent at once beside a stored instance, each
/// rule holds whether or not they share a transaction, and a refused
/// instance writes nothing, not even the study or series it would have made.
#[tokio::test]
async fn the_group_commit_judges_every_rule_for_instances_sent_at_once() {
    let t = TestStore::new().await;
    let (study, series) = (fresh_uid(), fresh_uid());
    let sop = fresh_uid();
    let stored = rewrite("CT_small.dcm", |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &sop);
        put(o, tags::STUDY_INSTANCE_UID, VR::UI, &study);
        put(o, tags::SERIES_INSTANCE_UID, VR::UI, &series);
        put(o, tags::MODALITY, VR::CS, "CT");
    });
    let first = t
        .store
        .ingest_bytes(stored.clone(), &ctx(t.facility_a))
        .await
        .expect("stored");
    assert_eq!(first.outcome, Outcome::Created);

    let in_study = |edit: &dyn Fn(&mut dicom_object::DefaultDicomObject)| {
        rewrite("CT_small.dcm", |o| {
            put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
            put(o, tags::STUDY_INSTANCE_UID, VR::UI, &study);
            put(o, tags::SERIES_INSTANCE_UID, VR::UI, &series);
            put(o, tags::MODALITY, VR::CS, "CT");
            edit(o);
        })
    };
    let (new_series, other_study) = (fresh_uid(), fresh_uid());
    let twice = fresh_instance("MR_small.dcm");
    let sent: Vec<(Vec<u8>, i64, &str)> = vec![
        (stored.clone(), t.facility_a, "already stored"),
        (
            rewrite("CT_small.dcm", |o| {
                put(o, tags::SOP_INSTANCE_UID, VR::UI, &sop);
                put(o, tags::STUDY_INSTANCE_UID, VR::UI, &study);
                put(o, tags::SERIES_INSTANCE_UID, VR::UI, &series);
                put(o, tags::INSTANCE_NUMBER, VR::IS, "999");
            }),
            t.facility_a,
            "duplicate conflict",
        ),
        (
            in_study(&|o| put(o, tags::PATIENT_ID, VR::LO, "SOMEONE-ELSE")),
            t.facility_a,
            "study conflict",
        ),
        (in_study(&|_| {}), t.facility_b, "study conflict"),
        (
            in_study(&|o| put(o, tags::STUDY_INSTANCE_UID, VR::UI, &other_study)),
            t.facility_a,
            "study conflict",
        ),
        (
            in_study(&|o| {
                put(o, tags::SERIES_INSTANCE_UID, VR::UI, &new_series);
                put(o, tags::MODALITY, VR::CS, "MR");
            }),
            t.facility_a,
            "created",
        ),
        (twice.clone(), t.facility_a, "once"),
        (twice, t.facility_a, "once"),
    ];
    let contexts: Vec<IngestContext> = sent.iter().map(|(_, f, _)| ctx(*f)).collect();
    let results = futures_util::future::join_all(
        sent.iter()
            .zip(&contexts)
            .map(|((bytes, _, _), context)| t.store.ingest_bytes(bytes.clone(), context)),
    )
    .await;
    let mut once = Vec::new();
    for ((_, _, expected), result) in sent.iter().zip(&results) {
        match *expected {
            "already stored" => {
                assert!(
                    matches!(result, Ok(s) if s.outcome == Outcome::AlreadyStored),
                    "{result:?}"
                )
            }
            "duplicate conflict" => assert!(
                matches!(result, Err(IngestError::DuplicateConflict { .. })),
                "{result:?}"
            ),
            "study conflict" => assert!(
                matches!(result, Err(IngestError::StudyConflict { .. })),
                "{result:?}"
            ),
            "created" => {
                assert!(
                    matches!(result, Ok(s) if s.outcome == Outcome::Created),
                    "{result:?}"
                )
            }
            _ => once.push(result.as_ref().map(|s| s.outcome).expect("acknowledged")),
        }
    }
    once.sort_by_key(|outcome| *outcome == Outcome::AlreadyStored);
    assert_eq!(once, [Outcome::Created, Outcome::AlreadyStored]);

    assert_filed_by_the_rules(&t, &study, &other_study).await;
    assert_eq!(t.blob_files(), 3, "refused copies were discarded");
    assert_eq!(t.journal_blobs().await, 0);
}
