// Reading the recorder's IVF files in the page.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseIvf, keyFrameBefore } from './call-ivf.js';

// An IVF file as recorder/src/ivf.rs writes it: 1/90000, VP8.
function ivf(frames, { truncate = 0 } = {}) {
  const size = 32 + frames.reduce((n, f) => n + 12 + f.bytes.length, 0);
  const buffer = new ArrayBuffer(size);
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  bytes.set([...'DKIF'].map((c) => c.charCodeAt(0)), 0);
  view.setUint16(6, 32, true);
  bytes.set([...'VP80'].map((c) => c.charCodeAt(0)), 8);
  view.setUint16(12, 320, true);
  view.setUint16(14, 240, true);
  view.setUint32(16, 90000, true);
  view.setUint32(20, 1, true);
  view.setUint32(24, frames.length, true);
  let at = 32;
  for (const f of frames) {
    view.setUint32(at, f.bytes.length, true);
    view.setBigUint64(at + 4, BigInt(f.pts), true);
    bytes.set(f.bytes, at + 12);
    at += 12 + f.bytes.length;
  }
  return buffer.slice(0, size - truncate);
}

const key = [0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a];
const delta = [0x01, 0x00, 0x00];

test('the frames, their times and which are key frames', () => {
  const file = parseIvf(ivf([{ pts: 0, bytes: key }, { pts: 3000, bytes: delta }, { pts: 6000, bytes: key }]));
  assert.equal(file.codec, 'VP80');
  assert.deepEqual([file.width, file.height, file.rate, file.scale], [320, 240, 90000, 1]);
  assert.deepEqual(file.frames.map((f) => [f.pts, f.size, f.key]), [[0, 6, true], [3000, 3, false], [6000, 6, true]]);
  assert.equal(file.frames[1].offset, 32 + 12 + 6 + 12);
});

test('a recording cut short keeps its whole frames', () => {
  const file = parseIvf(ivf([{ pts: 0, bytes: key }, { pts: 3000, bytes: delta }], { truncate: 2 }));
  assert.equal(file.frames.length, 1);
});

test('seeking starts at the key frame before the instant', () => {
  const file = parseIvf(ivf([{ pts: 0, bytes: key }, { pts: 90000, bytes: delta }, { pts: 180000, bytes: key }, { pts: 270000, bytes: delta }]));
  assert.equal(keyFrameBefore(file, 1.5), 0);
  assert.equal(keyFrameBefore(file, 2.5), 2);
  assert.equal(keyFrameBefore(file, 0), 0);
});

test('what is not IVF is refused', () => {
  assert.throws(() => parseIvf(new ArrayBuffer(40)), /not an IVF file/);
});
