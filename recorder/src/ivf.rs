//! VP8 in IVF, with each frame's presentation time taken from its RTP
//! timestamp (90 kHz), so the file plays at the pace the frames were sent
//! whatever the sender's frame rate did. (A frame counter, as simpler
//! writers use, stretches or squeezes a call whose frame rate varied.)
//!
//! Frames are assembled from RTP packets: a frame starts at a partition head
//! and ends at the marker bit. Nothing is written before the first key
//! frame, and a frame that lost a packet is dropped whole, then everything
//! up to the next key frame, since a decoder could not use it: the caller
//! asks the sender for a key frame when [`Vp8Ivf::push`] says so (while it
//! waits for one, every frame that starts says so).

use std::io::{Seek, SeekFrom, Write};

use bytes::BytesMut;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;
use rtc::rtp::Packet;

/// The RTP clock of video, and so the IVF time base.
pub const CLOCK_RATE: u32 = 90_000;
const HEADER_BYTES: u64 = 32;

/// What a packet did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Part of a frame, kept until the frame's last packet comes.
    Buffered,
    /// A frame was written.
    Frame,
    /// A frame was lost, or frames come that cannot be decoded without a
    /// key frame: ask the sender for one.
    NeedKeyFrame,
}

/// Writes one VP8 track to IVF as its RTP packets arrive. Seeks back at
/// [`Vp8Ivf::finish`] to fill in the header's size and frame count.
pub struct Vp8Ivf<W: Write + Seek> {
    out: W,
    frame: Option<BytesMut>,
    frame_start: u32,
    key_frame: bool,
    awaiting_key_frame: bool,
    last_seq: Option<u16>,
    first_ts: Option<u32>,
    /// The RTP timestamp unwrapped past 32 bits, relative to the first frame.
    last_pts: u64,
    last_ts: u32,
    frames: u32,
    size: Option<(u16, u16)>,
}

impl<W: Write + Seek> Vp8Ivf<W> {
    /// Starts a file on `out` with a header to be completed at the end.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        // The size and frame count are known only at the end; `finish` fills them in.
        out.write_all(&header(0, 0, 0))?;
        Ok(Self {
            out,
            frame: None,
            frame_start: 0,
            key_frame: false,
            awaiting_key_frame: true,
            last_seq: None,
            first_ts: None,
            last_pts: 0,
            last_ts: 0,
            frames: 0,
            size: None,
        })
    }

    /// Takes the track's next RTP packet: buffers it, writes the frame it
    /// completes, or drops it and says a key frame is needed.
    pub fn push(&mut self, packet: &Packet) -> std::io::Result<Pushed> {
        let seq = packet.header.sequence_number;
        let gap = self
            .last_seq
            .is_some_and(|last| seq != last.wrapping_add(1));
        self.last_seq = Some(seq);
        // A gap, or a new timestamp before the last frame's marker, means a
        // packet of the frame being assembled is gone.
        let broken = gap || (self.frame.is_some() && packet.header.timestamp != self.frame_start);
        let mut lost = false;
        if broken && self.frame.take().is_some() {
            lost = true;
            self.awaiting_key_frame = true;
        }
        let waiting = if lost {
            Pushed::NeedKeyFrame
        } else {
            Pushed::Buffered
        };
        if packet.payload.is_empty() {
            return Ok(waiting);
        }
        let mut depacketizer = Vp8Packet::default();
        let Ok(payload) = depacketizer.depacketize(&packet.payload) else {
            // Unreadable: the frame it belongs to cannot be whole.
            if self.frame.take().is_some() {
                self.awaiting_key_frame = true;
                return Ok(Pushed::NeedKeyFrame);
            }
            return Ok(waiting);
        };
        if self.frame.is_none() {
            if !depacketizer.is_partition_head(&packet.payload) || payload.is_empty() {
                return Ok(waiting);
            }
            // The first bit of a VP8 frame tag is 0 for a key frame.
            let key = payload[0] & 0x01 == 0;
            if self.awaiting_key_frame && !key {
                // Useless until a key frame comes: ask for one (the sender's
                // own interval between key frames may be minutes).
                return Ok(Pushed::NeedKeyFrame);
            }
            self.key_frame = key;
            self.frame_start = packet.header.timestamp;
            self.frame = Some(BytesMut::new());
        }
        if let Some(frame) = self.frame.as_mut() {
            frame.extend_from_slice(&payload);
        }
        if !packet.header.marker {
            return Ok(waiting);
        }
        let Some(frame) = self.frame.take() else {
            return Ok(Pushed::Buffered);
        };
        self.write_frame(&frame)?;
        Ok(Pushed::Frame)
    }

    fn write_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let ts = self.frame_start;
        let first = *self.first_ts.get_or_insert(ts);
        if self.frames == 0 {
            self.last_ts = first;
        }
        // Wrapping differences keep time moving across the 32-bit wrap; a
        // frame from the past (reordered) keeps the last time.
        let step = ts.wrapping_sub(self.last_ts);
        if step < u32::MAX / 2 {
            self.last_pts += u64::from(step);
            self.last_ts = ts;
        }
        if self.key_frame && self.size.is_none() {
            self.size = key_frame_size(frame);
        }
        self.awaiting_key_frame = false;
        let len = u32::try_from(frame.len()).map_err(std::io::Error::other)?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&self.last_pts.to_le_bytes())?;
        self.out.write_all(frame)?;
        self.frames += 1;
        Ok(())
    }

    /// How many frames are written so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// From the first frame to the last, in RTP clock ticks.
    pub fn duration_ticks(&self) -> u64 {
        self.last_pts
    }

    /// Writes the header's size and frame count and hands back the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        let (width, height) = self.size.unwrap_or((0, 0));
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header(width, height, self.frames))?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

pub(crate) fn header(width: u16, height: u16, frames: u32) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[0..4].copy_from_slice(b"DKIF");
    h[4..6].copy_from_slice(&0u16.to_le_bytes());
    h[6..8].copy_from_slice(&(HEADER_BYTES as u16).to_le_bytes());
    h[8..12].copy_from_slice(b"VP80");
    h[12..14].copy_from_slice(&width.to_le_bytes());
    h[14..16].copy_from_slice(&height.to_le_bytes());
    // Time base 1/90000: the denominator, then the numerator.
    h[16..20].copy_from_slice(&CLOCK_RATE.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[24..28].copy_from_slice(&frames.to_le_bytes());
    h
}

/// Width and height from a VP8 key frame's header (RFC 6386 §9.1): a
/// 3-byte frame tag, the start code 9d 01 2a, then 14-bit dimensions.
pub(crate) fn key_frame_size(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 10 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use bytes::Bytes;
    use rtc::rtp::header::Header;

    use super::*;

    /// One RTP packet of VP8: a one-byte payload descriptor (S bit on the
    /// first packet of a frame), then the frame's bytes.
    fn packet(seq: u16, ts: u32, start: bool, marker: bool, body: &[u8]) -> Packet {
        let mut payload = vec![if start { 0x10 } else { 0x00 }];
        payload.extend_from_slice(body);
        Packet {
            header: Header {
                sequence_number: seq,
                timestamp: ts,
                marker,
                ..Header::default()
            },
            payload: Bytes::from(payload),
        }
    }

    fn key_frame() -> Vec<u8> {
        // Frame tag (key frame), start code, 320×240.
        let mut f = vec![0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a];
        f.extend_from_slice(&320u16.to_le_bytes());
        f.extend_from_slice(&240u16.to_le_bytes());
        f
    }

    /// (pts, frame) of every frame in an IVF file.
    fn frames(file: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut at = 32;
        let mut out = Vec::new();
        while at + 12 <= file.len() {
            let len = u32::from_le_bytes(file[at..at + 4].try_into().expect("4 bytes")) as usize;
            let pts = u64::from_le_bytes(file[at + 4..at + 12].try_into().expect("8 bytes"));
            out.push((pts, file[at + 12..at + 12 + len].to_vec()));
            at += 12 + len;
        }
        out
    }

    #[test]
    fn frames_carry_their_rtp_time_and_the_header_their_size_and_count() {
        let mut ivf = Vp8Ivf::new(Cursor::new(Vec::new())).expect("a header");
        // A delta frame before any key frame is skipped, and a key frame asked for.
        assert_eq!(
            ivf.push(&packet(1, 100, true, true, &[0x01, 0xaa, 0xbb, 0xcc]))
                .expect("io"),
            Pushed::NeedKeyFrame
        );
        let key = key_frame();
        assert_eq!(
            ivf.push(&packet(2, 3000, true, false, &key[..4]))
                .expect("io"),
            Pushed::Buffered
        );
        assert_eq!(
            ivf.push(&packet(3, 3000, false, true, &key[4..]))
                .expect("io"),
            Pushed::Frame
        );
        // 1.5 s later.
        let mut ivf2 = ivf;
        ivf2.push(&packet(
            4,
            3000 + 135_000,
            true,
            true,
            &[0x01, 0xbb, 0xcc, 0xdd],
        ))
        .expect("io");
        assert_eq!(ivf2.frames(), 2);
        assert_eq!(ivf2.duration_ticks(), 135_000);
        let file = ivf2.finish().expect("finished").into_inner();
        assert_eq!(&file[0..4], b"DKIF");
        assert_eq!(&file[8..12], b"VP80");
        assert_eq!(u16::from_le_bytes([file[12], file[13]]), 320);
        assert_eq!(u16::from_le_bytes([file[14], file[15]]), 240);
        assert_eq!(
            u32::from_le_bytes([file[24], file[25], file[26], file[27]]),
            2
        );
        let got = frames(&file);
        assert_eq!(got[0], (0, key));
        assert_eq!(got[1], (135_000, vec![0x01, 0xbb, 0xcc, 0xdd]));
    }

    #[test]
    fn time_runs_on_across_the_rtp_clock_wrap() {
        let mut ivf = Vp8Ivf::new(Cursor::new(Vec::new())).expect("a header");
        let start = u32::MAX - 1_000;
        ivf.push(&packet(1, start, true, true, &key_frame()))
            .expect("io");
        ivf.push(&packet(
            2,
            start.wrapping_add(9_000),
            true,
            true,
            &[0x01, 0x01, 0x01],
        ))
        .expect("io");
        assert_eq!(ivf.duration_ticks(), 9_000);
    }

    #[test]
    fn a_frame_that_lost_a_packet_is_dropped_and_a_key_frame_asked_for() {
        let mut ivf = Vp8Ivf::new(Cursor::new(Vec::new())).expect("a header");
        ivf.push(&packet(1, 0, true, true, &key_frame()))
            .expect("io");
        ivf.push(&packet(2, 3000, true, false, &[0x01, 0x01, 0x01, 0x01]))
            .expect("io");
        // Packet 3 is lost; 4 ends the frame that cannot be decoded.
        assert_eq!(
            ivf.push(&packet(4, 3000, false, true, &[0x02, 0x02, 0x02]))
                .expect("io"),
            Pushed::NeedKeyFrame
        );
        // Delta frames are no use until the next key frame, which each asks for.
        assert_eq!(
            ivf.push(&packet(5, 6000, true, true, &[0x01, 0x03, 0x03, 0x03]))
                .expect("io"),
            Pushed::NeedKeyFrame
        );
        assert_eq!(ivf.frames(), 1);
        ivf.push(&packet(6, 9000, true, true, &key_frame()))
            .expect("io");
        assert_eq!(ivf.frames(), 2);
    }
}
