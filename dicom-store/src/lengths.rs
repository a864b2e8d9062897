//! A cheap first look at an instance before any parser builds values from it:
//! every length it declares must fit in the file.
//!
//! dicom-rs allocates (and zero-fills) a value's declared length before
//! reading it, so a few hostile bytes declaring a 4 GB element would make the
//! server allocate 4 GB. This walk reads only headers: the file meta group by
//! hand (its encoding is fixed, explicit VR little endian), the data set with
//! dicom-parser's lazy reader, skipping every value.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use dicom_encoding::TransferSyntaxIndex;
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_parser::dataset::LazyDataToken;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Why an instance was refused before parsing.
#[derive(Debug, thiserror::Error)]
pub enum LengthError {
    /// A declared length runs past the end of the file.
    #[error("{0} declares {1} bytes, more than the file holds")]
    TooLong(&'static str, u64),
    /// The structure could not be walked.
    #[error("{0}")]
    Malformed(String),
}

/// Checks every declared length in the file at `path`. Blocking.
pub fn check(path: &Path) -> Result<(), LengthError> {
    let malformed = |e: &dyn std::fmt::Display| LengthError::Malformed(e.to_string());
    let size = std::fs::metadata(path).map_err(|e| malformed(&e))?.len();
    let file = BufReader::new(File::open(path).map_err(|e| malformed(&e))?);
    check_reader(file, size)
}

/// As [`check`], for a Part 10 file held in memory.
pub fn check_bytes(data: &[u8]) -> Result<(), LengthError> {
    check_reader(Cursor::new(data), data.len() as u64)
}

fn check_reader<R: Read + Seek>(mut file: R, size: u64) -> Result<(), LengthError> {
    let malformed = |e: &dyn std::fmt::Display| LengthError::Malformed(e.to_string());
    let mut head = [0u8; 132];
    file.read_exact(&mut head).map_err(|e| malformed(&e))?;
    let start = if &head[128..132] == b"DICM" {
        132
    } else if &head[..4] == b"DICM" {
        4
    } else {
        return Err(LengthError::Malformed("no DICM prefix".into()));
    };
    file.seek(SeekFrom::Start(start))
        .map_err(|e| malformed(&e))?;
    let transfer_syntax = meta_group(&mut file, size)?;
    let ts = TransferSyntaxRegistry
        .get(&transfer_syntax)
        .ok_or_else(|| {
            LengthError::Malformed(format!("unknown transfer syntax {transfer_syntax}"))
        })?;
    let mut tokens = LazyDataSetReader::new_with_ts(file, ts).map_err(|e| malformed(&e))?;
    while let Some(token) = tokens.advance() {
        let token = token.map_err(|e| malformed(&e))?;
        match &token {
            LazyDataToken::LazyValue { header, .. } if u64::from(header.len.0) > size => {
                return Err(LengthError::TooLong("an element", u64::from(header.len.0)));
            }
            LazyDataToken::LazyItemValue { len, .. } if u64::from(*len) > size => {
                return Err(LengthError::TooLong("a pixel data item", u64::from(*len)));
            }
            _ => {}
        }
        token.skip().map_err(|e| malformed(&e))?;
    }
    Ok(())
}

/// Walks the file meta group (explicit VR little endian), checking its
/// lengths, and returns its Transfer Syntax UID. Leaves `file` at the data set.
fn meta_group<R: Read + Seek>(file: &mut R, size: u64) -> Result<String, LengthError> {
    let malformed = |e: &dyn std::fmt::Display| LengthError::Malformed(e.to_string());
    let mut transfer_syntax = None;
    loop {
        let mut tag = [0u8; 6];
        let at = file.stream_position().map_err(|e| malformed(&e))?;
        if file.read_exact(&mut tag).is_err() {
            break;
        }
        if u16::from_le_bytes([tag[0], tag[1]]) != 0x0002 {
            file.seek(SeekFrom::Start(at)).map_err(|e| malformed(&e))?;
            break;
        }
        let element = u16::from_le_bytes([tag[2], tag[3]]);
        let long = matches!(
            &tag[4..6],
            b"OB"
                | b"OW"
                | b"OF"
                | b"SQ"
                | b"UT"
                | b"UN"
                | b"UC"
                | b"UR"
                | b"OD"
                | b"OL"
                | b"OV"
                | b"SV"
                | b"UV"
        );
        let len = if long {
            let mut bytes = [0u8; 6];
            file.read_exact(&mut bytes).map_err(|e| malformed(&e))?;
            u64::from(u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]))
        } else {
            let mut bytes = [0u8; 2];
            file.read_exact(&mut bytes).map_err(|e| malformed(&e))?;
            u64::from(u16::from_le_bytes(bytes))
        };
        if len > size {
            return Err(LengthError::TooLong("a file meta element", len));
        }
        let mut value = vec![0u8; len as usize];
        file.read_exact(&mut value).map_err(|e| malformed(&e))?;
        if element == 0x0010 {
            let text = String::from_utf8_lossy(&value);
            transfer_syntax = Some(text.trim_end_matches(['\0', ' ']).to_owned());
        }
    }
    transfer_syntax
        .ok_or_else(|| LengthError::Malformed("no transfer syntax in the file meta group".into()))
}
