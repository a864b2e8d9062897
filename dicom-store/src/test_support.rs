//! What the unit tests that damage real files share.

/// A sample file of `tests/fixtures/dicom/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/dicom/");
    std::fs::read(format!("{dir}{name}")).expect("a fixture")
}

/// A xorshift generator from `seed`: the same damage on every run, so a
/// failure names a round that fails again.
pub fn random(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

const CONTENT_SEQUENCE: [u8; 4] = [0x40, 0x00, 0x30, 0xA7];

/// A data set in explicit VR little endian: Query/Retrieve Level, then a
/// Content Sequence (0040,A730) whose one item holds another, `depth`
/// sequences in all, each sequence and item of undefined length or of
/// defined length.
pub fn nested_sequences(depth: usize, undefined: bool) -> Vec<u8> {
    let mut data = vec![0x08, 0x00, 0x52, 0x00, b'C', b'S', 6, 0];
    data.extend_from_slice(b"STUDY ");
    data.extend(nested_content(depth, undefined));
    data
}

fn nested_content(depth: usize, undefined: bool) -> Vec<u8> {
    let header = |out: &mut Vec<u8>, head: &[u8], len: u32| {
        out.extend_from_slice(head);
        out.extend_from_slice(&len.to_le_bytes());
    };
    let sequence = [&CONTENT_SEQUENCE[..], b"SQ\0\0"].concat();
    let item = [0xFE, 0xFF, 0x00, 0xE0];
    let mut out = Vec::new();
    if undefined {
        for _ in 0..depth {
            header(&mut out, &sequence, u32::MAX);
            header(&mut out, &item, u32::MAX);
        }
        for _ in 0..depth {
            header(&mut out, &[0xFE, 0xFF, 0x0D, 0xE0], 0);
            header(&mut out, &[0xFE, 0xFF, 0xDD, 0xE0], 0);
        }
    } else {
        for _ in 0..depth {
            let mut level = Vec::new();
            header(&mut level, &item, out.len() as u32);
            level.extend(&out);
            out.clear();
            header(&mut out, &sequence, level.len() as u32);
            out.extend(level);
        }
    }
    out
}

/// A Part 10 file, a Basic Text SR with every attribute an instance needs to
/// be stored, whose content nests `depth` sequences of undefined length.
pub fn nested_instance(depth: usize) -> Vec<u8> {
    use dicom_object::meta::FileMetaTableBuilder;
    let class = "1.2.840.10008.5.1.4.1.1.88.11";
    let instance = format!("1.2.826.0.1.3680043.10.1441.{depth}.1");
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(instance.as_str())
        .transfer_syntax("1.2.840.10008.1.2.1")
        .build()
        .expect("a file meta group");
    let mut file = vec![0u8; 128];
    file.extend_from_slice(b"DICM");
    meta.write(&mut file)
        .expect("the file meta group is written");
    let study = format!("1.2.826.0.1.3680043.10.1441.{depth}.2");
    let series = format!("1.2.826.0.1.3680043.10.1441.{depth}.3");
    for (tag, vr, value) in [
        ([0x08, 0x00, 0x16, 0x00], b"UI", class),
        ([0x08, 0x00, 0x18, 0x00], b"UI", instance.as_str()),
        ([0x08, 0x00, 0x60, 0x00], b"CS", "SR"),
        ([0x10, 0x00, 0x20, 0x00], b"LO", "NESTED"),
        ([0x20, 0x00, 0x0D, 0x00], b"UI", study.as_str()),
        ([0x20, 0x00, 0x0E, 0x00], b"UI", series.as_str()),
    ] {
        let mut value = value.as_bytes().to_vec();
        if value.len() % 2 == 1 {
            value.push(if vr == b"UI" { 0 } else { b' ' });
        }
        file.extend_from_slice(&tag);
        file.extend_from_slice(vr);
        file.extend_from_slice(&(value.len() as u16).to_le_bytes());
        file.extend(value);
    }
    file.extend(nested_content(depth, true));
    file
}
