//! The length check for the common case, a data set in explicit VR little
//! endian held in memory, walked over the bytes themselves.
//!
//! The lazy reader's walk builds a token per element through a stateful
//! decoder; on a small instance of a few hundred elements that costs as much
//! as the rest of storing it. This walk reads each header straight from the
//! slice. It answers only "every length is consistent, framed as dicom-rs
//! frames it" or "not sure": anything it does not take as plain (an unknown
//! VR, an odd or undefined length outside a sequence, an item delimiter where
//! the reader would do something of its own, sequences nested deeper than
//! [`MAX_SEQUENCE_DEPTH`]) sends the instance to the lazy reader's walk,
//! which is the one that refuses and says why. So it can only skip work,
//! never accept what that walk would refuse.

use dicom_core::VR;

use super::{value_size, MAX_SEQUENCE_DEPTH, PIXEL_DATA};

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// What the walk is inside: a sequence (expecting items) or an item
/// (expecting elements), each ending at an offset or at its delimiter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Sequence(Option<usize>),
    Item(Option<usize>),
}

impl Open {
    fn end(self) -> Option<usize> {
        match self {
            Self::Sequence(end) | Self::Item(end) => end,
        }
    }
}

/// Whether every element, sequence and item of `data`, a data set in
/// explicit VR little endian, is framed plainly and fits: `None` when the
/// lazy reader's walk must decide, otherwise whether the data set itself
/// (not an item in it) holds Pixel Data.
pub(super) fn plainly_framed(data: &[u8]) -> Option<bool> {
    let mut open: Vec<Open> = Vec::new();
    let mut at = 0usize;
    let mut pixel_data = false;
    loop {
        // Containers of defined length close where their length says.
        while let Some(end) = open.last().and_then(|o| o.end()) {
            if at < end {
                break;
            }
            if at > end {
                return None;
            }
            open.pop();
        }
        if at == data.len() {
            return open.is_empty().then_some(pixel_data);
        }
        let head = data.get(at..at + 8)?;
        let group = u16::from_le_bytes([head[0], head[1]]);
        let element = u16::from_le_bytes([head[2], head[3]]);
        // The limit a value must fit in: the innermost defined end, or the data.
        let limit = open
            .iter()
            .rev()
            .find_map(|o| o.end())
            .unwrap_or(data.len());
        if group == 0xFFFE {
            let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            at += 8;
            match (element, open.last()) {
                (0xE000, Some(Open::Sequence(_))) if len == UNDEFINED => {
                    open.push(Open::Item(None));
                }
                (0xE000, Some(Open::Sequence(_))) => {
                    open.push(Open::Item(Some(fits(at, len, limit)?)));
                }
                (0xE00D, Some(Open::Item(None))) | (0xE0DD, Some(Open::Sequence(None)))
                    if len == 0 =>
                {
                    open.pop();
                }
                _ => return None,
            }
            continue;
        }
        // Inside a sequence only items may come.
        if matches!(open.last(), Some(Open::Sequence(_))) {
            return None;
        }
        let vr = VR::from_binary([head[4], head[5]])?;
        let (len, header) = if short_length(vr) {
            (u32::from(u16::from_le_bytes([head[6], head[7]])), 8)
        } else {
            let len = data.get(at + 8..at + 12)?;
            (u32::from_le_bytes([len[0], len[1], len[2], len[3]]), 12)
        };
        at += header;
        if vr == VR::SQ {
            let depth = open
                .iter()
                .filter(|o| matches!(o, Open::Sequence(_)))
                .count();
            if depth >= MAX_SEQUENCE_DEPTH {
                return None;
            }
            if len == UNDEFINED {
                open.push(Open::Sequence(None));
            } else {
                open.push(Open::Sequence(Some(fits(at, len, limit)?)));
            }
            continue;
        }
        let is_pixel_data = PIXEL_DATA == dicom_core::Tag(group, element);
        if len == UNDEFINED || !(is_pixel_data || len % value_size(vr) == 0) {
            return None;
        }
        at = fits(at, len, limit)?;
        pixel_data |= is_pixel_data && open.is_empty();
    }
}

/// Where a value of `len` bytes starting at `at` ends, when that is within
/// `limit` and the length is even (the reader may read an odd one as the
/// next even, so its framing is left to it).
fn fits(at: usize, len: u32, limit: usize) -> Option<usize> {
    if !len.is_multiple_of(2) {
        return None;
    }
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    (end <= limit).then_some(end)
}

/// The VRs with a 16-bit length in explicit VR (PS3.5 7.1.2), as dicom-rs
/// decodes them.
fn short_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::AT
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::FL
            | VR::FD
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::SL
            | VR::SS
            | VR::ST
            | VR::TM
            | VR::UI
            | VR::UL
            | VR::US
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        out.extend_from_slice(vr);
        if short_length(VR::from_binary(*vr).unwrap_or(VR::UN)) {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(value);
        out
    }

    fn marker(element: u16, len: u32) -> Vec<u8> {
        let mut out = vec![0xFE, 0xFF];
        out.extend_from_slice(&element.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out
    }

    fn sequence(len: u32) -> Vec<u8> {
        let mut out = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0];
        out.extend_from_slice(&len.to_le_bytes());
        out
    }

    #[test]
    fn flat_elements_and_sequences_of_both_kinds_are_plain() {
        let uid = element((0x0008, 0x0018), b"UI", b"1.2.3.4\0");
        let inner = element((0x0008, 0x1155), b"UI", b"1.2.3\0");
        let mut data = uid.clone();
        // A sequence and an item of undefined length, with their delimiters.
        data.extend(sequence(UNDEFINED));
        data.extend(marker(0xE000, UNDEFINED));
        data.extend(&inner);
        data.extend(marker(0xE00D, 0));
        data.extend(marker(0xE0DD, 0));
        // The same with defined lengths.
        data.extend(sequence(8 + inner.len() as u32));
        data.extend(marker(0xE000, inner.len() as u32));
        data.extend(&inner);
        data.extend(element((0x0028, 0x0010), b"US", &[8, 0]));
        data.extend(element((0x7FE0, 0x0010), b"OW", &[0u8; 8]));
        assert_eq!(plainly_framed(&data), Some(true));
        // Pixel Data inside an item (an icon) is not the data set's own.
        let icon = element((0x7FE0, 0x0010), b"OB", &[0u8; 4]);
        let mut data = uid.clone();
        data.extend(sequence(8 + icon.len() as u32));
        data.extend(marker(0xE000, icon.len() as u32));
        data.extend(&icon);
        assert_eq!(plainly_framed(&data), Some(false));
    }

    #[test]
    fn anything_the_lazy_reader_must_judge_is_left_to_it() {
        let uid = element((0x0008, 0x0018), b"UI", b"1.2.3.4\0");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "an unknown VR",
                element((0x0010, 0x1020), b"D\xa9", b"80.0"),
            ),
            ("an odd length", element((0x0010, 0x0010), b"PN", b"Doe")),
            ("a US of three values and a half", {
                element((0x0028, 0x0010), b"US", &[1, 0, 2, 0, 3, 0, 4])
            }),
            ("a length past the end", {
                let mut e = element((0x0010, 0x0010), b"OB", &[0u8; 4]);
                e.truncate(e.len() - 2);
                e
            }),
            ("an undefined length outside a sequence", {
                let mut e = element((0x7FE0, 0x0010), b"OB", &[]);
                e[8..12].copy_from_slice(&UNDEFINED.to_le_bytes());
                e.extend(marker(0xE0DD, 0));
                e
            }),
            ("an element directly in a sequence", {
                let mut e = sequence(UNDEFINED);
                e.extend(&uid);
                e.extend(marker(0xE0DD, 0));
                e
            }),
            ("an unclosed sequence", {
                let mut e = sequence(UNDEFINED);
                e.extend(marker(0xE000, UNDEFINED));
                e.extend(&uid);
                e
            }),
            ("an item that overruns its sequence", {
                let mut e = sequence(8);
                e.extend(marker(0xE000, uid.len() as u32));
                e.extend(&uid);
                e
            }),
            ("a sequence delimiter closing an item", {
                let mut e = sequence(UNDEFINED);
                e.extend(marker(0xE000, UNDEFINED));
                e.extend(marker(0xE0DD, 0));
                e
            }),
            ("a header cut short", uid[..5].to_vec()),
        ];
        for (what, case) in cases {
            let mut data = uid.clone();
            data.extend(case);
            assert_eq!(plainly_framed(&data), None, "{what} was taken as plain");
        }
    }

    /// A few thousand damaged copies of real files: whatever this walk
    /// takes as plain, the lazy reader's walk must accept too.
    #[test]
    fn whatever_is_taken_as_plain_the_lazy_reader_accepts() {
        use std::io::Cursor;
        let mut random = crate::test_support::random(0x9E37_79B9_7F4A_7C15);
        for name in ["CT_small.dcm", "MR_small.dcm"] {
            let original = crate::test_support::fixture(name);
            let size = original.len() as u64;
            let mut file = Cursor::new(&original[..]);
            let transfer_syntax = super::super::file_meta(&mut file, size).expect("file meta");
            assert_eq!(transfer_syntax, super::super::EXPLICIT_VR_LITTLE_ENDIAN);
            let start = file.position() as usize;
            assert_eq!(
                plainly_framed(&original[start..]),
                Some(true),
                "{name} as it is"
            );
            let (mut plain, mut left) = (0, 0);
            for round in 0..4000u64 {
                let mut data = original.clone();
                let at = start + (random() as usize) % (data.len() - start - 4);
                let value = random();
                match round % 4 {
                    0 => data[at] ^= (value as u8) | 1,
                    1 => data[at..at + 2].copy_from_slice(&(value as u16).to_le_bytes()),
                    2 => {
                        let lengths = [0, 1, 2, 4, 0xFFFF, UNDEFINED, value as u32];
                        let len = lengths[(value >> 40) as usize % lengths.len()];
                        data[at..at + 4].copy_from_slice(&len.to_le_bytes());
                    }
                    _ => data.truncate(at),
                }
                if plainly_framed(&data[start..]).is_none() {
                    left += 1;
                    continue;
                }
                plain += 1;
                let mut file = Cursor::new(&data[..]);
                file.set_position(start as u64);
                if let Err(error) =
                    super::super::data_set(file, data.len() as u64, &transfer_syntax)
                {
                    panic!(
                        "{name}, round {round}: taken as plain, refused by the lazy walk: {error}"
                    );
                }
            }
            // Both answers came up, so the comparison meant something.
            assert!(
                plain > 100 && left > 100,
                "{name}: {plain} plain, {left} left"
            );
        }
    }
}
