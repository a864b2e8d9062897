//! DIMSE messages (PS3.7 §6, §9): command sets, always Implicit VR Little
//! Endian whatever the presentation context says, and their fragmentation
//! into P-DATA PDUs within the peer's maximum PDU length.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_ul::pdu::{write_pdu, PDataValue, PDataValueType, Pdu};

use super::DimseError;

/// Command Field values (PS3.7 §E.1).
pub(crate) mod field {
    pub(crate) const C_STORE_RQ: u16 = 0x0001;
    pub(crate) const C_STORE_RSP: u16 = 0x8001;
    pub(crate) const C_FIND_RQ: u16 = 0x0020;
    pub(crate) const C_FIND_RSP: u16 = 0x8020;
    pub(crate) const C_ECHO_RQ: u16 = 0x0030;
    pub(crate) const C_ECHO_RSP: u16 = 0x8030;
    pub(crate) const C_GET_RQ: u16 = 0x0010;
    pub(crate) const C_GET_RSP: u16 = 0x8010;
    pub(crate) const C_MOVE_RQ: u16 = 0x0021;
    pub(crate) const C_MOVE_RSP: u16 = 0x8021;
    pub(crate) const C_CANCEL_RQ: u16 = 0x0FFF;
    pub(crate) const N_EVENT_REPORT_RQ: u16 = 0x0100;
    pub(crate) const N_EVENT_REPORT_RSP: u16 = 0x8100;
    pub(crate) const N_SET_RQ: u16 = 0x0120;
    pub(crate) const N_SET_RSP: u16 = 0x8120;
    pub(crate) const N_CREATE_RQ: u16 = 0x0140;
    pub(crate) const N_CREATE_RSP: u16 = 0x8140;
    pub(crate) const N_ACTION_RQ: u16 = 0x0130;
    pub(crate) const N_ACTION_RSP: u16 = 0x8130;
}

/// Sub-operation counts of a C-GET or C-MOVE response (PS3.7 §9.3.3.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SubOperations {
    /// Remaining; sent in pending responses only.
    pub(crate) remaining: Option<u16>,
    pub(crate) completed: u16,
    pub(crate) failed: u16,
    pub(crate) warning: u16,
}

/// Command Data Set Type meaning "no data set follows" (PS3.7 §E.1).
const NO_DATA_SET: u16 = 0x0101;
/// Any other value means a data set follows; this is the one we send.
const DATA_SET_PRESENT: u16 = 0x0000;

/// A command set received from the peer.
#[derive(Debug)]
pub(crate) struct Command {
    /// Each element's tag and value, in the order received.
    elements: Vec<(Tag, Vec<u8>)>,
}

impl Command {
    /// Decodes a reassembled command set.
    ///
    /// A command set is always Implicit VR Little Endian (PS3.7 §6.3.1):
    /// tag, 4-byte length, value, with no sequences. It is read by hand: a
    /// general data set reader costs more here than all the rest of a small
    /// C-STORE's handling, and with `RUST_BACKTRACE` set it captures a
    /// backtrace for the end of input it meets after the last element.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DimseError> {
        let mut elements = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (head, tail) = rest
                .split_at_checked(8)
                .ok_or_else(|| DimseError::Command("an element header is cut short".into()))?;
            let group = u16::from_le_bytes([head[0], head[1]]);
            let element = u16::from_le_bytes([head[2], head[3]]);
            let length = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            let (value, tail) = usize::try_from(length)
                .ok()
                .and_then(|length| tail.split_at_checked(length))
                .ok_or_else(|| {
                    DimseError::Command(format!(
                        "element ({group:04X},{element:04X}) of {length} bytes overruns the command set"
                    ))
                })?;
            elements.push((Tag(group, element), value.to_vec()));
            rest = tail;
        }
        Ok(Self { elements })
    }

    fn value(&self, tag: Tag) -> Option<&[u8]> {
        self.elements
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, value)| value.as_slice())
    }

    fn u16(&self, tag: Tag) -> Option<u16> {
        match self.value(tag)? {
            [low, high, ..] => Some(u16::from_le_bytes([*low, *high])),
            _ => None,
        }
    }

    fn uid(&self, tag: Tag) -> Option<String> {
        let value = std::str::from_utf8(self.value(tag)?).ok()?;
        Some(value.trim_end_matches(['\0', ' ']).to_string())
    }

    /// Command Field; required in every command.
    pub(crate) fn field(&self) -> Result<u16, DimseError> {
        self.u16(tags::COMMAND_FIELD)
            .ok_or_else(|| DimseError::Command("no Command Field".into()))
    }

    /// Message ID; required in every request.
    pub(crate) fn message_id(&self) -> Result<u16, DimseError> {
        self.u16(tags::MESSAGE_ID)
            .ok_or_else(|| DimseError::Command("no Message ID".into()))
    }

    /// Message ID Being Responded To (in C-CANCEL-RQ).
    pub(crate) fn responding_to(&self) -> Option<u16> {
        self.u16(tags::MESSAGE_ID_BEING_RESPONDED_TO)
    }

    /// Whether a data set follows this command.
    pub(crate) fn has_data_set(&self) -> bool {
        // Absent is treated as "no data set": a request that needs one and
        // does not say so is refused by the service handler.
        self.u16(tags::COMMAND_DATA_SET_TYPE)
            .is_some_and(|t| t != NO_DATA_SET)
    }

    /// Affected SOP Class UID.
    pub(crate) fn affected_sop_class(&self) -> Option<String> {
        self.uid(tags::AFFECTED_SOP_CLASS_UID)
    }

    /// Affected SOP Instance UID.
    pub(crate) fn affected_sop_instance(&self) -> Option<String> {
        self.uid(tags::AFFECTED_SOP_INSTANCE_UID)
    }

    /// Requested SOP Instance UID (N-SET-RQ and other N- requests).
    pub(crate) fn requested_sop_instance(&self) -> Option<String> {
        self.uid(tags::REQUESTED_SOP_INSTANCE_UID)
    }

    /// Action Type ID (N-ACTION-RQ).
    pub(crate) fn action_type(&self) -> Option<u16> {
        self.u16(tags::ACTION_TYPE_ID)
    }

    /// Move Destination (C-MOVE-RQ): an AE title.
    pub(crate) fn move_destination(&self) -> Option<String> {
        let value = std::str::from_utf8(self.value(tags::MOVE_DESTINATION)?).ok()?;
        Some(value.trim_matches([' ', '\0']).to_string())
    }

    /// Status (in responses).
    pub(crate) fn status(&self) -> Option<u16> {
        self.u16(tags::STATUS)
    }
}

/// An N-EVENT-REPORT-RQ we send: a storage commitment result.
pub(crate) fn event_report(
    message_id: u16,
    sop_class: &str,
    sop_instance: &str,
    event_type: u16,
) -> Vec<u8> {
    with_group_length(vec![
        text(tags::AFFECTED_SOP_CLASS_UID, VR::UI, sop_class),
        us(tags::COMMAND_FIELD, field::N_EVENT_REPORT_RQ),
        us(tags::MESSAGE_ID, message_id),
        us(tags::COMMAND_DATA_SET_TYPE, DATA_SET_PRESENT),
        text(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, sop_instance),
        us(tags::EVENT_TYPE_ID, event_type),
    ])
}

/// A C-STORE-RQ we send as a C-GET or C-MOVE sub-operation, or as a
/// storage SCU.
#[derive(Debug, Clone)]
pub(crate) struct StoreRequestCommand<'a> {
    pub(crate) message_id: u16,
    pub(crate) sop_class: &'a str,
    pub(crate) sop_instance: &'a str,
    /// Move Originator AE Title and Message ID, for a C-MOVE's sub-operations.
    pub(crate) move_originator: Option<(&'a str, u16)>,
}

impl StoreRequestCommand<'_> {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut elements = vec![
            text(tags::AFFECTED_SOP_CLASS_UID, VR::UI, self.sop_class),
            us(tags::COMMAND_FIELD, field::C_STORE_RQ),
            us(tags::MESSAGE_ID, self.message_id),
            // Medium priority.
            us(tags::PRIORITY, 0),
            us(tags::COMMAND_DATA_SET_TYPE, DATA_SET_PRESENT),
            text(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, self.sop_instance),
        ];
        if let Some((ae, message_id)) = self.move_originator {
            elements.push(text(
                tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE,
                VR::AE,
                ae,
            ));
            elements.push(us(tags::MOVE_ORIGINATOR_MESSAGE_ID, message_id));
        }
        with_group_length(elements)
    }
}

/// A response command set we send.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) field: u16,
    pub(crate) responding_to: u16,
    pub(crate) sop_class: Option<String>,
    pub(crate) sop_instance: Option<String>,
    pub(crate) status: u16,
    pub(crate) error_comment: Option<String>,
    pub(crate) has_data_set: bool,
    pub(crate) sub_operations: Option<SubOperations>,
}

impl Response {
    /// A response with only the elements every response has.
    pub(crate) fn new(field: u16, responding_to: u16, status: u16) -> Self {
        Self {
            field,
            responding_to,
            sop_class: None,
            sop_instance: None,
            status,
            error_comment: None,
            has_data_set: false,
            sub_operations: None,
        }
    }

    /// Encodes the command set, Command Group Length first.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut elements = Vec::new();
        if let Some(uid) = &self.sop_class {
            elements.push(text(tags::AFFECTED_SOP_CLASS_UID, VR::UI, uid));
        }
        elements.push(us(tags::COMMAND_FIELD, self.field));
        elements.push(us(tags::MESSAGE_ID_BEING_RESPONDED_TO, self.responding_to));
        let data_set_type = if self.has_data_set {
            DATA_SET_PRESENT
        } else {
            NO_DATA_SET
        };
        elements.push(us(tags::COMMAND_DATA_SET_TYPE, data_set_type));
        elements.push(us(tags::STATUS, self.status));
        if let Some(comment) = &self.error_comment {
            elements.push(text(tags::ERROR_COMMENT, VR::LO, &limit_comment(comment)));
        }
        if let Some(uid) = &self.sop_instance {
            elements.push(text(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, uid));
        }
        if let Some(counts) = self.sub_operations {
            if let Some(remaining) = counts.remaining {
                elements.push(us(tags::NUMBER_OF_REMAINING_SUBOPERATIONS, remaining));
            }
            elements.push(us(
                tags::NUMBER_OF_COMPLETED_SUBOPERATIONS,
                counts.completed,
            ));
            elements.push(us(tags::NUMBER_OF_FAILED_SUBOPERATIONS, counts.failed));
            elements.push(us(tags::NUMBER_OF_WARNING_SUBOPERATIONS, counts.warning));
        }
        with_group_length(elements)
    }
}

/// A command set's bytes, Command Group Length first.
fn with_group_length(elements: Vec<DataElement<InMemDicomObject>>) -> Vec<u8> {
    let obj = InMemDicomObject::from_element_iter(elements);
    let mut body = Vec::with_capacity(128);
    obj.write_dataset_with_ts(&mut body, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .expect("writing a few fixed elements to a Vec cannot fail");
    // Command Group Length (0000,0000) UL: the byte count of everything
    // after it. Written by hand because its value depends on the bytes.
    let length = u32::try_from(body.len()).expect("a command set is a few hundred bytes");
    let mut out = Vec::with_capacity(12 + body.len());
    out.extend_from_slice(&[0, 0, 0, 0, 4, 0, 0, 0]);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn us(tag: Tag, value: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(value))
}

/// A text element padded to even length, NUL for UIs and space otherwise
/// (PS3.5 §6.2), so the encoded bytes are exactly what the standard wants.
fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    let mut value = value.to_string();
    if value.len() % 2 == 1 {
        value.push(if vr == VR::UI { '\0' } else { ' ' });
    }
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

/// Error Comment is LO: at most 64 characters, no backslash.
fn limit_comment(comment: &str) -> String {
    comment
        .chars()
        .filter(|c| *c != '\\' && !c.is_control())
        .take(64)
        .collect()
}

/// Encodes a whole message (command and optional data set) as P-DATA PDUs
/// whose length stays within `peer_max_pdu` (0 = no limit).
pub(crate) fn encode_message(
    context_id: u8,
    command: &[u8],
    data_set: Option<&[u8]>,
    peer_max_pdu: u32,
) -> Result<Vec<u8>, DimseError> {
    let mut out = Vec::with_capacity(command.len() + data_set.map_or(0, <[u8]>::len) + 64);
    append_fragments(
        &mut out,
        context_id,
        PDataValueType::Command,
        command,
        peer_max_pdu,
    )?;
    if let Some(data) = data_set {
        append_fragments(
            &mut out,
            context_id,
            PDataValueType::Data,
            data,
            peer_max_pdu,
        )?;
    }
    Ok(out)
}

fn append_fragments(
    out: &mut Vec<u8>,
    context_id: u8,
    value_type: PDataValueType,
    bytes: &[u8],
    peer_max_pdu: u32,
) -> Result<(), DimseError> {
    // A PDV item costs 6 bytes besides its data: 4 of length, 1 of context
    // id, 1 of flags. One PDV per PDU keeps the arithmetic obvious.
    let chunk = match peer_max_pdu {
        0 => 64 * 1024,
        max => (max as usize).saturating_sub(6).max(1),
    };
    let mut chunks = bytes.chunks(chunk).peekable();
    if chunks.peek().is_none() {
        // An empty data set is still one (empty, last) fragment.
        return write_fragment(out, context_id, value_type, &[], true);
    }
    while let Some(piece) = chunks.next() {
        let is_last = chunks.peek().is_none();
        write_fragment(out, context_id, value_type.clone(), piece, is_last)?;
    }
    Ok(())
}

fn write_fragment(
    out: &mut Vec<u8>,
    context_id: u8,
    value_type: PDataValueType,
    data: &[u8],
    is_last: bool,
) -> Result<(), DimseError> {
    let pdu = Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: context_id,
            value_type,
            is_last,
            data: data.to_vec(),
        }],
    };
    write_pdu(out, &pdu)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_decodes_back_with_its_group_length() {
        let mut rsp = Response::new(field::C_STORE_RSP, 7, 0xA900);
        rsp.sop_class = Some("1.2.840.10008.5.1.4.1.1.2".into());
        rsp.sop_instance = Some("1.2.3".into());
        rsp.error_comment = Some("bad\\comment".into());
        let bytes = rsp.encode();
        assert_eq!(bytes.len() % 2, 0);
        let length = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        assert_eq!(length as usize, bytes.len() - 12);

        let decoded = Command::decode(&bytes).expect("our own encoding decodes");
        assert_eq!(decoded.field().expect("field"), field::C_STORE_RSP);
        assert_eq!(decoded.u16(tags::STATUS), Some(0xA900));
        assert_eq!(decoded.affected_sop_instance().as_deref(), Some("1.2.3"));
        assert!(!decoded.has_data_set());
    }

    #[test]
    fn a_command_set_cut_short_or_overrun_is_refused() {
        let bytes = Response::new(field::C_ECHO_RSP, 1, 0).encode();
        for cut in [1, 7, bytes.len() - 1] {
            assert!(
                matches!(Command::decode(&bytes[..cut]), Err(DimseError::Command(_))),
                "cut at {cut}"
            );
        }
        let mut overrun = bytes.clone();
        overrun[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Command::decode(&overrun),
            Err(DimseError::Command(_))
        ));
        let decoded = Command::decode(&bytes).expect("whole");
        assert_eq!(decoded.u16(tags::MESSAGE_ID_BEING_RESPONDED_TO), Some(1));
        assert_eq!(decoded.affected_sop_class(), None);
    }

    #[test]
    fn messages_are_fragmented_within_the_peer_limit() {
        let data = vec![0xAB; 5000];
        let encoded = encode_message(3, &[1, 2], Some(&data), 1024).expect("encodes");
        let mut rest = &encoded[..];
        let mut data_fragments = 0;
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[2..6].try_into().expect("4 bytes"));
            assert!(len <= 1024, "PDU of {len} bytes");
            let pdu = dicom_ul::pdu::read_pdu(rest, 1024, true)
                .expect("valid")
                .expect("complete");
            if let Pdu::PData { data } = pdu {
                data_fragments += usize::from(data[0].value_type == PDataValueType::Data);
            }
            rest = &rest[6 + len as usize..];
        }
        assert_eq!(data_fragments, 5);
    }
}
