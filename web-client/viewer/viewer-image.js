// @ts-check
// Ferry viewer, the pixels: DICOM JSON helpers, frames fetched one at a
// time over WADO-RS, window/level applied in the browser for native
// greyscale frames, and server-rendered frames for everything else
// (compressed or colour), which the server windows on request.

import { errorText } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';

// A DICOM JSON attribute's first value (or the `n`th), or undefined.
function value(dataset, tag, n) {
  const attribute = dataset && dataset[tag];
  if (!attribute || !attribute.Value) return undefined;
  return attribute.Value[n || 0];
}

function values(dataset, tag) {
  const attribute = dataset && dataset[tag];
  return attribute && attribute.Value ? attribute.Value : [];
}

function number(dataset, tag, n) {
  const v = Number(value(dataset, tag, n));
  return Number.isFinite(v) ? v : undefined;
}

// A person name as written, ideographic form beside the alphabetic one
// when both are present; carets become spaces.
function personName(dataset, tag) {
  const v = value(dataset, tag);
  if (!v) return '';
  const forms = [v.Alphabetic, v.Ideographic].filter(Boolean);
  return forms.map((f) => f.replace(/\^+/g, ' ').trim()).join(' / ');
}

// YYYYMMDD as a date in the user's language; anything else as sent.
function dicomDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(text || '');
  if (!m) return text || '';
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])).toLocaleDateString(
    I18n.current(), { dateStyle: 'medium', timeZone: 'UTC' });
}

// The parts of a multipart/related body, as byte arrays. Parts carry a
// Content-Length from Ferry, but the boundary is what PS3.18 promises, so
// that is what is searched for.
function multipartParts(buffer, contentType) {
  const bytes = new Uint8Array(buffer);
  const m = /boundary="?([^";]+)"?/i.exec(contentType || '');
  if (!m) return [bytes];
  const delimiter = new TextEncoder().encode('--' + m[1]);
  const find = (from) => {
    outer: for (let i = from; i <= bytes.length - delimiter.length; i++) {
      for (let j = 0; j < delimiter.length; j++) {
        if (bytes[i + j] !== delimiter[j]) continue outer;
      }
      return i;
    }
    return -1;
  };
  const parts = [];
  let at = find(0);
  while (at >= 0) {
    const headerStart = at + delimiter.length;
    if (bytes[headerStart] === 45 && bytes[headerStart + 1] === 45) break;
    let bodyStart = -1;
    for (let i = headerStart; i < bytes.length - 3; i++) {
      if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
        bodyStart = i + 4;
        break;
      }
    }
    if (bodyStart < 0) break;
    const next = find(bodyStart);
    if (next < 0) break;
    // The CRLF before the next delimiter belongs to the delimiter.
    parts.push(bytes.subarray(bodyStart, Math.max(bodyStart, next - 2)));
    at = next;
  }
  return parts;
}

async function fetchOrThrow(url, accept) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: accept } });
  } catch (err) {
    throw Object.assign(new Error(I18n.t('error.network')), { status: 0, cause: err });
  }
  if (!response.ok) {
    let error = null;
    try { error = (await response.json()).error; } catch (_) { /* not JSON */ }
    throw Object.assign(new Error(errorText(error)), { status: response.status });
  }
  return response;
}

/**
 * Everything needed to draw one instance's frames, read from its metadata.
 * @param {object} meta DICOM JSON
 */
function imageInfo(meta) {
  const spacing = values(meta, '00280030').map(Number);
  const imager = values(meta, '00181164').map(Number);
  const photometric = String(value(meta, '00280004') || 'MONOCHROME2').trim();
  return {
    rows: number(meta, '00280010') || 0,
    columns: number(meta, '00280011') || 0,
    frames: number(meta, '00280008') || 1,
    bitsAllocated: number(meta, '00280100') || 16,
    bitsStored: number(meta, '00280101') || number(meta, '00280100') || 16,
    signed: number(meta, '00280103') === 1,
    samples: number(meta, '00280002') || 1,
    photometric,
    greyscale: /^MONOCHROME[12]$/.test(photometric),
    slope: number(meta, '00281053') ?? 1,
    intercept: number(meta, '00281052') ?? 0,
    // Row spacing (between rows) then column spacing, in mm.
    spacing: spacing.length === 2 && spacing.every((s) => s > 0) ? spacing
      : imager.length === 2 && imager.every((s) => s > 0) ? imager : null,
    spacingKind: spacing.length === 2 ? 'patient' : imager.length === 2 ? 'detector' : null,
    window: number(meta, '00281050') !== undefined && number(meta, '00281051') > 0
      ? { center: number(meta, '00281050'), width: number(meta, '00281051') } : null,
  };
}

// Raw pixel values of a native greyscale frame, in modality units.
function decodeRaw(bytes, info) {
  const count = info.rows * info.columns;
  let raw;
  if (info.bitsAllocated === 8) {
    raw = info.signed ? new Int8Array(bytes.buffer, bytes.byteOffset, count)
      : new Uint8Array(bytes.buffer, bytes.byteOffset, count);
  } else if (info.bitsAllocated === 16) {
    // The part may start at an odd offset in the body.
    const copy = new Uint8Array(count * 2);
    copy.set(bytes.subarray(0, count * 2));
    raw = info.signed ? new Int16Array(copy.buffer) : new Uint16Array(copy.buffer);
  } else {
    throw new Error('bits allocated ' + info.bitsAllocated);
  }
  if (raw.length < count) throw new Error('short frame');
  const out = new Float32Array(count);
  const shift = info.bitsAllocated - info.bitsStored;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < count; i++) {
    let v = raw[i];
    if (shift > 0) {
      v = info.signed ? ((v << (32 - info.bitsStored)) >> (32 - info.bitsStored))
        : v & ((1 << info.bitsStored) - 1);
    }
    v = v * info.slope + info.intercept;
    out[i] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { kind: 'raw', width: info.columns, height: info.rows, pixels: out, min, max };
}

// One instance's frames, fetched when asked for and kept a while. Native
// greyscale frames come as bytes; when the server refuses them (a
// compressed syntax answers 406) the instance switches to rendered frames.
class FrameStore {
  constructor(base, limit) {
    this.base = base;
    this.limit = limit || 96;
    this.cache = new Map();
    this.rendered = new Set();
  }

  key(sop, frame, window) {
    return this.rendered.has(sop) && window ? `${sop}/${frame}/${window.center},${window.width}` : `${sop}/${frame}`;
  }

  // The frame, or a promise of it; `window` matters only to rendered frames.
  get(item, window) {
    const key = this.key(item.sop, item.frame, window);
    let entry = this.cache.get(key);
    if (!entry) {
      entry = this.load(item, window).catch((err) => {
        this.cache.delete(key);
        throw err;
      });
      this.cache.set(key, entry);
      this.trim();
    } else {
      // Most recently used last, so trimming drops the oldest.
      this.cache.delete(key);
      this.cache.set(key, entry);
    }
    return entry;
  }

  trim() {
    while (this.cache.size > this.limit) {
      this.cache.delete(this.cache.keys().next().value);
    }
  }

  async load(item, window) {
    const url = `${this.base}/series/${encodeURIComponent(item.series)}/instances/${encodeURIComponent(item.sop)}/frames/${item.frame}`;
    if (item.info.greyscale && item.info.samples === 1 && !this.rendered.has(item.sop)) {
      try {
        const response = await fetchOrThrow(url,
          'multipart/related; type="application/octet-stream"; transfer-syntax=*');
        const parts = multipartParts(await response.arrayBuffer(), response.headers.get('Content-Type'));
        return decodeRaw(parts[0], item.info);
      } catch (err) {
        if (err.status && err.status !== 406) throw err;
        this.rendered.add(item.sop);
      }
    }
    const query = window && item.info.greyscale
      ? `?window=${encodeURIComponent(window.center + ',' + window.width)}` : '';
    const response = await fetchOrThrow(url + '/rendered' + query, 'image/jpeg, image/png;q=0.9');
    const bitmap = await createImageBitmap(await response.blob());
    return { kind: 'bitmap', width: bitmap.width, height: bitmap.height, bitmap, window };
  }

  isRendered(sop) {
    return this.rendered.has(sop);
  }
}

// A canvas holding the frame at this window: the browser applies the
// window to raw frames here; a rendered frame is drawn as it came.
function paint(frame, window, invert, target) {
  const canvas = target || document.createElement('canvas');
  canvas.width = frame.width;
  canvas.height = frame.height;
  const context = canvas.getContext('2d');
  if (frame.kind === 'bitmap') {
    context.filter = invert ? 'invert(1)' : 'none';
    context.drawImage(frame.bitmap, 0, 0);
    context.filter = 'none';
    return canvas;
  }
  const image = context.createImageData(frame.width, frame.height);
  const data = image.data;
  const pixels = frame.pixels;
  // PS3.3 C.11.2.1.2.1, the linear VOI function.
  const low = window.center - 0.5 - (window.width - 1) / 2;
  const scale = 255 / Math.max(1, window.width - 1);
  for (let i = 0, j = 0; i < pixels.length; i++, j += 4) {
    let v = (pixels[i] - low) * scale;
    v = v < 0 ? 0 : v > 255 ? 255 : v;
    if (invert) v = 255 - v;
    data[j] = data[j + 1] = data[j + 2] = v;
    data[j + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

export {
  value, values, number, personName, dicomDate, multipartParts, fetchOrThrow, imageInfo, decodeRaw, FrameStore, paint,
};
