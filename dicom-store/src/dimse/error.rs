//! Why an association ended badly. These never reach the peer as text: the
//! peer sees an A-ABORT or a DIMSE status; we log the error once, in the
//! association's span.

use std::time::Duration;

/// An association-level failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DimseError {
    /// Reading from or writing to the socket, or to the staging file, failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    /// The peer sent nothing for longer than the timeout allows.
    #[error("the peer was silent for {0:?}")]
    Timeout(Duration),
    /// The peer closed the connection in the middle of a PDU or message.
    #[error("the peer closed the connection mid-message")]
    UnexpectedEof,
    /// A PDU could not be decoded.
    #[error("malformed PDU")]
    Pdu(#[from] dicom_ul::pdu::ReadError),
    /// A PDU could not be encoded (a bug on our side, or an absurd value).
    #[error("could not encode a PDU")]
    PduWrite(#[from] dicom_ul::pdu::WriteError),
    /// A PDU was larger than we allow.
    #[error("PDU of {length} bytes exceeds our limit of {limit}")]
    PduTooLarge {
        /// Length announced in the PDU header.
        length: u32,
        /// Our limit for this PDU type.
        limit: u32,
    },
    /// The peer broke the protocol: a PDU or fragment that has no place here.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// A command set could not be decoded or lacked a required element.
    #[error("bad command set: {0}")]
    Command(String),
    /// The peer aborted the association.
    #[error("the peer aborted the association")]
    PeerAborted,
}
