//! A cheap first look at an instance before any parser builds values from it:
//! every length it declares must fit in the file.
//!
//! dicom-rs allocates (and zero-fills) a value's declared length before
//! reading it, so a few hostile bytes declaring a 4 GB element would make the
//! server allocate 4 GB. This walk reads only headers: the file meta group by
//! hand (its encoding is fixed, explicit VR little endian), the data set with
//! dicom-parser's lazy reader, skipping every value, or, for the common case
//! of an explicit VR little endian data set in memory, over its bytes
//! (`flat`).
//!
//! It also bounds how deeply sequences nest ([`MAX_SEQUENCE_DEPTH`]). The
//! collector that reads an instance afterwards, and the JSON metadata writer
//! after it, recurse once per level: a few kilobytes of nested empty
//! sequences would overflow any thread's stack, and a stack overflow aborts
//! the whole process (`catch_unwind` cannot stop it). These walks keep their
//! own stack on the heap, so they can count the levels of any input.

mod flat;

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use dicom_core::{Tag, VR};
use dicom_encoding::TransferSyntaxIndex;
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_parser::dataset::LazyDataToken;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// The deepest nesting of sequences accepted. A real instance's deepest
/// nesting, a structured report's content tree, is a fraction of it; the
/// parsers' recursion at this depth needs less than a quarter of a thread's
/// 2 MiB stack, even in a debug build (a test in `validate` checks).
pub const MAX_SEQUENCE_DEPTH: usize = 32;

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

/// How [`check_bytes`] walked an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Over its bytes: every value fits, native Pixel Data included, so a
    /// reader need not walk the pixel data again to find it whole.
    Plain {
        /// Whether the data set holds Pixel Data of its own (an image rather
        /// than, say, a structured report or a waveform).
        pixel_data: bool,
    },
    /// With the lazy reader, which checks headers only: pixel data
    /// fragments are still to be read to be known whole.
    Walked,
}

/// As [`check`], for a Part 10 file held in memory.
pub fn check_bytes(data: &[u8]) -> Result<Framing, LengthError> {
    let size = data.len() as u64;
    let mut file = Cursor::new(data);
    let transfer_syntax = file_meta(&mut file, size)?;
    let rest = usize::try_from(file.position())
        .ok()
        .and_then(|at| data.get(at..));
    if let Some(rest) = rest {
        if transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN {
            if let Some(pixel_data) = flat::plainly_framed(rest) {
                return Ok(Framing::Plain { pixel_data });
            }
        }
    }
    data_set(file, size, &transfer_syntax)?;
    Ok(Framing::Walked)
}

/// As [`check_bytes`], for a bare data set in `transfer_syntax` (no preamble,
/// no file meta group): a DIMSE identifier as it arrived on its presentation
/// context.
pub fn check_data_set(data: &[u8], transfer_syntax: &str) -> Result<(), LengthError> {
    if transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN && flat::plainly_framed(data).is_some() {
        return Ok(());
    }
    data_set(Cursor::new(data), data.len() as u64, transfer_syntax)
}

const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";

fn check_reader<R: Read + Seek>(mut file: R, size: u64) -> Result<(), LengthError> {
    let transfer_syntax = file_meta(&mut file, size)?;
    data_set(file, size, &transfer_syntax)
}

/// Reads the preamble and the file meta group, and returns the Transfer
/// Syntax UID. Leaves `file` at the data set.
fn file_meta<R: Read + Seek>(file: &mut R, size: u64) -> Result<String, LengthError> {
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
    meta_group(file, size)
}

/// Walks the data set with dicom-parser's lazy reader.
fn data_set<R: Read + Seek>(file: R, size: u64, transfer_syntax: &str) -> Result<(), LengthError> {
    // The lazy reader has assertions that malformed input reaches (an item
    // header where no sequence is open); such a data set is malformed, and
    // the walk's state is dropped with the panic.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        walk(file, size, transfer_syntax)
    }))
    .unwrap_or_else(|_| {
        Err(LengthError::Malformed(
            "the data set's structure cannot be followed".into(),
        ))
    })
}

fn walk<R: Read + Seek>(file: R, size: u64, transfer_syntax: &str) -> Result<(), LengthError> {
    let malformed = |e: &dyn std::fmt::Display| LengthError::Malformed(e.to_string());
    let ts = TransferSyntaxRegistry.get(transfer_syntax).ok_or_else(|| {
        LengthError::Malformed(format!("unknown transfer syntax {transfer_syntax}"))
    })?;
    // Explicit VR, read as it is stored (not deflated): element headers
    // carry their VR bytes, and a damaged one must be refused here. The
    // parser reads an unknown VR as UN with a 32-bit length, while the
    // collector that reads the instance afterwards frames it another way,
    // and finds lengths this walk never saw.
    let explicit = matches!(ts.uid(), EXPLICIT_VR_LITTLE_ENDIAN | "1.2.840.10008.1.2.2")
        || ts.is_encapsulated_pixel_data();
    let last = Rc::new(Cell::new([0u8; 12]));
    let tail = Tail {
        inner: file,
        last: Rc::clone(&last),
    };
    let mut tokens = LazyDataSetReader::new_with_ts(tail, ts).map_err(|e| malformed(&e))?;
    // Sequences open around the current token. Encapsulated pixel data ends
    // with a sequence end of its own but nests nothing (its items are
    // fragments), so it is not a level.
    let mut depth = 0usize;
    let mut in_pixel_data = false;
    while let Some(token) = tokens.advance() {
        let token = token.map_err(|e| malformed(&e))?;
        match &token {
            LazyDataToken::SequenceStart { tag, .. } => {
                depth += 1;
                if depth > MAX_SEQUENCE_DEPTH {
                    return Err(LengthError::Malformed(format!(
                        "the sequence {tag} is nested {depth} levels deep, more than the \
                         {MAX_SEQUENCE_DEPTH} accepted"
                    )));
                }
            }
            LazyDataToken::PixelSequenceStart => in_pixel_data = true,
            LazyDataToken::SequenceEnd if in_pixel_data => in_pixel_data = false,
            LazyDataToken::SequenceEnd => depth = depth.saturating_sub(1),
            LazyDataToken::LazyValue { header, .. } if u64::from(header.len.0) > size => {
                return Err(LengthError::TooLong("an element", u64::from(header.len.0)));
            }
            // The value is not read yet: the last 12 bytes are still its
            // header (tag, VR, reserved, length).
            LazyDataToken::LazyValue { header, .. }
                if explicit && header.vr == VR::UN && last.get()[4..6] != *b"UN" =>
            {
                return Err(LengthError::Malformed(format!(
                    "the element {} has no valid VR",
                    header.tag
                )));
            }
            // The parser reads such a value as whole numbers of its size and
            // then counts the declared length as read: a remainder shifts
            // every element after it, and the collector meets lengths this
            // walk never saw.
            LazyDataToken::LazyValue { header, .. }
                if header.tag != PIXEL_DATA && header.len.0 % value_size(header.vr) != 0 =>
            {
                return Err(LengthError::Malformed(format!(
                    "the element {} is {} bytes long, not a multiple of {} as its VR {} requires",
                    header.tag,
                    header.len.0,
                    value_size(header.vr),
                    header.vr
                )));
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

/// The size of one value of a binary VR, 1 for every other VR. A defined
/// length is never 0xFFFF_FFFF here: the lazy reader turns that into a
/// sequence or pixel sequence, so the modulo sees real lengths only.
fn value_size(vr: VR) -> u32 {
    match vr {
        VR::US | VR::SS | VR::OW => 2,
        VR::UL | VR::SL | VR::FL | VR::OF | VR::OL | VR::AT => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 1,
    }
}

/// A reader that remembers the last 12 bytes it gave out.
struct Tail<R> {
    inner: R,
    last: Rc<Cell<[u8; 12]>>,
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut last = self.last.get();
        if n >= last.len() {
            last.copy_from_slice(&buf[n - 12..n]);
        } else {
            last.rotate_left(n);
            last[12 - n..].copy_from_slice(&buf[..n]);
        }
        self.last.set(last);
        Ok(n)
    }
}

impl<R: Seek> Seek for Tail<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

/// Walks the file meta group (explicit VR little endian), checking its
/// lengths, and returns its Transfer Syntax UID. Leaves `file` at the data set.
fn meta_group<R: Read + Seek>(file: &mut R, size: u64) -> Result<String, LengthError> {
    let malformed = |e: &dyn std::fmt::Display| LengthError::Malformed(e.to_string());
    let start = file.stream_position().map_err(|e| malformed(&e))?;
    let mut transfer_syntax = None;
    // dicom-rs reads the group as far as its group length (0002,0000) says,
    // taking in whatever elements stand there, of group 0002 or not, and
    // starts the data set after them. The walk must start it at the same
    // byte, or the collector reads lengths this walk never saw.
    let mut group_end = None;
    loop {
        let mut tag = [0u8; 6];
        let at = file.stream_position().map_err(|e| malformed(&e))?;
        if group_end.is_some_and(|end| at >= end) {
            break;
        }
        if file.read_exact(&mut tag).is_err() {
            if group_end.is_some() {
                return Err(LengthError::Malformed(
                    "the file meta group ends before its group length".into(),
                ));
            }
            break;
        }
        let group = u16::from_le_bytes([tag[0], tag[1]]);
        if group_end.is_none() && group != 0x0002 {
            file.seek(SeekFrom::Start(at)).map_err(|e| malformed(&e))?;
            break;
        }
        let element = u16::from_le_bytes([tag[2], tag[3]]);
        // As dicom-rs decodes it (PS3.5 7.1.2): these VRs have a 16-bit
        // length; every other one, an unknown VR included, is read as UN with
        // a 32-bit length, which a damaged VR can make gigabytes long.
        let short = matches!(
            &tag[4..6],
            b"AE"
                | b"AS"
                | b"AT"
                | b"CS"
                | b"DA"
                | b"DS"
                | b"DT"
                | b"FL"
                | b"FD"
                | b"IS"
                | b"LO"
                | b"LT"
                | b"PN"
                | b"SH"
                | b"SL"
                | b"SS"
                | b"ST"
                | b"TM"
                | b"UI"
                | b"UL"
                | b"US"
        );
        let long = !short;
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
        if group == 0x0002 && element == 0x0000 && at == start && len == 4 {
            let group_length = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
            let after = file.stream_position().map_err(|e| malformed(&e))?;
            group_end = Some(after + u64::from(group_length));
        }
        if group == 0x0002 && element == 0x0010 {
            let text = String::from_utf8_lossy(&value);
            transfer_syntax = Some(text.trim_end_matches(['\0', ' ']).to_owned());
        }
    }
    transfer_syntax
        .ok_or_else(|| LengthError::Malformed("no transfer syntax in the file meta group".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{nested_instance, nested_sequences};

    /// A Part 10 header whose meta group holds the given elements.
    fn part10(meta: &[u8]) -> Vec<u8> {
        let mut file = vec![0u8; 128];
        file.extend_from_slice(b"DICM");
        let ts = b"1.2.840.10008.1.2.1\0";
        file.extend_from_slice(&[0x02, 0x00, 0x10, 0x00]);
        file.extend_from_slice(b"UI");
        file.extend_from_slice(&(ts.len() as u16).to_le_bytes());
        file.extend_from_slice(ts);
        file.extend_from_slice(meta);
        file
    }

    #[test]
    fn an_unknown_vr_in_the_meta_group_has_a_32_bit_length_as_dicom_rs_reads_it() {
        // (0002,0012) with the VR "U\0": read as UN, its length is the four
        // bytes after two reserved ones, here 3.7 GB in a file of 180 bytes.
        let mut meta = vec![0x02, 0x00, 0x12, 0x00, b'U', 0x00, 0x00, 0x00];
        meta.extend_from_slice(&0xE000_FFFEu32.to_le_bytes());
        meta.extend_from_slice(&[0u8; 16]);
        match check_bytes(&part10(&meta)) {
            Err(LengthError::TooLong(_, len)) => assert_eq!(len, 0xE000_FFFE),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_short_vr_keeps_its_16_bit_length() {
        let uid = b"1.2.3.4\0";
        let mut meta = vec![0x02, 0x00, 0x12, 0x00, b'U', b'I'];
        meta.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        meta.extend_from_slice(uid);
        // The data set: (0008,0018) UI, nothing more.
        meta.extend_from_slice(&[0x08, 0x00, 0x18, 0x00, b'U', b'I']);
        meta.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        meta.extend_from_slice(uid);
        check_bytes(&part10(&meta)).expect("well formed");
    }

    #[test]
    fn an_element_with_a_damaged_vr_is_refused() {
        let uid = b"1.2.3.4\0";
        let mut meta = vec![0x02, 0x00, 0x12, 0x00, b'U', b'I'];
        meta.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        meta.extend_from_slice(uid);
        // (0010,1020) with the VR bytes "D\xa9", which the parser would read
        // as UN and take the next six bytes for a 32-bit length.
        meta.extend_from_slice(&[0x10, 0x00, 0x20, 0x10, b'D', 0xa9, b'S', 0x00]);
        meta.extend_from_slice(&4u32.to_le_bytes());
        meta.extend_from_slice(b"80.0");
        match check_bytes(&part10(&meta)) {
            Err(LengthError::Malformed(message)) => {
                assert!(message.contains("(0010,1020)"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        // A real UN is read as one.
        let mut meta = vec![0x02, 0x00, 0x12, 0x00, b'U', b'I'];
        meta.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        meta.extend_from_slice(uid);
        meta.extend_from_slice(&[0x11, 0x00, 0x10, 0x00, b'U', b'N', 0x00, 0x00]);
        meta.extend_from_slice(&4u32.to_le_bytes());
        meta.extend_from_slice(b"abcd");
        check_bytes(&part10(&meta)).expect("well formed");
    }

    #[test]
    fn a_binary_value_that_is_not_whole_values_is_refused() {
        let uid = b"1.2.3.4\0";
        let with_group_length = |len: u16| {
            let mut meta = vec![0x02, 0x00, 0x12, 0x00, b'U', b'I'];
            meta.extend_from_slice(&(uid.len() as u16).to_le_bytes());
            meta.extend_from_slice(uid);
            // (0010,0000) UL, the group length, with `len` bytes of value.
            meta.extend_from_slice(&[0x10, 0x00, 0x00, 0x00, b'U', b'L']);
            meta.extend_from_slice(&len.to_le_bytes());
            meta.extend_from_slice(&vec![0u8; usize::from(len)]);
            meta
        };
        match check_bytes(&part10(&with_group_length(2))) {
            Err(LengthError::Malformed(message)) => {
                assert!(message.contains("(0010,0000)"), "{message}");
                assert!(message.contains("multiple of 4"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        check_bytes(&part10(&with_group_length(4))).expect("well formed");
    }

    const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";

    fn refused_as_too_deep(checked: Result<impl std::fmt::Debug, LengthError>, what: &str) {
        match checked {
            Err(LengthError::Malformed(message)) => {
                assert!(message.contains("33 levels deep"), "{what}: {message}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }

    #[test]
    fn sequences_nested_32_deep_pass_and_33_deep_are_refused_by_both_walks() {
        for undefined in [true, false] {
            let what = |depth| format!("{depth} deep, undefined lengths: {undefined}");
            let deepest = nested_sequences(MAX_SEQUENCE_DEPTH, undefined);
            let deeper = nested_sequences(MAX_SEQUENCE_DEPTH + 1, undefined);
            // Over the bytes: the deepest is plain, one more is left to the
            // lazy reader's walk.
            assert_eq!(flat::plainly_framed(&deepest), Some(false), "{}", what(32));
            assert_eq!(flat::plainly_framed(&deeper), None, "{}", what(33));
            // With the lazy reader.
            let lazy = |data: &[u8]| {
                data_set(
                    Cursor::new(data),
                    data.len() as u64,
                    EXPLICIT_VR_LITTLE_ENDIAN,
                )
            };
            lazy(&deepest).expect("32 levels are accepted");
            refused_as_too_deep(lazy(&deeper), &what(33));
            // Through the entry point for bare data sets.
            check_data_set(&deepest, EXPLICIT_VR_LITTLE_ENDIAN).expect("32 levels");
            refused_as_too_deep(
                check_data_set(&deeper, EXPLICIT_VR_LITTLE_ENDIAN),
                &what(33),
            );
        }
        // Part 10 files, in memory and on disk.
        let dir = tempfile::tempdir().expect("a temporary directory");
        for depth in [MAX_SEQUENCE_DEPTH, MAX_SEQUENCE_DEPTH + 1, 1000, 50_000] {
            let file = nested_instance(depth);
            let path = dir.path().join(format!("{depth}.dcm"));
            std::fs::write(&path, &file).expect("written");
            if depth == MAX_SEQUENCE_DEPTH {
                assert_eq!(
                    check_bytes(&file).expect("32 levels"),
                    Framing::Plain { pixel_data: false }
                );
                check(&path).expect("32 levels");
            } else {
                refused_as_too_deep(check_bytes(&file), &format!("{depth} deep in memory"));
                refused_as_too_deep(check(&path), &format!("{depth} deep on disk"));
            }
        }
    }

    #[test]
    fn implicit_vr_sequences_are_counted_too() {
        // (0040,A730) with an undefined length, in implicit VR: a tag and a
        // length, no VR.
        let nested = |depth: usize| {
            let mut data = Vec::new();
            for _ in 0..depth {
                data.extend_from_slice(&[0x40, 0x00, 0x30, 0xA7, 0xFF, 0xFF, 0xFF, 0xFF]);
                data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
            }
            for _ in 0..depth {
                data.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
                data.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
            }
            data
        };
        check_data_set(&nested(MAX_SEQUENCE_DEPTH), IMPLICIT_VR_LITTLE_ENDIAN).expect("32 levels");
        refused_as_too_deep(
            check_data_set(&nested(MAX_SEQUENCE_DEPTH + 1), IMPLICIT_VR_LITTLE_ENDIAN),
            "implicit VR",
        );
    }

    #[test]
    fn encapsulated_pixel_data_in_each_item_does_not_hide_a_level() {
        // Its end is a sequence end too: if it took a level away without
        // having added one, one such element per item would cancel out every
        // sequence around it.
        let mut pixel_data = vec![
            0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        pixel_data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        pixel_data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 2, 0, 0, 0, 0xAB, 0xCD]);
        pixel_data.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let nested = |depth: usize| {
            let mut data = Vec::new();
            for _ in 0..depth {
                data.extend_from_slice(&[0x40, 0x00, 0x30, 0xA7, b'S', b'Q', 0, 0]);
                data.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
                data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
                data.extend_from_slice(&pixel_data);
            }
            for _ in 0..depth {
                data.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
                data.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
            }
            data
        };
        check_data_set(&nested(MAX_SEQUENCE_DEPTH), EXPLICIT_VR_LITTLE_ENDIAN).expect("32 levels");
        refused_as_too_deep(
            check_data_set(&nested(MAX_SEQUENCE_DEPTH + 1), EXPLICIT_VR_LITTLE_ENDIAN),
            "with pixel data in each item",
        );
    }

    /// The peak resident size of this process (`VmHWM`).
    fn peak_rss() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("our status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .expect("a VmHWM line")
            * 1024
    }

    #[test]
    fn a_34_byte_identifier_declaring_4_gb_is_refused_without_allocating() {
        // Query/Retrieve Level, then (0040,A160) Text Value, UT: a 32-bit
        // length, here 4 GB, and 8 bytes of it.
        let mut explicit = vec![0x08, 0x00, 0x52, 0x00, b'C', b'S', 6, 0];
        explicit.extend_from_slice(b"STUDY ");
        explicit.extend_from_slice(&[0x40, 0x00, 0x60, 0xA1, b'U', b'T', 0, 0]);
        explicit.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        explicit.extend_from_slice(b"hostile!");
        assert_eq!(explicit.len(), 34);
        // The same in implicit VR: tags and 32-bit lengths.
        let mut implicit = vec![0x08, 0x00, 0x52, 0x00, 6, 0, 0, 0];
        implicit.extend_from_slice(b"STUDY ");
        implicit.extend_from_slice(&[0x40, 0x00, 0x60, 0xA1]);
        implicit.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        implicit.extend_from_slice(b"hostile!");
        let before = peak_rss();
        for (data, ts) in [
            (&explicit, EXPLICIT_VR_LITTLE_ENDIAN),
            (&implicit, IMPLICIT_VR_LITTLE_ENDIAN),
        ] {
            match check_data_set(data, ts) {
                Err(LengthError::TooLong(_, len)) => assert_eq!(len, 0xFFFF_FFF0, "{ts}"),
                other => panic!("{ts}: {other:?}"),
            }
        }
        // Reading it would have zero-filled 4 GB; other tests of this
        // process may grow it a little meanwhile, never by that much.
        let grown = peak_rss() - before;
        assert!(grown < 256 * 1024 * 1024, "grew by {grown} bytes");
    }

    #[test]
    fn an_item_where_no_sequence_is_open_is_refused_not_a_panic() {
        // An item delimiter, then an item, at the top of the data set: the
        // lazy reader asserts that an item is inside a sequence.
        let mut data = vec![0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0];
        data.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        for ts in [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN] {
            assert!(
                matches!(check_data_set(&data, ts), Err(LengthError::Malformed(_))),
                "{ts}"
            );
        }
    }

    #[test]
    fn the_fuzz_inputs_that_once_made_the_collector_reserve_gigabytes_are_refused() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("the regressions folder") {
            let path = entry.expect("an entry").path();
            assert!(check(&path).is_err(), "{} passes the check", path.display());
            let bytes = std::fs::read(&path).expect("a regression file");
            assert!(
                check_bytes(&bytes).is_err(),
                "{} passes the check in memory",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 3);
    }
}
