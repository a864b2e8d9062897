//! Reading and checking one DICOM instance before it enters the store.
//!
//! [`read_instance`] parses the file meta group and the data set up to
//! *Pixel Data* (7FE0,0010) into memory, then walks the pixel data fragment by
//! fragment into one reused buffer, so a large multi-frame instance is never held
//! whole in memory while a truncated one is still caught. It returns the typed
//! [`InstanceHeader`] the index is built from and the instance's metadata as the
//! DICOM JSON model, or a [`ValidationError`] that names exactly what is wrong.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;

use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DicomCollector, DicomCollectorOptions, InMemDicomObject, Tag};

use crate::lengths::Framing;
use crate::uid::{self, UidError};

/// The attributes of one instance that the index stores and QIDO-RS matches on.
///
/// Text values are trimmed of DICOM padding; an absent or empty optional
/// attribute is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstanceHeader {
    /// SOP Class UID (0008,0016).
    pub sop_class_uid: String,
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: String,
    /// Study Instance UID (0020,000D).
    pub study_uid: String,
    /// Series Instance UID (0020,000E).
    pub series_uid: String,
    /// Transfer Syntax UID (0002,0010) from the file meta group.
    pub transfer_syntax: String,
    /// Patient ID (0010,0020): the sending facility's own identifier.
    pub patient_id: String,
    /// Patient's Name (0010,0010) as encoded, with `^` between components.
    pub patient_name: Option<String>,
    /// Patient's Birth Date (0010,0030), `YYYYMMDD`.
    pub patient_birth_date: Option<String>,
    /// Patient's Sex (0010,0040): `M`, `F` or `O`.
    pub patient_sex: Option<String>,
    /// Study Date (0008,0020), `YYYYMMDD`.
    pub study_date: Option<String>,
    /// Study Time (0008,0030), `HHMMSS.FFFFFF` or a prefix of it.
    pub study_time: Option<String>,
    /// Study Description (0008,1030).
    pub study_description: Option<String>,
    /// Accession Number (0008,0050).
    pub accession_number: Option<String>,
    /// Referring Physician's Name (0008,0090).
    pub referring_physician: Option<String>,
    /// Study ID (0020,0010).
    pub study_id: Option<String>,
    /// Modality (0008,0060).
    pub modality: Option<String>,
    /// Series Number (0020,0011).
    pub series_number: Option<i64>,
    /// Series Description (0008,103E).
    pub series_description: Option<String>,
    /// Body Part Examined (0018,0015), upper-case.
    pub body_part: Option<String>,
    /// Instance Number (0020,0013).
    pub instance_number: Option<i64>,
    /// Rows (0028,0010).
    pub rows: Option<i64>,
    /// Columns (0028,0011).
    pub columns: Option<i64>,
    /// Number of Frames (0028,0008); `None` for a single-frame or non-image instance.
    pub frames: Option<i64>,
}

/// One parsed and checked instance.
#[derive(Debug, Clone)]
pub struct ParsedInstance {
    /// The typed attributes the index stores.
    pub header: InstanceHeader,
    /// The data set without pixel data as the DICOM JSON model (PS3.18 Annex F),
    /// serialised: what WADO-RS `/metadata` returns for this instance.
    pub metadata_json: String,
}

/// Why an instance cannot be stored. Each variant maps to one PS3.18 failure
/// reason through [`ValidationError::failure_reason`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The bytes are not a DICOM file: no `DICM` file meta group could be read.
    #[error("not a DICOM file: {0}")]
    NotDicom(String),
    /// The file meta group was read but the data set could not be parsed: it is
    /// truncated, malformed, or uses a transfer syntax this store cannot read.
    #[error("the data set cannot be read: {0}")]
    Unreadable(String),
    /// A required attribute is absent or empty; the value is its keyword.
    #[error("the required attribute {0} is missing or empty")]
    Missing(&'static str),
    /// A UID attribute is present but not a valid UID.
    #[error("the attribute {attribute} is not a valid UID: {source}")]
    InvalidUid {
        /// Keyword of the attribute.
        attribute: &'static str,
        /// What is wrong with it.
        source: UidError,
    },
    /// The file meta group names another SOP Instance UID than the data set.
    #[error("the file meta group names SOP instance {meta}, the data set {dataset}")]
    MetaMismatch {
        /// Media Storage SOP Instance UID (0002,0003).
        meta: String,
        /// SOP Instance UID (0008,0018).
        dataset: String,
    },
}

impl ValidationError {
    /// The PS3.18 / PS3.4 failure reason: 0xC000 (cannot understand) when the
    /// bytes cannot be read, 0xA900 (data set does not match SOP class) when a
    /// required attribute is missing or wrong.
    pub fn failure_reason(&self) -> u16 {
        match self {
            Self::NotDicom(_) | Self::Unreadable(_) => 0xC000,
            Self::Missing(_) | Self::InvalidUid { .. } | Self::MetaMismatch { .. } => 0xA900,
        }
    }
}

/// Reads the instance stored at `path` and checks its required attributes.
///
/// Blocking: call it from `spawn_blocking`.
pub fn read_instance(path: &Path) -> Result<ParsedInstance, ValidationError> {
    guarded(|| {
        crate::lengths::check(path).map_err(|e| ValidationError::Unreadable(e.to_string()))?;
        let file = File::open(path).map_err(|e| ValidationError::Unreadable(e.to_string()))?;
        read_checked(BufReader::new(file), Framing::Walked)
    })
}

/// As [`read_instance`], for a Part 10 file held in memory (a C-STORE data
/// set small enough never to have been written to a staging file).
pub fn read_instance_bytes(data: &[u8]) -> Result<ParsedInstance, ValidationError> {
    guarded(|| {
        let framing = crate::lengths::check_bytes(data)
            .map_err(|e| ValidationError::Unreadable(e.to_string()))?;
        read_checked(BufReader::new(Cursor::new(data)), framing)
    })
}

/// The SOP Class and Instance UIDs a Part 10 file's meta group names, for
/// telling a sender which of its instances was refused when the data set
/// itself could not be read.
pub fn named_in_meta(path: &Path) -> Option<(String, String)> {
    let mut file = BufReader::new(File::open(path).ok()?);
    let meta = read_file_meta(&mut file)?;
    let class = meta.media_storage_sop_class_uid();
    let instance = meta.media_storage_sop_instance_uid();
    (!class.is_empty() && !instance.is_empty()).then(|| (class.to_owned(), instance.to_owned()))
}

/// Reads the file meta group of a Part 10 stream, its 128-byte preamble
/// optional, leaving `source` at the data set. `None` when there is none.
pub(crate) fn read_file_meta<R: std::io::BufRead>(
    source: &mut R,
) -> Option<dicom_object::meta::FileMetaTable> {
    const PREAMBLE: usize = 128;
    let head = source.fill_buf().ok()?;
    let skip = if head.starts_with(b"DICM") {
        0
    } else if head.get(PREAMBLE..PREAMBLE + 4) == Some(b"DICM") {
        PREAMBLE
    } else {
        return None;
    };
    source.consume(skip);
    dicom_object::meta::FileMetaTable::from_reader(source).ok()
}

fn guarded(
    read: impl FnOnce() -> Result<ParsedInstance, ValidationError> + std::panic::UnwindSafe,
) -> Result<ParsedInstance, ValidationError> {
    // dicom-rs has assertions that some malformed inputs reach (found by the
    // fuzz target); a panic there is a file we cannot understand, not a
    // server fault.
    std::panic::catch_unwind(read).unwrap_or_else(|_| {
        Err(ValidationError::Unreadable(
            "the DICOM parser could not make sense of this file".into(),
        ))
    })
}

/// Reads an instance whose declared lengths [`crate::lengths`] has checked,
/// as `framing` says it walked them.
fn read_checked<R: Read + Seek>(
    source: BufReader<R>,
    framing: Framing,
) -> Result<ParsedInstance, ValidationError> {
    let mut collector = DicomCollectorOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .from_reader(source);
    let transfer_syntax = collector
        .read_file_meta()
        .map_err(|e| ValidationError::NotDicom(e.to_string()))?
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_owned();
    let meta_sop_instance = collector
        .read_file_meta()
        .map_err(|e| ValidationError::NotDicom(e.to_string()))?
        .media_storage_sop_instance_uid()
        .trim_end_matches('\0')
        .to_owned();
    let mut dataset = InMemDicomObject::new_empty();
    collector
        .read_dataset_up_to_pixeldata(&mut dataset)
        .map_err(|e| ValidationError::Unreadable(e.to_string()))?;
    let has_pixel_data = match framing {
        Framing::Plain { pixel_data } => pixel_data,
        Framing::Walked => walk_pixel_data(&mut collector)?,
    };

    let header = header_of(&dataset, transfer_syntax)?;
    if !meta_sop_instance.is_empty() && meta_sop_instance != header.sop_instance_uid {
        return Err(ValidationError::MetaMismatch {
            meta: meta_sop_instance,
            dataset: header.sop_instance_uid,
        });
    }
    let bulk_base = format!(
        "{}/studies/{}/series/{}/instances/{}/bulk/",
        crate::json::BULK_ROOT,
        header.study_uid,
        header.series_uid,
        header.sop_instance_uid
    );
    // The data set was read up to the pixel data, which is never inline: name
    // where to fetch it.
    let pixel_data = (has_pixel_data || header.rows.is_some()).then(|| {
        if is_native(&header.transfer_syntax) && bits_allocated(&dataset) > 8 {
            VR::OW
        } else {
            VR::OB
        }
    });
    let metadata_json = crate::json::instance_metadata(&dataset, &bulk_base, pixel_data);
    Ok(ParsedInstance {
        header,
        metadata_json,
    })
}

/// Walks the pixel data after the data set, so that a truncated instance is
/// refused now rather than discovered by the first viewer that opens it.
/// Returns whether there was any.
fn walk_pixel_data<R: Read + Seek>(
    collector: &mut DicomCollector<BufReader<R>>,
) -> Result<bool, ValidationError> {
    // One buffer, reused.
    let mut fragment = Vec::new();
    let mut has_pixel_data = false;
    while let Some(len) = collector
        .read_next_fragment(&mut fragment)
        .map_err(|e| ValidationError::Unreadable(format!("pixel data: {e}")))?
    {
        // The reader stops quietly at the end of the file; a short fragment
        // is a truncated one.
        if fragment.len() as u64 != u64::from(len) {
            return Err(ValidationError::Unreadable(format!(
                "pixel data: a fragment of {len} bytes ends after {}",
                fragment.len()
            )));
        }
        has_pixel_data = true;
        fragment.clear();
    }
    Ok(has_pixel_data)
}

fn header_of(
    dataset: &InMemDicomObject,
    transfer_syntax: String,
) -> Result<InstanceHeader, ValidationError> {
    let text = |tag: Tag| -> Option<String> {
        let element = dataset.get(tag)?;
        let value = element.to_str().ok()?;
        let value = value.trim_matches(|c: char| c == ' ' || c == '\0');
        (!value.is_empty()).then(|| value.to_owned())
    };
    let int = |tag: Tag| -> Option<i64> { text(tag)?.split('\\').next()?.trim().parse().ok() };
    let uid = |tag: Tag, attribute: &'static str| -> Result<String, ValidationError> {
        let value = text(tag).ok_or(ValidationError::Missing(attribute))?;
        uid::validate(&value)
            .map(str::to_owned)
            .map_err(|source| ValidationError::InvalidUid { attribute, source })
    };
    Ok(InstanceHeader {
        sop_class_uid: uid(tags::SOP_CLASS_UID, "SOPClassUID")?,
        sop_instance_uid: uid(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
        study_uid: uid(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
        series_uid: uid(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
        transfer_syntax,
        patient_id: text(tags::PATIENT_ID).ok_or(ValidationError::Missing("PatientID"))?,
        patient_name: text(tags::PATIENT_NAME),
        patient_birth_date: text(tags::PATIENT_BIRTH_DATE),
        patient_sex: text(tags::PATIENT_SEX),
        study_date: text(tags::STUDY_DATE),
        study_time: text(tags::STUDY_TIME),
        study_description: text(tags::STUDY_DESCRIPTION),
        accession_number: text(tags::ACCESSION_NUMBER),
        referring_physician: text(tags::REFERRING_PHYSICIAN_NAME),
        study_id: text(tags::STUDY_ID),
        modality: text(tags::MODALITY),
        series_number: int(tags::SERIES_NUMBER),
        series_description: text(tags::SERIES_DESCRIPTION),
        body_part: text(tags::BODY_PART_EXAMINED).map(|part| part.to_uppercase()),
        instance_number: int(tags::INSTANCE_NUMBER),
        rows: int(tags::ROWS),
        columns: int(tags::COLUMNS),
        frames: int(tags::NUMBER_OF_FRAMES),
    })
}

/// Whether pixel data in this transfer syntax is native (not encapsulated).
pub fn is_native(transfer_syntax: &str) -> bool {
    matches!(
        transfer_syntax,
        "1.2.840.10008.1.2"
            | "1.2.840.10008.1.2.1"
            | "1.2.840.10008.1.2.2"
            | "1.2.840.10008.1.2.1.99"
    )
}

fn bits_allocated(dataset: &InMemDicomObject) -> u16 {
    dataset
        .get(tags::BITS_ALLOCATED)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threads that parse have 2 MiB stacks (tokio's blocking threads);
    /// the deepest nesting accepted must leave them a wide margin, in a
    /// debug build too. A stack overflow here aborts the test binary.
    #[test]
    fn the_deepest_nesting_accepted_reads_on_a_quarter_of_a_default_stack() {
        let file = crate::test_support::nested_instance(crate::lengths::MAX_SEQUENCE_DEPTH);
        let read = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || read_instance_bytes(&file).map(|parsed| parsed.metadata_json))
            .expect("a thread")
            .join()
            .expect("the read finishes");
        let metadata = read.expect("32 levels are read");
        assert_eq!(metadata.matches("0040A730").count(), 32);
    }

    /// Damaged copies of real files: wherever the length check found every
    /// value whole over the bytes, reading without the collector's own walk
    /// of the pixel data gives what reading with it gives.
    #[test]
    fn a_plainly_framed_instance_reads_the_same_without_its_pixel_data_walk() {
        let mut random = crate::test_support::random(0x2545_F491_4F6C_DD1D);
        for name in ["CT_small.dcm", "MR_small.dcm"] {
            let original = crate::test_support::fixture(name);
            let mut plain = 0;
            for round in 0..1500u64 {
                let mut data = original.clone();
                if round > 0 {
                    let at = 200 + (random() as usize) % (data.len() - 204);
                    let value = random();
                    match round % 3 {
                        0 => data[at] ^= (value as u8) | 1,
                        1 => data[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes()),
                        _ => data.truncate(at),
                    }
                }
                let Ok(framing @ Framing::Plain { .. }) = crate::lengths::check_bytes(&data) else {
                    continue;
                };
                plain += 1;
                let read = |framing| {
                    guarded(|| read_checked(BufReader::new(Cursor::new(&data[..])), framing))
                };
                match (read(framing), read(Framing::Walked)) {
                    (Ok(skipped), Ok(walked)) => {
                        assert_eq!(skipped.header, walked.header, "{name}, round {round}");
                        assert_eq!(
                            skipped.metadata_json, walked.metadata_json,
                            "{name}, round {round}"
                        );
                    }
                    (Err(skipped), Err(walked)) => {
                        assert_eq!(
                            skipped.to_string(),
                            walked.to_string(),
                            "{name}, round {round}"
                        )
                    }
                    (skipped, walked) => panic!(
                        "{name}, round {round}: {framing:?} read as {:?}, walked as {:?}",
                        skipped.map(|p| p.header),
                        walked.map(|p| p.header)
                    ),
                }
            }
            assert!(plain > 300, "{name}: only {plain} copies were plain");
        }
    }
}
