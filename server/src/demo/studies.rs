//! Demo studies for `ferry serve --demo`: small real instances (a head CT
//! slice and a 12-lead ECG rhythm strip, embedded in the binary) rewritten
//! for demo patients with fresh UIDs and ingested through the store like any
//! upload. The ECG is attached to the consultation waiting to be booked, and
//! the head CT to Mrs Wang's consultations (the urgent one whose call is open
//! at once among them), so the expert sees them on the case page and either
//! side can share the CT in the call. Seeded once, after the demo consortium, under a
//! marker of its own in `ferry_meta`.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use ferry_dicom_store::{uid, IngestContext};

use crate::audit::Actor;
use crate::imaging::Imaging;
use crate::reading::store::{self as reading_store, NewRow};
use crate::reading::Priority;

const MARKER: &str = "demo_studies_seeded";

const CT_HEAD: &[u8] = include_bytes!("../../../tests/fixtures/dicom/CT_small.dcm");
const ECG: &[u8] = include_bytes!("../../../tests/fixtures/dicom/waveform_ecg_rhythm.dcm");

/// One Part 10 file rewritten as a new instance of a new study for a patient:
/// new Study, Series and SOP Instance UIDs, the patient's ID and name (UTF-8).
/// Returns the bytes and the Study Instance UID.
pub fn rewrite_for(
    file: &[u8],
    patient_id: &str,
    patient_name: &str,
) -> anyhow::Result<(Vec<u8>, String)> {
    use anyhow::Context;
    let after_preamble = file.get(128..).context("not a DICOM Part 10 file")?;
    let mut object = dicom_object::OpenFileOptions::new().from_reader(after_preamble)?;
    let study_uid = uid::generate();
    let sop_uid = uid::generate();
    for (tag, vr, value) in [
        (tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"),
        (tags::STUDY_INSTANCE_UID, VR::UI, study_uid.as_str()),
        (tags::SERIES_INSTANCE_UID, VR::UI, &uid::generate()),
        (tags::SOP_INSTANCE_UID, VR::UI, &sop_uid),
        (tags::PATIENT_ID, VR::LO, patient_id),
        (tags::PATIENT_NAME, VR::PN, patient_name),
    ] {
        object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    object.update_meta(|meta| meta.media_storage_sop_instance_uid = sop_uid);
    let mut out = Vec::new();
    object.write_all(&mut out)?;
    Ok((out, study_uid))
}

/// A reading request from the facility's clinician, routed like any other,
/// so the demo radiologist finds it on the worklist. Due by the default
/// targets; the demo does not read the node's settings.
async fn ask_for_reading(
    imaging: &Imaging,
    study_uid: &str,
    facility_id: i64,
    body_part: &str,
    priority: Priority,
    question: &str,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let study = imaging
        .store()
        .study(study_uid)
        .await?
        .context("the demo study was just stored")?;
    let modality = crate::reading::study_modality(&study.modalities)
        .context("the demo study names its modality")?;
    let mut tx = imaging.db().begin_write().await?;
    let clinician: Option<i64> = sqlx::query_scalar(
        "SELECT u.id FROM app_user u JOIN user_role r ON r.user_id = u.id AND r.role = 'clinician' \
         WHERE u.facility_id = $1 ORDER BY u.id LIMIT 1",
    )
    .bind(facility_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(clinician) = clinician else {
        return Ok(());
    };
    let Some((route_id, reading_facility_id)) =
        crate::reading::routing_rules::resolve(&mut tx, facility_id, &modality, body_part).await?
    else {
        return Ok(());
    };
    let now = crate::time::now_ms();
    let defaults = crate::config::Settings::default();
    reading_store::insert(
        &mut tx,
        &NewRow {
            study_instance_uid: study_uid,
            patient_id: study.patient_id,
            requesting_facility_id: facility_id,
            requested_by: clinician,
            reading_facility_id,
            route_id: Some(route_id),
            modality: &modality,
            body_part,
            clinical_question: question,
            priority,
            requested_reader_id: None,
            due_at: now.saturating_add(priority.target_ms(&defaults)),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Seeds the demo studies unless they are there already or the demo
/// consortium is not. Returns how many studies were stored.
pub async fn seed_studies(imaging: &Imaging) -> anyhow::Result<usize> {
    let pool = imaging.db().pool();
    let seeded: Vec<String> =
        sqlx::query_scalar("SELECT key FROM ferry_meta WHERE key IN ($1, $2)")
            .bind(super::MARKER)
            .bind(MARKER)
            .fetch_all(pool)
            .await?;
    if seeded.len() != 1 || seeded[0] != super::MARKER {
        return Ok(0);
    }
    let actor = Actor::system("demo");
    // (record number, DICOM name, instance, attach to the demo consultation,
    // ask for a reading: body part, priority, clinical question)
    type Reading = Option<(&'static str, Priority, &'static str)>;
    let studies: [(&str, &str, &[u8], bool, Reading); 4] = [
        (
            "DJ-0002",
            "李^建国",
            ECG,
            true,
            Some(("", Priority::Routine, "心悸两天；心律如何？")),
        ),
        (
            "DJ-0001",
            "王^秀英",
            CT_HEAD,
            true,
            Some((
                "HEAD",
                Priority::Urgent,
                "今晨在家跌倒，短暂意识丧失；有无颅内出血？",
            )),
        ),
        ("XY-0001", "陈^美玲", CT_HEAD, false, None),
        // Mrs Wang's head CT at the county hospital, the images of its
        // performed examination: what the island's duplicate warning points
        // to, and opens once her consent to sharing is recorded.
        ("HA-2024-1187", "王^秀英", CT_HEAD, false, None),
    ];
    for (record, name, file, attach, reading) in studies {
        let found: Option<(i64, i64)> = sqlx::query_as(
            "SELECT patient_id, facility_id FROM patient_record WHERE record_number = $1",
        )
        .bind(record)
        .fetch_optional(pool)
        .await?;
        let Some((patient_id, facility_id)) = found else {
            continue;
        };
        let (bytes, study_uid) = rewrite_for(file, record, name)?;
        let ctx = IngestContext {
            facility_id,
            patient_id: Some(patient_id),
            expected_study: None,
            audit_owed_by: None,
        };
        imaging.store().ingest(&bytes[..], &ctx).await?;
        imaging.after_store(&actor, &study_uid, 1).await?;
        sqlx::query(
            "UPDATE examination SET study_instance_uid = $1 WHERE patient_id = $2 \
             AND facility_id = $3 AND modality = 'CT' AND body_part = 'HEAD' \
             AND status = 'performed' AND study_instance_uid IS NULL",
        )
        .bind(&study_uid)
        .bind(patient_id)
        .bind(facility_id)
        .execute(pool)
        .await?;
        if attach {
            let mut tx = imaging.db().begin_write().await?;
            sqlx::query(
                "INSERT INTO consultation_study (consultation_id, study_instance_uid) \
                 SELECT id, $1 FROM consultation WHERE patient_id = $2",
            )
            .bind(&study_uid)
            .bind(patient_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        if let Some((body_part, priority, question)) = reading {
            ask_for_reading(
                imaging,
                &study_uid,
                facility_id,
                body_part,
                priority,
                question,
            )
            .await?;
        }
    }
    sqlx::query("INSERT INTO ferry_meta (key, value) VALUES ($1, $2)")
        .bind(MARKER)
        .bind(crate::time::rfc3339(crate::time::now_ms()))
        .execute(pool)
        .await?;
    Ok(studies.len())
}
