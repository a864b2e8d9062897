//! The DIMSE listener driven by dcmtk's own tools as child processes:
//! admission by registered AE title, C-STORE into the shared store (then seen
//! over QIDO-RS and audited), C-FIND, and a deleted modality refused.

use ferry_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::dicom_files::{audit_events, dcmtk, port, register_modality, study};
use crate::support::wait_until;
use crate::support::{send, spawn_app};

#[tokio::test]
async fn echoscu_is_answered_for_a_registered_ae_title_and_refused_for_another() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let port = port(&app);

    let known = dcmtk(
        "echoscu",
        &["-aet", "ISLAND-CT", "-aec", "FERRY", "127.0.0.1", &port],
    )
    .await;
    let unknown = dcmtk(
        "echoscu",
        &["-aet", "STRANGER", "-aec", "FERRY", "127.0.0.1", &port],
    )
    .await;
    let wrong_called = dcmtk(
        "echoscu",
        &["-aet", "ISLAND-CT", "-aec", "OTHER", "127.0.0.1", &port],
    )
    .await;

    assert!(
        known.status.success(),
        "{}",
        String::from_utf8_lossy(&known.stderr)
    );
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("Calling AE Title Not Recognized"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    assert!(!wrong_called.status.success());
}

#[tokio::test]
async fn storescu_instances_are_filed_under_the_modality_facility_found_by_qido_and_findscu() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let patient = app
        .patient_at(c.island_a, "110101195803120023", "MRN-7731")
        .await;
    let clinician = app.user("clin-a", Role::Clinician, c.island_a).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm", "MR_small.dcm"], "MRN-7731");
    let port = port(&app);

    let mut args = vec![
        "-aet",
        "ISLAND-CT",
        "-aec",
        "FERRY",
        "127.0.0.1",
        port.as_str(),
    ];
    args.extend(sent.files.iter().map(|p| p.to_str().expect("a UTF-8 path")));
    let stored = dcmtk("storescu", &args).await;
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );

    let (status, studies) = app
        .get("/dicomweb/studies?PatientID=MRN-7731", &clinician.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{studies}");
    let studies = studies.as_array().expect("an array").clone();
    assert_eq!(studies.len(), 1);
    assert_eq!(studies[0]["0020000D"]["Value"][0], sent.uid.as_str());
    assert_eq!(studies[0]["00201208"]["Value"][0], 2);
    // The study is linked to the patient whose record number it carries.
    let linked: Option<i64> =
        sqlx::query_scalar("SELECT patient_id FROM dicom_study WHERE study_uid = $1")
            .bind(&sent.uid)
            .fetch_one(app.db.pool())
            .await
            .expect("the study row");
    assert_eq!(linked, Some(patient));
    // One event for the association's transfer of the study, written once
    // the association has ended (just after storescu exits).
    let details = store_events(&app, &sent.uid).await;
    assert_eq!(details.len(), 1, "{details:?}");
    let detail: Value = serde_json::from_str(&details[0]).expect("JSON detail");
    assert_eq!(detail["instances"], 2);
    // The event names the patient the study was linked to on its way in.
    let audited: Option<i64> = sqlx::query_scalar(
        "SELECT patient_id FROM audit_event WHERE subtype = 'dicom.store' AND entity_id = $1",
    )
    .bind(&sent.uid)
    .fetch_one(app.db.pool())
    .await
    .expect("the event");
    assert_eq!(audited, Some(patient));
    assert!(audit_events(&app, "dicom.search", &sent.uid).await >= 1);

    let found = dcmtk(
        "findscu",
        &[
            "-v",
            "-S",
            "-aet",
            "ISLAND-CT",
            "-aec",
            "FERRY",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "StudyInstanceUID=*",
            "-k",
            "PatientID=MRN-7731",
            "-k",
            "ModalitiesInStudy",
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&found.stdout),
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(found.status.success(), "{output}");
    assert!(output.contains(&sent.uid), "{output}");
    assert!(
        output.contains("CT\\MR") || output.contains("MR\\CT"),
        "{output}"
    );

    let study_key = format!("StudyInstanceUID={}", sent.uid);
    let series = dcmtk(
        "findscu",
        &[
            "-v",
            "-S",
            "-aet",
            "ISLAND-CT",
            "-aec",
            "FERRY",
            "-k",
            "QueryRetrieveLevel=SERIES",
            "-k",
            &study_key,
            "-k",
            "SeriesInstanceUID",
            "-k",
            "Modality",
            "-k",
            "Rows",
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    let output = String::from_utf8_lossy(&series.stderr);
    assert!(series.status.success(), "{output}");
    assert_eq!(
        output.matches("(Pending)").count(),
        2,
        "one per series: {output}"
    );
    assert!(
        output.contains("[CT]") && output.contains("[MR]"),
        "{output}"
    );

    let nothing = dcmtk(
        "findscu",
        &[
            "-v",
            "-S",
            "-aet",
            "ISLAND-CT",
            "-aec",
            "FERRY",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "StudyInstanceUID",
            "-k",
            "PatientID=NOBODY",
            "127.0.0.1",
            &port,
        ],
    )
    .await;
    let output = String::from_utf8_lossy(&nothing.stderr);
    assert!(!output.contains(&sent.uid), "{output}");
}

#[tokio::test]
async fn a_clinician_of_another_facility_does_not_see_what_a_modality_stored() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let other = app.user("clin-b", Role::Clinician, c.island_b).await;
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "MRN-1");
    let port = port(&app);
    let path = sent.files[0].to_str().expect("a UTF-8 path");
    let stored = dcmtk(
        "storescu",
        &[
            "-aet",
            "ISLAND-CT",
            "-aec",
            "FERRY",
            "127.0.0.1",
            &port,
            path,
        ],
    )
    .await;
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );

    let (status, studies) = app.get("/dicomweb/studies", &other.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(studies, Value::Array(vec![]));
    let (status, _) = send(app.request(Method::GET, "/dicomweb/studies", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_modality_deleted_through_the_api_is_refused_at_its_next_association() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let (id, admin) = register_modality(&app, &c, "ISLAND-US").await;
    let port = port(&app);
    let echo = [
        "-aet",
        "ISLAND-US",
        "-aec",
        "FERRY",
        "127.0.0.1",
        port.as_str(),
    ];
    assert!(dcmtk("echoscu", &echo).await.status.success());

    let (status, _) = send(app.request(
        Method::DELETE,
        &format!("/api/v1/modalities/{id}"),
        Some(&admin),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let refused = dcmtk("echoscu", &echo).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Calling AE Title Not Recognized"));
}

#[tokio::test]
async fn studies_interleaved_on_one_association_get_one_audit_event_each() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let files = tempfile::tempdir().expect("a directory");
    let first = study(
        files.path(),
        &["CT_small.dcm", "MR_small.dcm", "CT_small.dcm"],
        "MRN-1",
    );
    let second = study(files.path(), &["MR_small.dcm", "CT_small.dcm"], "MRN-2");
    let port = port(&app);
    let mut args = vec![
        "-aet",
        "ISLAND-CT",
        "-aec",
        "FERRY",
        "127.0.0.1",
        port.as_str(),
    ];
    // One from each study in turn, as `storescu` sends a folder in directory
    // order rather than study by study.
    let (a, b) = (&first.files, &second.files);
    for path in [&a[0], &b[0], &a[1], &b[1], &a[2]] {
        args.push(path.to_str().expect("a UTF-8 path"));
    }
    let stored = dcmtk("storescu", &args).await;
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );

    for (sent, instances) in [(&first, 3), (&second, 2)] {
        let details = store_events(&app, &sent.uid).await;
        assert_eq!(details.len(), 1, "{details:?}");
        let detail: Value = serde_json::from_str(&details[0]).expect("JSON detail");
        assert_eq!(detail["instances"], instances, "{detail}");
    }
}

#[tokio::test]
async fn an_association_of_hundreds_of_studies_audits_each_study_once() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let patient = app
        .patient_at(c.island_a, "110101195803120023", "MRN-7731")
        .await;
    let files = tempfile::tempdir().expect("a directory");
    // Hundreds of studies, one instance each, the first sent again at the
    // end: still in the association's tally, it is counted there, so each
    // study gets one event.
    const STUDIES: usize = 520;
    // A folder per study: the copies are named after the Patient ID.
    let folder = |n: usize| {
        let dir = files.path().join(n.to_string());
        std::fs::create_dir(&dir).expect("a folder");
        dir
    };
    let sent: Vec<_> = (0..STUDIES)
        .map(|n| study(&folder(n), &["CT_small.dcm"], "MRN-7731"))
        .collect();
    let again = study(&folder(STUDIES), &["CT_small.dcm"], "MRN-7731");
    let port = port(&app);
    let mut args = vec![
        "-aet",
        "ISLAND-CT",
        "-aec",
        "FERRY",
        "127.0.0.1",
        port.as_str(),
    ];
    for s in &sent {
        args.push(s.files[0].to_str().expect("a UTF-8 path"));
    }
    // Another instance of the first study, with its own SOP Instance UID.
    let extra = again.files[0].to_str().expect("a UTF-8 path").to_owned();
    let moved = files.path().join("extra.dcm");
    let mut object = dicom_object::open_file(&extra).expect("the copy");
    object.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::STUDY_INSTANCE_UID,
        dicom_core::VR::UI,
        dicom_core::PrimitiveValue::from(sent[0].uid.as_str()),
    ));
    object.write_to_file(&moved).expect("written");
    args.push(moved.to_str().expect("a UTF-8 path"));
    let stored = dcmtk("storescu", &args).await;
    assert!(
        stored.status.success(),
        "{:?} {} {}",
        stored.status,
        String::from_utf8_lossy(&stored.stdout),
        String::from_utf8_lossy(&stored.stderr)
    );

    let last = store_events(&app, &sent[STUDIES - 1].uid).await;
    assert_eq!(last.len(), 1, "{last:?}");
    let first = store_events(&app, &sent[0].uid).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let detail: Value = serde_json::from_str(&first[0]).expect("JSON detail");
    assert_eq!(detail["instances"], 2, "{detail}");
    for s in &sent[1..STUDIES - 1] {
        let details = store_events(&app, &s.uid).await;
        assert_eq!(details.len(), 1, "{details:?}");
        let detail: Value = serde_json::from_str(&details[0]).expect("JSON detail");
        assert_eq!(detail["instances"], 1, "{detail}");
    }
    // Every event names the patient the studies were linked to.
    let unlinked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype = 'dicom.store' \
         AND (patient_id IS NULL OR patient_id <> $1)",
    )
    .bind(patient)
    .fetch_one(app.db.pool())
    .await
    .expect("a count");
    assert_eq!(unlinked, 0);
}

/// The details of a study's `dicom.store` audit events, written once the
/// association has ended (just after `storescu` exits): waited for.
async fn store_events(app: &crate::support::TestApp, study_uid: &str) -> Vec<String> {
    wait_until(
        "the C-STORE is audited",
        std::time::Duration::from_secs(5),
        async || {
            let details: Vec<String> = sqlx::query_scalar(
                "SELECT detail FROM audit_event WHERE subtype = 'dicom.store' AND entity_id = $1",
            )
            .bind(study_uid)
            .fetch_all(app.db.pool())
            .await
            .expect("the events");
            (!details.is_empty()).then_some(details)
        },
    )
    .await
}
