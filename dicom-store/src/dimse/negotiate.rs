//! Presentation context negotiation: which abstract syntaxes we serve and in
//! which transfer syntax, decided context by context (PS3.8 §9.3.3).
//!
//! Storage contexts get the first proposed transfer syntax that we can keep
//! as received. Compressed syntaxes are accepted as proposed: the store keeps
//! what the modality compressed, and decoding is not our job on ingest.
//! Verification and query contexts carry only small command-like data sets
//! that we must parse, so they get Implicit or Explicit VR Little Endian.

use std::collections::HashMap;

use dicom_ul::pdu::{
    AssociationAC, AssociationRJ, AssociationRJResult, AssociationRJServiceUserReason,
    AssociationRJSource, AssociationRQ, PresentationContextProposed, PresentationContextResult,
    PresentationContextResultReason, RequestorRoles, UserVariableItem,
};

use super::QueryModel;

/// DICOM Application Context Name, the only one there is (PS3.7 §A.2.1).
const APPLICATION_CONTEXT: &str = "1.2.840.10008.3.1.1.1";
/// Verification SOP Class.
pub(crate) const VERIFICATION: &str = "1.2.840.10008.1.1";
/// Study Root Query/Retrieve Information Model - FIND.
pub(crate) const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
/// Patient Root Query/Retrieve Information Model - FIND.
pub(crate) const PATIENT_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.1.1";
/// Modality Worklist Information Model - FIND.
pub(crate) const WORKLIST_FIND: &str = "1.2.840.10008.5.1.4.31";
/// Modality Performed Procedure Step.
pub(crate) const MPPS: &str = "1.2.840.10008.3.1.2.3.3";
/// Storage Commitment Push Model.
pub(crate) const STORAGE_COMMITMENT: &str = "1.2.840.10008.1.20.1";
/// The one SOP instance of the Storage Commitment Push Model.
pub(crate) const STORAGE_COMMITMENT_INSTANCE: &str = "1.2.840.10008.1.20.1.1";
/// Study Root Query/Retrieve Information Model - MOVE.
pub(crate) const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
/// Study Root Query/Retrieve Information Model - GET.
pub(crate) const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";
/// Patient Root Query/Retrieve Information Model - MOVE.
pub(crate) const PATIENT_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.1.2";
/// Patient Root Query/Retrieve Information Model - GET.
pub(crate) const PATIENT_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.1.3";

/// Implicit VR Little Endian, the default transfer syntax.
pub(crate) const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian.
pub(crate) const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// Ferry's Implementation Class UID (a UUID-derived `2.25` UID, PS3.5 §B.2).
pub(crate) const IMPLEMENTATION_CLASS_UID: &str = "2.25.338195640048974883298323044938500770956";
/// Ferry's Implementation Version Name (at most 16 characters).
pub(crate) const IMPLEMENTATION_VERSION_NAME: &str = "FERRY_0_1";

/// Deflated Explicit VR Little Endian.
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
/// Explicit VR Big Endian.
const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// Transfer syntaxes we store exactly as received (a deflated one is
/// inflated first, see [`crate::inflate`]). Excluded on purpose:
/// the JPIP syntaxes (pixel data by reference to a server we do not know).
pub(crate) const STORABLE_TRANSFER_SYNTAXES: &[&str] = &[
    IMPLICIT_LE,
    EXPLICIT_LE,
    DEFLATED,
    BIG_ENDIAN,                // retired, still sent
    "1.2.840.10008.1.2.1.98",  // Encapsulated Uncompressed Explicit VR LE
    "1.2.840.10008.1.2.5",     // RLE Lossless
    "1.2.840.10008.1.2.4.50",  // JPEG Baseline
    "1.2.840.10008.1.2.4.51",  // JPEG Extended
    "1.2.840.10008.1.2.4.57",  // JPEG Lossless
    "1.2.840.10008.1.2.4.70",  // JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  // JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  // JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  // JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  // JPEG 2000
    "1.2.840.10008.1.2.4.92",  // JPEG 2000 Part 2 Lossless
    "1.2.840.10008.1.2.4.93",  // JPEG 2000 Part 2
    "1.2.840.10008.1.2.4.201", // HTJ2K Lossless
    "1.2.840.10008.1.2.4.202", // HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203", // HTJ2K
    "1.2.840.10008.1.2.4.100", // MPEG2 Main Profile
    "1.2.840.10008.1.2.4.101", // MPEG2 High Profile
    "1.2.840.10008.1.2.4.102", // MPEG-4 AVC/H.264
    "1.2.840.10008.1.2.4.103", // MPEG-4 AVC/H.264 BD
    "1.2.840.10008.1.2.4.104", // MPEG-4 AVC/H.264 2D
    "1.2.840.10008.1.2.4.105", // MPEG-4 AVC/H.264 3D
    "1.2.840.10008.1.2.4.106", // MPEG-4 AVC/H.264 Stereo
    "1.2.840.10008.1.2.4.107", // HEVC/H.265 Main
    "1.2.840.10008.1.2.4.108", // HEVC/H.265 Main 10
];

/// Storage SOP classes that live outside `1.2.840.10008.5.1.4.1.1.`.
pub(crate) const OTHER_STORAGE_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.34.7",  // RT Beams Delivery Instruction Storage
    "1.2.840.10008.5.1.4.34.10", // RT Brachy Application Setup Delivery Instruction
    "1.2.840.10008.5.1.4.38.1",  // Hanging Protocol Storage
    "1.2.840.10008.5.1.4.39.1",  // Color Palette Storage
    "1.2.840.10008.5.1.4.43.1",  // Generic Implant Template Storage
    "1.2.840.10008.5.1.4.44.1",  // Implant Assembly Template Storage
    "1.2.840.10008.5.1.4.45.1",  // Implant Template Group Storage
];

/// What an accepted presentation context is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Verification,
    Storage,
    Find(QueryModel),
    Get(QueryModel),
    Move(QueryModel),
    Worklist,
    ProcedureStep,
    Commitment,
}

/// An accepted presentation context.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) abstract_syntax: String,
    pub(crate) transfer_syntax: String,
    pub(crate) service: Service,
    /// Whether the peer took the SCP role for this SOP class (SCP/SCU Role
    /// Selection, PS3.7 §D.3.3.4), so that C-GET may send it instances, or a
    /// storage commitment result, on this context.
    pub(crate) peer_is_scp: bool,
}

/// The outcome of negotiation when the AEs were admitted.
pub(crate) struct Negotiated {
    /// The reply to send.
    pub(crate) accept: AssociationAC,
    /// Accepted contexts by presentation context id.
    pub(crate) contexts: HashMap<u8, Context>,
    /// The peer's maximum PDU length; 0 means unlimited (PS3.8 §D.1).
    pub(crate) peer_max_pdu: u32,
}

/// Checks the parts of an A-ASSOCIATE-RQ that do not depend on who calls.
pub(crate) fn check_request(rq: &AssociationRQ) -> Result<(), AssociationRJ> {
    // Only bit 0 (version 1) is to be tested (PS3.8 §9.3.2).
    if rq.protocol_version & 1 == 0 {
        return Err(AssociationRJ {
            result: AssociationRJResult::Permanent,
            source: AssociationRJSource::ServiceProviderASCE(
                dicom_ul::pdu::AssociationRJServiceProviderASCEReason::ProtocolVersionNotSupported,
            ),
        });
    }
    if trim_uid(&rq.application_context_name) != APPLICATION_CONTEXT {
        return Err(reject_user(
            AssociationRJServiceUserReason::ApplicationContextNameNotSupported,
        ));
    }
    Ok(())
}

/// A permanent rejection by the service user.
pub(crate) fn reject_user(reason: AssociationRJServiceUserReason) -> AssociationRJ {
    AssociationRJ {
        result: AssociationRJResult::Permanent,
        source: AssociationRJSource::ServiceUser(reason),
    }
}

/// Decides every proposed presentation context and builds the A-ASSOCIATE-AC.
pub(crate) fn negotiate(rq: &AssociationRQ, our_max_pdu: u32) -> Negotiated {
    let mut contexts = HashMap::new();
    let mut results = Vec::with_capacity(rq.presentation_contexts.len());
    // A C-GET caller proposes the SCP role for the storage classes it will
    // take instances of; we accept that and say so in the reply.
    let mut roles = Vec::new();
    let proposed_roles: HashMap<&str, RequestorRoles> = rq
        .user_variables
        .iter()
        .filter_map(|v| match v {
            UserVariableItem::ScuScpRoleSelectionSubItem(uid, roles) => {
                Some((trim_uid(uid), *roles))
            }
            _ => None,
        })
        .collect();
    for proposed in &rq.presentation_contexts {
        let (reason, transfer_syntax) = match decide(proposed) {
            Ok(mut context) => {
                if let Some(asked) = proposed_roles.get(context.abstract_syntax.as_str()) {
                    // C-GET sends instances on storage contexts; a storage
                    // commitment result goes back on its own context.
                    let sent_to_peer =
                        matches!(context.service, Service::Storage | Service::Commitment);
                    if sent_to_peer && asked.scp {
                        context.peer_is_scp = true;
                        if !roles.iter().any(|(uid, _)| uid == &context.abstract_syntax) {
                            roles.push((context.abstract_syntax.clone(), *asked));
                        }
                    }
                }
                let ts = context.transfer_syntax.clone();
                contexts.insert(proposed.id, context);
                (PresentationContextResultReason::Acceptance, ts)
            }
            // The transfer syntax field of a rejected context is not
            // significant (PS3.8 §9.3.3.2); send the default.
            Err(reason) => (reason, IMPLICIT_LE.to_string()),
        };
        results.push(PresentationContextResult {
            id: proposed.id,
            reason,
            transfer_syntax,
        });
    }
    let peer_max_pdu = rq
        .user_variables
        .iter()
        .find_map(|v| match v {
            UserVariableItem::MaxLength(len) => Some(*len),
            _ => None,
        })
        .unwrap_or(0);
    let accept = AssociationAC {
        protocol_version: 1,
        calling_ae_title: rq.calling_ae_title.clone(),
        called_ae_title: rq.called_ae_title.clone(),
        application_context_name: APPLICATION_CONTEXT.to_string(),
        presentation_contexts: results,
        // No extended negotiation items: we offer no extended behaviour,
        // which the standard expresses by leaving them out.
        user_variables: [
            UserVariableItem::MaxLength(our_max_pdu),
            UserVariableItem::ImplementationClassUID(IMPLEMENTATION_CLASS_UID.to_string()),
            UserVariableItem::ImplementationVersionName(IMPLEMENTATION_VERSION_NAME.to_string()),
        ]
        .into_iter()
        .chain(
            roles
                .into_iter()
                .map(|(uid, asked)| UserVariableItem::ScuScpRoleSelectionSubItem(uid, asked)),
        )
        .collect(),
    };
    Negotiated {
        accept,
        contexts,
        peer_max_pdu,
    }
}

pub(crate) fn decide(
    proposed: &PresentationContextProposed,
) -> Result<Context, PresentationContextResultReason> {
    let abstract_syntax = trim_uid(&proposed.abstract_syntax);
    let service = service_for(abstract_syntax)
        .ok_or(PresentationContextResultReason::AbstractSyntaxNotSupported)?;
    let acceptable: &[&str] = match service {
        Service::Storage => STORABLE_TRANSFER_SYNTAXES,
        Service::Verification
        | Service::Find(_)
        | Service::Get(_)
        | Service::Move(_)
        | Service::Worklist
        | Service::ProcedureStep
        | Service::Commitment => &[IMPLICIT_LE, EXPLICIT_LE],
    };
    let proposed_syntaxes: Vec<&str> = proposed
        .transfer_syntaxes
        .iter()
        .map(|ts| trim_uid(ts))
        .filter(|ts| acceptable.contains(ts))
        .collect();
    // The first one the peer proposed wins (its order is its preference),
    // except that a little-endian native syntax is taken over the deflated
    // and big-endian ones when the peer offers both: those must be converted
    // before anyone can read them.
    let transfer_syntax = proposed_syntaxes
        .iter()
        .find(|ts| !matches!(**ts, DEFLATED | BIG_ENDIAN))
        .or(proposed_syntaxes.first())
        .ok_or(PresentationContextResultReason::TransferSyntaxesNotSupported)?;
    Ok(Context {
        abstract_syntax: abstract_syntax.to_string(),
        transfer_syntax: (*transfer_syntax).to_string(),
        service,
        peer_is_scp: false,
    })
}

/// The SOP classes served other than storage, each with its service; the
/// conformance statement (docs/dicom-conformance.md) lists the same.
pub(crate) const SERVICES: &[(&str, Service)] = &[
    (VERIFICATION, Service::Verification),
    (PATIENT_ROOT_FIND, Service::Find(QueryModel::PatientRoot)),
    (PATIENT_ROOT_MOVE, Service::Move(QueryModel::PatientRoot)),
    (PATIENT_ROOT_GET, Service::Get(QueryModel::PatientRoot)),
    (STUDY_ROOT_FIND, Service::Find(QueryModel::StudyRoot)),
    (STUDY_ROOT_MOVE, Service::Move(QueryModel::StudyRoot)),
    (STUDY_ROOT_GET, Service::Get(QueryModel::StudyRoot)),
    (WORKLIST_FIND, Service::Worklist),
    (MPPS, Service::ProcedureStep),
    (STORAGE_COMMITMENT, Service::Commitment),
];

fn service_for(abstract_syntax: &str) -> Option<Service> {
    SERVICES
        .iter()
        .find(|(uid, _)| *uid == abstract_syntax)
        .map(|(_, service)| *service)
        .or_else(|| is_storage_class(abstract_syntax).then_some(Service::Storage))
}

/// Where the storage SOP classes live (PS3.4 Annex B.5); every class
/// under it is accepted, those to come included.
pub(crate) const STORAGE_ROOT: &str = "1.2.840.10008.5.1.4.1.1.";

/// Whether a SOP class is a storage class we accept.
pub(crate) fn is_storage_class(uid: &str) -> bool {
    uid.strip_prefix(STORAGE_ROOT)
        .is_some_and(|rest| !rest.is_empty())
        || OTHER_STORAGE_CLASSES.contains(&uid)
}

/// UIDs arrive padded with NUL (or, from sloppy peers, spaces).
pub(crate) fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposed(id: u8, abstract_syntax: &str, ts: &[&str]) -> PresentationContextProposed {
        PresentationContextProposed {
            id,
            abstract_syntax: abstract_syntax.to_string(),
            transfer_syntaxes: ts.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn storage_takes_the_first_proposed_syntax_even_when_compressed() {
        let ct = "1.2.840.10008.5.1.4.1.1.2";
        let context = decide(&proposed(1, ct, &["1.2.840.10008.1.2.4.50\0", EXPLICIT_LE]))
            .expect("CT storage is accepted");
        assert_eq!(context.transfer_syntax, "1.2.840.10008.1.2.4.50");
        assert_eq!(context.service, Service::Storage);
    }

    #[test]
    fn find_and_verification_get_only_little_endian_syntaxes() {
        let result = decide(&proposed(3, STUDY_ROOT_FIND, &["1.2.840.10008.1.2.4.50"]));
        assert_eq!(
            result.err(),
            Some(PresentationContextResultReason::TransferSyntaxesNotSupported)
        );
        let context = decide(&proposed(
            5,
            VERIFICATION,
            &["1.2.840.10008.1.2.2", EXPLICIT_LE],
        ))
        .expect("verification is accepted");
        assert_eq!(context.transfer_syntax, EXPLICIT_LE);
    }

    #[test]
    fn big_endian_and_deflated_give_way_to_a_little_endian_syntax_offered_beside_them() {
        let ct = "1.2.840.10008.5.1.4.1.1.2";
        let context =
            decide(&proposed(1, ct, &[BIG_ENDIAN, DEFLATED, IMPLICIT_LE])).expect("accepted");
        assert_eq!(context.transfer_syntax, IMPLICIT_LE);
        let context = decide(&proposed(1, ct, &[DEFLATED])).expect("accepted");
        assert_eq!(context.transfer_syntax, DEFLATED);
    }

    #[test]
    fn unknown_abstract_syntaxes_are_rejected() {
        // General Purpose Worklist (retired): not served here.
        let result = decide(&proposed(7, "1.2.840.10008.5.1.4.32.1", &[IMPLICIT_LE]));
        assert_eq!(
            result.err(),
            Some(PresentationContextResultReason::AbstractSyntaxNotSupported)
        );
        assert!(!is_storage_class("1.2.840.10008.5.1.4.1.1."));
        assert!(is_storage_class("1.2.840.10008.5.1.4.1.1.88.11"));
    }
}
