//! One frame of a stored instance, read from its file without the others,
//! for rendering: the data set up to the pixel data is parsed, the image's
//! declared geometry is there to be judged before anything large is read,
//! and then only the frame asked for is read.
//!
//! Native pixel data is a byte range of the file: the frame is read with one
//! seek. Encapsulated pixel data is read fragment by fragment (one fragment
//! held at a time) up to the frame's, which the basic offset table or one
//! fragment per frame tells apart. Either way a thumbnail of a 200 MB
//! multi-frame instance reads one frame's bytes, not 200 MB.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DicomCollector, DicomCollectorOptions, FileDicomObject, InMemDicomObject};

use crate::pixels::FrameError;
use crate::validate::is_native;

/// The read buffer of the collector; the pixel data header is found within
/// this many bytes before what was read from the file.
const BUFFER_BYTES: usize = 16 * 1024;

/// An image's size as its header declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Rows (0028,0010).
    pub rows: u64,
    /// Columns (0028,0011).
    pub columns: u64,
    /// Number of Frames (0028,0008), 1 when absent.
    pub frames: u64,
    /// Samples per Pixel (0028,0002), 1 when absent.
    pub samples: u64,
    /// Bits Allocated (0028,0100), 8 when absent.
    pub bits_allocated: u64,
}

impl Geometry {
    /// The geometry a data set declares.
    pub fn of(dataset: &InMemDicomObject) -> Self {
        let int = |tag| -> Option<u64> {
            dataset
                .get(tag)
                .and_then(|e| e.to_str().ok())
                .and_then(|s| s.split('\\').next()?.trim().parse().ok())
        };
        Geometry {
            rows: int(tags::ROWS).unwrap_or(0),
            columns: int(tags::COLUMNS).unwrap_or(0),
            frames: int(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1),
            samples: int(tags::SAMPLES_PER_PIXEL).unwrap_or(1).max(1),
            bits_allocated: int(tags::BITS_ALLOCATED).unwrap_or(8),
        }
    }

    /// Samples in one frame: rows × columns × samples per pixel.
    pub fn frame_samples(&self) -> u64 {
        self.rows
            .saturating_mul(self.columns)
            .saturating_mul(self.samples)
    }

    /// Samples in the whole image: [`frame_samples`](Self::frame_samples) × frames.
    pub fn total_samples(&self) -> u64 {
        self.frame_samples().saturating_mul(self.frames)
    }

    /// Bytes of one native frame, when frames start on byte boundaries.
    fn frame_bytes(&self) -> Option<u64> {
        (self.bits_allocated.is_multiple_of(8) && self.bits_allocated > 0)
            .then(|| self.frame_samples().saturating_mul(self.bits_allocated / 8))
    }
}

/// A reader that counts what it has read, so that where the parser stands
/// in the file is known although the parser does not say.
struct Counting<S> {
    file: S,
    position: Arc<AtomicU64>,
}

impl<S: Read> Read for Counting<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.position.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<S: Seek> Seek for Counting<S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let at = self.file.seek(to)?;
        self.position.store(at, Ordering::Relaxed);
        Ok(at)
    }
}

/// A stored instance opened for one of its frames: its header is read,
/// its pixel data is not yet.
pub struct FrameFile<S> {
    /// A second reader of the same bytes, to seek to the frame with.
    again: S,
    collector: DicomCollector<BufReader<Counting<S>>>,
    position: Arc<AtomicU64>,
    meta: dicom_object::FileMetaTable,
    transfer_syntax: String,
    dataset: InMemDicomObject,
}

impl FrameFile<File> {
    /// Opens a stored file. Blocking.
    pub fn open_path(path: &Path) -> Result<Self, FrameError> {
        let unreadable = |e: &dyn std::fmt::Display| FrameError::Unreadable(e.to_string());
        let file = File::open(path).map_err(|e| unreadable(&e))?;
        let again = File::open(path).map_err(|e| unreadable(&e))?;
        Self::open(file, again)
    }
}

impl<S: Read + Seek> FrameFile<S> {
    /// Reads the file meta group and the data set up to the pixel data from
    /// `file`; `again` reads the same bytes. Blocking.
    pub fn open(file: S, again: S) -> Result<Self, FrameError> {
        let unreadable = |e: &dyn std::fmt::Display| FrameError::Unreadable(e.to_string());
        let position = Arc::new(AtomicU64::new(0));
        let reader = Counting {
            file,
            position: Arc::clone(&position),
        };
        let mut collector = DicomCollectorOptions::new()
            .read_preamble(ReadPreamble::Auto)
            .from_reader(BufReader::with_capacity(BUFFER_BYTES, reader));
        let meta = collector
            .read_file_meta()
            .map_err(|e| unreadable(&e))?
            .clone();
        let transfer_syntax = meta.transfer_syntax().trim_end_matches('\0').to_owned();
        let mut dataset = InMemDicomObject::new_empty();
        collector
            .read_dataset_up_to_pixeldata(&mut dataset)
            .map_err(|e| unreadable(&e))?;
        Ok(FrameFile {
            again,
            collector,
            position,
            meta,
            transfer_syntax,
            dataset,
        })
    }

    /// The stored transfer syntax.
    pub fn transfer_syntax(&self) -> &str {
        &self.transfer_syntax
    }

    /// The geometry the header declares.
    pub fn geometry(&self) -> Geometry {
        Geometry::of(&self.dataset)
    }

    /// The instance as an object holding frame `frame` (0-based) only, as
    /// its one frame (Number of Frames 1), for decoding. Blocking.
    pub fn into_frame_object(
        mut self,
        frame: u32,
    ) -> Result<FileDicomObject<InMemDicomObject>, FrameError> {
        let geometry = self.geometry();
        if u64::from(frame) >= geometry.frames {
            return Err(FrameError::NoSuchFrame(frame + 1, geometry.frames as u32));
        }
        let pixel_data = if is_native(&self.transfer_syntax) {
            let wide = geometry.bits_allocated > 8;
            let bytes = self.native_frame(frame, &geometry)?;
            DataElement::new(
                tags::PIXEL_DATA,
                if wide { VR::OW } else { VR::OB },
                PrimitiveValue::from(bytes),
            )
        } else {
            let fragments = self.encapsulated_frame(frame, &geometry)?;
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                Value::from(PixelFragmentSequence::new(Vec::<u32>::new(), fragments)),
            )
        };
        let FrameFile {
            meta, mut dataset, ..
        } = self;
        dataset.put(DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            PrimitiveValue::from("1"),
        ));
        dataset.put(pixel_data);
        Ok(dataset.with_exact_meta(meta))
    }

    /// The bytes of one native frame, read by seeking to it; a syntax or
    /// bit depth where that cannot be done reads the pixel data whole
    /// (the caller has bounded its size by then).
    fn native_frame(&mut self, frame: u32, geometry: &Geometry) -> Result<Vec<u8>, FrameError> {
        let unreadable = |e: &dyn std::fmt::Display| FrameError::Unreadable(e.to_string());
        let layout = match self.transfer_syntax.as_str() {
            "1.2.840.10008.1.2" => Some((false, true)),
            "1.2.840.10008.1.2.1" => Some((true, true)),
            "1.2.840.10008.1.2.2" => Some((true, false)),
            _ => None,
        };
        let frame_bytes = geometry.frame_bytes().filter(|n| *n > 0);
        let (Some((explicit, little)), Some(frame_bytes)) = (layout, frame_bytes) else {
            // Deflated, or bit-packed: one frame cannot be cut out of the file.
            let mut pixels = Vec::new();
            if self
                .collector
                .read_next_fragment(&mut pixels)
                .map_err(|e| unreadable(&e))?
                .is_none()
            {
                return Err(FrameError::NoPixelData);
            }
            if geometry.frames > 1 {
                return Err(FrameError::Unsplittable);
            }
            return Ok(pixels);
        };
        let read_up_to = self.position.load(Ordering::Relaxed);
        let file = &mut self.again;
        let file_len = file.seek(SeekFrom::End(0)).map_err(|e| unreadable(&e))?;
        let (start, length) = find_pixel_data(file, read_up_to, file_len, explicit, little)
            .map_err(|e| unreadable(&e))?
            .ok_or(FrameError::NoPixelData)?;
        let offset = u64::from(frame) * frame_bytes;
        if offset + frame_bytes > length {
            return Err(FrameError::Unreadable(format!(
                "the pixel data holds {length} bytes, short of frame {}",
                frame + 1
            )));
        }
        file.seek(SeekFrom::Start(start + offset))
            .map_err(|e| unreadable(&e))?;
        let mut bytes = vec![0; usize::try_from(frame_bytes).map_err(|e| unreadable(&e))?];
        file.read_exact(&mut bytes).map_err(|e| unreadable(&e))?;
        Ok(bytes)
    }

    /// The fragments of one encapsulated frame: the item headers are walked
    /// in the file, and only the frame's items are read.
    fn encapsulated_frame(
        &mut self,
        frame: u32,
        geometry: &Geometry,
    ) -> Result<Vec<Vec<u8>>, FrameError> {
        let unreadable = |e: &dyn std::fmt::Display| FrameError::Unreadable(e.to_string());
        let read_up_to = self.position.load(Ordering::Relaxed);
        let file = &mut self.again;
        let file_len = file.seek(SeekFrom::End(0)).map_err(|e| unreadable(&e))?;
        let items = pixel_items(file, read_up_to, file_len)
            .map_err(|e| unreadable(&e))?
            .ok_or(FrameError::NoPixelData)?;
        // The first item is the basic offset table.
        let Some((&(table_at, table_len), fragments)) = items.split_first() else {
            return Err(FrameError::NoPixelData);
        };
        let table = read_at(file, table_at, table_len).map_err(|e| unreadable(&e))?;
        let offsets: Vec<u64> = table
            .chunks_exact(4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        let frame = frame as usize;
        let chosen: Vec<(u64, u32)> = if geometry.frames == 1 {
            fragments.to_vec()
        } else if offsets.len() as u64 == geometry.frames {
            // Offsets count from the first fragment's item header; each
            // item has an 8-byte header.
            let (from, to) = (offsets[frame], offsets.get(frame + 1).copied());
            let mut position = 0u64;
            let mut chosen = Vec::new();
            for &(at, len) in fragments {
                if to.is_some_and(|to| position >= to) {
                    break;
                }
                if position >= from {
                    chosen.push((at, len));
                }
                position += 8 + u64::from(len);
            }
            chosen
        } else if fragments.len() as u64 == geometry.frames {
            vec![fragments[frame]]
        } else {
            Vec::new()
        };
        if chosen.is_empty() {
            return Err(FrameError::Unsplittable);
        }
        chosen
            .into_iter()
            .map(|(at, len)| read_at(file, at, len).map_err(|e| unreadable(&e)))
            .collect()
    }
}

fn read_at<S: Read + Seek>(file: &mut S, at: u64, len: u32) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(at))?;
    let mut bytes = vec![0; len as usize];
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The most items of encapsulated pixel data walked: a frame per fragment
/// of the longest cine is far fewer.
const MAX_ITEMS: usize = 1 << 20;

/// The items of encapsulated pixel data, the basic offset table first: where
/// each value starts in the file and its length. The pixel data's header
/// lies in the last buffer's worth of bytes the parser read before stopping
/// at it; the items are walked from there to the sequence delimiter, so
/// elements after the pixel data (trailing padding) are never taken for
/// fragments.
fn pixel_items<S: Read + Seek>(
    file: &mut S,
    read_up_to: u64,
    file_len: u64,
) -> io::Result<Option<Vec<(u64, u32)>>> {
    const ITEM: [u8; 4] = [0xFE, 0xFF, 0x00, 0xE0];
    const END: [u8; 4] = [0xFE, 0xFF, 0xDD, 0xE0];
    let from = read_up_to.saturating_sub(BUFFER_BYTES as u64 + 16);
    let to = (read_up_to + 16).min(file_len);
    let mut window = vec![0; (to - from) as usize];
    file.seek(SeekFrom::Start(from))?;
    file.read_exact(&mut window)?;
    // (7FE0,0010) OB, undefined length, then the first item's tag.
    let start = memchr::memmem::find_iter(&window, &[0xE0, 0x7F, 0x10, 0x00]).find(|&at| {
        window.get(at + 4..at + 16).is_some_and(|h| {
            matches!(&h[..2], b"OB" | b"OW")
                && h[2..4] == [0, 0]
                && h[4..8] == [0xFF; 4]
                && h[8..12] == ITEM
        })
    });
    let Some(start) = start else {
        return Ok(None);
    };
    let mut at = from + start as u64 + 12;
    let mut items = Vec::new();
    let mut header = [0u8; 8];
    while at + 8 <= file_len && items.len() < MAX_ITEMS {
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut header)?;
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if header[..4] == END {
            return Ok(Some(items));
        }
        if header[..4] != ITEM || at + 8 + u64::from(len) > file_len {
            break;
        }
        items.push((at + 8, len));
        at += 8 + u64::from(len);
    }
    Ok(None)
}

/// Where native pixel data's value starts in the file, and its length: its
/// element header lies in the last buffer's worth of bytes the parser read
/// before stopping at it.
fn find_pixel_data<S: Read + Seek>(
    file: &mut S,
    read_up_to: u64,
    file_len: u64,
    explicit: bool,
    little: bool,
) -> io::Result<Option<(u64, u64)>> {
    let from = read_up_to.saturating_sub(BUFFER_BYTES as u64 + 16);
    let to = (read_up_to + 16).min(file_len);
    let mut window = vec![0; (to - from) as usize];
    file.seek(SeekFrom::Start(from))?;
    file.read_exact(&mut window)?;
    let tag: [u8; 4] = if little {
        [0xE0, 0x7F, 0x10, 0x00]
    } else {
        [0x7F, 0xE0, 0x00, 0x10]
    };
    let u32_at = |b: &[u8]| {
        let b = [b[0], b[1], b[2], b[3]];
        u64::from(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let header_len = if explicit { 12 } else { 8 };
    for at in memchr::memmem::find_iter(&window, &tag) {
        let Some(header) = window.get(at..at + header_len) else {
            break;
        };
        let length = if explicit {
            if !matches!(&header[4..6], b"OW" | b"OB" | b"UN") || header[6..8] != [0, 0] {
                continue;
            }
            u32_at(&header[8..12])
        } else {
            u32_at(&header[4..8])
        };
        let start = from + (at + header_len) as u64;
        if length != 0xFFFF_FFFF && start + length <= file_len {
            return Ok(Some((start, length)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::pixels::read_frames;
    use crate::test_support::fixture;

    fn frame_of(file: &[u8], frame: u32) -> Result<Vec<u8>, FrameError> {
        let object =
            FrameFile::open(Cursor::new(file), Cursor::new(file))?.into_frame_object(frame)?;
        let pixels = object.element(tags::PIXEL_DATA).expect("pixel data");
        Ok(match pixels.value() {
            Value::PixelSequence(sequence) => sequence.fragments().concat(),
            other => other.to_bytes().expect("bytes").into_owned(),
        })
    }

    #[test]
    fn the_frame_read_alone_is_the_frame_read_with_the_others() {
        for name in [
            "CT_small.dcm",
            "MR_small.dcm",
            "MR_small_bigendian.dcm",
            "MR_small_implicit.dcm",
            "MR_small_RLE.dcm",
            "SC_rgb_jpeg_dcmtk.dcm",
        ] {
            let file = fixture(name);
            let all = read_frames(&file).expect("frames");
            assert_eq!(frame_of(&file, 0).expect(name), all.frames[0], "{name}");
            assert!(matches!(
                frame_of(&file, 1),
                Err(FrameError::NoSuchFrame(2, 1))
            ));
        }
    }

    #[test]
    fn a_frame_of_a_native_multiframe_instance_is_read_by_itself() {
        let mut object = dicom_object::from_reader(Cursor::new(&fixture("CT_small.dcm")[128..]))
            .expect("the fixture parses");
        let one = object
            .element(tags::PIXEL_DATA)
            .expect("pixel data")
            .to_bytes()
            .expect("bytes")
            .into_owned();
        let frames: Vec<Vec<u8>> = (0..3u8)
            .map(|n| one.iter().map(|b| b.wrapping_add(n)).collect())
            .collect();
        object.put(DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            PrimitiveValue::from("3"),
        ));
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::from(frames.concat()),
        ));
        let mut file = Vec::new();
        object.write_all(&mut file).expect("written");
        for (n, frame) in frames.iter().enumerate() {
            assert_eq!(&frame_of(&file, n as u32).expect("a frame"), frame);
        }
        assert!(matches!(
            frame_of(&file, 3),
            Err(FrameError::NoSuchFrame(4, 3))
        ));
    }
}
