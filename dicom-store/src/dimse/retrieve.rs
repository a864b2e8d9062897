//! C-GET and C-MOVE (PS3.4 Annex C.4.2, C.4.3): the identifier names stored
//! instances ([`DimseService::retrieve`]), each goes out as a C-STORE
//! sub-operation, and a pending response after each one counts what is
//! done. C-GET sends on this association, on the storage contexts the peer
//! took the SCP role for; C-MOVE opens one to the destination, which the
//! service looks up by AE title for this caller. A C-CANCEL-RQ between
//! sub-operations stops them with status Cancel.
//!
//! [`DimseService::retrieve`]: super::DimseService::retrieve

use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use tracing::{debug, info, warn};

use super::association::Association;
use super::echo::SOP_CLASS_NOT_SUPPORTED;
use super::find::read_identifier;
use super::message::{field, Command, Response, StoreRequestCommand, SubOperations};
use super::negotiate::{Context, Service};
use super::scu::{data_set_in, StoreScu};
use super::{
    DimseError, FindFailure, MoveDestination, Outgoing, QueryLevel, QueryModel, RetrieveRequest,
};

const PENDING: u16 = 0xFF00;
const CANCELED: u16 = 0xFE00;
/// Sub-operations complete, one or more failures or warnings.
const SOME_FAILED: u16 = 0xB000;
/// Refused: out of resources, unable to calculate the number of matches.
const CANNOT_COUNT: u16 = 0xA701;
/// Refused: out of resources, unable to perform the sub-operations.
const CANNOT_PERFORM: u16 = 0xA702;
/// Refused: move destination unknown.
const DESTINATION_UNKNOWN: u16 = 0xA801;

/// How long the destination of a C-MOVE may take for each step.
const DESTINATION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Move,
}

/// The tally of sub-operations.
#[derive(Debug, Default)]
struct Tally {
    remaining: usize,
    completed: u16,
    failed: u16,
    warning: u16,
    failed_uids: Vec<String>,
}

impl Tally {
    fn count(&mut self, status: u16, sop_instance: &str) {
        self.remaining = self.remaining.saturating_sub(1);
        match status {
            0x0000 => self.completed += 1,
            0x0001 | 0x0107 | 0x0116 | 0xB000..=0xBFFF => self.warning += 1,
            _ => {
                self.failed += 1;
                self.failed_uids.push(sop_instance.to_owned());
            }
        }
    }

    fn pending(&self) -> SubOperations {
        SubOperations {
            remaining: Some(u16::try_from(self.remaining).unwrap_or(u16::MAX)),
            completed: self.completed,
            failed: self.failed,
            warning: self.warning,
        }
    }

    fn done(&self) -> SubOperations {
        SubOperations {
            remaining: None,
            ..self.pending()
        }
    }

    /// Every remaining sub-operation counted as failed (the destination
    /// went away).
    fn fail_rest(&mut self, items: &[Outgoing]) {
        for item in items {
            self.count(CANNOT_PERFORM, &item.sop_instance_uid);
        }
    }
}

impl Association {
    pub(crate) async fn retrieve(
        &mut self,
        context_id: u8,
        context: &Context,
        command: &Command,
    ) -> Result<(), DimseError> {
        let kind = if command.field()? == field::C_GET_RQ {
            Kind::Get
        } else {
            Kind::Move
        };
        let message_id = command.message_id()?;
        let response_field = match kind {
            Kind::Get => field::C_GET_RSP,
            Kind::Move => field::C_MOVE_RSP,
        };
        let mut response = Response::new(response_field, message_id, 0);
        response.sop_class = Some(context.abstract_syntax.clone());
        if !command.has_data_set() {
            let failure = FindFailure::IdentifierMismatch("no identifier".into());
            return self.refuse(context_id, response, &failure).await;
        }
        let bytes = self.identifier_bytes(context_id).await?;
        let model = match (kind, context.service) {
            (Kind::Get, Service::Get(model)) | (Kind::Move, Service::Move(model)) => model,
            _ => {
                response.status = SOP_CLASS_NOT_SUPPORTED;
                return self.respond(context_id, &response, None).await;
            }
        };
        // Retrieve contexts are accepted with a little-endian native syntax
        // only (`negotiate`), both in the registry.
        let Some(ts) = TransferSyntaxRegistry.get(&context.transfer_syntax) else {
            let failure = FindFailure::UnableToProcess("unsupported transfer syntax".into());
            return self.refuse(context_id, response, &failure).await;
        };
        let identifier = match read_identifier(bytes, ts).await {
            Ok(identifier) => identifier,
            Err(failure) => return self.refuse(context_id, response, &failure).await,
        };
        let level = identifier
            .get(tags::QUERY_RETRIEVE_LEVEL)
            .and_then(|e| e.to_str().ok())
            .and_then(|v| QueryLevel::parse(&v));
        let level = match level {
            Some(QueryLevel::Patient) if model == QueryModel::StudyRoot => None,
            level => level,
        };
        let Some(level) = level else {
            let failure = FindFailure::IdentifierMismatch(
                "missing or unknown Query/Retrieve Level for this model".into(),
            );
            return self.refuse(context_id, response, &failure).await;
        };
        let destination = if kind == Kind::Move {
            let asked = command.move_destination().unwrap_or_default();
            let admission = self.admission.clone();
            match self.service.move_destination(&admission, &asked).await {
                Some(destination) => Some(destination),
                None => {
                    info!(destination = %asked, "C-MOVE to an unknown destination refused");
                    response.status = DESTINATION_UNKNOWN;
                    response.error_comment = Some("move destination unknown".into());
                    return self.respond(context_id, &response, None).await;
                }
            }
        } else {
            None
        };
        let request = RetrieveRequest {
            level,
            model,
            identifier,
        };
        let admission = self.admission.clone();
        let items = match self.service.retrieve(&admission, request).await {
            Ok(items) => items,
            Err(failure) => return self.refuse(context_id, response, &failure).await,
        };
        if items.len() > usize::from(u16::MAX) {
            response.status = CANNOT_COUNT;
            response.error_comment = Some("too many instances for one retrieve".into());
            return self.respond(context_id, &response, None).await;
        }
        let mut tally = Tally {
            remaining: items.len(),
            ..Tally::default()
        };
        let cancelled = match destination {
            None => {
                self.get_each(context_id, &response, &items, &mut tally)
                    .await?
            }
            Some(destination) => {
                self.move_each(context_id, &response, &items, &destination, &mut tally)
                    .await?
            }
        };
        debug!(
            completed = tally.completed,
            failed = tally.failed,
            warning = tally.warning,
            cancelled,
            "retrieve done"
        );
        response.sub_operations = Some(tally.done());
        response.status = if cancelled {
            CANCELED
        } else if tally.failed > 0 || tally.warning > 0 {
            SOME_FAILED
        } else {
            0x0000
        };
        if tally.failed > 0 {
            // The final response lists the failures (PS3.4 §C.4.2.1.3.1).
            let mut failed = InMemDicomObject::new_empty();
            failed.put(DataElement::new(
                tags::FAILED_SOP_INSTANCE_UID_LIST,
                VR::UI,
                PrimitiveValue::Strs(tally.failed_uids.iter().cloned().collect()),
            ));
            let mut encoded = Vec::new();
            if failed.write_dataset_with_ts(&mut encoded, ts).is_ok() {
                response.has_data_set = true;
                return self.respond(context_id, &response, Some(&encoded)).await;
            }
        }
        self.respond(context_id, &response, None).await
    }

    async fn refuse(
        &mut self,
        context_id: u8,
        mut response: Response,
        failure: &FindFailure,
    ) -> Result<(), DimseError> {
        response.status = match failure {
            FindFailure::OutOfResources(_) => CANNOT_COUNT,
            other => other.status(),
        };
        response.error_comment = Some(failure.comment().to_string());
        self.respond(context_id, &response, None).await
    }

    /// C-GET: each instance back on this association. True when cancelled.
    async fn get_each(
        &mut self,
        context_id: u8,
        response: &Response,
        items: &[Outgoing],
        tally: &mut Tally,
    ) -> Result<bool, DimseError> {
        let message_id = response.responding_to;
        for item in items {
            if self.cancel_requested(message_id)? {
                return Ok(true);
            }
            let status = self.get_one(item, message_id).await?;
            tally.count(status, &item.sop_instance_uid);
            self.pending(context_id, response, tally).await?;
        }
        Ok(false)
    }

    /// One C-GET sub-operation: its status, or the C-STORE failure status
    /// when it could not be sent.
    async fn get_one(&mut self, item: &Outgoing, get_message_id: u16) -> Result<u16, DimseError> {
        let contexts = self.storage_contexts_for(&item.sop_class_uid);
        let chosen = contexts
            .iter()
            .find(|(_, ts)| *ts == item.transfer_syntax)
            .or_else(|| {
                contexts
                    .iter()
                    .find(|(_, ts)| data_set_in_is_possible(&item.transfer_syntax, ts.as_str()))
            });
        let Some((pc, ts)) = chosen.cloned() else {
            debug!(sop_class = %item.sop_class_uid, "no storage context for a C-GET sub-operation");
            return Ok(CANNOT_PERFORM);
        };
        let admission = self.admission.clone();
        let part10 = match self.service.read_outgoing(&admission, item).await {
            Ok(bytes) => bytes,
            Err(error) => {
                warn!(%error, "cannot read an instance to send");
                return Ok(CANNOT_PERFORM);
            }
        };
        let stored = item.transfer_syntax.clone();
        let data_set =
            match tokio::task::spawn_blocking(move || data_set_in(&part10, &stored, &ts)).await {
                Ok(Ok(data_set)) => data_set,
                Ok(Err(error)) => {
                    warn!(%error, "cannot encode an instance to send");
                    return Ok(CANNOT_PERFORM);
                }
                Err(error) => {
                    warn!(%error, "encoding an instance did not finish");
                    return Ok(CANNOT_PERFORM);
                }
            };
        let message_id = self.next_message_id();
        let command = StoreRequestCommand {
            message_id,
            sop_class: &item.sop_class_uid,
            sop_instance: &item.sop_instance_uid,
            move_originator: None,
        }
        .encode();
        self.send_message(pc, &command, Some(&data_set)).await?;
        loop {
            let (_, answer) = self.next_command().await?;
            match answer.field()? {
                field::C_STORE_RSP if answer.responding_to() == Some(message_id) => {
                    return Ok(answer.status().unwrap_or(CANNOT_PERFORM));
                }
                // A cancel while the sub-operation is under way: the
                // sub-operation finishes, the next one is not started.
                field::C_CANCEL_RQ if answer.responding_to() == Some(get_message_id) => {
                    self.cancel_seen();
                }
                _ => {
                    return Err(DimseError::Protocol(
                        "expected the C-STORE-RSP of a C-GET sub-operation",
                    ))
                }
            }
        }
    }

    /// C-MOVE: each instance over an association to the destination. True
    /// when cancelled.
    async fn move_each(
        &mut self,
        context_id: u8,
        response: &Response,
        items: &[Outgoing],
        destination: &MoveDestination,
        tally: &mut Tally,
    ) -> Result<bool, DimseError> {
        let message_id = response.responding_to;
        if items.is_empty() {
            return Ok(false);
        }
        let pairs: Vec<(String, String)> = items
            .iter()
            .map(|i| (i.sop_class_uid.clone(), i.transfer_syntax.clone()))
            .collect();
        let calling = self.config.ae_title.clone();
        let tls = self.config.tls_client.clone();
        let connecting = StoreScu::connect(
            &calling,
            destination,
            &pairs,
            DESTINATION_TIMEOUT,
            tls.as_ref(),
        );
        let mut scu = match connecting.await {
            Ok(scu) => scu,
            Err(error) => {
                warn!(%error, "C-MOVE destination could not be reached");
                tally.fail_rest(items);
                return Ok(false);
            }
        };
        let originator = self.admission.calling_ae().to_owned();
        let service = self.service.clone();
        let admission = self.admission.clone();
        let mut prefetched = None;
        for (n, item) in items.iter().enumerate() {
            if self.cancel_requested(message_id)? {
                scu.release().await;
                return Ok(true);
            }
            let read = match prefetched.take() {
                Some(read) => read,
                None => service.read_outgoing(&admission, item).await,
            };
            let part10 = match read {
                Ok(bytes) => bytes,
                Err(error) => {
                    warn!(%error, "cannot read an instance to send");
                    tally.count(CANNOT_PERFORM, &item.sop_instance_uid);
                    self.pending(context_id, response, tally).await?;
                    continue;
                }
            };
            // The next instance is read while the destination takes this one.
            let next = async {
                match items.get(n + 1) {
                    Some(next) => Some(service.read_outgoing(&admission, next).await),
                    None => None,
                }
            };
            let store = scu.store(
                &item.sop_class_uid,
                &item.sop_instance_uid,
                &item.transfer_syntax,
                &part10,
                Some((&originator, message_id)),
            );
            let (sent, next) = tokio::join!(store, next);
            prefetched = next;
            match sent {
                Ok(status) => tally.count(status, &item.sop_instance_uid),
                Err(error) if error.is_instance_failure() => {
                    debug!(%error, "C-MOVE sub-operation failed");
                    tally.count(CANNOT_PERFORM, &item.sop_instance_uid);
                }
                Err(error) => {
                    warn!(%error, "C-MOVE destination association failed");
                    tally.fail_rest(&items[n..]);
                    return Ok(false);
                }
            }
            self.pending(context_id, response, tally).await?;
        }
        scu.release().await;
        Ok(false)
    }

    async fn pending(
        &mut self,
        context_id: u8,
        response: &Response,
        tally: &Tally,
    ) -> Result<(), DimseError> {
        if tally.remaining == 0 {
            // The final response follows at once and carries the counts.
            return Ok(());
        }
        let mut pending = response.clone();
        pending.status = PENDING;
        pending.sub_operations = Some(tally.pending());
        self.respond(context_id, &pending, None).await
    }
}

/// Whether an instance stored in `stored` can be sent in `wanted`.
fn data_set_in_is_possible(stored: &str, wanted: &str) -> bool {
    crate::transcode::check(stored, wanted).is_ok()
}
