//! Storage Commitment Push Model SCP (PS3.4 Annex J): a modality asks with
//! N-ACTION whether Ferry has taken responsibility for instances it sent,
//! so it may free its disk. Ferry answers the N-ACTION at once, then sends
//! the result as an N-EVENT-REPORT on the same association: every instance
//! held (event type 1), or those held and those not (event type 2, with
//! Failure Reason 0x0112, no such object instance). Held means stored,
//! durable and reachable by the caller's facility.
//!
//! The report goes back only on the association the request came on, which
//! the requester must keep open and on which it must have taken the SCP
//! role for the SOP class (SCP/SCU Role Selection); Ferry does not open an
//! association to the modality. Without that role the request is refused.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use tracing::{debug, info};

use super::association::Association;
use super::echo::SOP_CLASS_NOT_SUPPORTED;
use super::find::read_identifier;
use super::message::{event_report, field, Command, Response};
use super::negotiate::{self, Context, Service};
use super::DimseError;

/// No such action type.
const NO_SUCH_ACTION: u16 = 0x0123;
/// Missing attribute value.
const MISSING_ATTRIBUTE: u16 = 0x0120;
/// Processing failure.
const PROCESSING_FAILURE: u16 = 0x0110;
/// The Failure Reason of an instance Ferry does not hold.
const NO_SUCH_OBJECT: u16 = 0x0112;

fn uid_of(item: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let value = item.get(tag)?.to_str().ok()?;
    let value = value.trim_end_matches(['\0', ' ']).to_owned();
    (!value.is_empty()).then_some(value)
}

fn reference(class: &str, instance: &str, failure: Option<u16>) -> InMemDicomObject {
    let mut item = InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::REFERENCED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(class),
        ),
        DataElement::new(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(instance),
        ),
    ]);
    if let Some(reason) = failure {
        item.put(DataElement::new(
            tags::FAILURE_REASON,
            VR::US,
            PrimitiveValue::from(reason),
        ));
    }
    item
}

impl Association {
    pub(crate) async fn commitment(
        &mut self,
        context_id: u8,
        context: &Context,
        command: &Command,
    ) -> Result<(), DimseError> {
        let message_id = command.message_id()?;
        let mut response = Response::new(field::N_ACTION_RSP, message_id, 0);
        response.sop_class = Some(negotiate::STORAGE_COMMITMENT.to_owned());
        response.sop_instance = Some(negotiate::STORAGE_COMMITMENT_INSTANCE.to_owned());
        if !command.has_data_set() {
            response.status = MISSING_ATTRIBUTE;
            return self.respond(context_id, &response, None).await;
        }
        let bytes = self.identifier_bytes(context_id).await?;
        if context.service != Service::Commitment {
            response.status = SOP_CLASS_NOT_SUPPORTED;
            return self.respond(context_id, &response, None).await;
        }
        if command.action_type() != Some(1) {
            response.status = NO_SUCH_ACTION;
            return self.respond(context_id, &response, None).await;
        }
        if !context.peer_is_scp {
            info!("storage commitment asked for on an association that cannot take the report");
            response.status = PROCESSING_FAILURE;
            response.error_comment =
                Some("propose the SCP role for Storage Commitment to receive the report".into());
            return self.respond(context_id, &response, None).await;
        }
        // Accepted with Implicit or Explicit VR Little Endian only.
        let Some(ts) = TransferSyntaxRegistry.get(&context.transfer_syntax) else {
            response.status = PROCESSING_FAILURE;
            return self.respond(context_id, &response, None).await;
        };
        let request = match read_identifier(bytes, ts).await {
            Ok(request) => request,
            Err(failure) => {
                response.status = PROCESSING_FAILURE;
                response.error_comment = Some(failure.comment().to_owned());
                return self.respond(context_id, &response, None).await;
            }
        };
        let transaction = uid_of(&request, tags::TRANSACTION_UID);
        let references: Vec<(String, String)> = request
            .get(tags::REFERENCED_SOP_SEQUENCE)
            .and_then(|e| e.items())
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                Some((
                    uid_of(item, tags::REFERENCED_SOP_CLASS_UID)?,
                    uid_of(item, tags::REFERENCED_SOP_INSTANCE_UID)?,
                ))
            })
            .collect();
        let Some(transaction) = transaction.filter(|_| !references.is_empty()) else {
            response.status = MISSING_ATTRIBUTE;
            response.error_comment =
                Some("a Transaction UID and referenced instances are required".into());
            return self.respond(context_id, &response, None).await;
        };
        self.respond(context_id, &response, None).await?;

        let admission = self.admission.clone();
        let held = self.service.committed(&admission, references.clone()).await;
        let mut committed = Vec::new();
        let mut failed = Vec::new();
        for (n, (class, instance)) in references.iter().enumerate() {
            if held.get(n).copied().unwrap_or(false) {
                committed.push(reference(class, instance, None));
            } else {
                failed.push(reference(class, instance, Some(NO_SUCH_OBJECT)));
            }
        }
        let event_type: u16 = if failed.is_empty() { 1 } else { 2 };
        debug!(
            committed = committed.len(),
            failed = failed.len(),
            "storage commitment result"
        );
        let mut result = InMemDicomObject::from_element_iter([DataElement::new(
            tags::TRANSACTION_UID,
            VR::UI,
            PrimitiveValue::from(transaction),
        )]);
        if !committed.is_empty() {
            result.put(DataElement::new(
                tags::REFERENCED_SOP_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(committed),
            ));
        }
        if !failed.is_empty() {
            result.put(DataElement::new(
                tags::FAILED_SOP_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(failed),
            ));
        }
        let mut encoded = Vec::new();
        result
            .write_dataset_with_ts(&mut encoded, ts)
            .map_err(|_| DimseError::Protocol("cannot encode a storage commitment result"))?;
        let report_id = self.next_message_id();
        let command = event_report(
            report_id,
            negotiate::STORAGE_COMMITMENT,
            negotiate::STORAGE_COMMITMENT_INSTANCE,
            event_type,
        );
        self.send_message(context_id, &command, Some(&encoded))
            .await?;
        let (_, answer) = self.next_command().await?;
        if answer.field()? != field::N_EVENT_REPORT_RSP || answer.responding_to() != Some(report_id)
        {
            return Err(DimseError::Protocol(
                "expected the N-EVENT-REPORT-RSP of a storage commitment result",
            ));
        }
        Ok(())
    }
}
