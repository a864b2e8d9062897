//! An outgoing storage association: Ferry as C-STORE SCU, for a C-MOVE's
//! sub-operations and for forwarding to another PACS.
//!
//! `dicom-ul` negotiates the association, over DICOM TLS when the
//! destination takes only that; each instance then goes out as one write
//! of ready-made P-DATA PDUs (the same encoding the listener answers with)
//! and its C-STORE-RSP is read back before the next one.

use std::time::Duration;

use dicom_ul::association::client::{
    AsyncClientAssociation, AsyncTlsStream, ClientAssociationOptions,
};
use dicom_ul::pdu::{
    PDataValueType, Pdu, PresentationContextNegotiated, PresentationContextResultReason,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::tls::DimseTlsClient;

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
    /// The kind of failure, as the outbox records it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Associate(..) => "unreachable",
            Self::NoContext(..) => "not_accepted",
            Self::Encoding(_) => "not_convertible",
            Self::Association(_) => "association",
        }
    }

    /// Whether the failure is this instance's alone (the association goes
    /// on), rather than the association's.
    pub fn is_instance_failure(&self) -> bool {
        matches!(self, Self::NoContext(..) | Self::Encoding(_))
    }
}

/// The association, over plain TCP or TLS: `dicom-ul` types the two apart.
enum Link {
    Plain(Box<AsyncClientAssociation<TcpStream>>),
    Tls(Box<AsyncClientAssociation<AsyncTlsStream>>),
}

impl Link {
    fn presentation_contexts(&self) -> &[PresentationContextNegotiated] {
        match self {
            Link::Plain(a) => a.presentation_contexts(),
            Link::Tls(a) => a.presentation_contexts(),
        }
    }

    fn acceptor_max_pdu_length(&self) -> u32 {
        match self {
            Link::Plain(a) => a.acceptor_max_pdu_length(),
            Link::Tls(a) => a.acceptor_max_pdu_length(),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Link::Plain(a) => {
                let stream = a.inner_stream();
                stream.write_all(bytes).await?;
                stream.flush().await
            }
            Link::Tls(a) => {
                let stream = a.inner_stream();
                stream.write_all(bytes).await?;
                stream.flush().await
            }
        }
    }

    async fn receive(&mut self) -> Result<Pdu, String> {
        match self {
            Link::Plain(a) => a.receive().await.map_err(|e| e.to_string()),
            Link::Tls(a) => a.receive().await.map_err(|e| e.to_string()),
        }
    }

    async fn release(self) {
        // A peer that does not answer the release is dropped all the same.
        let _ = match self {
            Link::Plain(a) => a.release().await.map_err(|e| e.to_string()),
            Link::Tls(a) => a.release().await.map_err(|e| e.to_string()),
        };
    }
}

/// An open storage association.
pub struct StoreScu {
    association: Link,
    destination: String,
    next_message_id: u16,
    timeout: Duration,
}

/// The transfer syntaxes to propose for instances stored in `stored`: that
/// one first, then Explicit and Implicit VR Little Endian when Ferry can
/// make them of it ([`crate::transcode`]), so that a destination taking
/// only uncompressed images (dcmtk's `storescp` by default, many older
/// PACS) still gets a JPEG or big-endian instance, decoded.
fn proposals(stored: &str) -> Vec<String> {
    let mut out = vec![stored.to_owned()];
    for alternative in [EXPLICIT_LE, IMPLICIT_LE] {
        if stored != alternative && crate::transcode::check(stored, alternative).is_ok() {
            out.push(alternative.to_owned());
        }
    }
    out
}

impl StoreScu {
    /// Opens an association from `calling_ae` to `destination`, proposing one
    /// presentation context per distinct (SOP class, stored syntax) pair;
    /// over TLS, with `tls`, when the destination takes only that.
    pub async fn connect(
        calling_ae: &str,
        destination: &MoveDestination,
        pairs: &[(String, String)],
        timeout: Duration,
        tls: Option<&DimseTlsClient>,
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
        let failed = |e: &dyn std::fmt::Display| ScuError::Associate(name.clone(), e.to_string());
        let association = if destination.tls {
            let tls = tls.ok_or_else(|| {
                failed(&"it takes DICOM TLS only, and no trusted CA is configured (dimse_tls_trusted_ca)")
            })?;
            let options = options
                .tls_config(tls.0.clone())
                .server_name(&destination.host);
            tokio::time::timeout(timeout, options.establish_tls_async(address))
                .await
                .map_err(|_| failed(&"timed out"))?
                .map(|a| Link::Tls(Box::new(a)))
                .map_err(|e| failed(&e))?
        } else {
            tokio::time::timeout(timeout, options.establish_async(address))
                .await
                .map_err(|_| failed(&"timed out"))?
                .map(|a| Link::Plain(Box::new(a)))
                .map_err(|e| failed(&e))?
        };
        let mut association = association;
        // Each C-STORE is one write followed by a wait for its answer: with
        // Nagle's algorithm the write's last segment would wait for an ACK
        // the peer delays.
        let nodelay = match &mut association {
            Link::Plain(a) => a.inner_stream().set_nodelay(true),
            Link::Tls(a) => a.inner_stream().get_ref().0.set_nodelay(true),
        };
        if let Err(error) = nodelay {
            tracing::debug!(%error, "TCP_NODELAY not set on an outgoing association");
        }
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
        tokio::time::timeout(self.timeout, self.association.write_all(&bytes))
            .await
            .map_err(|_| ScuError::Association("timed out sending".into()))?
            .map_err(|e| broken(&e))?;
        let mut command = Vec::new();
        loop {
            let pdu = tokio::time::timeout(self.timeout, self.association.receive())
                .await
                .map_err(|_| ScuError::Association("timed out awaiting C-STORE-RSP".into()))?
                .map_err(ScuError::Association)?;
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
/// stored syntax, converted by [`crate::transcode::convert`] (the same
/// conversion WADO-RS makes) otherwise.
pub(crate) fn data_set_in(part10: &[u8], stored: &str, wanted: &str) -> Result<Vec<u8>, String> {
    let converted;
    let file = if stored == wanted {
        part10
    } else {
        converted = crate::transcode::convert(part10, wanted).map_err(|e| e.to_string())?;
        converted.as_slice()
    };
    let mut cursor = std::io::Cursor::new(file);
    crate::validate::read_file_meta(&mut cursor)
        .ok_or("the stored file has no readable meta group")?;
    let offset = usize::try_from(cursor.position()).map_err(|e| e.to_string())?;
    Ok(file[offset..].to_vec())
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

    #[test]
    fn compressed_and_big_endian_instances_are_offered_and_sent_decoded() {
        let big = crate::test_support::fixture("MR_small_bigendian.dcm");
        let rle = crate::test_support::fixture("MR_small_RLE.dcm");
        let native = crate::test_support::fixture("MR_small.dcm");
        let rle_syntax = "1.2.840.10008.1.2.5";
        assert_eq!(
            proposals(rle_syntax),
            [rle_syntax, EXPLICIT_LE, IMPLICIT_LE]
        );
        // No decoder for video: offered as stored only.
        assert_eq!(
            proposals("1.2.840.10008.1.2.4.100"),
            ["1.2.840.10008.1.2.4.100"]
        );
        use dicom_encoding::TransferSyntaxIndex;
        let registry = dicom_transfer_syntax_registry::TransferSyntaxRegistry;
        let pixels = |data_set: &[u8]| {
            dicom_object::InMemDicomObject::read_dataset_with_ts(
                data_set,
                registry.get(EXPLICIT_LE).expect("known"),
            )
            .expect("reads")
            .element(dicom_dictionary_std::tags::PIXEL_DATA)
            .expect("pixels")
            .to_bytes()
            .expect("bytes")
            .into_owned()
        };
        let expected = pixels(&data_set_in(&native, EXPLICIT_LE, EXPLICIT_LE).expect("as stored"));
        for (file, stored) in [(&big, "1.2.840.10008.1.2.2"), (&rle, rle_syntax)] {
            let sent = data_set_in(file, stored, EXPLICIT_LE).expect("decoded");
            assert_eq!(pixels(&sent), expected, "{stored}");
        }
    }
}
