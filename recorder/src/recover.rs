//! What a recording cut off by a crash left on disk, made whole: each file
//! is cut back to its last complete frame (IVF) or page (Ogg), the IVF
//! header gets its frame count and size, and the file is synced. A file
//! with nothing complete in it is removed, so no file is left unlisted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{MediaKind, RecordedFile};

/// Every file of a recording directory, each made whole. Files are named
/// `<participant>-<connection>-<kind>.<ext>`; others are left alone.
pub fn recover(dir: &Path) -> std::io::Result<Vec<RecordedFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let Some((participant, kind)) = parse_name(&path) else {
            continue;
        };
        let measured = match kind {
            MediaKind::Video => repair_ivf(&path)?,
            MediaKind::Audio => repair_ogg(&path)?,
        };
        match measured {
            Some((frames, duration_ms, bytes)) => files.push(RecordedFile {
                participant,
                kind,
                path,
                bytes,
                frames,
                duration_ms,
            }),
            None => std::fs::remove_file(&path)?,
        }
    }
    if let Ok(dir) = File::open(dir) {
        dir.sync_all()?;
    }
    Ok(files)
}

fn parse_name(path: &Path) -> Option<(String, MediaKind)> {
    let stem = path.file_stem()?.to_str()?;
    let ext = path.extension()?.to_str()?;
    let (rest, kind) = stem.rsplit_once('-')?;
    let (participant, connection) = rest.rsplit_once('-')?;
    connection.parse::<u32>().ok()?;
    let kind = match (kind, ext) {
        ("video", "ivf") => MediaKind::Video,
        ("audio", "ogg") => MediaKind::Audio,
        _ => return None,
    };
    Some((participant.to_owned(), kind))
}

/// (frames, duration in ms, bytes kept), or `None` if no frame is whole.
fn repair_ivf(path: &Path) -> std::io::Result<Option<(u64, u64, u64)>> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    if bytes.len() < 32 || &bytes[0..4] != b"DKIF" {
        return Ok(None);
    }
    let mut at = 32;
    let mut frames = 0u32;
    let mut last_pts = 0u64;
    let mut size = None;
    while at + 12 <= bytes.len() {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let end = at + 12 + len as usize;
        if end > bytes.len() {
            break;
        }
        let mut pts = [0u8; 8];
        pts.copy_from_slice(&bytes[at + 4..at + 12]);
        last_pts = u64::from_le_bytes(pts);
        let frame = &bytes[at + 12..end];
        if size.is_none() && frame.first().is_some_and(|b| b & 0x01 == 0) {
            size = crate::ivf::key_frame_size(frame);
        }
        frames += 1;
        at = end;
    }
    if frames == 0 {
        return Ok(None);
    }
    file.set_len(at as u64)?;
    let (width, height) = size.unwrap_or((0, 0));
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&crate::ivf::header(width, height, frames))?;
    file.sync_all()?;
    Ok(Some((
        u64::from(frames),
        last_pts * 1000 / u64::from(crate::ivf::CLOCK_RATE),
        at as u64,
    )))
}

/// (audio packets, duration in ms, bytes kept), or `None` if no audio page
/// is whole. The writer puts one packet in a page, after two header pages.
fn repair_ogg(path: &Path) -> std::io::Result<Option<(u64, u64, u64)>> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let mut at = 0;
    let mut pages = 0u64;
    let mut first_granule = None;
    let mut last_granule = 0u64;
    while at + 27 <= bytes.len() && &bytes[at..at + 4] == b"OggS" {
        let segments = bytes[at + 26] as usize;
        let table_end = at + 27 + segments;
        if table_end > bytes.len() {
            break;
        }
        let body: usize = bytes[at + 27..table_end].iter().map(|&b| b as usize).sum();
        let end = table_end + body;
        if end > bytes.len() {
            break;
        }
        let mut granule = [0u8; 8];
        granule.copy_from_slice(&bytes[at + 6..at + 14]);
        let granule = u64::from_le_bytes(granule);
        pages += 1;
        if pages > 2 {
            first_granule.get_or_insert(granule);
            last_granule = granule;
        }
        at = end;
    }
    let packets = pages.saturating_sub(2);
    if packets == 0 {
        return Ok(None);
    }
    file.set_len(at as u64)?;
    file.sync_all()?;
    let ticks = last_granule.saturating_sub(first_granule.unwrap_or(last_granule));
    Ok(Some((packets, ticks * 1000 / 48_000, at as u64)))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use bytes::Bytes;
    use rtc::media::io::ogg_writer::OggWriter;
    use rtc::media::io::Writer as _;
    use rtc::rtp::header::Header;
    use rtc::rtp::Packet;

    use super::*;
    use crate::ivf::Vp8Ivf;

    fn vp8(seq: u16, ts: u32, body: &[u8]) -> Packet {
        let mut payload = vec![0x10];
        payload.extend_from_slice(body);
        Packet {
            header: Header {
                sequence_number: seq,
                timestamp: ts,
                marker: true,
                ..Header::default()
            },
            payload: Bytes::from(payload),
        }
    }

    fn opus(seq: u16, ts: u32) -> Packet {
        Packet {
            header: Header {
                sequence_number: seq,
                timestamp: ts,
                ..Header::default()
            },
            payload: Bytes::from_static(&[0xfc, 0x01, 0x02]),
        }
    }

    #[test]
    fn a_cut_off_recording_is_trimmed_to_whole_frames_and_measured() {
        let dir = tempfile::tempdir().expect("a directory");
        // Video: a key frame and 30 more, 1/30 s apart, then cut mid-frame
        // before the header's count was ever written.
        let mut ivf = Vp8Ivf::new(Cursor::new(Vec::new())).expect("a header");
        let mut key = vec![0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a];
        key.extend_from_slice(&320u16.to_le_bytes());
        key.extend_from_slice(&240u16.to_le_bytes());
        ivf.push(&vp8(1, 0, &key)).expect("io");
        for i in 1..=30u16 {
            ivf.push(&vp8(1 + i, u32::from(i) * 3000, &[0x01, 0x02, 0x03, 0x04]))
                .expect("io");
        }
        let mut video = ivf.finish().expect("bytes").into_inner();
        video[24..28].copy_from_slice(&0u32.to_le_bytes());
        video.truncate(video.len() - 2);
        std::fs::write(dir.path().join("7-1-video.ivf"), &video).expect("written");

        // Audio: 50 packets of 20 ms, the last page cut short.
        let audio_path = dir.path().join("7-1-audio.ogg");
        let mut ogg =
            OggWriter::new(File::create(&audio_path).expect("a file"), 48_000, 2).expect("headers");
        for i in 0..50u16 {
            ogg.write_rtp(&opus(i, u32::from(i) * 960)).expect("io");
        }
        drop(ogg);
        let audio = std::fs::read(&audio_path).expect("written");
        std::fs::write(&audio_path, &audio[..audio.len() - 3]).expect("cut");

        // Nothing whole: removed. Not a recording's name: left alone.
        std::fs::write(dir.path().join("8-2-video.ivf"), b"DKIF").expect("written");
        std::fs::write(dir.path().join("notes.txt"), b"x").expect("written");

        let files = recover(dir.path()).expect("recovered");
        assert_eq!(files.len(), 2, "{files:?}");
        let audio = &files[0];
        assert_eq!(audio.kind, MediaKind::Audio);
        assert_eq!(audio.participant, "7");
        assert_eq!(audio.frames, 49, "the cut page is gone");
        assert_eq!(audio.duration_ms, 48 * 20);
        let video = &files[1];
        assert_eq!(video.kind, MediaKind::Video);
        assert_eq!(video.frames, 30, "the cut frame is gone");
        assert_eq!(video.duration_ms, 29 * 1000 / 30);
        let bytes = std::fs::read(&video.path).expect("the file");
        assert_eq!(bytes.len() as u64, video.bytes);
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().expect("4")), 30);
        assert_eq!(u16::from_le_bytes([bytes[12], bytes[13]]), 320);
        assert!(!dir.path().join("8-2-video.ivf").exists());
        assert!(dir.path().join("notes.txt").exists());
    }
}
