//! Frames out of a stored instance's pixel data, as stored: native frames are
//! byte ranges of the pixel data, encapsulated frames are their compressed
//! fragments. Nothing here decodes; a client that wants another encoding gets
//! a 406 from WADO-RS rather than a converted picture.

use std::io::Cursor;

use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DicomCollectorOptions, InMemDicomObject};

use crate::validate::is_native;

/// Why frames could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The instance has no pixel data.
    #[error("the instance has no pixel data")]
    NoPixelData,
    /// A frame number outside `1..=frames`.
    #[error("frame {0} does not exist (the instance has {1})")]
    NoSuchFrame(u32, u32),
    /// Encapsulated pixel data whose fragments cannot be told apart per frame.
    #[error("the fragments of this instance cannot be split into frames")]
    Unsplittable,
    /// The stored file could not be read.
    #[error("the stored instance could not be read: {0}")]
    Unreadable(String),
}

/// The pixel data of an instance, split into frames.
#[derive(Debug)]
pub struct Frames {
    /// The stored transfer syntax.
    pub transfer_syntax: String,
    /// Whether the frames are native (uncompressed) bytes.
    pub native: bool,
    /// Every frame, in order.
    pub frames: Vec<Vec<u8>>,
    /// Bits Allocated of native frames (8 when not given).
    pub bits_allocated: usize,
}

/// Explicit VR Big Endian.
const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

impl Frames {
    /// Native frames of a big-endian instance in little-endian byte order,
    /// which is what DICOMweb means by uncompressed frames when no transfer
    /// syntax is asked for (PS3.18 §8.7.3.3.2): sent as stored, a viewer
    /// draws noise.
    pub fn into_little_endian(mut self) -> Self {
        if self.native && self.transfer_syntax == BIG_ENDIAN {
            let width = self.bits_allocated / 8;
            if width > 1 {
                for frame in &mut self.frames {
                    for word in frame.chunks_exact_mut(width) {
                        word.reverse();
                    }
                }
            }
            self.transfer_syntax = "1.2.840.10008.1.2.1".to_owned();
        }
        self
    }
}

/// A stored instance read by the streaming collector: the file meta group,
/// the data set up to the pixel data, and the pixel data's items (for
/// encapsulated data the first is the basic offset table).
///
/// Every reader of stored instances goes through here rather than through a
/// whole-object parse, which trusts declared lengths and can be made to
/// allocate gigabytes by a few hostile bytes.
pub struct Collected {
    /// The file meta group.
    pub meta: dicom_object::FileMetaTable,
    /// The stored transfer syntax.
    pub transfer_syntax: String,
    /// The data set without its pixel data.
    pub dataset: InMemDicomObject,
    /// The pixel data's items, as stored.
    pub fragments: Vec<Vec<u8>>,
}

/// Reads a Part 10 file with the collector. Blocking.
pub fn collect(data: &[u8]) -> Result<Collected, FrameError> {
    // As at ingest: a parser assertion on a malformed file is a file we
    // cannot read, not a server fault.
    std::panic::catch_unwind(|| collect_checked(data)).unwrap_or_else(|_| {
        Err(FrameError::Unreadable(
            "the DICOM parser could not make sense of this file".into(),
        ))
    })
}

fn collect_checked(data: &[u8]) -> Result<Collected, FrameError> {
    let unreadable = |e: &dyn std::fmt::Display| FrameError::Unreadable(e.to_string());
    let mut collector = DicomCollectorOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .from_reader(std::io::BufReader::new(Cursor::new(data)));
    let meta = collector
        .read_file_meta()
        .map_err(|e| unreadable(&e))?
        .clone();
    let transfer_syntax = meta.transfer_syntax().trim_end_matches('\0').to_owned();
    let mut dataset = InMemDicomObject::new_empty();
    collector
        .read_dataset_up_to_pixeldata(&mut dataset)
        .map_err(|e| unreadable(&e))?;
    let mut fragments = Vec::new();
    let mut buffer = Vec::new();
    while collector
        .read_next_fragment(&mut buffer)
        .map_err(|e| unreadable(&e))?
        .is_some()
    {
        fragments.push(std::mem::take(&mut buffer));
    }
    // The collector goes on reading past the pixel data: elements after it
    // (trailing padding, signatures) come back as further "fragments". Keep
    // only what the pixel data holds.
    if is_native(&transfer_syntax) {
        fragments.truncate(1);
    } else {
        let items = items_in_sequence(data, &fragments);
        fragments.truncate(items);
    }
    Ok(Collected {
        meta,
        transfer_syntax,
        dataset,
        fragments,
    })
}

/// Reads every frame of a Part 10 file. Blocking: call from `spawn_blocking`.
pub fn read_frames(data: &[u8]) -> Result<Frames, FrameError> {
    let Collected {
        transfer_syntax,
        dataset,
        mut fragments,
        ..
    } = collect(data)?;
    let int = |tag| -> Option<usize> {
        dataset
            .get(tag)
            .and_then(|e| e.to_str().ok().and_then(|s| s.trim().parse().ok()))
    };
    let count = int(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
    if fragments.is_empty() {
        return Err(FrameError::NoPixelData);
    }
    let native = is_native(&transfer_syntax);
    let bits_allocated = int(tags::BITS_ALLOCATED).unwrap_or(8);
    let frames = if native {
        let pixels = fragments.concat();
        let rows = int(tags::ROWS).unwrap_or(0);
        let columns = int(tags::COLUMNS).unwrap_or(0);
        let samples = int(tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        let bits = bits_allocated;
        // Bit-packed (1-bit) frames do not start on byte boundaries.
        if bits % 8 != 0 {
            return Err(FrameError::Unsplittable);
        }
        let length = rows
            .checked_mul(columns)
            .and_then(|n| n.checked_mul(samples))
            .and_then(|n| n.checked_mul(bits / 8))
            .unwrap_or(0);
        if length == 0 || length.checked_mul(count).is_none_or(|n| pixels.len() < n) {
            return Err(FrameError::Unsplittable);
        }
        pixels
            .chunks(length)
            .take(count)
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        // The first item is the basic offset table.
        let table = fragments.remove(0);
        split_encapsulated(&table, fragments, count)?
    };
    Ok(Frames {
        transfer_syntax,
        native,
        frames,
        bits_allocated,
    })
}

/// How many of the collected items belong to the encapsulated pixel data:
/// the items are laid out one after another in the file, each behind an
/// (FFFE,E000) header with its length, and the sequence ends with an
/// (FFFE,E0DD) delimiter. Finds the first item by its header and contents,
/// then walks the headers until the delimiter.
fn items_in_sequence(data: &[u8], items: &[Vec<u8>]) -> usize {
    const ITEM: [u8; 4] = [0xFE, 0xFF, 0x00, 0xE0];
    const END: [u8; 4] = [0xFE, 0xFF, 0xDD, 0xE0];
    let Some(first) = items.first() else {
        return 0;
    };
    let mut needle = ITEM.to_vec();
    needle.extend_from_slice(&(first.len() as u32).to_le_bytes());
    needle.extend_from_slice(first);
    let Some(mut at) = data
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
    else {
        return items.len();
    };
    for (n, item) in items.iter().enumerate() {
        match data.get(at..at + 4) {
            Some(tag) if tag == ITEM => at += 8 + item.len(),
            Some(tag) if tag == END => return n,
            _ => return n,
        }
    }
    items.len()
}

/// Groups fragments into frames: one per frame, all in one frame, or by the
/// basic offset table (offsets of each frame's first item, counted from the
/// first fragment's item header, each item having an 8-byte header).
fn split_encapsulated(
    table: &[u8],
    fragments: Vec<Vec<u8>>,
    count: usize,
) -> Result<Vec<Vec<u8>>, FrameError> {
    if fragments.len() == count {
        return Ok(fragments);
    }
    if count == 1 {
        return Ok(vec![fragments.concat()]);
    }
    let offsets: Vec<u64> = table
        .chunks_exact(4)
        .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    if offsets.len() != count {
        return Err(FrameError::Unsplittable);
    }
    let mut frames: Vec<Vec<u8>> = Vec::with_capacity(count);
    let mut position = 0u64;
    let mut next = 0;
    for fragment in fragments {
        if next < count && offsets[next] == position {
            frames.push(Vec::new());
            next += 1;
        }
        position += 8 + fragment.len() as u64;
        frames
            .last_mut()
            .ok_or(FrameError::Unsplittable)?
            .extend_from_slice(&fragment);
    }
    if frames.len() != count {
        return Err(FrameError::Unsplittable);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::split_encapsulated;

    #[test]
    fn fragments_are_grouped_by_the_offset_table() {
        let fragments = vec![vec![1; 4], vec![2; 6], vec![3; 2]];
        // Frame 1 is fragments 1 and 2 (8+4 + 8+6 = 26 bytes), frame 2 starts at 26.
        let table: Vec<u8> = [0u32, 26].iter().flat_map(|o| o.to_le_bytes()).collect();
        let frames = split_encapsulated(&table, fragments, 2).expect("split");
        assert_eq!(frames, vec![[vec![1; 4], vec![2; 6]].concat(), vec![3; 2]]);
    }

    #[test]
    fn one_fragment_per_frame_needs_no_table() {
        let frames = split_encapsulated(&[], vec![vec![1], vec![2]], 2).expect("split");
        assert_eq!(frames, vec![vec![1], vec![2]]);
        assert!(split_encapsulated(&[], vec![vec![1], vec![2], vec![3]], 2).is_err());
    }
}
