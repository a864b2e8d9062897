// @ts-check
// Ferry web client: reading a call recording's video file. The recorder
// writes each participant's camera as VP8 in IVF (recorder/src/ivf.rs),
// which no browser plays in <video>; the page decodes it itself with
// WebCodecs (call-record.js). IVF is a 32-byte header ("DKIF", version,
// header size, fourcc, width, height, time base as rate then scale, frame
// count) and then, per frame, its size (4 bytes), its presentation time
// (8 bytes, in time-base units) and its bytes; all little-endian.

/**
 * @typedef {{pts: number, offset: number, size: number, key: boolean}} IvfFrame
 * @typedef {{codec: string, width: number, height: number, rate: number, scale: number, frames: IvfFrame[]}} Ivf
 */

/**
 * The frames of an IVF file, without copying them; a truncated last frame
 * (a recording cut short) is left out.
 * @param {ArrayBuffer} buffer
 * @returns {Ivf}
 */
function parseIvf(buffer) {
  const view = new DataView(buffer);
  const tag = (at) => String.fromCharCode(...new Uint8Array(buffer, at, 4));
  if (buffer.byteLength < 32 || tag(0) !== 'DKIF') {
    throw new Error('not an IVF file');
  }
  const headerSize = view.getUint16(6, true) || 32;
  const rate = view.getUint32(16, true) || 90000;
  const scale = view.getUint32(20, true) || 1;
  /** @type {IvfFrame[]} */
  const frames = [];
  let at = headerSize;
  while (at + 12 <= buffer.byteLength) {
    const size = view.getUint32(at, true);
    const pts = Number(view.getBigUint64(at + 4, true));
    const offset = at + 12;
    if (size === 0 || offset + size > buffer.byteLength) {
      break;
    }
    // The first bit of a VP8 frame tag is 0 for a key frame.
    frames.push({ pts, offset, size, key: (view.getUint8(offset) & 1) === 0 });
    at = offset + size;
  }
  return {
    codec: tag(8),
    width: view.getUint16(12, true),
    height: view.getUint16(14, true),
    rate,
    scale,
    frames,
  };
}

/**
 * The frame to start decoding from to show the instant `seconds`: the last
 * key frame at or before it (or the first frame).
 * @param {Ivf} ivf
 * @param {number} seconds
 */
function keyFrameBefore(ivf, seconds) {
  const ticks = (seconds * ivf.rate) / ivf.scale;
  let start = 0;
  for (let i = 0; i < ivf.frames.length && ivf.frames[i].pts <= ticks; i += 1) {
    if (ivf.frames[i].key) start = i;
  }
  return start;
}

export { parseIvf, keyFrameBefore };
