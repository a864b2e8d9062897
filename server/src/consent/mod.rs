//! Care consents: a patient's informed consent to a service the consortium
//! gives them at a distance (远程医疗知情同意), recorded where the patient is
//! by a clinician who holds the signed form, and withdrawn the same way. A
//! consent names the record of the service it covers ([`Subject`]): a
//! consultation (the teleconsultation, and the recording of its call), a
//! reading request or a referral. Who records and reads, and what waits
//! for a consent, is [`crate::policy::consent`]'s decision; this area keeps
//! the records.

mod reach;
pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::sharing::record::ConsentRecord;
use crate::sharing::GivenBy;

/// What a consent is to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    /// Being seen by an expert of another facility, by video or from the
    /// records.
    Teleconsultation,
    /// The recording of the consultation's call.
    Recording,
    /// A radiologist of another facility reading their images.
    RemoteReading,
    /// Being sent to another facility.
    Referral,
}

impl ConsentKind {
    pub const ALL: [ConsentKind; 4] = [
        ConsentKind::Teleconsultation,
        ConsentKind::Recording,
        ConsentKind::RemoteReading,
        ConsentKind::Referral,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Teleconsultation => "teleconsultation",
            Self::Recording => "recording",
            Self::RemoteReading => "remote_reading",
            Self::Referral => "referral",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The record of the service a consent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Consultation(i64),
    ReadingRequest(i64),
    Referral(i64),
}

impl Subject {
    /// The kinds of consent given to a service of this sort.
    pub fn kinds(self) -> &'static [ConsentKind] {
        match self {
            Self::Consultation(_) => &[ConsentKind::Teleconsultation, ConsentKind::Recording],
            Self::ReadingRequest(_) => &[ConsentKind::RemoteReading],
            Self::Referral(_) => &[ConsentKind::Referral],
        }
    }

    /// The `care_consent` column that names it.
    fn column(self) -> &'static str {
        match self {
            Self::Consultation(_) => "consultation_id",
            Self::ReadingRequest(_) => "reading_request_id",
            Self::Referral(_) => "referral_id",
        }
    }

    fn id(self) -> i64 {
        match self {
            Self::Consultation(id) | Self::ReadingRequest(id) | Self::Referral(id) => id,
        }
    }

    /// The record's name in messages and audit events.
    fn entity(self) -> &'static str {
        match self {
            Self::Consultation(_) => "consultation",
            Self::ReadingRequest(_) => "reading_request",
            Self::Referral(_) => "referral",
        }
    }
}

/// A consent to record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCareConsent {
    pub kind: ConsentKind,
    pub given_by: GivenBy,
    /// Required when `given_by` is `guardian`.
    pub guardian_name: Option<String>,
    /// The signed form's reference (the scan's file number) or the
    /// statement as the patient gave it.
    pub form_reference: String,
    /// The patient the screen showed; refused with 409 `patient_mismatch`
    /// when it is not the record's.
    pub patient_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CareConsentView {
    pub id: i64,
    pub kind: ConsentKind,
    /// The patient, through the record the consent names (none for a
    /// reading request of a study not yet linked to one).
    pub patient_id: Option<i64>,
    pub consultation_id: Option<i64>,
    pub reading_request_id: Option<i64>,
    pub referral_id: Option<i64>,
    #[serde(flatten)]
    pub record: ConsentRecord,
}
