//! Unit tests of the Basic Text SR encoder: each report is read back with
//! dicom-object and through the store's own validation.

use dicom_object::mem::InMemElement;

use super::*;

const CT: &str = "1.2.840.10008.5.1.4.1.1.2";

fn sample() -> SrReport {
    SrReport {
        patient: SrPatient {
            id: "MRN-0042".into(),
            name: Some("Doe^Jane".into()),
            birth_date: Some("19700101".into()),
            sex: Some("F".into()),
        },
        study: SrStudy {
            uid: "1.2.3.4.5".into(),
            accession_number: Some("ACC17".into()),
            id: Some("S1".into()),
            date: Some("20240501".into()),
            time: Some("101500".into()),
            referring_physician: Some("House^Gregory".into()),
        },
        series_uid: "2.25.100".into(),
        sop_instance_uid: "2.25.101".into(),
        series_number: 900,
        instance_number: 2,
        content_date: "20240502".into(),
        content_time: "083000".into(),
        institution_name: Some("County hospital".into()),
        reader: SrObserver {
            name: "Roentgen^Wilhelm".into(),
            organization: "Ferry reading service".into(),
        },
        status: ReportStatus::Final,
        clinical_question: Some("Cough for three weeks; pneumonia?".into()),
        findings: "No consolidation. Heart size normal.".into(),
        impression: "No acute cardiopulmonary disease.".into(),
        evidence: vec![
            reference("1.2.3.4.5.1", "1.2.3.4.5.1.1"),
            reference("1.2.3.4.5.2", "1.2.3.4.5.2.1"),
            reference("1.2.3.4.5.1", "1.2.3.4.5.1.2"),
            reference("1.2.3.4.5.1", "1.2.3.4.5.1.1"),
        ],
        predecessor: Some(SrPredecessor {
            study_uid: "1.2.3.4.5".into(),
            instance: SrReference {
                series_uid: "2.25.100".into(),
                sop_class_uid: BASIC_TEXT_SR.into(),
                sop_instance_uid: "2.25.99".into(),
            },
        }),
    }
}

fn reference(series: &str, sop: &str) -> SrReference {
    SrReference {
        series_uid: series.into(),
        sop_class_uid: CT.into(),
        sop_instance_uid: sop.into(),
    }
}

fn read(bytes: &[u8]) -> dicom_object::DefaultDicomObject {
    dicom_object::from_reader(&bytes[128..]).expect("the report parses")
}

fn text(o: &InMemDicomObject, tag: Tag) -> String {
    o.element(tag)
        .expect("present")
        .to_str()
        .expect("text")
        .trim_end_matches(['\0', ' '])
        .to_owned()
}

fn items(e: &InMemElement) -> &[InMemDicomObject] {
    e.items().expect("a sequence")
}

fn seq(o: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    items(o.element(tag).expect("the sequence is present"))
}

/// (code value, text) of each content item.
fn content(o: &InMemDicomObject) -> Vec<(String, String)> {
    seq(o, tags::CONTENT_SEQUENCE)
        .iter()
        .map(|item| {
            assert_eq!(text(item, tags::RELATIONSHIP_TYPE), "CONTAINS");
            assert_eq!(text(item, tags::VALUE_TYPE), "TEXT");
            let concept = &seq(item, tags::CONCEPT_NAME_CODE_SEQUENCE)[0];
            (
                text(concept, tags::CODE_VALUE),
                text(item, tags::TEXT_VALUE),
            )
        })
        .collect()
}

#[test]
fn a_report_reads_back_with_its_header_text_evidence_and_predecessor() {
    let bytes = basic_text_sr(&sample()).expect("encodes");
    let o = read(&bytes);

    assert_eq!(o.meta().media_storage_sop_class_uid(), BASIC_TEXT_SR);
    assert_eq!(o.meta().transfer_syntax(), uids::EXPLICIT_VR_LITTLE_ENDIAN);
    assert_eq!(text(&o, tags::SOP_CLASS_UID), BASIC_TEXT_SR);
    assert_eq!(text(&o, tags::SOP_INSTANCE_UID), "2.25.101");
    assert_eq!(text(&o, tags::STUDY_INSTANCE_UID), "1.2.3.4.5");
    assert_eq!(text(&o, tags::SERIES_INSTANCE_UID), "2.25.100");
    assert_eq!(text(&o, tags::PATIENT_ID), "MRN-0042");
    assert_eq!(text(&o, tags::PATIENT_NAME), "Doe^Jane");
    assert_eq!(text(&o, tags::ACCESSION_NUMBER), "ACC17");
    assert_eq!(text(&o, tags::MODALITY), "SR");
    assert_eq!(text(&o, tags::MANUFACTURER), "Ferry");
    assert_eq!(text(&o, tags::SPECIFIC_CHARACTER_SET), "ISO_IR 192");
    assert_eq!(text(&o, tags::INSTANCE_NUMBER), "2");
    assert_eq!(text(&o, tags::PRELIMINARY_FLAG), "FINAL");
    assert_eq!(text(&o, tags::COMPLETION_FLAG), "COMPLETE");
    assert_eq!(text(&o, tags::VERIFICATION_FLAG), "VERIFIED");
    let observer = &seq(&o, tags::VERIFYING_OBSERVER_SEQUENCE)[0];
    assert_eq!(
        text(observer, tags::VERIFYING_OBSERVER_NAME),
        "Roentgen^Wilhelm"
    );
    assert_eq!(
        text(observer, tags::VERIFYING_ORGANIZATION),
        "Ferry reading service"
    );
    assert_eq!(
        text(observer, tags::VERIFICATION_DATE_TIME),
        "20240502083000"
    );

    assert_eq!(text(&o, tags::VALUE_TYPE), "CONTAINER");
    assert_eq!(text(&o, tags::CONTINUITY_OF_CONTENT), "SEPARATE");
    let title = &seq(&o, tags::CONCEPT_NAME_CODE_SEQUENCE)[0];
    assert_eq!(text(title, tags::CODE_VALUE), "18748-4");
    assert_eq!(text(title, tags::CODING_SCHEME_DESIGNATOR), "LN");
    assert_eq!(
        content(&o),
        vec![
            ("55115-0".into(), "Cough for three weeks; pneumonia?".into()),
            (
                "121071".into(),
                "No consolidation. Heart size normal.".into()
            ),
            ("121073".into(), "No acute cardiopulmonary disease.".into()),
        ]
    );

    // Evidence: one study, its series in first-seen order, the repeat dropped.
    let evidence = seq(&o, tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE);
    assert_eq!(evidence.len(), 1);
    assert_eq!(text(&evidence[0], tags::STUDY_INSTANCE_UID), "1.2.3.4.5");
    let series: Vec<(String, Vec<String>)> = seq(&evidence[0], tags::REFERENCED_SERIES_SEQUENCE)
        .iter()
        .map(|s| {
            let sops = seq(s, tags::REFERENCED_SOP_SEQUENCE)
                .iter()
                .map(|r| {
                    assert_eq!(text(r, tags::REFERENCED_SOP_CLASS_UID), CT);
                    text(r, tags::REFERENCED_SOP_INSTANCE_UID)
                })
                .collect();
            (text(s, tags::SERIES_INSTANCE_UID), sops)
        })
        .collect();
    assert_eq!(
        series,
        vec![
            (
                "1.2.3.4.5.1".into(),
                vec!["1.2.3.4.5.1.1".into(), "1.2.3.4.5.1.2".into()]
            ),
            ("1.2.3.4.5.2".into(), vec!["1.2.3.4.5.2.1".into()]),
        ]
    );

    let predecessor = &seq(&o, tags::PREDECESSOR_DOCUMENTS_SEQUENCE)[0];
    assert_eq!(text(predecessor, tags::STUDY_INSTANCE_UID), "1.2.3.4.5");
    let series = &seq(predecessor, tags::REFERENCED_SERIES_SEQUENCE)[0];
    assert_eq!(text(series, tags::SERIES_INSTANCE_UID), "2.25.100");
    let sop = &seq(series, tags::REFERENCED_SOP_SEQUENCE)[0];
    assert_eq!(text(sop, tags::REFERENCED_SOP_CLASS_UID), BASIC_TEXT_SR);
    assert_eq!(text(sop, tags::REFERENCED_SOP_INSTANCE_UID), "2.25.99");
}

#[test]
fn the_report_passes_the_stores_own_validation() {
    let bytes = basic_text_sr(&sample()).expect("encodes");
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::io::Write::write_all(&mut file, &bytes).expect("written");
    let parsed = crate::validate::read_instance(file.path()).expect("valid");
    assert_eq!(parsed.header.sop_class_uid, BASIC_TEXT_SR);
    assert_eq!(parsed.header.series_uid, "2.25.100");
    assert_eq!(parsed.header.modality.as_deref(), Some("SR"));
    assert_eq!(
        parsed.header.series_description.as_deref(),
        Some(SERIES_DESCRIPTION)
    );
}

#[test]
fn chinese_text_round_trips_as_utf_8() {
    let mut report = sample();
    report.patient.name = Some("王^小明".into());
    report.findings = "右肺下叶见斑片状阴影，边界模糊。".into();
    report.impression = "考虑右下肺炎，建议抗感染治疗后复查。".into();
    let bytes = basic_text_sr(&report).expect("encodes");
    let needle = "右肺下叶".as_bytes();
    assert!(
        bytes.windows(needle.len()).any(|w| w == needle),
        "stored as UTF-8"
    );
    let o = read(&bytes);
    assert_eq!(text(&o, tags::PATIENT_NAME), "王^小明");
    let content = content(&o);
    assert_eq!(content[1].1, "右肺下叶见斑片状阴影，边界模糊。");
    assert_eq!(content[2].1, "考虑右下肺炎，建议抗感染治疗后复查。");
}

#[test]
fn a_first_preliminary_version_has_no_predecessor_and_empty_fields_stay_present() {
    let mut report = sample();
    report.status = ReportStatus::Preliminary;
    report.predecessor = None;
    report.clinical_question = None;
    report.findings = "  ".into();
    report.patient.name = None;
    report.study.accession_number = None;
    let o = read(&basic_text_sr(&report).expect("encodes"));
    assert_eq!(text(&o, tags::PRELIMINARY_FLAG), "PRELIMINARY");
    assert!(o.element(tags::PREDECESSOR_DOCUMENTS_SEQUENCE).is_err());
    // Type 2: present and empty.
    assert_eq!(text(&o, tags::PATIENT_NAME), "");
    assert_eq!(text(&o, tags::ACCESSION_NUMBER), "");
    let content = content(&o);
    assert_eq!(content.len(), 1, "only the impression: {content:?}");
    assert_eq!(content[0].0, "121073");
}

#[test]
fn invalid_input_is_refused_with_the_attribute_named() {
    type Edit = fn(&mut SrReport);
    let cases: Vec<(Edit, &str)> = vec![
        (|r| r.sop_instance_uid = "2.25.01".into(), "SOPInstanceUID"),
        (|r| r.study.uid = String::new(), "StudyInstanceUID"),
        (
            |r| r.evidence[1].sop_class_uid = "CT".into(),
            "ReferencedSOPClassUID",
        ),
        (
            |r| {
                r.predecessor
                    .as_mut()
                    .expect("set")
                    .instance
                    .sop_instance_uid = "x".into()
            },
            "PredecessorDocumentsSequence.ReferencedSOPInstanceUID",
        ),
        (|r| r.patient.id = " ".into(), "PatientID"),
        (|r| r.reader.name = String::new(), "VerifyingObserverName"),
        (|r| r.content_date = "2024-05-02".into(), "ContentDate"),
        (|r| r.content_time = "8:30".into(), "ContentTime"),
        (|r| r.patient.sex = Some("female".into()), "PatientSex"),
        (|r| r.patient.name = Some("Doe\\Jane".into()), "PatientName"),
    ];
    for (edit, attribute) in cases {
        let mut report = sample();
        edit(&mut report);
        let err = basic_text_sr(&report).expect_err(attribute).to_string();
        assert!(err.contains(attribute), "{attribute}: {err}");
    }
    let mut report = sample();
    report.findings = String::new();
    report.impression = "\n".into();
    assert!(matches!(basic_text_sr(&report), Err(SrError::NoText)));
}

#[test]
fn times_with_fractions_are_accepted() {
    let mut report = sample();
    report.content_time = "083000.123456".into();
    report.study.time = Some("1015".into());
    assert!(basic_text_sr(&report).is_ok());
}
