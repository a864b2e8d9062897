//! Every `code` the API can put in an error envelope, with the status it is sent with.
//!
//! One table so the codes are typed at every call site, listed in the OpenAPI
//! document (the `ErrorCode` schema: an enum of the strings and a table of their
//! statuses in its description) and checked for duplicates by a test. The
//! DICOMweb routes of `ferry-dicom-store` send codes from this list too; a test
//! below holds its `WebCode`s to the same strings and statuses.

use std::borrow::Cow;
use std::fmt::Write as _;

use axum::http::StatusCode;
use serde::{Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// Declares [`ErrorCode`] from one row per code: variant, wire string, status.
macro_rules! error_codes {
    ($( $(#[$meta:meta])* $variant:ident = $code:literal => $status:ident, )+) => {
        /// A stable, machine-readable error code; serialised as its snake_case string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$meta])* $variant, )+
        }

        impl ErrorCode {
            /// Every code, in the order of the table (by status).
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant),+];

            /// The string sent in `error.code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }

            /// The status an error with this code is answered with.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(Self::$variant => StatusCode::$status,)+
                }
            }
        }
    };
}

error_codes! {
    // 400
    BadRequest = "bad_request" => BAD_REQUEST,
    InvalidPath = "invalid_path" => BAD_REQUEST,
    InvalidQuery = "invalid_query" => BAD_REQUEST,
    MalformedJson = "malformed_json" => BAD_REQUEST,
    UnreadableBody = "unreadable_body" => BAD_REQUEST,
    WebsocketRequired = "websocket_required" => BAD_REQUEST,
    // 401
    InvalidCredentials = "invalid_credentials" => UNAUTHORIZED,
    Unauthenticated = "unauthenticated" => UNAUTHORIZED,
    // 403
    ClinicalRecord = "clinical_record" => FORBIDDEN,
    Forbidden = "forbidden" => FORBIDDEN,
    ForeignOrigin = "foreign_origin" => FORBIDDEN,
    MetricsDisabled = "metrics_disabled" => FORBIDDEN,
    NotAParticipant = "not_a_participant" => FORBIDDEN,
    /// Also answered 409 when a routine consultation is accepted from the
    /// on-call queue; see [`ErrorCode::ALSO`].
    NotOnCall = "not_on_call" => FORBIDDEN,
    PatientOutOfScope = "patient_out_of_scope" => FORBIDDEN,
    SecondAdminRequired = "second_admin_required" => FORBIDDEN,
    SelfGrantRefused = "self_grant_refused" => FORBIDDEN,
    // 404
    NoPixelData = "no_pixel_data" => NOT_FOUND,
    NoRoute = "no_route" => NOT_FOUND,
    NoSuchFrame = "no_such_frame" => NOT_FOUND,
    NotFound = "not_found" => NOT_FOUND,
    // 405
    MethodNotAllowed = "method_not_allowed" => METHOD_NOT_ALLOWED,
    // 406
    CannotRender = "cannot_render" => NOT_ACCEPTABLE,
    NotAcceptable = "not_acceptable" => NOT_ACCEPTABLE,
    // 409
    AeTitleTaken = "ae_title_taken" => CONFLICT,
    AlreadyAccepted = "already_accepted" => CONFLICT,
    AlreadyAcknowledged = "already_acknowledged" => CONFLICT,
    AlreadyClaimed = "already_claimed" => CONFLICT,
    AlreadyInScope = "already_in_scope" => CONFLICT,
    AlreadyInvited = "already_invited" => CONFLICT,
    /// The study is filed under a patient already.
    AlreadyLinked = "already_linked" => CONFLICT,
    AlreadyMerged = "already_merged" => CONFLICT,
    AlreadyRegistered = "already_registered" => CONFLICT,
    AlreadyReviewed = "already_reviewed" => CONFLICT,
    BookingNotActive = "booking_not_active" => CONFLICT,
    BookingsAffected = "bookings_affected" => CONFLICT,
    CannotReassign = "cannot_reassign" => CONFLICT,
    CannotRelease = "cannot_release" => CONFLICT,
    ChildrenTier = "children_tier" => CONFLICT,
    ConcurrentChange = "concurrent_change" => CONFLICT,
    ConsentInForce = "consent_in_force" => CONFLICT,
    ConsentAlreadyWithdrawn = "consent_already_withdrawn" => CONFLICT,
    /// The consortium requires the patient's consent to a teleconsultation
    /// before it starts, and none is in force.
    ConsentRequired = "consent_required" => CONFLICT,
    /// A consent to a service that is over or was called off.
    ServiceClosed = "service_closed" => CONFLICT,
    ConsultationAlreadyBooked = "consultation_already_booked" => CONFLICT,
    ConsultationClosed = "consultation_closed" => CONFLICT,
    DraftExists = "draft_exists" => CONFLICT,
    DuplicateExamination = "duplicate_examination" => CONFLICT,
    FacilityNameTaken = "facility_name_taken" => CONFLICT,
    InvalidTransition = "invalid_transition" => CONFLICT,
    MergeAlreadyUndone = "merge_already_undone" => CONFLICT,
    MergeSameFacility = "merge_same_facility" => CONFLICT,
    NationalIdTaken = "national_id_taken" => CONFLICT,
    NoFreeSlotToMove = "no_free_slot_to_move" => CONFLICT,
    RecognitionRuleExists = "recognition_rule_exists" => CONFLICT,
    NotAnAdministrator = "not_an_administrator" => CONFLICT,
    NotHeld = "not_held" => CONFLICT,
    NotOpenForReport = "not_open_for_report" => CONFLICT,
    NotReadyForOpinion = "not_ready_for_opinion" => CONFLICT,
    NotScheduled = "not_scheduled" => CONFLICT,
    NotStarted = "not_started" => CONFLICT,
    OnCallConsultation = "on_call_consultation" => CONFLICT,
    OpinionNotSigned = "opinion_not_signed" => CONFLICT,
    OpinionSigned = "opinion_signed" => CONFLICT,
    /// The request names a patient (`patient_id`, the one the screen showed)
    /// other than the one it acts on; nothing was done.
    PatientMismatch = "patient_mismatch" => CONFLICT,
    /// Registration found patients who may be this person; `details.candidates`
    /// lists them. Send `same_person_as` or `new_person` to go on.
    PossibleSamePerson = "possible_same_person" => CONFLICT,
    ReadingAlreadyRequested = "reading_already_requested" => CONFLICT,
    RecordNumberTaken = "record_number_taken" => CONFLICT,
    ReportSigned = "report_signed" => CONFLICT,
    ReservedForReader = "reserved_for_reader" => CONFLICT,
    ResetConfirmed = "reset_confirmed" => CONFLICT,
    /// The retention rule keeps the study; `details.reason` is `in_record`
    /// or `retention_period`.
    RetentionRequired = "retention_required" => CONFLICT,
    ResetLapsed = "reset_lapsed" => CONFLICT,
    SelfLockout = "self_lockout" => CONFLICT,
    SlotReservedForReferrals = "slot_reserved_for_referrals" => CONFLICT,
    SlotTaken = "slot_taken" => CONFLICT,
    SlotUnavailable = "slot_unavailable" => CONFLICT,
    TooEarly = "too_early" => CONFLICT,
    UseBooking = "use_booking" => CONFLICT,
    UsernameTaken = "username_taken" => CONFLICT,
    // 413
    PayloadTooLarge = "payload_too_large" => PAYLOAD_TOO_LARGE,
    TooLarge = "too_large" => PAYLOAD_TOO_LARGE,
    TooManyParts = "too_many_parts" => PAYLOAD_TOO_LARGE,
    // 415
    UnsupportedMediaType = "unsupported_media_type" => UNSUPPORTED_MEDIA_TYPE,
    // 422
    AmendmentMustBeFinal = "amendment_must_be_final" => UNPROCESSABLE_ENTITY,
    AmendmentReasonRequired = "amendment_reason_required" => UNPROCESSABLE_ENTITY,
    BeyondHorizon = "beyond_horizon" => UNPROCESSABLE_ENTITY,
    CannotPlotEcg = "cannot_plot_ecg" => UNPROCESSABLE_ENTITY,
    ConsultationRequired = "consultation_required" => UNPROCESSABLE_ENTITY,
    DirectionMismatch = "direction_mismatch" => UNPROCESSABLE_ENTITY,
    EmptyReport = "empty_report" => UNPROCESSABLE_ENTITY,
    ExpertMismatch = "expert_mismatch" => UNPROCESSABLE_ENTITY,
    InvalidAeTitle = "invalid_ae_title" => UNPROCESSABLE_ENTITY,
    InvalidBirthDate = "invalid_birth_date" => UNPROCESSABLE_ENTITY,
    InvalidBody = "invalid_body" => UNPROCESSABLE_ENTITY,
    InvalidBodyPart = "invalid_body_part" => UNPROCESSABLE_ENTITY,
    InvalidCatalogueEntry = "invalid_catalogue_entry" => UNPROCESSABLE_ENTITY,
    InvalidCsv = "invalid_csv" => UNPROCESSABLE_ENTITY,
    InvalidDate = "invalid_date" => UNPROCESSABLE_ENTITY,
    InvalidDiagnosisCode = "invalid_diagnosis_code" => UNPROCESSABLE_ENTITY,
    InvalidDiagnosisCodes = "invalid_diagnosis_codes" => UNPROCESSABLE_ENTITY,
    InvalidDisplayName = "invalid_display_name" => UNPROCESSABLE_ENTITY,
    InvalidField = "invalid_field" => UNPROCESSABLE_ENTITY,
    InvalidHost = "invalid_host" => UNPROCESSABLE_ENTITY,
    InvalidIcd10 = "invalid_icd10" => UNPROCESSABLE_ENTITY,
    InvalidInstant = "invalid_instant" => UNPROCESSABLE_ENTITY,
    InvalidMaxAssociations = "invalid_max_associations" => UNPROCESSABLE_ENTITY,
    InvalidModality = "invalid_modality" => UNPROCESSABLE_ENTITY,
    InvalidMonth = "invalid_month" => UNPROCESSABLE_ENTITY,
    InvalidName = "invalid_name" => UNPROCESSABLE_ENTITY,
    /// Not a resident identity number (GB 11643); `details.reason` names the
    /// rule: `length`, `characters`, `birth_date` or `check_digit`.
    InvalidNationalId = "invalid_national_id" => UNPROCESSABLE_ENTITY,
    InvalidPeriod = "invalid_period" => UNPROCESSABLE_ENTITY,
    InvalidRange = "invalid_range" => UNPROCESSABLE_ENTITY,
    InvalidReference = "invalid_reference" => UNPROCESSABLE_ENTITY,
    InvalidReferral = "invalid_referral" => UNPROCESSABLE_ENTITY,
    InvalidShift = "invalid_shift" => UNPROCESSABLE_ENTITY,
    InvalidStudyUid = "invalid_study_uid" => UNPROCESSABLE_ENTITY,
    InvalidTime = "invalid_time" => UNPROCESSABLE_ENTITY,
    InvalidTimeZone = "invalid_time_zone" => UNPROCESSABLE_ENTITY,
    InvalidUid = "invalid_uid" => UNPROCESSABLE_ENTITY,
    InvalidUsername = "invalid_username" => UNPROCESSABLE_ENTITY,
    InvalidValidity = "invalid_validity" => UNPROCESSABLE_ENTITY,
    JustificationRequired = "justification_required" => UNPROCESSABLE_ENTITY,
    LeaveHasNoSlots = "leave_has_no_slots" => UNPROCESSABLE_ENTITY,
    ModalityRequired = "modality_required" => UNPROCESSABLE_ENTITY,
    NoReadingRoute = "no_reading_route" => UNPROCESSABLE_ENTITY,
    NoRole = "no_role" => UNPROCESSABLE_ENTITY,
    NotARadiologist = "not_a_radiologist" => UNPROCESSABLE_ENTITY,
    NotAReaderHere = "not_a_reader_here" => UNPROCESSABLE_ENTITY,
    NotInvitable = "not_invitable" => UNPROCESSABLE_ENTITY,
    NotSamePerson = "not_same_person" => UNPROCESSABLE_ENTITY,
    OnCallBySpecialty = "on_call_by_specialty" => UNPROCESSABLE_ENTITY,
    OutOfRange = "out_of_range" => UNPROCESSABLE_ENTITY,
    ParentTier = "parent_tier" => UNPROCESSABLE_ENTITY,
    PatientRequired = "patient_required" => UNPROCESSABLE_ENTITY,
    ReasonRequired = "reason_required" => UNPROCESSABLE_ENTITY,
    RehabilitationPlanRequired = "rehabilitation_plan_required" => UNPROCESSABLE_ENTITY,
    SameFacility = "same_facility" => UNPROCESSABLE_ENTITY,
    ServiceMismatch = "service_mismatch" => UNPROCESSABLE_ENTITY,
    ServiceRequired = "service_required" => UNPROCESSABLE_ENTITY,
    SlotInPast = "slot_in_past" => UNPROCESSABLE_ENTITY,
    SlotMinutesRequired = "slot_minutes_required" => UNPROCESSABLE_ENTITY,
    SpecialtyMismatch = "specialty_mismatch" => UNPROCESSABLE_ENTITY,
    SpecialtyRequired = "specialty_required" => UNPROCESSABLE_ENTITY,
    SpecialtyWithoutRole = "specialty_without_role" => UNPROCESSABLE_ENTITY,
    StudyOfAnotherPatient = "study_of_another_patient" => UNPROCESSABLE_ENTITY,
    TargetRequired = "target_required" => UNPROCESSABLE_ENTITY,
    TooLargeToRender = "too_large_to_render" => UNPROCESSABLE_ENTITY,
    TooManyStudies = "too_many_studies" => UNPROCESSABLE_ENTITY,
    UnknownExpert = "unknown_expert" => UNPROCESSABLE_ENTITY,
    UnknownFacility = "unknown_facility" => UNPROCESSABLE_ENTITY,
    UnknownParent = "unknown_parent" => UNPROCESSABLE_ENTITY,
    UnknownSpecialty = "unknown_specialty" => UNPROCESSABLE_ENTITY,
    UnknownTemplate = "unknown_template" => UNPROCESSABLE_ENTITY,
    WeakPassword = "weak_password" => UNPROCESSABLE_ENTITY,
    // 429
    Busy = "busy" => TOO_MANY_REQUESTS,
    TooManyAttempts = "too_many_attempts" => TOO_MANY_REQUESTS,
    // 500
    Internal = "internal" => INTERNAL_SERVER_ERROR,
    // 503
    TimedOut = "timed_out" => SERVICE_UNAVAILABLE,
}

impl ErrorCode {
    /// Codes also answered with a second status, and when. Kept so the wire
    /// stays as it was; a new code gets one status.
    pub const ALSO: &'static [(ErrorCode, StatusCode, &'static str)] = &[(
        ErrorCode::NotOnCall,
        StatusCode::CONFLICT,
        "a routine consultation is booked into a slot, not accepted from the on-call queue",
    )];

    /// The code sent as this string, if there is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|code| code.as_str() == text)
    }

    /// The markdown table of codes and statuses put in the OpenAPI schema.
    fn status_table() -> String {
        let mut table = String::from(
            "Stable, machine-readable error code. The status each code is answered with:\n\n\
             | code | status |\n| --- | --- |\n",
        );
        for code in Self::ALL {
            let _ = write!(table, "| `{}` | {}", code.as_str(), code.status().as_u16());
            for (_, status, when) in Self::ALSO.iter().filter(|(c, ..)| c == code) {
                let _ = write!(table, "; {} when {when}", status.as_u16());
            }
            table.push_str(" |\n");
        }
        table
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Self::ALL.iter().map(|code| code.as_str())))
            .description(Some(Self::status_table()))
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string_and_no_two_share_one() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("serialises");
            assert_eq!(json, code.as_str());
            assert_eq!(
                ErrorCode::parse(code.as_str()),
                Some(code),
                "{code} is shadowed"
            );
        }
        let mut strings: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        strings.sort_unstable();
        strings.dedup();
        assert_eq!(
            strings.len(),
            ErrorCode::ALL.len(),
            "two codes share a string"
        );
    }

    #[test]
    fn every_dicomweb_code_is_an_api_code_with_the_same_status() {
        for &web in ferry_dicom_store::dicomweb::WebCode::ALL {
            let code = ErrorCode::parse(web.as_str()).unwrap_or_else(|| {
                panic!("DICOMweb code {} is missing from ErrorCode", web.as_str())
            });
            assert_eq!(code.status(), web.status(), "{code}");
        }
    }
}
