//! The consortium-wide patient index. A person is one patient however many
//! member facilities register them (matched on the national identifier); each
//! registration is a record with that facility's own record number.

pub mod access;
pub mod identity;
pub mod lookup;
pub mod lookup_routes;
pub mod merge;
pub mod merge_routes;
pub mod resident_id;
pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
    Other,
    #[default]
    Unknown,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Sex {
        match text {
            "female" => Sex::Female,
            "male" => Sex::Male,
            "other" => Sex::Other,
            _ => Sex::Unknown,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PatientRecordView {
    pub facility_id: i64,
    pub facility_name: String,
    pub record_number: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PatientView {
    pub id: i64,
    pub national_id: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub sex: Sex,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub phone: String,
    /// Set when this record was found to be the same person as another
    /// patient and merged into them: open that patient instead.
    pub merged_into: Option<i64>,
    /// One per facility that registered the patient.
    pub records: Vec<PatientRecordView>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    /// Resident identity number; the patient already known under it, with
    /// the same name and birth date, is linked, not duplicated.
    pub national_id: Option<String>,
    pub family_name: String,
    #[serde(default)]
    pub given_name: String,
    pub sex: Sex,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    #[serde(default)]
    pub phone: String,
    /// This facility's record number for the patient.
    pub record_number: String,
    /// A candidate offered by 409 `possible_same_person` that this is:
    /// the record joins that patient. The details given must agree with
    /// the patient's, including the identity number and phone on file.
    pub same_person_as: Option<i64>,
    /// How the clinician knew (with `same_person_as`).
    pub evidence: Option<identity::Evidence>,
    /// The candidates offered are not this person: create a new one.
    #[serde(default)]
    pub new_person: bool,
}

/// What a registration did.
#[derive(Debug)]
pub enum Registration {
    /// The record is registered: to a new person (`created`) or to one the
    /// consortium knew.
    Registered { patient_id: i64, created: bool },
    /// Patients who may be this person, to offer before creating one; nothing
    /// was written.
    Candidates(Vec<(identity::IndexRow, Vec<&'static str>)>),
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientPatch {
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    pub national_id: Option<Option<String>>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub sex: Option<Sex>,
    pub birth_date: Option<String>,
    pub phone: Option<String>,
}

pub fn check_birth_date(text: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::invalid(
            ErrorCode::InvalidBirthDate,
            "birth_date",
            "birth_date must be a past date as YYYY-MM-DD",
        )
    };
    let text = text.trim();
    if text.len() != 10 {
        return Err(invalid());
    }
    let date: jiff::civil::Date = text.parse().map_err(|_| invalid())?;
    let today = jiff::Zoned::now().date();
    if date > today {
        return Err(invalid());
    }
    Ok(date.to_string())
}

pub fn check_required(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!("{field} must have 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

pub fn check_optional(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!("{field} may have at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// An empty identifier means none; anything else goes through
/// [`check_resident_id`].
pub fn check_national_id(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(id) => check_resident_id(id).map(Some),
    }
}

/// A valid resident identity number ([`resident_id`]), normalised, so the
/// index holds one spelling of each number and every lookup finds it.
pub fn check_resident_id(text: &str) -> Result<String, ApiError> {
    resident_id::validate(text, jiff::Zoned::now().date()).map_err(|refusal| {
        ApiError::InvalidWith {
            code: ErrorCode::InvalidNationalId,
            message: refusal.message().to_owned(),
            details: serde_json::json!({ "field": "national_id", "reason": refusal.as_str() }),
        }
    })
}

/// Registers a patient at `facility_id` without offering candidates, as
/// the demo and imports do: the identity number links, nothing else does.
/// Returns the patient id and whether the patient was new.
pub async fn register_direct(
    tx: &mut crate::db::Tx,
    actor: &crate::audit::Actor,
    facility_id: i64,
    new: NewPatient,
) -> Result<(i64, bool), ApiError> {
    match register(tx, actor, facility_id, new, false).await? {
        Registration::Registered {
            patient_id,
            created,
        } => Ok((patient_id, created)),
        Registration::Candidates(_) => Err(ApiError::Internal(anyhow::anyhow!(
            "a registration that offers no candidates was answered with some"
        ))),
    }
}

/// Registers a patient at `facility_id`.
///
/// - An identity number held by a patient of the same name and birth date
///   is that person: the record joins them (`patient.link`).
/// - An identity number another patient holds under another name or birth
///   date is either a typing error or two people, and the registering
///   facility must not learn which patient (nor that any) holds it. So it
///   gets a patient of its own, answered exactly as a new identifier is
///   (201, created), with the identifier held apart for review
///   (`patient.identity_review` in the audit trail names both patients).
/// - `same_person_as` joins the record to that patient when the details
///   given prove it ([`identity::proves`]); otherwise 422 `not_same_person`,
///   which does not say which detail disagreed.
/// - Otherwise, when `offer` is set and patients who may be this person
///   exist, they are returned for the registrar to choose from, unless
///   `new_person` says none of them is.
///
/// Audited.
pub async fn register(
    tx: &mut crate::db::Tx,
    actor: &crate::audit::Actor,
    facility_id: i64,
    new: NewPatient,
    offer: bool,
) -> Result<Registration, ApiError> {
    use crate::audit::{self, Action, AuditEntry};
    use crate::error::ResultExt;
    let national_id = check_national_id(new.national_id.as_deref())?;
    let family_name = check_required("family_name", &new.family_name, 100)?;
    let given_name = check_optional("given_name", &new.given_name, 100)?;
    let birth_date = check_birth_date(&new.birth_date)?;
    let phone = check_optional("phone", &new.phone, 40)?;
    let record_number = check_required("record_number", &new.record_number, 64)?;
    if new.same_person_as.is_some() && new.evidence.is_none() {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "evidence",
            "say how you know the patient is the same person (evidence)",
        ));
    }
    let probe = identity::Probe {
        name_key: identity::name_key(&family_name, &given_name),
        sex: new.sex.as_str().to_owned(),
        birth_date: birth_date.clone(),
        phone: phone.clone(),
        national_id: national_id.clone(),
    };
    let now = crate::time::now_ms();
    let not_same_person = || {
        ApiError::invalid(
            ErrorCode::NotSamePerson,
            "same_person_as",
            "the details given do not match that patient closely enough to join them; \
             check the identity number, phone, name and birth date, or register a new person",
        )
    };

    let holder = match &national_id {
        Some(id) => store::find_by_national_id(tx, id).await?,
        None => None,
    };
    // The identity number joins its holder when the name and birth date
    // agree. Otherwise the registration goes on exactly as if nobody held
    // the number (only the audit trail records the clash): the answer must
    // not depend on whether a number is known.
    let mut review = None;
    let mut holder_id = None;
    if let Some(found) = holder {
        let same = found.birth_date == birth_date
            && identity::name_key(&found.family_name, &found.given_name) == probe.name_key;
        if same {
            if new.same_person_as.is_some_and(|other| other != found.id) {
                return Err(not_same_person());
            }
            holder_id = Some(found.id);
        } else {
            review = Some(found.id);
        }
    }
    let mut declined = Vec::new();
    let existing = match (holder_id, new.same_person_as) {
        (Some(found), _) => Some(found),
        (None, Some(other)) => {
            let row = identity::index_row(tx, other)
                .await?
                .ok_or_else(not_same_person)?;
            if row.merged_into.is_some() || !identity::proves(&row, &probe) {
                return Err(not_same_person());
            }
            Some(other)
        }
        (None, None) => {
            // With an identity number given, only look-alikes holding none
            // may be this person (one holding another number is someone
            // else), and the number is not matched, so which are offered
            // does not tell whose number it is.
            let anonymous = identity::Probe {
                national_id: None,
                ..probe.clone()
            };
            let mut found = identity::candidates(tx, &anonymous, None).await?;
            if national_id.is_some() {
                found.retain(|(row, _)| row.national_id.is_none());
            }
            if !found.is_empty() && offer && !new.new_person {
                return Ok(Registration::Candidates(found));
            }
            declined = found.iter().map(|(row, _)| row.id).collect();
            None
        }
    };
    let (patient_id, created) = match existing {
        Some(found) => {
            if store::has_record_at(tx, found, facility_id).await? {
                return Err(ApiError::Conflict {
                    code: ErrorCode::AlreadyRegistered,
                    message: "this patient is already registered at your facility".to_owned(),
                    details: serde_json::json!({ "patient_id": found }),
                });
            }
            (found, false)
        }
        None => {
            let (held, unverified) = match review {
                Some(_) => (None, national_id.as_deref()),
                None => (national_id.as_deref(), None),
            };
            let values = store::PatientValues {
                national_id: held,
                unverified_national_id: unverified,
                family_name: &family_name,
                given_name: &given_name,
                sex: new.sex,
                birth_date: &birth_date,
                phone: &phone,
            };
            let id = store::insert(tx, &values, now)
                .await
                .on_unique_violation(|| {
                    ApiError::conflict(
                        ErrorCode::NationalIdTaken,
                        "another patient has this national identifier",
                    )
                })?;
            (id, true)
        }
    };
    let record_id = store::insert_record(tx, patient_id, facility_id, &record_number, now)
        .await
        .on_unique_violation(|| ApiError::Conflict {
            code: ErrorCode::RecordNumberTaken,
            message: format!("record number {record_number:?} is already used at your facility"),
            details: serde_json::json!({ "field": "record_number" }),
        })?;
    let detail = match (created, new.evidence) {
        (false, Some(evidence)) => {
            serde_json::json!({ "by": "same_person_as", "evidence": evidence.as_str() })
        }
        (false, None) => serde_json::json!({ "by": "national_id" }),
        (true, _) if !declined.is_empty() => serde_json::json!({ "declined_candidates": declined }),
        (true, _) => serde_json::json!({}),
    };
    audit::append(
        tx,
        actor,
        AuditEntry::new(
            Action::Create,
            if created {
                "patient.create"
            } else {
                "patient.link"
            },
        )
        .entity("patient_record", record_id)
        .patient(patient_id)
        .facility(facility_id)
        .detail(detail),
    )
    .await?;
    if let Some(holder) = review {
        audit::append(
            tx,
            actor,
            AuditEntry::new(Action::Create, "patient.identity_review")
                .entity("patient", patient_id)
                .patient(patient_id)
                .facility(facility_id)
                .detail(serde_json::json!({
                    "reason": "national identifier held by another patient with another name or birth date",
                    "holder_patient_id": holder,
                })),
        )
        .await?;
    }
    Ok(Registration::Registered {
        patient_id,
        created,
    })
}
