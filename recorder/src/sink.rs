//! One track's file: VP8 into IVF ([`crate::ivf`]) or Opus into Ogg, with
//! the frame count and the duration by the sender's RTP clock.

use std::fs::File;
use std::path::PathBuf;

use rtc::media::io::ogg_writer::OggWriter;
use rtc::media::io::Writer as _;
use rtc::rtp::Packet;

use crate::ivf::{Pushed, Vp8Ivf, CLOCK_RATE};
use crate::{MediaKind, RecordedFile};

const OPUS_CLOCK_RATE: u32 = 48_000;

enum Writer {
    Video(Vp8Ivf<File>),
    // Boxed: the Ogg writer carries a page buffer of its own.
    Audio(Box<OggWriter<File>>),
}

pub(crate) struct Sink {
    participant: String,
    kind: MediaKind,
    path: PathBuf,
    /// Kept to sync and measure the file once the writer is done with it.
    file: File,
    writer: Option<Writer>,
    packets: u64,
    first_ts: Option<u32>,
    last_ts: u32,
    ticks: u64,
}

impl Sink {
    pub(crate) fn create(
        participant: &str,
        kind: MediaKind,
        path: PathBuf,
    ) -> std::io::Result<Self> {
        let file = File::create_new(&path)?;
        let writer = match kind {
            MediaKind::Video => Writer::Video(Vp8Ivf::new(file.try_clone()?)?),
            MediaKind::Audio => Writer::Audio(Box::new(
                OggWriter::new(file.try_clone()?, OPUS_CLOCK_RATE, 2)
                    .map_err(std::io::Error::other)?,
            )),
        };
        Ok(Self {
            participant: participant.to_owned(),
            kind,
            path,
            file,
            writer: Some(writer),
            packets: 0,
            first_ts: None,
            last_ts: 0,
            ticks: 0,
        })
    }

    /// Writes a packet; what it did, or `None` once the sink is closed.
    pub(crate) fn write(&mut self, packet: &Packet) -> std::io::Result<Option<Pushed>> {
        let pushed = match self.writer.as_mut() {
            None => return Ok(None),
            Some(Writer::Video(ivf)) => ivf.push(packet)?,
            Some(Writer::Audio(ogg)) => {
                if packet.payload.is_empty() {
                    return Ok(Some(Pushed::Buffered));
                }
                ogg.write_rtp(packet).map_err(std::io::Error::other)?;
                let ts = packet.header.timestamp;
                if self.first_ts.is_none() {
                    self.first_ts = Some(ts);
                    self.last_ts = ts;
                }
                let step = ts.wrapping_sub(self.last_ts);
                if step < u32::MAX / 2 {
                    self.ticks += u64::from(step);
                    self.last_ts = ts;
                }
                self.packets += 1;
                Pushed::Frame
            }
        };
        Ok(Some(pushed))
    }

    /// Finishes the file and syncs it; `None` (and no file) if no frame
    /// ever arrived.
    pub(crate) fn close(&mut self) -> std::io::Result<Option<RecordedFile>> {
        let (frames, ticks, clock) = match self.writer.take() {
            None => return Ok(None),
            Some(Writer::Video(ivf)) => {
                let (frames, ticks) = (u64::from(ivf.frames()), ivf.duration_ticks());
                ivf.finish()?;
                (frames, ticks, CLOCK_RATE)
            }
            Some(Writer::Audio(mut ogg)) => {
                if self.packets > 0 {
                    ogg.close().map_err(std::io::Error::other)?;
                }
                (self.packets, self.ticks, OPUS_CLOCK_RATE)
            }
        };
        if frames == 0 {
            std::fs::remove_file(&self.path)?;
            return Ok(None);
        }
        self.file.sync_all()?;
        Ok(Some(RecordedFile {
            participant: self.participant.clone(),
            kind: self.kind,
            path: self.path.clone(),
            bytes: self.file.metadata()?.len(),
            frames,
            duration_ms: ticks * 1000 / u64::from(clock),
        }))
    }
}
