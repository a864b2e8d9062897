//! C-ECHO (PS3.4 Annex A): the peer checks that we are there.

use super::association::Association;
use super::message::{field, Command, Response};
use super::negotiate::{Context, Service};
use super::DimseError;

/// Status 0x0122: SOP class not supported (PS3.7 §C.5.6), for a request sent
/// on a presentation context negotiated for another service.
pub(crate) const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;

impl Association {
    pub(crate) async fn echo(
        &mut self,
        context_id: u8,
        context: &Context,
        command: &Command,
    ) -> Result<(), DimseError> {
        if command.has_data_set() {
            self.skip_data_set(context_id).await?;
        }
        let status = if context.service == Service::Verification {
            0x0000
        } else {
            SOP_CLASS_NOT_SUPPORTED
        };
        let mut response = Response::new(field::C_ECHO_RSP, command.message_id()?, status);
        response.sop_class = Some(context.abstract_syntax.clone());
        self.respond(context_id, &response, None).await
    }
}
