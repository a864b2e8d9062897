//! A decoder of sequential, Huffman-coded DCT JPEG (ISO 10918-1 processes 1,
//! 2 and 4) of one component, for the 12-bit streams of JPEG Extended that
//! no Rust JPEG crate here reads. Medical 12-bit JPEG is greyscale (PS3.5
//! §8.2.1 allows it for monochrome only), so colour and progressive
//! streams are refused rather than guessed at.

/// Zig-zag position → row-major position in an 8 × 8 block.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// The sample precision of a JPEG stream's frame header, if it has one
/// of the sequential DCT kind.
pub fn precision(stream: &[u8]) -> Option<u8> {
    let mut at = 2;
    while at + 4 <= stream.len() {
        if stream[at] != 0xFF {
            return None;
        }
        let marker = stream[at + 1];
        if marker == 0xFF {
            at += 1;
            continue;
        }
        let length = usize::from(u16::from_be_bytes([stream[at + 2], stream[at + 3]]));
        if matches!(marker, 0xC0 | 0xC1) {
            return stream.get(at + 4).copied();
        }
        if marker == 0xDA || length < 2 {
            return None;
        }
        at += 2 + length;
    }
    None
}

/// A Huffman table as code lengths' first codes and the values in order
/// (ISO 10918-1 Annex C and F.2.2.3).
#[derive(Clone, Default)]
struct Huffman {
    /// For each length 1–16: the largest code of that length (−1: none).
    max_code: [i32; 17],
    /// For each length: the index in `values` of its first code, minus that code.
    offset: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8], values: &[u8]) -> Self {
        let mut table = Huffman {
            max_code: [-1; 17],
            offset: [0; 17],
            values: values.to_vec(),
        };
        let mut code = 0i32;
        let mut index = 0i32;
        for length in 1..=16 {
            let count = i32::from(counts[length - 1]);
            table.offset[length] = index - code;
            if count > 0 {
                code += count;
                index += count;
                table.max_code[length] = code - 1;
            }
            code <<= 1;
        }
        table
    }
}

/// Reads the entropy-coded segment bit by bit, unstuffing 0xFF00 and
/// stopping at markers (restart markers are stepped over by
/// [`Bits::restart`]).
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
    buffer: u32,
    count: u32,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, String> {
        if self.count == 0 {
            let byte = match (self.data.get(self.at), self.data.get(self.at + 1)) {
                (Some(0xFF), Some(0x00)) => {
                    self.at += 2;
                    0xFF
                }
                // A marker: the segment ended early; pad with ones as
                // decoders do, so a short stream shows as a short stream.
                (Some(0xFF), _) | (None, _) => 0xFF,
                (Some(&b), _) => {
                    self.at += 1;
                    b
                }
            };
            self.buffer = u32::from(byte);
            self.count = 8;
        }
        self.count -= 1;
        Ok((self.buffer >> self.count) & 1)
    }

    fn bits(&mut self, n: u32) -> Result<u32, String> {
        let mut value = 0;
        for _ in 0..n {
            value = (value << 1) | self.bit()?;
        }
        Ok(value)
    }

    fn decode(&mut self, table: &Huffman) -> Result<u8, String> {
        let mut code = 0i32;
        for length in 1..=16 {
            code = (code << 1) | self.bit()? as i32;
            if code <= table.max_code[length] {
                let index = (table.offset[length] + code) as usize;
                return table
                    .values
                    .get(index)
                    .copied()
                    .ok_or_else(|| "a Huffman code past its table".to_owned());
            }
        }
        Err("a bad Huffman code".to_owned())
    }

    /// A magnitude category's extra bits as a signed value (F.2.2.1).
    fn receive_extend(&mut self, size: u8) -> Result<i32, String> {
        if size == 0 {
            return Ok(0);
        }
        if size > 16 {
            return Err(format!("a coefficient of {size} bits"));
        }
        let value = self.bits(u32::from(size))? as i32;
        Ok(if value < 1 << (size - 1) {
            value - (1 << size) + 1
        } else {
            value
        })
    }

    /// Steps over the restart marker that ends an interval.
    fn restart(&mut self) -> Result<(), String> {
        self.count = 0;
        match (self.data.get(self.at), self.data.get(self.at + 1)) {
            (Some(0xFF), Some(0xD0..=0xD7)) => {
                self.at += 2;
                Ok(())
            }
            _ => Err("a restart marker is missing".to_owned()),
        }
    }
}

/// The samples of a one-component sequential DCT stream, row by row,
/// checked against the `rows` × `columns` the DICOM header declares
/// before anything is allocated.
pub fn decode(stream: &[u8], rows: u64, columns: u64) -> Result<Vec<u16>, String> {
    let mut quant: [[u16; 64]; 4] = [[0; 64]; 4];
    let mut dc_tables: [Huffman; 4] = Default::default();
    let mut ac_tables: [Huffman; 4] = Default::default();
    let mut frame: Option<(u8, usize, usize, usize)> = None; // precision, height, width, table
    let mut restart_interval = 0usize;
    if stream.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err("not a JPEG stream".into());
    }
    let mut at = 2;
    loop {
        let (Some(&0xFF), Some(&marker)) = (stream.get(at), stream.get(at + 1)) else {
            return Err(format!("no marker at byte {at}"));
        };
        if marker == 0xFF {
            at += 1;
            continue;
        }
        if marker == 0xD9 {
            return Err("the stream ends before its scan".into());
        }
        let length = match stream.get(at + 2..at + 4) {
            Some(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
            None => return Err("a truncated segment".into()),
        };
        let segment = stream
            .get(at + 4..at + 2 + length.max(2))
            .ok_or("a truncated segment")?;
        at += 2 + length;
        match marker {
            0xDB => {
                let mut rest = segment;
                while let Some((&pq_tq, tail)) = rest.split_first() {
                    let (wide, id) = (pq_tq >> 4 == 1, usize::from(pq_tq & 3));
                    let size = if wide { 128 } else { 64 };
                    let values = tail.get(..size).ok_or("a truncated quantisation table")?;
                    for (k, q) in quant[id].iter_mut().enumerate() {
                        *q = if wide {
                            u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
                        } else {
                            u16::from(values[k])
                        };
                    }
                    rest = &tail[size..];
                }
            }
            0xC4 => {
                let mut rest = segment;
                while let Some((&tc_th, tail)) = rest.split_first() {
                    let counts = tail.get(..16).ok_or("a truncated Huffman table")?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let values = tail
                        .get(16..16 + total)
                        .ok_or("a truncated Huffman table")?;
                    let table = Huffman::new(counts, values);
                    let id = usize::from(tc_th & 3);
                    if tc_th >> 4 == 0 {
                        dc_tables[id] = table;
                    } else {
                        ac_tables[id] = table;
                    }
                    rest = &tail[16 + total..];
                }
            }
            0xC0 | 0xC1 => {
                let header = segment.get(..9).ok_or("a truncated frame header")?;
                if header[5] != 1 {
                    return Err(format!(
                        "{} components (12-bit JPEG is decoded for greyscale only)",
                        header[5]
                    ));
                }
                let height = usize::from(u16::from_be_bytes([header[1], header[2]]));
                let width = usize::from(u16::from_be_bytes([header[3], header[4]]));
                if height as u64 != rows || width as u64 != columns {
                    return Err(format!(
                        "the stream is {width} × {height}, the header says {columns} × {rows}"
                    ));
                }
                if !matches!(header[0], 8 | 12) {
                    return Err(format!("a sample precision of {} bits", header[0]));
                }
                frame = Some((header[0], height, width, usize::from(header[8] & 3)));
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err("only sequential Huffman-coded DCT streams are decoded".into());
            }
            0xDD => {
                let b = segment.get(..2).ok_or("a truncated restart interval")?;
                restart_interval = usize::from(u16::from_be_bytes([b[0], b[1]]));
            }
            0xDA => {
                let (precision, height, width, q) = frame.ok_or("a scan before its frame")?;
                let tables = segment.get(2).ok_or("a truncated scan header")?;
                let (dc, ac) = (usize::from(tables >> 4 & 3), usize::from(tables & 3));
                let mut bits = Bits {
                    data: stream.get(at..).unwrap_or_default(),
                    at: 0,
                    buffer: 0,
                    count: 0,
                };
                return scan(
                    &mut bits,
                    (&dc_tables[dc], &ac_tables[ac]),
                    &quant[q],
                    (precision, height, width),
                    restart_interval,
                );
            }
            _ => {}
        }
    }
}

fn scan(
    bits: &mut Bits<'_>,
    (dc_table, ac_table): (&Huffman, &Huffman),
    quant: &[u16; 64],
    (precision, height, width): (u8, usize, usize),
    restart_interval: usize,
) -> Result<Vec<u16>, String> {
    let (across, down) = (width.div_ceil(8), height.div_ceil(8));
    let mut out = vec![0u16; width * height];
    let cosines = cosines();
    let centre = f64::from(1u32 << (precision - 1));
    let top = f64::from((1u32 << precision) - 1);
    let mut predictor = 0i32;
    for block in 0..across * down {
        if restart_interval > 0 && block > 0 && block % restart_interval == 0 {
            bits.restart()?;
            predictor = 0;
        }
        let mut coefficients = [0f64; 64];
        let size = bits.decode(dc_table)?;
        predictor = predictor.saturating_add(bits.receive_extend(size)?);
        coefficients[0] = f64::from(predictor) * f64::from(quant[0]);
        let mut k = 1;
        while k < 64 {
            let rs = bits.decode(ac_table)?;
            let (run, size) = (usize::from(rs >> 4), rs & 15);
            if size == 0 {
                if run == 15 {
                    k += 16;
                    continue;
                }
                break;
            }
            k += run;
            if k > 63 {
                return Err("a coefficient past the block".into());
            }
            coefficients[ZIGZAG[k]] = f64::from(bits.receive_extend(size)?) * f64::from(quant[k]);
            k += 1;
        }
        let samples = inverse_dct(&coefficients, &cosines);
        let (bx, by) = (block % across * 8, block / across * 8);
        for y in 0..8 {
            for x in 0..8 {
                if bx + x < width && by + y < height {
                    let value = (samples[y * 8 + x] + centre).round().clamp(0.0, top);
                    out[(by + y) * width + bx + x] = value as u16;
                }
            }
        }
    }
    Ok(out)
}

/// `c(u) cos((2x + 1)uπ/16) / 2` for x, u in 0..8.
fn cosines() -> [[f64; 8]; 8] {
    let mut table = [[0.0; 8]; 8];
    for (x, row) in table.iter_mut().enumerate() {
        for (u, c) in row.iter_mut().enumerate() {
            let scale = if u == 0 {
                std::f64::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            *c = scale * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos() / 2.0;
        }
    }
    table
}

/// The 8 × 8 inverse DCT (A.3.3), separably, in double precision: the
/// reference the standard's accuracy test is held to.
fn inverse_dct(coefficients: &[f64; 64], cosines: &[[f64; 8]; 8]) -> [f64; 64] {
    let mut rows = [0f64; 64];
    for v in 0..8 {
        for x in 0..8 {
            rows[v * 8 + x] = (0..8)
                .map(|u| cosines[x][u] * coefficients[v * 8 + u])
                .sum();
        }
    }
    let mut out = [0f64; 64];
    for y in 0..8 {
        for x in 0..8 {
            out[y * 8 + x] = (0..8).map(|v| cosines[y][v] * rows[v * 8 + x]).sum();
        }
    }
    out
}
