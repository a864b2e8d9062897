//! The Modality Worklist and MPPS with real peers: an examination ordered
//! through the API is found by dcmtk's `findscu -W` and by pynetdicom by
//! date, modality and station; pynetdicom's MPPS moves it along; the study
//! sent with its accession number lands under the right patient whatever
//! Patient ID the modality typed.

use std::path::Path;
use std::process::Output;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use ferry_server::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::dicom_files::{dcmtk, fixture, fresh_uid, port, register_modality};
use crate::support::{spawn_app, TestApp};

fn log(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

/// Today in Shanghai, as DICOM writes dates.
fn today() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").expect("a zone"))
        .strftime("%Y%m%d")
        .to_string()
}

/// `findscu -W` as `calling`, with the scheduled step keys given; the
/// answers, read back from the files findscu wrote.
async fn findscu_worklist(
    app: &TestApp,
    calling: &str,
    keys: &[&str],
) -> Vec<dicom_object::DefaultDicomObject> {
    let dir = tempfile::tempdir().expect("a directory");
    let out_dir = dir.path().to_string_lossy().into_owned();
    let port = port(app);
    let mut args = vec![
        "-v", "-W", "-aet", calling, "-aec", "FERRY", "-X", "-od", &out_dir,
    ];
    let always = [
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "AccessionNumber",
        "StudyInstanceUID",
        "RequestedProcedureDescription",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus",
    ];
    for key in always.iter().chain(keys) {
        args.extend(["-k", key]);
    }
    args.extend(["127.0.0.1", &port]);
    let out = dcmtk("findscu", &args).await;
    assert!(out.status.success(), "{}", log(&out));
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the output")
        .map(|e| e.expect("an entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            dicom_object::OpenFileOptions::new()
                .read_preamble(dicom_object::file::ReadPreamble::Auto)
                .open_file(f)
                .expect("an answer")
        })
        .collect()
}

fn text(object: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> String {
    object
        .element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|v| v.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

async fn order(app: &TestApp, token: &str, patient: i64, body: Value) -> Value {
    let (status, exam) = app
        .post(
            &format!("/api/v1/patients/{patient}/examinations"),
            token,
            body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exam}");
    exam
}

/// Writes CT_small as a new study of `accession`, Patient ID `patient_id`.
fn study_file(dir: &Path, accession: &str, patient_id: &str) -> (std::path::PathBuf, String) {
    let mut object = dicom_object::open_file(fixture("CT_small.dcm")).expect("the fixture");
    let study = fresh_uid();
    let sop = fresh_uid();
    for (tag, vr, value) in [
        (tags::STUDY_INSTANCE_UID, VR::UI, study.as_str()),
        (tags::SERIES_INSTANCE_UID, VR::UI, &fresh_uid()),
        (tags::SOP_INSTANCE_UID, VR::UI, &sop),
        (tags::PATIENT_ID, VR::LO, patient_id),
        (tags::ACCESSION_NUMBER, VR::SH, accession),
    ] {
        object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    object.update_meta(|meta| meta.media_storage_sop_instance_uid = sop.clone());
    let path = dir.join(format!("{accession}.dcm"));
    object.write_to_file(&path).expect("written");
    (path, study)
}

#[tokio::test]
async fn an_ordered_examination_is_on_the_worklist_and_its_study_lands_under_the_patient() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let (_, admin) = register_modality(&app, &c, "ISLAND-DR").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/facilities/{}/modalities", c.island_b),
            &admin,
            json!({ "ae_title": "OTHER-DR" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let clinician = app.user("clin", Role::Clinician, c.island_a).await;
    let patient = app
        .patient_at(c.island_a, "110101195803120023", "MRN-7731")
        .await;
    let chest = order(
        &app,
        &clinician.token,
        patient,
        json!({ "modality": "DX", "body_part": "CHEST", "station_ae": "ISLAND-DR",
                "procedure_description": "Chest PA" }),
    )
    .await;
    let head = order(
        &app,
        &clinician.token,
        patient,
        json!({ "modality": "CT", "body_part": "HEAD" }),
    )
    .await;
    let accession = chest["accession_number"]
        .as_str()
        .expect("an accession number");
    assert_eq!(chest["step_status"], "scheduled");

    let date = format!(
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={}",
        today()
    );
    let found = findscu_worklist(
        &app,
        "ISLAND-DR",
        &[
            "ScheduledProcedureStepSequence[0].Modality=DX",
            "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=ISLAND-DR",
            &date,
        ],
    )
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(text(&found[0], tags::ACCESSION_NUMBER), accession);
    assert_eq!(text(&found[0], tags::PATIENT_ID), "MRN-7731");
    assert_eq!(text(&found[0], tags::PATIENT_NAME), "Wang^Xiuying");
    assert_eq!(text(&found[0], tags::PATIENT_BIRTH_DATE), "19580312");
    assert_eq!(
        text(&found[0], tags::REQUESTED_PROCEDURE_DESCRIPTION),
        "Chest PA"
    );
    assert_eq!(
        text(&found[0], tags::STUDY_INSTANCE_UID),
        chest["planned_study_uid"].as_str().expect("a planned UID")
    );
    // The CT has no station: any modality of the facility sees it, by its
    // own modality; another day, another modality or another facility
    // sees nothing.
    let ct = findscu_worklist(
        &app,
        "ISLAND-DR",
        &["ScheduledProcedureStepSequence[0].Modality=CT"],
    )
    .await;
    assert_eq!(ct.len(), 1);
    assert_eq!(
        text(&ct[0], tags::ACCESSION_NUMBER),
        head["accession_number"].as_str().expect("one")
    );
    let elsewhere = findscu_worklist(&app, "OTHER-DR", &[]).await;
    assert!(elsewhere.is_empty());
    let other_day = findscu_worklist(
        &app,
        "ISLAND-DR",
        &["ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20000101"],
    )
    .await;
    assert!(other_day.is_empty());

    // The radiographer typed a wrong Patient ID; the accession number
    // decides.
    let files = tempfile::tempdir().expect("a directory");
    let (file, study) = study_file(files.path(), accession, "TYPO-1");
    let port = port(&app);
    let sent = dcmtk(
        "storescu",
        &[
            "-aet",
            "ISLAND-DR",
            "-aec",
            "FERRY",
            "127.0.0.1",
            &port,
            file.to_str().expect("UTF-8"),
        ],
    )
    .await;
    assert!(sent.status.success(), "{}", log(&sent));
    let linked: Option<i64> =
        sqlx::query_scalar("SELECT patient_id FROM dicom_study WHERE study_uid = $1")
            .bind(&study)
            .fetch_one(app.db.pool())
            .await
            .expect("the study");
    assert_eq!(linked, Some(patient));
    let (status, exam) = app
        .get(
            &format!("/api/v1/patients/{patient}/examinations"),
            &clinician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let done = exam
        .as_array()
        .expect("a list")
        .iter()
        .find(|e| e["id"] == chest["id"])
        .expect("the chest examination");
    assert_eq!(done["status"], "performed");
    assert_eq!(done["study_instance_uid"], study.as_str());
    // Done, it leaves the worklist.
    let after = findscu_worklist(
        &app,
        "ISLAND-DR",
        &["ScheduledProcedureStepSequence[0].Modality=DX"],
    )
    .await;
    assert!(after.is_empty());
}

/// Runs a pynetdicom script against the app as `calling`; its stdout lines.
async fn pynetdicom(app: &TestApp, calling: &str, script: &str, args: &[&str]) -> Vec<String> {
    let out = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args(["-c", script, calling, &port(app)])
        .args(args)
        .output()
        .await
        .expect("python3 runs");
    assert!(out.status.success(), "{}", log(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

const MPPS_SCRIPT: &str = r#"
import sys
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep as MPPS
from pynetdicom.sop_class import ModalityWorklistInformationFind as MWL
calling, port, accession, date = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ae = AE(ae_title=calling)
ae.add_requested_context(MPPS)
ae.add_requested_context(MWL)
assoc = ae.associate('127.0.0.1', port, ae_title='FERRY')
assert assoc.is_established

def worklist():
    q = Dataset()
    q.AccessionNumber = ''
    q.PatientID = ''
    step = Dataset()
    step.Modality = 'CT'
    step.ScheduledProcedureStepStartDate = date
    step.ScheduledStationAETitle = calling
    step.ScheduledProcedureStepStatus = ''
    q.ScheduledProcedureStepSequence = [step]
    found = []
    for status, answer in assoc.send_c_find(q, MWL):
        if status and status.Status in (0xFF00, 0xFF01):
            found.append(answer.AccessionNumber + ' ' + answer.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus)
    return ','.join(found)

print('worklist', worklist())
uid = generate_uid()
ds = Dataset()
ds.PerformedProcedureStepStatus = 'IN PROGRESS'
item = Dataset()
item.AccessionNumber = accession
item.StudyInstanceUID = generate_uid()
ds.ScheduledStepAttributesSequence = [item]
ds.Modality = 'CT'
status, _ = assoc.send_n_create(ds, MPPS, uid)
print('create', hex(status.Status))
status, _ = assoc.send_n_create(ds, MPPS, uid)
print('again', hex(status.Status))
print('worklist', worklist())
done = Dataset()
done.PerformedProcedureStepStatus = 'COMPLETED'
status, _ = assoc.send_n_set(done, MPPS, uid)
print('set', hex(status.Status))
status, _ = assoc.send_n_set(done, MPPS, uid)
print('set again', hex(status.Status))
status, _ = assoc.send_n_set(done, MPPS, generate_uid())
print('unknown', hex(status.Status))
assoc.release()
"#;

#[tokio::test]
async fn mpps_moves_the_examination_along_and_pynetdicom_finds_it_on_the_worklist() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    register_modality(&app, &c, "ISLAND-CT").await;
    let clinician = app.user("clin", Role::Clinician, c.island_a).await;
    let patient = app
        .patient_at(c.island_a, "110101195803120023", "MRN-7731")
        .await;
    let exam = order(
        &app,
        &clinician.token,
        patient,
        json!({ "modality": "CT", "body_part": "HEAD", "station_ae": "ISLAND-CT" }),
    )
    .await;
    let accession = exam["accession_number"]
        .as_str()
        .expect("an accession number");
    // Scheduled on another station: not on this one's worklist.
    order(
        &app,
        &clinician.token,
        patient,
        json!({ "modality": "CT", "body_part": "CHEST", "station_ae": "ISLAND-CT2" }),
    )
    .await;

    let lines = pynetdicom(&app, "ISLAND-CT", MPPS_SCRIPT, &[accession, &today()]).await;
    assert_eq!(
        lines,
        [
            format!("worklist {accession} SCHEDULED"),
            "create 0x0".to_owned(),
            "again 0x111".to_owned(),
            format!("worklist {accession} STARTED"),
            "set 0x0".to_owned(),
            "set again 0x110".to_owned(),
            "unknown 0x112".to_owned(),
        ]
    );
    let status: String = sqlx::query_scalar("SELECT step_status FROM examination WHERE id = $1")
        .bind(exam["id"].as_i64().expect("an id"))
        .fetch_one(app.db.pool())
        .await
        .expect("the examination");
    assert_eq!(status, "completed");
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype IN ('examination.step_started', 'examination.step_completed') AND entity_id = $1",
    )
    .bind(exam["id"].as_i64().expect("an id").to_string())
    .fetch_one(app.db.pool())
    .await
    .expect("a count");
    assert_eq!(events, 2);
}

#[tokio::test]
async fn bad_scheduling_details_are_refused_and_nothing_is_ordered() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let clinician = app.user("clin", Role::Clinician, c.island_a).await;
    let patient = app
        .patient_at(c.island_a, "110101195803120023", "MRN-7731")
        .await;
    let path = format!("/api/v1/patients/{patient}/examinations");
    for (extra, code) in [
        (
            json!({ "scheduled_at": "tomorrow morning" }),
            Some("invalid_instant"),
        ),
        (
            json!({ "station_ae": "BACK\\SLASH" }),
            Some("invalid_ae_title"),
        ),
        (json!({ "procedure_description": "x".repeat(65) }), None),
    ] {
        let mut body = json!({ "modality": "CT", "body_part": "HEAD" });
        for (key, value) in extra.as_object().expect("an object") {
            body[key] = value.clone();
        }
        let (status, answer) = app.post(&path, &clinician.token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
        if let Some(code) = code {
            assert_eq!(answer["error"]["code"], code, "{answer}");
        }
    }
    assert_eq!(app.count("examination").await, 0, "nothing was ordered");
}
