//! The group committer, fed directly: batches of a chosen size, so that each
//! way SQLite commits a batch (one guarded call for a few instances, a
//! lookup and plain writes for more) meets every index rule.

use dicom_core::VR;
use dicom_dictionary_std::tags;
use ferry_dicom_store::index::commit::{self, CommitJob, Job};
use ferry_dicom_store::index::store::IndexOutcome;
use ferry_dicom_store::index::NewInstance;
use ferry_dicom_store::validate::read_instance_bytes;
use tokio::sync::{mpsc, oneshot};

use crate::helpers::*;

/// An index entry for a copy of CT_small edited by `edit`, under a fresh
/// blob key; `sha` stands for its bytes.
fn entry(
    facility_id: i64,
    sha: char,
    edit: impl FnOnce(&mut dicom_object::DefaultDicomObject),
) -> NewInstance {
    let bytes = rewrite("CT_small.dcm", edit);
    let parsed = read_instance_bytes(&bytes).expect("the copy parses");
    NewInstance {
        header: parsed.header,
        facility_id,
        patient_id: None,
        size: bytes.len() as i64,
        sha256: sha.to_string().repeat(64),
        blob_key: fresh_uid(),
        metadata_json: parsed.metadata_json,
        audit_owed_by: None,
    }
}

/// Hands `entries` to the committer without yielding in between: on the
/// test's one thread, the committer then finds them all waiting and
/// commits them as one batch.
async fn commit_at_once(
    committer: &mpsc::Sender<Job>,
    entries: Vec<NewInstance>,
) -> Vec<IndexOutcome> {
    let mut answers = Vec::new();
    for entry in entries {
        let (reply, answer) = oneshot::channel();
        let job = CommitJob {
            entry,
            settled: Vec::new(),
            reply,
        };
        committer
            .try_send(Job::Instance(Box::new(job)))
            .expect("room in the committer's queue");
        answers.push(answer);
    }
    let mut outcomes = Vec::new();
    for answer in answers {
        outcomes.push(answer.await.expect("answered").expect("committed"));
    }
    outcomes
}

/// The same eight instances beside a stored one, committed in batches of
/// `sizes`: each is judged by the rules, and a refused one writes nothing.
async fn every_rule_in_batches_of(sizes: &[usize]) {
    let t = TestStore::new().await;
    let committer = commit::spawn(t.store.index().clone());
    let (a, b) = (t.facility_a, t.facility_b);
    let (study, series, sop) = (fresh_uid(), fresh_uid(), fresh_uid());
    let in_study = |o: &mut dicom_object::DefaultDicomObject| {
        put(o, tags::STUDY_INSTANCE_UID, VR::UI, &study);
        put(o, tags::SERIES_INSTANCE_UID, VR::UI, &series);
        put(o, tags::MODALITY, VR::CS, "CT");
    };
    let stored = || {
        entry(a, 'a', |o| {
            in_study(o);
            put(o, tags::SOP_INSTANCE_UID, VR::UI, &sop);
        })
    };
    let first = commit_at_once(&committer, vec![stored()]).await;
    assert_eq!(first, [IndexOutcome::Created(None)]);

    let fresh = |facility, edit: &dyn Fn(&mut dicom_object::DefaultDicomObject)| {
        entry(facility, 'b', |o| {
            in_study(o);
            put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid());
            edit(o);
        })
    };
    let (other_study, new_series) = (fresh_uid(), fresh_uid());
    let twice = rewrite("MR_small.dcm", |o| {
        put(o, tags::SOP_INSTANCE_UID, VR::UI, &fresh_uid())
    });
    let twice = || {
        let parsed = read_instance_bytes(&twice).expect("the copy parses");
        NewInstance {
            header: parsed.header,
            facility_id: a,
            patient_id: None,
            size: twice.len() as i64,
            sha256: "c".repeat(64),
            blob_key: fresh_uid(),
            metadata_json: parsed.metadata_json,
            audit_owed_by: None,
        }
    };
    let mut entries = vec![
        stored(),
        entry(a, 'd', |o| {
            in_study(o);
            put(o, tags::SOP_INSTANCE_UID, VR::UI, &sop);
        }),
        fresh(a, &|o| put(o, tags::PATIENT_ID, VR::LO, "SOMEONE-ELSE")),
        fresh(b, &|_| {}),
        fresh(a, &|o| {
            put(o, tags::STUDY_INSTANCE_UID, VR::UI, &other_study)
        }),
        fresh(a, &|o| {
            put(o, tags::SERIES_INSTANCE_UID, VR::UI, &new_series);
            put(o, tags::MODALITY, VR::CS, "MR");
        }),
        twice(),
        twice(),
    ]
    .into_iter();
    let mut outcomes = Vec::new();
    for &size in sizes {
        let batch: Vec<NewInstance> = entries.by_ref().take(size).collect();
        outcomes.extend(commit_at_once(&committer, batch).await);
    }
    assert_eq!(
        outcomes,
        [
            IndexOutcome::AlreadyStored,
            IndexOutcome::DuplicateConflict,
            IndexOutcome::StudyConflict("under another Patient ID"),
            IndexOutcome::StudyConflict("from another facility"),
            IndexOutcome::StudyConflict("with this series in another study"),
            IndexOutcome::Created(None),
            IndexOutcome::Created(None),
            IndexOutcome::AlreadyStored,
        ],
        "in batches of {sizes:?}"
    );

    assert_filed_by_the_rules(&t, &study, &other_study).await;
}

#[tokio::test]
async fn every_rule_holds_in_one_batch_of_eight() {
    every_rule_in_batches_of(&[8]).await;
}

#[tokio::test]
async fn every_rule_holds_in_batches_of_four() {
    every_rule_in_batches_of(&[4, 4]).await;
}

#[tokio::test]
async fn every_rule_holds_one_instance_at_a_time() {
    every_rule_in_batches_of(&[1; 8]).await;
}
