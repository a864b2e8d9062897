//! C-FIND (PS3.4 Annex C, and Annex K for the Modality Worklist): one
//! pending response per match, each with its identifier encoded in the
//! context's transfer syntax, then a final status.
//! A C-CANCEL-RQ that arrives between pending responses stops the stream
//! with status Cancel.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::{TransferSyntax, TransferSyntaxIndex};
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use tracing::{debug, warn};

use super::association::Association;
use super::echo::SOP_CLASS_NOT_SUPPORTED;
use super::message::{field, Command, Response};
use super::negotiate::{Context, Service};
use super::{DimseError, FindFailure, FindRequest, QueryLevel};

/// An identifier is a handful of keys; this bounds what a peer can make us
/// hold in memory for one.
const IDENTIFIER_LIMIT: usize = 1024 * 1024;

const PENDING: u16 = 0xFF00;
const CANCELED: u16 = 0xFE00;

impl Association {
    pub(crate) async fn find(
        &mut self,
        context_id: u8,
        context: &Context,
        command: &Command,
    ) -> Result<(), DimseError> {
        let message_id = command.message_id()?;
        let mut final_response = Response::new(field::C_FIND_RSP, message_id, 0);
        final_response.sop_class = Some(context.abstract_syntax.clone());

        if !command.has_data_set() {
            return self
                .fail(
                    context_id,
                    final_response,
                    &FindFailure::IdentifierMismatch("no identifier".into()),
                )
                .await;
        }
        let bytes = self.identifier_bytes(context_id).await?;
        let model = match context.service {
            Service::Find(model) => Some(model),
            Service::Worklist => None,
            _ => {
                final_response.status = SOP_CLASS_NOT_SUPPORTED;
                return self.respond(context_id, &final_response, None).await;
            }
        };
        // Find contexts are only ever accepted with Implicit or Explicit VR
        // Little Endian (`negotiate`), both in the registry: no input reaches
        // the refusal.
        let Some(ts) = TransferSyntaxRegistry.get(&context.transfer_syntax) else {
            let failure = FindFailure::UnableToProcess("unsupported transfer syntax".into());
            return self.fail(context_id, final_response, &failure).await;
        };
        let identifier = match read_identifier(bytes, ts).await {
            Ok(identifier) => identifier,
            Err(failure) => return self.fail(context_id, final_response, &failure).await,
        };
        let admission = self.admission.clone();
        let (level, answered) = match model {
            // Modality Worklist: no levels, the service answers the keys.
            None => (None, self.service.worklist(&admission, identifier).await),
            Some(model) => {
                let level = identifier
                    .get(tags::QUERY_RETRIEVE_LEVEL)
                    .and_then(|e| e.to_str().ok())
                    .and_then(|v| QueryLevel::parse(&v));
                let Some(level) = level else {
                    let failure = FindFailure::IdentifierMismatch(
                        "missing or unknown Query/Retrieve Level".into(),
                    );
                    return self.fail(context_id, final_response, &failure).await;
                };
                // The Study Root model has no PATIENT level (PS3.4 §C.6.2.1).
                if model == super::QueryModel::StudyRoot && level == QueryLevel::Patient {
                    let failure = FindFailure::IdentifierMismatch(
                        "the Study Root model has no PATIENT level".into(),
                    );
                    return self.fail(context_id, final_response, &failure).await;
                }
                let request = FindRequest {
                    level,
                    model,
                    identifier,
                };
                (Some(level), self.service.find(&admission, request).await)
            }
        };
        let matches = match answered {
            Ok(matches) => matches,
            Err(failure) => return self.fail(context_id, final_response, &failure).await,
        };

        let mut sent = 0usize;
        for mut found in matches {
            if self.cancel_requested(message_id)? {
                debug!(sent, "C-FIND cancelled by the peer");
                final_response.status = CANCELED;
                return self.respond(context_id, &final_response, None).await;
            }
            // Every query response identifier carries the level (PS3.4
            // §C.4.1.2.3); fill it in when the service left it out or empty.
            let level_given = found
                .get(tags::QUERY_RETRIEVE_LEVEL)
                .and_then(|e| e.to_str().ok())
                .is_some_and(|v| !v.trim().is_empty());
            if let Some(level) = level.filter(|_| !level_given) {
                found.put(DataElement::new(
                    tags::QUERY_RETRIEVE_LEVEL,
                    VR::CS,
                    PrimitiveValue::from(padded(level.as_str())),
                ));
            }
            let mut encoded = Vec::new();
            if let Err(error) = found.write_dataset_with_ts(&mut encoded, ts) {
                warn!(%error, "cannot encode a C-FIND match");
                let failure = FindFailure::UnableToProcess("cannot encode a match".into());
                return self.fail(context_id, final_response, &failure).await;
            }
            let mut pending = final_response.clone();
            pending.status = PENDING;
            pending.has_data_set = true;
            self.respond(context_id, &pending, Some(&encoded)).await?;
            sent += 1;
        }
        debug!(sent, "C-FIND done");
        self.respond(context_id, &final_response, None).await
    }

    async fn fail(
        &mut self,
        context_id: u8,
        mut response: Response,
        failure: &FindFailure,
    ) -> Result<(), DimseError> {
        response.status = failure.status();
        response.error_comment = Some(failure.comment().to_string());
        self.respond(context_id, &response, None).await
    }

    pub(crate) async fn identifier_bytes(&mut self, context_id: u8) -> Result<Vec<u8>, DimseError> {
        let mut bytes = Vec::new();
        loop {
            let (fragment, last) = self.data_fragment(context_id).await?;
            bytes.extend_from_slice(&fragment);
            if bytes.len() > IDENTIFIER_LIMIT {
                return Err(DimseError::Protocol("C-FIND identifier too large"));
            }
            if last {
                return Ok(bytes);
            }
        }
    }
}

/// Checks and parses an identifier, a bare data set in the transfer syntax
/// `ts`, on a blocking thread.
///
/// Never on an async worker: the parse is CPU work proportional to what the
/// peer sent, and dicom-rs recurses once per nested sequence. The length
/// check bounds both (every declared length fits, sequences nest at most
/// [`crate::lengths::MAX_SEQUENCE_DEPTH`] deep), yet the parse still belongs
/// where a slow or deep one stalls no other connection and starts on a
/// shallow stack of the runtime's fixed size (tokio's blocking threads get
/// the same size as its workers, 2 MiB unless the runtime sets another),
/// rather than beneath whatever the worker was polling. Shared by every
/// DIMSE service that takes an identifier.
pub(crate) async fn read_identifier(
    bytes: Vec<u8>,
    ts: &'static TransferSyntax,
) -> Result<InMemDicomObject, FindFailure> {
    tokio::task::spawn_blocking(move || parse_identifier(&bytes, ts))
        .await
        .unwrap_or_else(|error| {
            warn!(%error, "the identifier parse did not finish");
            Err(FindFailure::UnableToProcess(
                "cannot parse the identifier".into(),
            ))
        })
}

fn parse_identifier(bytes: &[u8], ts: &TransferSyntax) -> Result<InMemDicomObject, FindFailure> {
    let unable = |why: String| FindFailure::UnableToProcess(why);
    // dicom-rs allocates (and zero-fills) each declared length before it
    // reads the value: a few bytes declaring 4 GB would cost 4 GB.
    crate::lengths::check_data_set(bytes, ts.uid())
        .map_err(|e| unable(format!("cannot parse the identifier: {e}")))?;
    // As for instances (`validate`): an assertion inside dicom-rs that
    // malformed input reaches is a data set we cannot parse. Nothing the
    // parse touches outlives it but the bytes and the registry's entry, both
    // only read.
    let parse = std::panic::AssertUnwindSafe(|| InMemDicomObject::read_dataset_with_ts(bytes, ts));
    std::panic::catch_unwind(parse)
        .map_err(|_| unable("cannot parse the identifier".into()))?
        .map_err(|e| unable(format!("cannot parse the identifier: {e}")))
}

/// Code strings are padded to even length with a space.
fn padded(value: &str) -> String {
    let mut value = value.to_string();
    if value.len() % 2 == 1 {
        value.push(' ');
    }
    value
}
