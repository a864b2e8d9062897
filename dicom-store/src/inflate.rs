//! Deflated Explicit VR Little Endian (PS3.5 §A.5) on the way in.
//!
//! A deflated instance is inflated before it is stored, and kept as
//! Explicit VR Little Endian with its file meta group saying so. The data
//! set is the same, byte for byte, as the sender's before it deflated it;
//! only the wrapping is undone. Everything after ingest (the index,
//! metadata, frames, rendering, C-FIND) then reads one encoding, and a
//! viewer asking for frames never meets a compressed stream it did not ask
//! for. Deflate is used for small objects (SR, presentation states,
//! waveforms), so the cost in disk is small.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use dicom_object::meta::FileMetaTable;

use crate::error::IngestError;
use crate::validate::ValidationError;

/// Deflated Explicit VR Little Endian.
pub const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
/// What a deflated instance is kept as.
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// Length of the Part 10 preamble, before `DICM`.
const PREAMBLE: usize = 128;

/// When the Part 10 file `data` (preamble optional) is deflated, the same
/// instance inflated; `None` when it is not deflated. The inflated instance
/// may be at most `limit` bytes: a few kilobytes can inflate to gigabytes.
pub fn inflate_bytes(data: &[u8], limit: u64) -> Result<Option<Vec<u8>>, IngestError> {
    let mut source = BufReader::new(data);
    let Some(meta) = deflated_meta(&mut source) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    write_inflated(meta, source, &mut out, limit)?;
    Ok(Some(out))
}

/// As [`inflate_bytes`], for a file, rewritten in place (through a sibling
/// file, fsynced and renamed over it). True when it was deflated. Every
/// stored instance passes here: one that is not deflated costs the read of
/// its meta group, and no file is created for it.
pub fn inflate_file(path: &Path, limit: u64) -> Result<bool, IngestError> {
    let mut source = BufReader::with_capacity(64 * 1024, std::fs::File::open(path)?);
    let Some(meta) = deflated_meta(&mut source) else {
        return Ok(false);
    };
    let sibling = path.with_extension("inflating");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&sibling)?);
    if let Err(e) = write_inflated(meta, source, &mut out, limit) {
        drop(out);
        let _ = std::fs::remove_file(&sibling);
        return Err(e);
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&sibling, path)?;
    Ok(true)
}

/// The file meta group of `source` when it says the data set is deflated,
/// leaving `source` at the data set; `None` otherwise. Not ours to judge
/// here when there is no meta group: validation says what is wrong with
/// the file.
fn deflated_meta<R: BufRead>(source: &mut R) -> Option<FileMetaTable> {
    crate::validate::read_file_meta(source).filter(|meta| meta.transfer_syntax() == DEFLATED)
}

/// Writes the instance whose deflated data set `source` is at, inflated,
/// to `out`, with `meta` saying Explicit VR Little Endian.
fn write_inflated<R: Read, W: Write>(
    mut meta: FileMetaTable,
    source: R,
    mut out: W,
    limit: u64,
) -> Result<(), IngestError> {
    meta.transfer_syntax = EXPLICIT_LE.to_owned();
    meta.update_information_group_length();
    let mut header = vec![0u8; PREAMBLE];
    header.extend_from_slice(b"DICM");
    meta.write(&mut header)
        .map_err(|e| not_dicom(format!("cannot write the file meta group: {e}")))?;
    out.write_all(&header)?;
    let room = limit.saturating_sub(header.len() as u64);
    let mut inflater = flate2::read::DeflateDecoder::new(source).take(room + 1);
    let copied = std::io::copy(&mut inflater, &mut out).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            not_dicom(format!("the deflated data set cannot be inflated: {e}"))
        }
        _ => IngestError::Io(e),
    })?;
    if copied > room {
        return Err(IngestError::TooLarge { limit });
    }
    out.flush()?;
    Ok(())
}

fn not_dicom(message: String) -> IngestError {
    IngestError::Invalid(ValidationError::NotDicom(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_object::meta::FileMetaTableBuilder;

    fn part10(transfer_syntax: &str, data_set: &[u8]) -> Vec<u8> {
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
            .media_storage_sop_instance_uid("1.2.3.4")
            .transfer_syntax(transfer_syntax)
            .implementation_class_uid("1.2.3")
            .build()
            .expect("a meta group");
        let mut file = vec![0u8; PREAMBLE];
        file.extend_from_slice(b"DICM");
        meta.write(&mut file).expect("written");
        file.extend_from_slice(data_set);
        file
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("deflated");
        encoder.finish().expect("deflated")
    }

    // (0010,0010) PN "DOE^JANE", Explicit VR Little Endian.
    const DATA_SET: &[u8] = b"\x10\x00\x10\x00PN\x08\x00DOE^JANE";

    #[test]
    fn a_deflated_data_set_is_kept_inflated_as_explicit_vr_little_endian() {
        let deflated = part10(DEFLATED, &deflate(DATA_SET));
        let inflated = inflate_bytes(&deflated, 1 << 20)
            .expect("inflated")
            .expect("it was deflated");
        assert_eq!(inflated, part10(EXPLICIT_LE, DATA_SET));
    }

    #[test]
    fn other_transfer_syntaxes_and_non_dicom_are_left_alone() {
        let plain = part10(EXPLICIT_LE, DATA_SET);
        assert_eq!(inflate_bytes(&plain, 1 << 20).expect("read"), None);
        assert_eq!(
            inflate_bytes(&plain[PREAMBLE..], 1 << 20).expect("read"),
            None
        );
        assert_eq!(inflate_bytes(b"not dicom", 1 << 20).expect("read"), None);
    }

    #[test]
    fn a_deflate_bomb_is_refused_at_the_limit() {
        let zeros = vec![0u8; 4 << 20];
        let bomb = part10(DEFLATED, &deflate(&zeros));
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let refused = inflate_bytes(&bomb, 1 << 20).expect_err("too large");
        assert!(matches!(refused, IngestError::TooLarge { .. }), "{refused}");
    }

    #[test]
    fn a_broken_deflate_stream_is_not_dicom() {
        let broken = part10(DEFLATED, b"\xff\xff\xff\xff not deflate");
        let refused = inflate_bytes(&broken, 1 << 20).expect_err("refused");
        assert_eq!(refused.failure_reason(), 0xC000, "{refused}");
    }

    #[test]
    fn a_file_is_rewritten_in_place() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("x.dcm");
        std::fs::write(&path, part10(DEFLATED, &deflate(DATA_SET))).expect("written");
        assert!(inflate_file(&path, 1 << 20).expect("inflated"));
        assert_eq!(
            std::fs::read(&path).expect("read"),
            part10(EXPLICIT_LE, DATA_SET)
        );
        assert!(!inflate_file(&path, 1 << 20).expect("read"));
        assert_eq!(std::fs::read_dir(dir.path()).expect("listed").count(), 1);
    }
}
