//! Imaging studies: what a user or a modality may read and store, and which
//! studies a request body may name.

use ferry_dicom_store::index::StudyRow;
use ferry_dicom_store::{ScopeBinds, ScopeCondition, ScopeValue, StudyScope};
use sqlx::AnyConnection;

use super::sharing::{ConsentRule, StudyBasis, PROBE};
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ErrorCode};

/// SQL predicate on a `consultation c`: it still lends its patient and
/// studies to those working on it. `requested` to `awaiting_opinion` are the
/// open states; `completed` still counts because its signed opinion stays
/// amendable by the expert (who needs the images to amend it) and the expert
/// keeps the patient in scope through it ([`PATIENT_IN_SCOPE`](super::PATIENT_IN_SCOPE)).
/// `cancelled` and `declined` end it: nobody works on the case any more.
pub const LIVE_CONSULTATION: &str = "c.status NOT IN ('cancelled', 'declined')";

/// What a user may reach in the imaging store, as SQL over `dicom_study s`:
/// one condition per basis of access, with `$1` the caller's facility, `$2`
/// the user and `$3` the instant of the request. See the table at the top
/// of this module and [`super::sharing`].
#[derive(Debug, Clone)]
pub struct StudyReach {
    parts: Vec<(StudyBasis, String)>,
    binds: [i64; 3],
    store_facility: Option<i64>,
}

/// The reach of a user with `roles` at `facility_id`, at instant `now`.
pub fn study_reach(
    user_id: i64,
    facility_id: i64,
    roles: &[Role],
    rule: ConsentRule,
    now: i64,
) -> StudyReach {
    let clinician = roles.contains(&Role::Clinician);
    let radiologist = roles.contains(&Role::Radiologist);
    let expert = roles.contains(&Role::Expert);
    let mut parts = Vec::new();
    if clinician || radiologist {
        parts.push((StudyBasis::Facility, "s.facility_id = $1".to_owned()));
    }
    let mut lent = Vec::new();
    if clinician {
        lent.push("c.requesting_facility_id = $1");
    }
    if expert {
        lent.push("c.expert_id = $2");
    }
    if !lent.is_empty() {
        parts.push((
            StudyBasis::Consultation,
            format!(
                "EXISTS (SELECT 1 FROM consultation_study cs \
                 JOIN consultation c ON c.id = cs.consultation_id \
                 WHERE cs.study_instance_uid = s.study_uid AND ({}) AND {LIVE_CONSULTATION} {PROBE})",
                lent.join(" OR ")
            ),
        ));
    }
    if radiologist {
        parts.push((
            StudyBasis::Reading,
            format!(
                "EXISTS (SELECT 1 FROM reading_request rr \
                 WHERE rr.study_instance_uid = s.study_uid AND rr.reading_facility_id = $1 \
                 AND rr.status <> 'cancelled' {PROBE})"
            ),
        ));
    }
    if clinician {
        parts.push((
            StudyBasis::Shared,
            format!(
                "(s.patient_id IS NOT NULL AND {})",
                super::sharing::shared_with("s.patient_id", "$1", rule)
            ),
        ));
    }
    if clinician || radiologist || expert {
        parts.push((
            StudyBasis::BreakGlass,
            format!(
                "EXISTS (SELECT 1 FROM break_glass_grant g WHERE g.patient_id = s.patient_id \
                 AND g.user_id = $2 AND g.expires_at > $3 {PROBE})"
            ),
        ));
    }
    StudyReach {
        parts,
        binds: [facility_id, user_id, now],
        store_facility: (clinician || radiologist).then_some(facility_id),
    }
}

impl StudyReach {
    /// The studies within reach, for the store to join into its queries.
    pub fn scope(&self) -> StudyScope {
        if self.parts.is_empty() {
            return StudyScope::nothing();
        }
        let sql = self
            .parts
            .iter()
            .map(|(_, sql)| sql.as_str())
            .collect::<Vec<_>>()
            .join(" OR ");
        self.condition(sql)
    }

    /// A SQL expression naming the first basis on which a study is within
    /// reach ([`StudyBasis::as_str`]), NULL when it is not: what the audit
    /// trail records of each read.
    pub fn basis(&self) -> StudyScope {
        if self.parts.is_empty() {
            return self.condition("NULL".to_owned());
        }
        let cases: String = self
            .parts
            .iter()
            .map(|(basis, sql)| format!(" WHEN {sql} THEN '{}'", basis.as_str()))
            .collect();
        self.condition(format!("CASE{cases} ELSE NULL END"))
    }

    /// The facility the user's uploads are filed under; `None`: they may
    /// not store.
    pub fn store_facility(&self) -> Option<i64> {
        self.store_facility
    }

    fn condition(&self, sql: String) -> StudyScope {
        StudyScope::Where(ScopeCondition {
            sql,
            binds: self.binds.iter().map(|v| ScopeValue::Int(*v)).collect(),
        })
    }
}

/// A caller's reach now.
pub fn caller_reach(caller: &Caller, rule: ConsentRule) -> StudyReach {
    study_reach(
        caller.user_id,
        caller.facility_id,
        &caller.roles,
        rule,
        crate::time::now_ms(),
    )
}

/// What a modality (by DIMSE) may find: its own facility's studies.
pub fn modality_reach(facility_id: i64) -> StudyReach {
    StudyReach {
        parts: vec![(StudyBasis::Facility, "s.facility_id = $1".to_owned())],
        binds: [facility_id, 0, 0],
        store_facility: Some(facility_id),
    }
}

/// Whether `scope` lets its reader see the study `study_uid`.
pub async fn study_readable(
    conn: &mut AnyConnection,
    scope: &StudyScope,
    study_uid: &str,
) -> Result<bool, sqlx::Error> {
    let mut binds = ScopeBinds::default();
    let uid = binds.push(ScopeValue::Text(study_uid.to_owned()));
    let Some(condition) = binds.condition(scope) else {
        return Ok(true);
    };
    let sql = format!("SELECT 1 FROM dicom_study s WHERE s.study_uid = {uid} AND {condition}");
    Ok(
        sqlx::query_scalar_with::<_, i32, _>(&sql, binds.into_arguments()?)
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}

/// Decides whether the studies named in a request body may be used there:
/// each must be stored, readable by the caller ([`study_reach`]) and, when
/// `patient_id` is given, that patient's. `found` pairs each UID with what
/// the store holds for it (`Imaging::named_study`).
///
/// A study the caller may not read is answered exactly as one that does not
/// exist (404 `not_found`, "study not found", the reading request's answer
/// since it was written), so that asking does not tell whether another
/// facility holds a UID. Only a study the caller may read can be refused
/// for belonging to another patient. Nothing is written, not even the link
/// of a study to its patient: a caller who may not read a study must not
/// change it.
pub async fn check_named_studies(
    conn: &mut AnyConnection,
    caller: &Caller,
    found: &[(String, Option<StudyRow>)],
    patient_id: Option<i64>,
    field: &str,
    rule: ConsentRule,
) -> Result<(), ApiError> {
    if found.is_empty() {
        return Ok(());
    }
    let scope = caller_reach(caller, rule).scope();
    for (uid, study) in found {
        let Some(study) = study.as_ref() else {
            return Err(ApiError::NotFound { what: "study" });
        };
        if !study_readable(conn, &scope, &study.study_uid).await? {
            return Err(ApiError::NotFound { what: "study" });
        }
        let Some(patient) = patient_id else {
            continue;
        };
        if study_patient(conn, study).await? != Some(patient) {
            return Err(ApiError::invalid(
                ErrorCode::StudyOfAnotherPatient,
                field,
                format!(
                    "study {uid} is not this patient's: its Patient ID matches no record of \
                     theirs at the facility that sent it"
                ),
            ));
        }
    }
    Ok(())
}

/// The consortium patient of a study: the one it is linked to, or for a
/// study not linked yet (sent before the patient was registered), the one
/// the link would name: whose record number at the sending facility is the
/// DICOM Patient ID.
async fn study_patient(
    conn: &mut AnyConnection,
    study: &StudyRow,
) -> Result<Option<i64>, sqlx::Error> {
    if study.patient_id.is_some() {
        return Ok(study.patient_id);
    }
    sqlx::query_scalar(
        "SELECT patient_id FROM patient_record WHERE facility_id = $1 AND record_number = $2",
    )
    .bind(study.facility_id)
    .bind(study.dicom_patient_id.trim())
    .fetch_optional(conn)
    .await
}

/// Who reconciles a study that arrived matching no patient ("images waiting
/// for a patient"): the clinicians of the facility that sent it, who know
/// whose images they took.
pub fn may_reconcile(caller: &Caller, study_facility_id: i64) -> bool {
    caller.has(crate::auth::Role::Clinician) && caller.facility_id == study_facility_id
}

/// Whether the caller may file a study under this patient: one registered
/// at the caller's own facility, whose record the caller keeps.
pub fn may_file_under(access: crate::policy::PatientAccess) -> bool {
    access == crate::policy::PatientAccess::Facility
}

/// Why the retention rule keeps a study an administrator asked to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// A reading request, consultation or examination names it: it is part
    /// of a patient's record, whatever its age.
    InRecord,
    /// Past the window for correcting mistakes, and within the retention
    /// period; kept until the instant given.
    RetentionPeriod { until: i64 },
}

/// The retention rule: a study may be deleted while it is new (received
/// within `window_ms`, to take back images sent by mistake) or once it is
/// older than `retention_ms`, and never while the record names it.
pub fn retention_keeps(
    in_record: bool,
    received_at: i64,
    now: i64,
    window_ms: i64,
    retention_ms: i64,
) -> Option<Kept> {
    if in_record {
        return Some(Kept::InRecord);
    }
    let age = now.saturating_sub(received_at);
    if age > window_ms && age < retention_ms {
        return Some(Kept::RetentionPeriod {
            until: received_at.saturating_add(retention_ms),
        });
    }
    None
}

#[cfg(test)]
mod retention_tests {
    use super::{retention_keeps, Kept};

    #[test]
    fn new_and_old_studies_may_go_and_those_in_between_or_in_the_record_stay() {
        let (window, retention) = (72 * 3_600_000, 30 * 365 * 86_400_000);
        let now = 40 * 365 * 86_400_000;
        assert_eq!(
            retention_keeps(false, now - 3_600_000, now, window, retention),
            None
        );
        assert_eq!(
            retention_keeps(true, now - 3_600_000, now, window, retention),
            Some(Kept::InRecord)
        );
        let month = now - 30 * 86_400_000;
        assert_eq!(
            retention_keeps(false, month, now, window, retention),
            Some(Kept::RetentionPeriod {
                until: month + retention
            })
        );
        assert_eq!(retention_keeps(false, 0, now, window, retention), None);
        assert_eq!(
            retention_keeps(true, 0, now, window, retention),
            Some(Kept::InRecord)
        );
    }
}
