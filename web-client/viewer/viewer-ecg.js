// @ts-check
// Ferry viewer, ECG waveforms: the instance is fetched whole (its samples
// sit in a sequence, where the metadata gives them no BulkDataURI), read
// with a small DICOM parser, and each lead is drawn on standard ECG paper:
// 1 mm squares, 25 mm/s, 10 mm/mV.

import * as I from './viewer-image.js';

const IMPLICIT = '1.2.840.10008.1.2';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
// Sequences the plot reads, for implicit VR data where nothing says so.
const SEQUENCES = new Set(['54000100', '003A0200', '003A0208', '003A0211']);
const BINARY = { '003A0005': 'US', '003A0010': 'UL', '54001004': 'US' };

const tagOf = (group, element) =>
  (group.toString(16).padStart(4, '0') + element.toString(16).padStart(4, '0')).toUpperCase();

// A data set as {tag: {vr, bytes} | {vr: 'SQ', items: [data set]}}.
function parseDataset(view, start, end, explicit) {
  const dataset = {};
  let at = start;
  while (at + 8 <= end) {
    const group = view.getUint16(at, true);
    const element = view.getUint16(at + 2, true);
    at += 4;
    if (group === 0xFFFE) {
      // An item or sequence delimiter ends this nested data set.
      return { dataset, next: at + 4 };
    }
    let vr;
    let length;
    if (explicit) {
      vr = String.fromCharCode(view.getUint8(at), view.getUint8(at + 1));
      if (LONG_VRS.has(vr)) {
        length = view.getUint32(at + 4, true);
        at += 8;
      } else {
        length = view.getUint16(at + 2, true);
        at += 4;
      }
    } else {
      length = view.getUint32(at, true);
      at += 4;
      const known = tagOf(group, element);
      vr = SEQUENCES.has(known) || length === 0xFFFFFFFF ? 'SQ' : BINARY[known] || 'UN';
    }
    const tag = tagOf(group, element);
    if (vr === 'SQ' || (length === 0xFFFFFFFF && vr === 'UN')) {
      const stop = length === 0xFFFFFFFF ? end : at + length;
      const items = [];
      while (at + 8 <= stop) {
        const g = view.getUint16(at, true);
        const e = view.getUint16(at + 2, true);
        const itemLength = view.getUint32(at + 4, true);
        at += 8;
        if (g === 0xFFFE && e === 0xE0DD) break;
        if (g !== 0xFFFE || e !== 0xE000) throw new Error('malformed sequence');
        const itemEnd = itemLength === 0xFFFFFFFF ? stop : at + itemLength;
        const parsed = parseDataset(view, at, itemEnd, explicit);
        items.push(parsed.dataset);
        at = itemLength === 0xFFFFFFFF ? parsed.next : itemEnd;
      }
      if (length !== 0xFFFFFFFF) at = stop;
      dataset[tag] = { vr: 'SQ', items };
      continue;
    }
    if (length === 0xFFFFFFFF || at + length > end) throw new Error('malformed element');
    dataset[tag] = { vr, bytes: new Uint8Array(view.buffer, view.byteOffset + at, length) };
    at += length;
  }
  return { dataset, next: at };
}

// A Part 10 file's data set; throws for syntaxes this parser does not read.
function parseFile(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(...bytes.subarray(128, 132));
  if (magic !== 'DICM') throw new Error('not a DICOM file');
  const meta = parseMeta(view, 132);
  const syntax = text(meta.dataset['00020010']);
  if (syntax === BIG_ENDIAN || !/^1\.2\.840\.10008\.1\.2(\.1)?$/.test(syntax)) {
    throw new Error('transfer syntax ' + syntax);
  }
  return parseDataset(view, meta.next, bytes.byteLength, syntax !== IMPLICIT).dataset;
}

// The file meta group only: always explicit VR little endian.
function parseMeta(view, start) {
  let end = start;
  while (end + 8 <= view.byteLength && view.getUint16(end, true) === 0x0002) {
    const vr = String.fromCharCode(view.getUint8(end + 4), view.getUint8(end + 5));
    end += LONG_VRS.has(vr) ? 12 + view.getUint32(end + 8, true) : 8 + view.getUint16(end + 6, true);
  }
  return { dataset: parseDataset(view, start, end, true).dataset, next: end };
}

function text(attribute) {
  if (!attribute || !attribute.bytes) return '';
  return new TextDecoder().decode(attribute.bytes).replace(/[\0\s]+$/, '').trim();
}

function num(attribute) {
  if (!attribute || !attribute.bytes) return undefined;
  const b = attribute.bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (attribute.vr === 'US' && b.length >= 2) return view.getUint16(0, true);
  if (attribute.vr === 'UL' && b.length >= 4) return view.getUint32(0, true);
  const v = parseFloat(text(attribute).split('\\')[0]);
  return Number.isFinite(v) ? v : undefined;
}

// The waveform's leads in millivolts: [{label, samples: Float32Array}],
// with the sampling frequency, from the first multiplex group that has
// the most channels (the rhythm group rather than the median beat).
function leads(dataset) {
  const groups = (dataset['54000100'] && dataset['54000100'].items) || [];
  if (!groups.length) throw new Error('no waveform');
  const group = groups.reduce((best, g) =>
    (num(g['003A0010']) || 0) > (num(best['003A0010']) || 0) ? g : best);
  const channels = num(group['003A0005']) || 0;
  const samples = num(group['003A0010']) || 0;
  const frequency = num(group['003A001A']) || 0;
  const bits = num(group['54001004']) || 16;
  const interpretation = text(group['54001006']) || 'SS';
  const data = group['54001010'];
  if (!channels || !samples || !frequency || !data) throw new Error('incomplete waveform');
  const b = data.bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const size = bits / 8;
  if (b.length < channels * samples * size) throw new Error('short waveform');
  const read = {
    SS: (o) => view.getInt16(o, true), US: (o) => view.getUint16(o, true),
    SB: (o) => view.getInt8(o), UB: (o) => view.getUint8(o),
    SL: (o) => view.getInt32(o, true), UL: (o) => view.getUint32(o, true),
  }[interpretation];
  if (!read) throw new Error('sample interpretation ' + interpretation);
  const definitions = (group['003A0200'] && group['003A0200'].items) || [];
  const out = [];
  for (let c = 0; c < channels; c++) {
    const d = definitions[c] || {};
    const source = d['003A0208'] && d['003A0208'].items[0];
    const units = d['003A0211'] && d['003A0211'].items[0];
    const unit = units ? text(units['00080100']) : 'uV';
    const toMillivolts = unit === 'mV' ? 1 : unit === 'V' ? 1000 : 0.001;
    const sensitivity = (num(d['003A0210']) ?? 1) * (num(d['003A0212']) ?? 1) * toMillivolts;
    const baseline = num(d['003A0213']) || 0;
    const values = new Float32Array(samples);
    for (let s = 0; s < samples; s++) {
      values[s] = (read((s * channels + c) * size) + baseline) * sensitivity;
    }
    out.push({ label: leadName(text(d['003A0203']) || (source ? text(source['00080104']) : '') || String(c + 1)), samples: values });
  }
  return { frequency, leads: out, seconds: samples / frequency };
}

// "Lead I (Einthoven)" → "I", "Lead aVR" → "aVR", "Lead V1" → "V1".
function leadName(meaning) {
  const m = /^Lead\s+(\S+)/i.exec(meaning);
  return m ? m[1] : meaning;
}

const ORDER = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];

// Draws the leads: a 3 × 4 grid of 2.5 s windows with a lead II rhythm
// strip for a standard 10 s record, otherwise each lead over its whole
// length in a 3 × 4 grid (I–III, aVR–aVF, V1–V3, V4–V6 as columns).
function plot(canvas, ecg, widthCss) {
  const ordered = ORDER.map((name) => ecg.leads.find((l) => l.label.toLowerCase() === name.toLowerCase()))
    .filter(Boolean);
  const list = ordered.length === ecg.leads.length ? ordered : ecg.leads;
  const columns = list.length >= 12 ? 4 : Math.min(list.length, 2);
  const rows = Math.ceil(list.length / columns);
  const standard = ecg.seconds >= 9.9 && list.length >= 12;
  const windowSeconds = standard ? 2.5 : ecg.seconds;
  const rhythm = standard ? list.find((l) => l.label === 'II') || list[0] : null;
  const rowMm = 25;
  const marginMm = 6;
  const widthMm = marginMm + columns * windowSeconds * 25;
  const heightMm = (rows + (rhythm ? 1 : 0)) * rowMm + 4;
  const pxPerMm = Math.max(2, Math.min(8, widthCss / widthMm));
  const ratio = window.devicePixelRatio || 1;
  canvas.style.width = Math.round(widthMm * pxPerMm) + 'px';
  canvas.style.height = Math.round(heightMm * pxPerMm) + 'px';
  canvas.width = Math.round(widthMm * pxPerMm * ratio);
  canvas.height = Math.round(heightMm * pxPerMm * ratio);
  const g = canvas.getContext('2d');
  g.setTransform(ratio * pxPerMm, 0, 0, ratio * pxPerMm, 0, 0);
  g.fillStyle = '#fffafa';
  g.fillRect(0, 0, widthMm, heightMm);
  for (let x = 0; x <= widthMm; x += 1) {
    g.strokeStyle = x % 5 === 0 ? '#f0a0a0' : '#fbdcdc';
    g.lineWidth = x % 5 === 0 ? 0.15 : 0.08;
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, heightMm); g.stroke();
  }
  for (let y = 0; y <= heightMm; y += 1) {
    g.strokeStyle = y % 5 === 0 ? '#f0a0a0' : '#fbdcdc';
    g.lineWidth = y % 5 === 0 ? 0.15 : 0.08;
    g.beginPath(); g.moveTo(0, y); g.lineTo(widthMm, y); g.stroke();
  }
  g.font = '3px system-ui, sans-serif';
  const trace = (lead, x0, baselineY, from, seconds) => {
    const start = Math.floor(from * ecg.frequency);
    const count = Math.min(lead.samples.length - start, Math.round(seconds * ecg.frequency));
    g.strokeStyle = '#101820';
    g.lineWidth = 0.25;
    g.beginPath();
    for (let s = 0; s < count; s++) {
      const x = x0 + (s / ecg.frequency) * 25;
      const y = baselineY - lead.samples[start + s] * 10;
      if (s === 0) g.moveTo(x, y); else g.lineTo(x, y);
    }
    g.stroke();
    g.fillStyle = '#101820';
    g.fillText(lead.label, x0 + 1, baselineY - 8);
  };
  // A 1 mV calibration pulse at the start of each row.
  const calibration = (baselineY) => {
    g.strokeStyle = '#101820';
    g.lineWidth = 0.25;
    g.beginPath();
    g.moveTo(1, baselineY); g.lineTo(2, baselineY); g.lineTo(2, baselineY - 10);
    g.lineTo(4, baselineY - 10); g.lineTo(4, baselineY); g.lineTo(5, baselineY);
    g.stroke();
  };
  for (let r = 0; r < rows; r++) {
    const baselineY = r * rowMm + rowMm / 2 + 4;
    calibration(baselineY);
    for (let c = 0; c < columns; c++) {
      const lead = columns === 4 ? list[c * rows + r] : list[r * columns + c];
      if (!lead) continue;
      trace(lead, marginMm + c * windowSeconds * 25, baselineY, standard ? c * 2.5 : 0, windowSeconds);
    }
  }
  if (rhythm) {
    const baselineY = rows * rowMm + rowMm / 2 + 4;
    calibration(baselineY);
    trace(rhythm, marginMm, baselineY, 0, 10);
  }
  return { leads: list.map((l) => l.label), pxPerMm };
}

/**
 * Fetches an ECG instance whole and reads its waveform.
 * @param {string} url the instance's WADO-RS address
 */
async function load(url) {
  const response = await I.fetchOrThrow(url, 'multipart/related; type="application/dicom"');
  const parts = I.multipartParts(await response.arrayBuffer(),
    response.headers.get('Content-Type'));
  return leads(parseFile(parts[0]));
}

export { parseFile, leads, plot, load };
