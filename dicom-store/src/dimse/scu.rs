//! An outgoing storage association: Ferry as C-STORE SCU, for a C-MOVE's
//! sub-operations and for forwarding to another PACS.
//!
//! `dicom-ul` negotiates the association; each instance then goes out as
//! one write of ready-made P-DATA PDUs (the same encoding the listener
//! answers with) and its C-STORE-RSP is read back before the next one.

use std::time::Duration;

use dicom_ul::association::client::{AsyncClientAssociation, ClientAssociationOptions};
use dicom_ul::pdu::{PDataValueType, Pdu, PresentationContextResultReason};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::message::{encode_message, field, Command, StoreRequestCommand};
use super::negotiate::{EXPLICIT_LE, IMPLICIT_LE};
use super::MoveDestination;

/// Why an outgoing association or one of its C-STOREs failed.
#[derive(Debug, thiserror::Error)]
pub enum ScuError {
    /// The destination refused the association or could not be reached.
    #[error("cannot associate with {0}: {1}")]
    Associate(String, String),
    /// The destination accepted no presentation context for the instance.
    #[error("{0} takes no {1} in {2}")]
    NoContext(String, String, String),
    /// The instance could not be put in a syntax the destination takes.
    #[error("the instance cannot be sent: {0}")]
    Encoding(String),
    /// The association broke, timed out or answered nonsense.
    #[error("the association failed: {0}")]
    Association(String),
}

impl ScuError {
    /// Whether the failure is this instance's alone (the association goes
    /// on), rather than the association's.
    pub fn is_instance_failure(&self) -> bool {
        matches!(self, Self::NoContext(..) | Self::Encoding(_))
    }
}

/// An open storage association.
pub struct StoreScu {
    association: AsyncClientAssociation<TcpStream>,
    destination: String,
    next_message_id: u16,
    timeout: Duration,
}

/// The transfer syntaxes to propose for instances stored in `stored`: that
/// one, and for the native little-endian ones the other too, since Ferry
/// converts between them.
fn proposals(stored: &str) -> Vec<String> {
    let mut out = vec![stored.to_owned()];
    for alternative in [EXPLICIT_LE, IMPLICIT_LE] {
        if matches!(stored, EXPLICIT_LE | IMPLICIT_LE) && stored != alternative {
            out.push(alternative.to_owned());
        }
    }
    out
}

impl StoreScu {
    /// Opens an association from `calling_ae` to `destination`, proposing one
    /// presentation context per distinct (SOP class, stored syntax) pair.
    pub async fn connect(
        calling_ae: &str,
        destination: &MoveDestination,
        pairs: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, ScuError> {
        let mut options = ClientAssociationOptions::new()
            .calling_ae_title(calling_ae.to_owned())
            .called_ae_title(destination.ae_title.clone())
            .max_pdu_length(64 * 1024)
            .read_timeout(timeout)
            .write_timeout(timeout)
            .connection_timeout(timeout);
        let mut seen = std::collections::BTreeSet::new();
        // At most 128 contexts fit in one association (odd ids up to 255).
        for (class, ts) in pairs.iter().filter(|p| seen.insert((*p).clone())).take(128) {
            options = options.with_presentation_context(class.clone(), proposals(ts));
        }
        let name = destination.ae_title.clone();
        let address = (destination.host.as_str(), destination.port);
        let association = tokio::time::timeout(timeout, options.establish_async(address))
            .await
            .map_err(|_| ScuError::Associate(name.clone(), "timed out".into()))?
            .map_err(|e| ScuError::Associate(name.clone(), e.to_string()))?;
        Ok(Self {
            association,
            destination: name,
            next_message_id: 0,
            timeout,
        })
    }

    /// Sends one stored instance (its Part 10 file) and returns the status
    /// the destination answered.
    pub async fn store(
        &mut self,
        sop_class: &str,
        sop_instance: &str,
        stored_syntax: &str,
        part10: &[u8],
        move_originator: Option<(&str, u16)>,
    ) -> Result<u16, ScuError> {
        let context = self
            .association
            .presentation_contexts()
            .iter()
            .filter(|pc| {
                pc.reason == PresentationContextResultReason::Acceptance
                    && super::negotiate::trim_uid(&pc.abstract_syntax) == sop_class
            })
            .map(|pc| {
                (
                    pc.id,
                    super::negotiate::trim_uid(&pc.transfer_syntax).to_owned(),
                )
            })
            .find(|(_, ts)| proposals(stored_syntax).contains(ts));
        let Some((context_id, syntax)) = context else {
            return Err(ScuError::NoContext(
                self.destination.clone(),
                sop_class.to_owned(),
                stored_syntax.to_owned(),
            ));
        };
        let data_set = data_set_in(part10, stored_syntax, &syntax).map_err(ScuError::Encoding)?;
        self.next_message_id = self.next_message_id.wrapping_add(1).max(1);
        let message_id = self.next_message_id;
        let command = StoreRequestCommand {
            message_id,
            sop_class,
            sop_instance,
            move_originator,
        }
        .encode();
        let max_pdu = self.association.acceptor_max_pdu_length();
        let bytes = encode_message(context_id, &command, Some(&data_set), max_pdu)
            .map_err(|e| ScuError::Association(e.to_string()))?;
        let broken = |e: &dyn std::fmt::Display| ScuError::Association(e.to_string());
        tokio::time::timeout(self.timeout, async {
            let stream = self.association.inner_stream();
            stream.write_all(&bytes).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| ScuError::Association("timed out sending".into()))?
        .map_err(|e| broken(&e))?;
        let mut command = Vec::new();
        loop {
            let pdu = tokio::time::timeout(self.timeout, self.association.receive())
                .await
                .map_err(|_| ScuError::Association("timed out awaiting C-STORE-RSP".into()))?
                .map_err(|e| broken(&e))?;
            let Pdu::PData { data } = pdu else {
                return Err(ScuError::Association(format!(
                    "{} sent {pdu:?} instead of a C-STORE-RSP",
                    self.destination
                )));
            };
            let mut last = false;
            for pdv in data {
                if pdv.value_type == PDataValueType::Command {
                    command.extend_from_slice(&pdv.data);
                    last |= pdv.is_last;
                }
            }
            if last {
                break;
            }
        }
        let response = Command::decode(&command).map_err(|e| broken(&e))?;
        if response.field().ok() != Some(field::C_STORE_RSP)
            || response.responding_to() != Some(message_id)
        {
            return Err(ScuError::Association(
                "the answer is not this instance's C-STORE-RSP".into(),
            ));
        }
        response
            .status()
            .ok_or_else(|| ScuError::Association("a C-STORE-RSP without a status".into()))
    }

    /// Releases the association; a peer that does not answer is dropped.
    pub async fn release(self) {
        let _ = tokio::time::timeout(self.timeout, self.association.release()).await;
    }
}

/// The data set of a Part 10 file, in `wanted`: as stored when that is the
/// stored syntax, converted between the two native little-endian syntaxes
/// otherwise (the only conversion offered here).
pub(crate) fn data_set_in(part10: &[u8], stored: &str, wanted: &str) -> Result<Vec<u8>, String> {
    let mut cursor = std::io::Cursor::new(part10);
    crate::validate::read_file_meta(&mut cursor)
        .ok_or("the stored file has no readable meta group")?;
    let offset = usize::try_from(cursor.position()).map_err(|e| e.to_string())?;
    let data_set = &part10[offset..];
    if stored == wanted {
        return Ok(data_set.to_vec());
    }
    use dicom_encoding::TransferSyntaxIndex;
    let registry = dicom_transfer_syntax_registry::TransferSyntaxRegistry;
    let (Some(from), Some(to)) = (registry.get(stored), registry.get(wanted)) else {
        return Err(format!("no conversion from {stored} to {wanted}"));
    };
    if !matches!(stored, EXPLICIT_LE | IMPLICIT_LE) || !matches!(wanted, EXPLICIT_LE | IMPLICIT_LE)
    {
        return Err(format!("no conversion from {stored} to {wanted}"));
    }
    // Both little endian and native: re-encoding the element headers is
    // all there is to it. Stored instances were checked on the way in.
    let object = dicom_object::InMemDicomObject::read_dataset_with_ts(data_set, from)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(data_set.len() + 1024);
    object
        .write_dataset_with_ts(&mut out, to)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_and_implicit_little_endian_convert_into_each_other() {
        let file = crate::test_support::fixture("CT_small.dcm");
        let explicit = data_set_in(&file, EXPLICIT_LE, EXPLICIT_LE).expect("as stored");
        let implicit = data_set_in(&file, EXPLICIT_LE, IMPLICIT_LE).expect("converted");
        assert_ne!(explicit, implicit);
        use dicom_encoding::TransferSyntaxIndex;
        let registry = dicom_transfer_syntax_registry::TransferSyntaxRegistry;
        let a = dicom_object::InMemDicomObject::read_dataset_with_ts(
            explicit.as_slice(),
            registry.get(EXPLICIT_LE).expect("known"),
        )
        .expect("reads");
        let b = dicom_object::InMemDicomObject::read_dataset_with_ts(
            implicit.as_slice(),
            registry.get(IMPLICIT_LE).expect("known"),
        )
        .expect("reads");
        assert_eq!(
            a.element(dicom_dictionary_std::tags::PIXEL_DATA)
                .expect("pixels")
                .to_bytes()
                .expect("bytes"),
            b.element(dicom_dictionary_std::tags::PIXEL_DATA)
                .expect("pixels")
                .to_bytes()
                .expect("bytes")
        );
        assert!(data_set_in(&file, EXPLICIT_LE, "1.2.840.10008.1.2.4.50").is_err());
    }
}
