//! Modality Performed Procedure Step SCP (PS3.4 Annex F.7): a modality says
//! with N-CREATE that it began a procedure step and with N-SET that the step
//! changed or ended (COMPLETED, DISCONTINUED). The attributes go to the
//! service, which decides what they mean for its orders.

use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use tracing::debug;

use super::association::Association;
use super::echo::SOP_CLASS_NOT_SUPPORTED;
use super::find::read_identifier;
use super::message::{field, Command, Response};
use super::negotiate::{self, Context, Service};
use super::{DimseError, ProcedureStep};

/// Missing attribute.
const MISSING_ATTRIBUTE: u16 = 0x0120;
/// Processing failure.
const PROCESSING_FAILURE: u16 = 0x0110;

impl Association {
    pub(crate) async fn procedure_step(
        &mut self,
        context_id: u8,
        context: &Context,
        command: &Command,
    ) -> Result<(), DimseError> {
        let message_id = command.message_id()?;
        let created = command.field()? == field::N_CREATE_RQ;
        let (response_field, named) = if created {
            (field::N_CREATE_RSP, command.affected_sop_instance())
        } else {
            (field::N_SET_RSP, command.requested_sop_instance())
        };
        let mut response = Response::new(response_field, message_id, 0);
        response.sop_class = Some(negotiate::MPPS.to_owned());
        // An N-CREATE may leave the UID to the SCP (PS3.7 §10.1.5.1.3).
        let uid = named
            .filter(|uid| !uid.is_empty())
            .or_else(|| created.then(|| format!("2.25.{}", uuid::Uuid::new_v4().as_u128())));
        response.sop_instance = uid.clone();
        if !command.has_data_set() {
            response.status = MISSING_ATTRIBUTE;
            response.error_comment = Some("no attributes".into());
            return self.respond(context_id, &response, None).await;
        }
        let bytes = self.identifier_bytes(context_id).await?;
        if context.service != Service::ProcedureStep {
            response.status = SOP_CLASS_NOT_SUPPORTED;
            return self.respond(context_id, &response, None).await;
        }
        let Some(uid) = uid else {
            response.status = MISSING_ATTRIBUTE;
            response.error_comment = Some("no Requested SOP Instance UID".into());
            return self.respond(context_id, &response, None).await;
        };
        // Accepted with Implicit or Explicit VR Little Endian only.
        let Some(ts) = TransferSyntaxRegistry.get(&context.transfer_syntax) else {
            response.status = PROCESSING_FAILURE;
            return self.respond(context_id, &response, None).await;
        };
        let attributes = match read_identifier(bytes, ts).await {
            Ok(attributes) => attributes,
            Err(failure) => {
                response.status = PROCESSING_FAILURE;
                response.error_comment = Some(failure.comment().to_owned());
                return self.respond(context_id, &response, None).await;
            }
        };
        let step = ProcedureStep {
            created,
            sop_instance_uid: uid,
            attributes,
        };
        let admission = self.admission.clone();
        match self.service.procedure_step(&admission, step).await {
            Ok(()) => debug!(created, "procedure step taken"),
            Err(failure) => {
                debug!(created, status = failure.status, "procedure step refused");
                response.status = failure.status;
                response.error_comment = Some(failure.comment);
            }
        }
        self.respond(context_id, &response, None).await
    }
}
