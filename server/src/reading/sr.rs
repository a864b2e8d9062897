//! Filing a signed report into the imaging record: each signed version
//! becomes a DICOM Basic Text SR in a new series of the study read, with
//! references to the instances read and, for an amendment, to the version it
//! supersedes. Any PACS or viewer that reads the study then sees the report.
//!
//! The SR's UIDs are fixed when the version is signed and the object is built
//! only from what was signed, so filing is idempotent: a retry after a
//! failure (the sweeper's [`file_pending`]) stores the identical object, which
//! the store counts as already stored.

use anyhow::Context;
use ferry_dicom_store::sr::{
    basic_text_sr, ReportStatus, SrObserver, SrPatient, SrPredecessor, SrReference, SrReport,
    SrStudy, BASIC_TEXT_SR,
};
use ferry_dicom_store::IngestContext;

use super::report::ReportKind;
use super::report_store::{self as reports, ReportRow};
use super::store as requests;
use crate::audit::Actor;
use crate::imaging::{Imaging, StoredStudy};
use crate::state::AppState;
use crate::time::now_ms;

/// Series Number of a report version's series: apart from the modality's.
const SERIES_NUMBER_BASE: i32 = 9000;

/// The longest wait between two attempts to file one SR.
const MAX_BACKOFF_MS: i64 = 60 * 60 * 1000;

/// Structured-report classes: never evidence of a reading.
const SR_CLASS_PREFIX: &str = "1.2.840.10008.5.1.4.1.1.88.";

/// DICOM PN from a display name: `^` and `\` would be read as structure.
fn person_name(text: &str) -> String {
    text.replace(['^', '\\', '='], " ").trim().to_owned()
}

fn utc_date_time(ms: i64) -> anyhow::Result<(String, String)> {
    let ts = jiff::Timestamp::from_millisecond(ms)?;
    Ok((
        ts.strftime("%Y%m%d").to_string(),
        ts.strftime("%H%M%S").to_string(),
    ))
}

fn reference(series_uid: &str, sop_uid: &str) -> SrReference {
    SrReference {
        series_uid: series_uid.to_owned(),
        sop_class_uid: BASIC_TEXT_SR.to_owned(),
        sop_instance_uid: sop_uid.to_owned(),
    }
}

/// Files one signed version's SR; true once it is in the store.
pub async fn file(state: &AppState, imaging: &Imaging, report_id: i64) -> anyhow::Result<bool> {
    let mut conn = state.db.pool().acquire().await?;
    let Some(report) = reports::get(&mut conn, report_id).await? else {
        return Ok(false);
    };
    let (Some(signed_at), Some(sop_uid), Some(series_uid)) = (
        report.signed_at,
        report.sr_sop_instance_uid.clone(),
        report.sr_series_instance_uid.clone(),
    ) else {
        return Ok(false);
    };
    if report.sr_stored_at.is_some() {
        return Ok(true);
    }
    let request = requests::get(&mut conn, report.reading_request_id)
        .await?
        .context("the report's request is gone")?;
    let versions = reports::of_request(&mut conn, request.id).await?;
    drop(conn);
    let store = imaging.store();
    let study = store
        .study(&request.study_instance_uid)
        .await?
        .context("the study read is not in the store")?;
    let evidence = store
        .instances_in(&study.study_uid, None, None)
        .await?
        .into_iter()
        .filter(|i| !i.sop_class_uid.starts_with(SR_CLASS_PREFIX))
        .map(|i| SrReference {
            series_uid: i.series_uid,
            sop_class_uid: i.sop_class_uid,
            sop_instance_uid: i.sop_instance_uid,
        })
        .collect();
    let predecessor = previous_signed(&versions, &report).and_then(|earlier| {
        match (
            &earlier.sr_series_instance_uid,
            &earlier.sr_sop_instance_uid,
        ) {
            (Some(series), Some(sop)) => Some(SrPredecessor {
                study_uid: study.study_uid.clone(),
                instance: reference(series, sop),
            }),
            _ => None,
        }
    });
    let (content_date, content_time) = utc_date_time(signed_at)?;
    let sr = SrReport {
        patient: SrPatient {
            id: study.dicom_patient_id.clone(),
            name: study.patient_name.clone(),
            birth_date: study.patient_birth_date.clone(),
            sex: study.patient_sex.clone(),
        },
        study: SrStudy {
            uid: study.study_uid.clone(),
            accession_number: study.accession_number.clone(),
            id: study.study_id.clone(),
            date: study.study_date.clone(),
            time: study.study_time.clone(),
            referring_physician: Some(person_name(&request.requested_by_name)),
        },
        series_uid,
        sop_instance_uid: sop_uid,
        series_number: SERIES_NUMBER_BASE + i32::try_from(report.version).unwrap_or(0),
        instance_number: 1,
        content_date,
        content_time,
        institution_name: Some(request.reading_facility_name.clone()),
        reader: SrObserver {
            name: person_name(&report.author_name),
            organization: request.reading_facility_name.clone(),
        },
        status: match report.kind {
            ReportKind::Preliminary => ReportStatus::Preliminary,
            ReportKind::Final => ReportStatus::Final,
        },
        clinical_question: Some(request.clinical_question.clone()),
        findings: report.findings.clone(),
        impression: report.impression.clone(),
        evidence,
        predecessor,
    };
    let bytes = basic_text_sr(&sr)?;
    let ctx = IngestContext {
        facility_id: study.facility_id,
        patient_id: study.patient_id,
        expected_study: Some(study.study_uid.clone()),
        ..IngestContext::default()
    };
    store.ingest(&bytes[..], &ctx).await?;
    imaging
        .audit_stored(
            &Actor::system("reading"),
            &[StoredStudy {
                study_uid: study.study_uid.clone(),
                instances: 1,
                facility_id: study.facility_id,
                patient_id: study.patient_id,
            }],
        )
        .await;
    sqlx::query(
        "UPDATE reading_report_sr SET stored_at = $1, last_error = NULL WHERE report_id = $2",
    )
    .bind(now_ms())
    .bind(report_id)
    .execute(state.db.pool())
    .await?;
    Ok(true)
}

/// The signed version just before this one, if any.
fn previous_signed<'a>(versions: &'a [ReportRow], report: &ReportRow) -> Option<&'a ReportRow> {
    versions
        .iter()
        .filter(|v| v.signed_at.is_some() && v.version < report.version)
        .max_by_key(|v| v.version)
}

/// Files an SR, recording a failure for the next attempt instead of
/// returning it: the signature it belongs to already stands.
pub async fn file_logged(state: &AppState, imaging: &Imaging, report_id: i64) {
    if let Err(err) = file(state, imaging, report_id).await {
        tracing::warn!(error = %err, report_id, "filing a report's SR failed; it will be retried");
        let result = sqlx::query(
            "UPDATE reading_report_sr SET attempts = attempts + 1, last_error = $1, last_attempt_at = $2 \
             WHERE report_id = $3",
        )
        .bind(format!("{err:#}"))
        .bind(now_ms())
        .bind(report_id)
        .execute(state.db.pool())
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, report_id, "recording a failed SR filing failed");
        }
    }
}

/// Files the SRs of signed versions that are not in the store yet and are
/// due another attempt, backing off exponentially per report.
pub async fn file_pending(state: &AppState, imaging: &Imaging) -> anyhow::Result<usize> {
    let now = now_ms();
    let due: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT report_id, attempts, last_attempt_at FROM reading_report_sr \
         WHERE stored_at IS NULL ORDER BY report_id LIMIT 100",
    )
    .fetch_all(state.db.pool())
    .await?;
    let mut filed = 0;
    for (report_id, attempts, last_attempt) in due {
        let wait = 1000_i64
            .saturating_mul(1_i64 << attempts.clamp(0, 20))
            .min(MAX_BACKOFF_MS);
        if last_attempt.is_some_and(|at| at.saturating_add(wait) > now) {
            continue;
        }
        file_logged(state, imaging, report_id).await;
        filed += 1;
    }
    Ok(filed)
}
