//! The Modality Worklist and MPPS of the DIMSE listener: examinations
//! ordered at the calling modality's facility answered as scheduled
//! procedure steps (PS3.4 Annex K), and the steps the modality reports
//! (PS3.4 Annex F.7) moving them along. The arriving study is then matched
//! to its examination by accession number ([`super::Imaging::link_study`]).

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use ferry_dicom_store::dimse::{Admission, FindFailure, ProcedureStep, StepFailure};

use super::dimse::actor;
use super::Imaging;
use crate::audit::{Action, AuditEntry};
use crate::examination::worklist::{self, ScheduledStep, StepFilter};

const SPS: Tag = tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE;

/// A key's value, trimmed; `None` when empty or universal (`*`).
fn key(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = object.get(tag)?.to_str().ok()?;
    let value = value.trim_matches([' ', '\0']).to_owned();
    (!value.is_empty() && value.chars().any(|c| c != '*')).then_some(value)
}

/// A DICOM date range (`YYYYMMDD`, `A-B`, `A-`, `-B`) as instants in the
/// facility's time zone: from the start of the first day to the end of the
/// last.
fn date_range(text: &str, zone: &jiff::tz::TimeZone) -> Result<(Option<i64>, Option<i64>), String> {
    let day = |d: &str| -> Result<Option<jiff::Zoned>, String> {
        if d.is_empty() {
            return Ok(None);
        }
        jiff::civil::Date::strptime("%Y%m%d", d)
            .map_err(|_| format!("{d:?} is not a date YYYYMMDD"))?
            .to_zoned(zone.clone())
            .map(Some)
            .map_err(|e| e.to_string())
    };
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (day(a)?, day(b)?),
        None => (day(text)?, day(text)?),
    };
    let start = first.map(|z| z.timestamp().as_millisecond());
    let end = last
        .map(|z| z.tomorrow().map(|t| t.timestamp().as_millisecond()))
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok((start, end))
}

/// `*` and `?` wildcard matching, case-insensitive, as C-FIND matches names.
fn wildcard(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) => a == b && go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    go(&p, &t)
}

fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

/// Everything the worklist says of one step.
fn full_answer(step: &ScheduledStep) -> InMemDicomObject {
    let zone = jiff::tz::TimeZone::get(&step.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let at = jiff::Timestamp::from_millisecond(step.scheduled_at.unwrap_or(step.requested_at))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(zone);
    let accession = step.accession_number.clone().unwrap_or_default();
    let description = if step.procedure_description.is_empty() {
        format!("{} {}", step.modality, step.body_part)
    } else {
        step.procedure_description.clone()
    };
    let sex = match step.sex.as_str() {
        "female" => "F",
        "male" => "M",
        "other" => "O",
        _ => "",
    };
    let patient_id = step
        .record_number
        .clone()
        .unwrap_or_else(|| format!("FERRY-{}", step.patient_id));
    let item = InMemDicomObject::from_element_iter([
        text(tags::MODALITY, VR::CS, &step.modality),
        text(
            tags::SCHEDULED_STATION_AE_TITLE,
            VR::AE,
            step.station_ae.as_deref().unwrap_or_default(),
        ),
        text(
            tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            &at.strftime("%Y%m%d").to_string(),
        ),
        text(
            tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
            VR::TM,
            &at.strftime("%H%M%S").to_string(),
        ),
        text(tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME, VR::PN, ""),
        text(
            tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
            VR::LO,
            &description,
        ),
        text(tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, &accession),
        text(
            tags::SCHEDULED_PROCEDURE_STEP_STATUS,
            VR::CS,
            if step.step_status == "in_progress" {
                "STARTED"
            } else {
                "SCHEDULED"
            },
        ),
    ]);
    let mut answer = InMemDicomObject::from_element_iter([
        text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"),
        text(tags::ACCESSION_NUMBER, VR::SH, &accession),
        text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, &step.ordered_by),
        text(
            tags::PATIENT_NAME,
            VR::PN,
            &crate::patient::identity::dicom_person_name(&step.family_name, &step.given_name),
        ),
        text(tags::PATIENT_ID, VR::LO, &patient_id),
        text(
            tags::PATIENT_BIRTH_DATE,
            VR::DA,
            &step.birth_date.replace('-', ""),
        ),
        text(tags::PATIENT_SEX, VR::CS, sex),
        text(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            step.planned_study_uid.as_deref().unwrap_or_default(),
        ),
        text(tags::REQUESTING_PHYSICIAN, VR::PN, &step.ordered_by),
        text(tags::REQUESTED_PROCEDURE_DESCRIPTION, VR::LO, &description),
        text(tags::REQUESTED_PROCEDURE_ID, VR::SH, &accession),
    ]);
    answer.put(DataElement::new(
        SPS,
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    answer
}

/// The return keys `request` asked for, from `full`; an asked-for key we
/// have no value of is returned empty.
fn reduce(full: &InMemDicomObject, request: &InMemDicomObject) -> InMemDicomObject {
    let mut out = InMemDicomObject::new_empty();
    out.put(text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
    for element in request.iter() {
        let tag = element.header().tag;
        if tag == tags::SPECIFIC_CHARACTER_SET || tag.element() == 0 {
            continue;
        }
        let asked_items = element.items().and_then(|items| items.first());
        match (full.get(tag), asked_items) {
            (Some(found), Some(asked)) => {
                let items: Vec<InMemDicomObject> = found
                    .items()
                    .unwrap_or_default()
                    .iter()
                    .map(|item| reduce(item, asked))
                    .collect();
                out.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
            }
            (Some(found), None) => {
                out.put(found.clone());
            }
            (None, _) if element.vr() == VR::SQ => {
                out.put(DataElement::new(
                    tag,
                    VR::SQ,
                    DataSetSequence::<InMemDicomObject>::empty(),
                ));
            }
            (None, _) => {
                out.put(DataElement::new(tag, element.vr(), PrimitiveValue::Empty));
            }
        }
    }
    out
}

impl Imaging {
    /// Answers a worklist query of a modality at `facility_id`.
    pub async fn worklist(
        &self,
        facility_id: i64,
        identifier: &InMemDicomObject,
    ) -> Result<Vec<InMemDicomObject>, FindFailure> {
        let unable = |why: &str| FindFailure::UnableToProcess(why.to_owned());
        let item = identifier
            .get(SPS)
            .and_then(|e| e.items())
            .and_then(|items| items.first())
            .cloned()
            .unwrap_or_else(InMemDicomObject::new_empty);
        let mut conn = self.db.pool().acquire().await.map_err(|err| {
            tracing::error!(error = %err, "the worklist's database is unavailable");
            FindFailure::OutOfResources("the worklist is unavailable".into())
        })?;
        let zone_name: String = sqlx::query_scalar("SELECT time_zone FROM facility WHERE id = $1")
            .bind(facility_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|_| unable("unknown facility"))?;
        let zone = jiff::tz::TimeZone::get(&zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
        let (from, until) = match key(&item, tags::SCHEDULED_PROCEDURE_STEP_START_DATE) {
            Some(range) => date_range(&range, &zone)
                .map_err(|e| FindFailure::UnableToProcess(format!("start date: {e}")))?,
            None => (None, None),
        };
        let filter = StepFilter {
            modality: key(&item, tags::MODALITY).map(|m| m.to_ascii_uppercase()),
            station_ae: key(&item, tags::SCHEDULED_STATION_AE_TITLE),
            from,
            until,
            accession_number: key(identifier, tags::ACCESSION_NUMBER),
            record_number: key(identifier, tags::PATIENT_ID),
        };
        let steps = worklist::scheduled(&mut conn, facility_id, &filter)
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "reading the worklist failed");
                FindFailure::OutOfResources("the worklist is unavailable".into())
            })?;
        let name = key(identifier, tags::PATIENT_NAME);
        Ok(steps
            .iter()
            .map(full_answer)
            .filter(|answer| {
                let Some(pattern) = &name else { return true };
                let shown = answer
                    .get(tags::PATIENT_NAME)
                    .and_then(|e| e.to_str().ok())
                    .unwrap_or_default();
                shown.split('=').any(|group| {
                    wildcard(pattern, group) || wildcard(pattern, &group.replace('^', " "))
                })
            })
            .map(|answer| reduce(&answer, identifier))
            .collect())
    }

    /// Takes an MPPS N-CREATE or N-SET from a modality at `facility_id`.
    pub async fn procedure_step(
        &self,
        admission: &Admission,
        facility_id: i64,
        step: ProcedureStep,
    ) -> Result<(), StepFailure> {
        let failed = |status: u16, comment: &str| StepFailure {
            status,
            comment: comment.to_owned(),
        };
        let broken = |err: &dyn std::fmt::Display| {
            tracing::error!(error = %err, "recording a procedure step failed");
            failed(0x0110, "the step could not be recorded; retry")
        };
        let state = key(&step.attributes, tags::PERFORMED_PROCEDURE_STEP_STATUS)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let mut tx = self.db.begin_write().await.map_err(|e| broken(&e))?;
        let (exam, subtype) = if step.created {
            if state != "IN PROGRESS" {
                return Err(failed(0x0106, "an N-CREATE must be IN PROGRESS"));
            }
            let scheduled = step
                .attributes
                .get(tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE)
                .and_then(|e| e.items())
                .and_then(|items| items.first());
            let accession = scheduled.and_then(|i| key(i, tags::ACCESSION_NUMBER));
            let study = scheduled.and_then(|i| key(i, tags::STUDY_INSTANCE_UID));
            let named =
                worklist::named(&mut tx, facility_id, accession.as_deref(), study.as_deref())
                    .await
                    .map_err(|e| broken(&e))?;
            if worklist::by_step(&mut tx, facility_id, &step.sop_instance_uid)
                .await
                .map_err(|e| broken(&e))?
                .is_some()
            {
                return Err(failed(0x0111, "this procedure step exists already"));
            }
            // A step with no order in Ferry (an unscheduled examination) is
            // taken and changes nothing: its study is reconciled on arrival.
            let Some((exam, _)) = named else {
                tx.commit().await.map_err(|e| broken(&e))?;
                return Ok(());
            };
            worklist::begin(&mut tx, exam, &step.sop_instance_uid)
                .await
                .map_err(|e| broken(&e))?;
            (exam, "examination.step_started")
        } else {
            let Some((exam, current)) =
                worklist::by_step(&mut tx, facility_id, &step.sop_instance_uid)
                    .await
                    .map_err(|e| broken(&e))?
            else {
                return Err(failed(0x0112, "no such procedure step"));
            };
            let to = match state.as_str() {
                "" | "IN PROGRESS" => {
                    tx.commit().await.map_err(|e| broken(&e))?;
                    return Ok(());
                }
                "COMPLETED" => "completed",
                "DISCONTINUED" => "discontinued",
                _ => return Err(failed(0x0106, "unknown Performed Procedure Step Status")),
            };
            if !worklist::end(&mut tx, exam, to)
                .await
                .map_err(|e| broken(&e))?
            {
                tracing::info!(exam, current, "a finished procedure step cannot change");
                return Err(failed(
                    0x0110,
                    "the step has ended and may no longer be updated",
                ));
            }
            (
                exam,
                if to == "completed" {
                    "examination.step_completed"
                } else {
                    "examination.step_discontinued"
                },
            )
        };
        crate::audit::append(
            &mut tx,
            &actor(admission),
            AuditEntry::new(Action::Update, subtype)
                .entity("examination", exam)
                .facility(facility_id),
        )
        .await
        .map_err(|e| broken(&e))?;
        tx.commit().await.map_err(|e| broken(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dicom_date_ranges_cover_whole_days_in_the_facility_zone() {
        let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("a zone");
        let (from, until) = date_range("20261207", &zone).expect("a date");
        let start: jiff::Timestamp = "2026-12-06T16:00:00Z".parse().expect("an instant");
        assert_eq!(from, Some(start.as_millisecond()));
        assert_eq!(until, Some(start.as_millisecond() + 24 * 3600 * 1000));
        let (from, until) = date_range("20261207-", &zone).expect("open");
        assert_eq!((from.is_some(), until), (true, None));
        assert!(date_range("2026-12-07", &zone).is_err());
    }

    #[test]
    fn names_match_with_wildcards() {
        assert!(wildcard("wang*", "Wang^Xiuying"));
        assert!(wildcard("王*", "王^秀英"));
        assert!(wildcard("W?NG^XIUYING", "Wang^Xiuying"));
        assert!(!wildcard("li*", "Wang^Xiuying"));
    }
}
