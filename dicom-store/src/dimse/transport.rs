//! Whole PDUs over a TCP stream, or a TLS stream over one: every read has a
//! deadline and every PDU a
//! size limit, so a stuck or hostile peer costs us one bounded buffer and one
//! timer, never an unbounded allocation or a task that waits forever.

use std::time::Duration;

use dicom_ul::pdu::{read_pdu, write_pdu, Pdu, MAXIMUM_PDU_SIZE, PDU_HEADER_SIZE};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::DimseError;

/// PDU type code of P-DATA-TF (PS3.8 §9.3.1).
const PDATA_TYPE: u8 = 0x04;

/// Limit for every PDU that is not P-DATA. An A-ASSOCIATE-RQ with all 128
/// presentation contexts and long UIDs stays well below this.
const CONTROL_PDU_LIMIT: u32 = 1 << 20;

/// A byte stream an association runs over: TCP, or TLS over TCP.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// A stream that speaks in PDUs.
pub(crate) struct Transport {
    stream: Box<dyn Stream>,
    /// Bytes read but not yet parsed. Reads append here and parsing drains
    /// only whole PDUs, which is what makes [`Self::read`] cancel-safe: a
    /// read abandoned half-way loses nothing.
    buffer: Vec<u8>,
    /// The largest P-DATA PDU we accept: the max length we announced.
    pdata_limit: u32,
    write_timeout: Duration,
}

impl Transport {
    pub(crate) fn new(stream: Box<dyn Stream>, pdata_limit: u32, write_timeout: Duration) -> Self {
        Self {
            stream,
            buffer: Vec::new(),
            pdata_limit,
            write_timeout,
        }
    }

    /// Reads the next PDU. `Ok(None)` means the peer closed the connection
    /// cleanly between PDUs. Cancel-safe (see `buffer`).
    pub(crate) async fn read(&mut self, timeout: Duration) -> Result<Option<Pdu>, DimseError> {
        loop {
            if let Some(pdu) = self.parse_buffered()? {
                return Ok(Some(pdu));
            }
            let wanted = self.bytes_missing();
            // Reserve what the current PDU still needs (bounded by the limit
            // checked in `bytes_missing`), so a large P-DATA PDU is read in a
            // few big reads rather than many small ones.
            self.buffer.reserve(wanted.max(8 * 1024));
            let read = tokio::time::timeout(timeout, self.stream.read_buf(&mut self.buffer))
                .await
                .map_err(|_| DimseError::Timeout(timeout))??;
            if read == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(DimseError::UnexpectedEof)
                };
            }
        }
    }

    /// How many more bytes the PDU at the head of the buffer needs (or the
    /// header, if not even that is complete).
    fn bytes_missing(&self) -> usize {
        match self.header() {
            Some((_, length)) => {
                (PDU_HEADER_SIZE as usize + length as usize).saturating_sub(self.buffer.len())
            }
            None => PDU_HEADER_SIZE as usize - self.buffer.len(),
        }
    }

    /// Type and length of the PDU at the head of the buffer, once its
    /// 6-byte header is there.
    fn header(&self) -> Option<(u8, u32)> {
        let header = self.buffer.get(..PDU_HEADER_SIZE as usize)?;
        let length = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
        Some((header[0], length))
    }

    fn parse_buffered(&mut self) -> Result<Option<Pdu>, DimseError> {
        let Some((pdu_type, length)) = self.header() else {
            return Ok(None);
        };
        let limit = if pdu_type == PDATA_TYPE {
            self.pdata_limit
        } else {
            CONTROL_PDU_LIMIT
        };
        if length > limit {
            return Err(DimseError::PduTooLarge { length, limit });
        }
        let total = PDU_HEADER_SIZE as usize + length as usize;
        if self.buffer.len() < total {
            return Ok(None);
        }
        // Our own limit is already enforced above, so the parser's strict
        // mode (which would apply one limit to every PDU type) stays off.
        let pdu = read_pdu(&self.buffer[..total], MAXIMUM_PDU_SIZE, false)?
            .ok_or(DimseError::Protocol("PDU shorter than its header says"))?;
        self.buffer.drain(..total);
        Ok(Some(pdu))
    }

    /// Encodes and sends one PDU.
    pub(crate) async fn write(&mut self, pdu: &Pdu) -> Result<(), DimseError> {
        let mut bytes = Vec::new();
        write_pdu(&mut bytes, pdu)?;
        self.write_raw(&bytes).await
    }

    /// Sends bytes that already are one or more encoded PDUs. Callers batch
    /// a whole DIMSE message into one call: with TCP_NODELAY each call is
    /// at least one segment, so fewer calls mean fewer packets.
    pub(crate) async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), DimseError> {
        tokio::time::timeout(self.write_timeout, self.stream.write_all(bytes))
            .await
            .map_err(|_| DimseError::Timeout(self.write_timeout))??;
        Ok(())
    }

    /// Closes our side of the connection, ignoring errors: by the time we
    /// call this the association is over either way.
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}
