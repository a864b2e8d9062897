//! Reading reports as Basic Text SR: filed into the study they read, and
//! read by other toolkits (dcmtk's `dsrdump`, pydicom) as well as our own.

use dicom_dictionary_std::tags;
use ferry_dicom_store::sr::{
    basic_text_sr, ReportStatus, SrObserver, SrPatient, SrPredecessor, SrReference, SrReport,
    SrStudy, BASIC_TEXT_SR,
};
use ferry_dicom_store::{uid, IngestContext, Outcome};

use crate::helpers::*;

const FINDINGS: &str = "右肺下叶见斑片状阴影，边界模糊。No pleural effusion.";
const IMPRESSION: &str = "考虑右下肺炎 (right lower lobe pneumonia); follow up in 6 weeks.";

/// A report on the stored instance `bytes`, with its study's identifiers.
fn report_on(bytes: &[u8]) -> SrReport {
    let object = dicom_object::from_reader(&bytes[128..]).expect("parses");
    let text = |tag| {
        object
            .element(tag)
            .expect("present")
            .to_str()
            .expect("text")
            .trim_end_matches(['\0', ' '])
            .to_owned()
    };
    SrReport {
        patient: SrPatient {
            id: text(tags::PATIENT_ID),
            name: Some(text(tags::PATIENT_NAME)),
            birth_date: None,
            sex: None,
        },
        study: SrStudy {
            uid: text(tags::STUDY_INSTANCE_UID),
            accession_number: None,
            id: None,
            date: Some(text(tags::STUDY_DATE)),
            time: None,
            referring_physician: None,
        },
        series_uid: uid::generate(),
        sop_instance_uid: uid::generate(),
        series_number: 900,
        instance_number: 1,
        content_date: "20240502".into(),
        content_time: "083000".into(),
        institution_name: Some("Island clinic".into()),
        reader: SrObserver {
            name: "李^华".into(),
            organization: "Ferry reading service".into(),
        },
        status: ReportStatus::Preliminary,
        clinical_question: Some("Fever and cough.".into()),
        findings: FINDINGS.into(),
        impression: IMPRESSION.into(),
        evidence: vec![SrReference {
            series_uid: text(tags::SERIES_INSTANCE_UID),
            sop_class_uid: text(tags::SOP_CLASS_UID),
            sop_instance_uid: text(tags::SOP_INSTANCE_UID),
        }],
        predecessor: None,
    }
}

#[tokio::test]
async fn a_report_and_its_amendment_are_stored_into_the_study_they_read() {
    let t = TestStore::new().await;
    let ctx = IngestContext {
        facility_id: t.facility_a,
        ..IngestContext::default()
    };
    let ct = fixture_bytes("CT_small.dcm");
    t.store
        .ingest(ct.as_slice(), &ctx)
        .await
        .expect("CT stored");

    let first = report_on(&ct);
    let stored = t
        .store
        .ingest(basic_text_sr(&first).expect("encodes").as_slice(), &ctx)
        .await
        .expect("the report is stored");
    assert_eq!(stored.outcome, Outcome::Created);
    assert_eq!(stored.header.study_uid, first.study.uid);
    assert_eq!(stored.header.modality.as_deref(), Some("SR"));

    let amendment = SrReport {
        sop_instance_uid: uid::generate(),
        instance_number: 2,
        status: ReportStatus::Final,
        predecessor: Some(SrPredecessor {
            study_uid: first.study.uid.clone(),
            instance: SrReference {
                series_uid: first.series_uid.clone(),
                sop_class_uid: BASIC_TEXT_SR.into(),
                sop_instance_uid: first.sop_instance_uid.clone(),
            },
        }),
        ..first.clone()
    };
    let stored = t
        .store
        .ingest(basic_text_sr(&amendment).expect("encodes").as_slice(), &ctx)
        .await
        .expect("the amendment is stored");
    assert_eq!(stored.outcome, Outcome::Created);
    assert_eq!(t.count("dicom_instance").await, 3);
}

#[test]
fn dcmtk_reads_the_report_without_complaint() {
    let ct = fixture_bytes("CT_small.dcm");
    let mut report = report_on(&ct);
    report.status = ReportStatus::Final;
    report.predecessor = Some(SrPredecessor {
        study_uid: report.study.uid.clone(),
        instance: SrReference {
            series_uid: report.series_uid.clone(),
            sop_class_uid: BASIC_TEXT_SR.into(),
            sop_instance_uid: uid::generate(),
        },
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("report.dcm");
    std::fs::write(&path, basic_text_sr(&report).expect("encodes")).expect("written");

    // +Pl: whole texts rather than their first 30 characters; +U8: UTF-8 out.
    let out = ferry_test_tools::command("/usr/bin/dsrdump")
        .args(["+Pl", "+Pc", "+U8"])
        .arg(&path)
        .output()
        .expect("dcmtk's dsrdump runs (apt-get install dcmtk)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dsrdump failed:\n{stdout}\n{stderr}");
    for line in stdout.lines().chain(stderr.lines()) {
        // dcmtk 3.6.7's VR checker cannot check UTF-8 and says so; anything
        // else it warns about is a fault of ours.
        let known = line.contains("VR checker does not support this Specific Character Set");
        assert!(
            known || !(line.starts_with("E:") || line.starts_with("F:") || line.starts_with("W:")),
            "dsrdump complains: {line}\n{stdout}\n{stderr}"
        );
    }
    assert!(stdout.contains("Basic Text SR Document"), "{stdout}");
    assert!(stdout.contains(FINDINGS), "{stdout}");
    assert!(stdout.contains(IMPRESSION), "{stdout}");
    assert!(
        stdout.contains("(18748-4,LN,\"Diagnostic Imaging Report\")"),
        "{stdout}"
    );
    assert!(stdout.contains("Preliminary Flag    : FINAL"), "{stdout}");
    assert!(
        stdout.contains("Verification Flag   : VERIFIED"),
        "{stdout}"
    );
    assert!(stdout.contains("Predecessor Docs    : 1"), "{stdout}");

    // dicom3tools' IOD checker, where it is installed; it is not packaged
    // for Debian, so the test does not depend on it.
    let dciodvfy = std::path::Path::new("/usr/bin/dciodvfy");
    if dciodvfy.exists() {
        let out = ferry_test_tools::command(dciodvfy)
            .arg(&path)
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            !text.lines().any(|l| l.starts_with("Error")),
            "dciodvfy: {text}"
        );
    }
}

#[test]
fn pydicom_reads_the_report_texts_and_references() {
    let ct = fixture_bytes("CT_small.dcm");
    let report = report_on(&ct);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("report.dcm");
    std::fs::write(&path, basic_text_sr(&report).expect("encodes")).expect("written");

    let script = r#"
import json, sys, pydicom
d = pydicom.dcmread(sys.argv[1])
ev = d.CurrentRequestedProcedureEvidenceSequence[0]
print(json.dumps({
    "class": d.SOPClassUID,
    "texts": [i.TextValue for i in d.ContentSequence],
    "reader": str(d.VerifyingObserverSequence[0].VerifyingObserverName),
    "evidence": ev.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID,
}, ensure_ascii=False))
"#;
    let out = ferry_test_tools::command("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pydicom (pip install pydicom): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(read["class"], BASIC_TEXT_SR);
    assert_eq!(
        read["texts"],
        serde_json::json!(["Fever and cough.", FINDINGS, IMPRESSION])
    );
    assert_eq!(read["reader"], "李^华");
    assert_eq!(
        read["evidence"],
        report.evidence[0].sop_instance_uid.as_str()
    );
}
